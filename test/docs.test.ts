import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { test } from "node:test";
import { registry } from "../commands/index.ts";
import { parse } from "../src/core/parse.ts";
import { parsePolicyText } from "../src/core/policy-file.ts";

// The README and docs/ are what a newcomer and an operator read; these checks keep them true as the code moves: links
// resolve, examples parse, and every document the code cites is in the repository.

/** berth's own pages; docs/reference/ holds research notes copied in as they are, cited by section. */
const pages = [
  "README.md",
  ...readdirSync("docs")
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];
const read = (path: string) => readFileSync(path, "utf8");

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const text = markdown.replace(/^```[\s\S]*?^```/gm, "");
  for (const [, heading = ""] of text.matchAll(/^#{1,6} (.*)$/gm)) {
    const base = heading
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, "")
      .replace(/ /g, "-");
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Fenced code blocks' lines, outside which `/berth …` is prose. */
function codeLines(markdown: string): string[] {
  return [...markdown.matchAll(/^```[^\n]*\n([\s\S]*?)^```/gm)].flatMap((m) => (m[1] ?? "").split("\n"));
}

test("every relative link in the README and docs/ names a file that exists, and a heading it has", () => {
  for (const page of pages) {
    const text = read(page).replace(/^```[\s\S]*?^```/gm, "");
    for (const [, target = ""] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      const [file = "", anchor] = target.split("#");
      const path = file === "" ? page : normalize(join(dirname(page), file));
      assert.ok(existsSync(path), `${page} links to ${target}: ${path} does not exist`);
      if (anchor !== undefined && path.endsWith(".md")) {
        assert.ok(anchors(read(path)).has(anchor), `${page} links to ${target}: ${path} has no heading #${anchor}`);
      }
    }
  }
});

test("every /berth line in a code block of the README and docs/ parses", () => {
  let checked = 0;
  for (const page of pages) {
    for (const line of codeLines(read(page))) {
      const m = /^\/berth (.*)$/.exec(line.trim());
      if (!m) continue;
      const parsed = parse(m[1] ?? "", registry);
      assert.ok(parsed.ok, `${page}: ${line.trim()} does not parse: ${parsed.ok ? "" : parsed.message}`);
      checked++;
    }
  }
  assert.ok(checked >= 50, `only ${checked} examples found: docs/commands.md lists every command's examples`);
});

test("docs/commands.md shows every command of the registry", () => {
  const text = read("docs/commands.md");
  for (const { name } of registry.commands) assert.match(text, new RegExp(`^### ${name}$`, "m"), `docs/commands.md: add ${name}`);
});

test("the policy format in docs/policy.md is a valid policy", () => {
  const text = read("docs/policy.md");
  const format = text.slice(text.indexOf("## Format"));
  const yaml = /```yaml\n([\s\S]*?)```/.exec(format)?.[1];
  assert.ok(yaml, "docs/policy.md: the Format section has a yaml block");
  parsePolicyText(yaml, "docs/policy.md");
});

/** Files whose comments and messages may cite documents. */
function codeFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|js|ya?ml|json|example)$/.test(e.name) && !e.parentPath.includes("node_modules"))
    .map((e) => join(e.parentPath, e.name));
}
const code = [
  ...["src", "commands", "test", "bench", "manifests", "bin"].filter(existsSync).flatMap(codeFiles),
  ...["packages"].filter(existsSync).flatMap(codeFiles),
  ".ci/run",
  "Dockerfile",
].filter((f) => f !== "test/docs.test.ts");

test("every document the code cites is in the repository, by its path", () => {
  let cited = 0;
  for (const file of code) {
    for (const [doc = ""] of read(file).matchAll(/[\w./-]*\b[\w-]+\.md\b/g)) {
      if (/^https?:|\/\//.test(doc) || doc.startsWith("docs.") || doc.includes("github.com")) continue;
      assert.ok(
        existsSync(doc),
        `${file} cites ${doc}, which is not a file in the repository: cite it by its path (docs/reference/…), copying it there if needed`,
      );
      cited++;
    }
  }
  assert.ok(cited > 10);
});

test("every README section the code cites is a README heading or a link in its reading list", () => {
  const readme = read("README.md");
  const headings = new Set([...readme.matchAll(/^#{1,6} (.*)$/gm)].map((m) => m[1]));
  const links = new Set([...readme.matchAll(/\[([^\]]+)\]\(/g)].map((m) => m[1]));
  for (const file of code) {
    for (const m of read(file).matchAll(/README[:,]? ["'“]([^"'”]+)["'”]/g)) {
      const section = m[1] ?? "";
      assert.ok(headings.has(section) || links.has(section), `${file} cites README "${section}", which the README does not have`);
    }
  }
});
