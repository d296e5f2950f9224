// The structure issue 12 set up, checked on the source text so a later change cannot quietly undo it: no import
// circles, one importer per SDK, the environment read in one place, long files say why, and no Slack markup in the core.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";

const root = resolve(import.meta.dirname, "..");

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

const product = [...sources("src"), ...sources("commands")];
const text = new Map(product.map((f) => [f, readFileSync(join(root, f), "utf8")]));
const importsOf = (src: string) => [...src.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+"([^"]+)";/gms)].map((m) => m[1] as string);

test("no import circles between berth's modules", () => {
  const edges = new Map<string, string[]>();
  for (const [file, src] of text) {
    edges.set(
      file,
      // Type-only imports count too: a circle of types is still two modules that cannot be understood apart.
      importsOf(src)
        .filter((s) => s.startsWith("."))
        .map((s) => relative(root, resolve(root, dirname(file), s))),
    );
  }
  const state = new Map<string, "open" | "done">();
  const circles: string[] = [];
  const visit = (f: string, path: string[]) => {
    if (state.get(f) === "done") return;
    if (state.get(f) === "open") {
      circles.push([...path.slice(path.indexOf(f)), f].join(" → "));
      return;
    }
    state.set(f, "open");
    for (const g of edges.get(f) ?? []) visit(g, [...path, f]);
    state.set(f, "done");
  };
  for (const f of edges.keys()) visit(f, []);
  assert.deepEqual(circles, []);
});

test("each SDK has one importer folder, and only main.ts reads process.env", () => {
  const sdk: [RegExp, string][] = [
    [/^dockerode$/, "src/engines/docker/"],
    [/^@azure\//, "src/cloud/azure/"],
    [/^@slack\/bolt$/, "src/slack/"],
    [/^pg$/, "src/store/postgres"],
  ];
  for (const [file, src] of text) {
    for (const spec of importsOf(src)) {
      for (const [pattern, home] of sdk) {
        if (pattern.test(spec)) assert.ok(file.startsWith(home), `${file} imports ${spec}, which only ${home} may`);
      }
    }
    if (file !== "src/main.ts") assert.doesNotMatch(src, /process\.env\b/, `${file} reads process.env`);
  }
});

test("a file past 400 lines says at its top why", () => {
  for (const [file, src] of text) {
    const lines = src.split("\n").length;
    if (lines <= 400) continue;
    const head = src.split("\n").slice(0, 5).join("\n");
    assert.match(head, /^\s*(\/\/|\/\*|\*)/m, `${file} has ${lines} lines and no comment at its top saying why`);
  }
});

test("only the Slack adapter speaks Slack: elsewhere no mentions, emoji codes or hard-coded slash command", () => {
  for (const [file, src] of text) {
    // The playground draws a Slack-like page; the CLI is for operators in a terminal; commands/ holds what people type
    // (a mention is how Slack delivers `--user @name`).
    if (!file.startsWith("src/") || file.startsWith("src/slack/") || file.startsWith("src/playground/") || file === "src/cli.ts") continue;
    // Comments may talk about Slack; ":memory:" is SQLite's, not an emoji.
    const code = src.replace(/^\s*(\/\/.*|\/?\*.*)$/gm, "").replaceAll(":memory:", "");
    assert.doesNotMatch(code, /<@\$\{|<@U|<#\$\{|<!subteam/, `${file} writes a Slack mention`);
    assert.doesNotMatch(code, /(^|[\s"`'(])(:[a-z][a-z0-9_+-]*:)(?=[\s"`'.,)]|$)/m, `${file} writes a Slack emoji code`);
    assert.doesNotMatch(code, /["`'][^"`'\n]*\/berth [a-z]/, `${file} hard-codes the /berth command`);
  }
});
