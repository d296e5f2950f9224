import assert from "node:assert/strict";
import { test } from "node:test";
import { z } from "zod";
import { commands, registry } from "../commands/index.ts";
import { createRegistry, defineCommand } from "../src/core/command.ts";
import { helpText } from "../src/core/help.ts";
import { parse } from "../src/core/parse.ts";
import { toMrkdwn } from "../src/slack/render.ts";
import { mrkdwn } from "./support/text.ts";

for (const command of commands) {
  for (const example of command.examples) {
    test(`example parses: /berth ${example}`, () => {
      const result = parse(example, registry);
      assert.equal(result.ok, true, result.ok ? "" : mrkdwn(result.message));
    });
  }
}

test("help lists every command with its usage", () => {
  const help = mrkdwn(helpText(registry));
  for (const c of commands) assert.ok(help.includes(`\`${c.usage}\``), `help is missing ${c.name}`);
});

test("help for one command shows its options and examples", () => {
  const help = toMrkdwn(helpText(registry, "logs"), "/ops");
  assert.match(help, /\*\/ops logs \[-f\]/);
  assert.match(help, /`-f, --follow` keep streaming/);
  assert.match(help, /`\/ops logs -f api`/);
  assert.match(mrkdwn(helpText(registry, "lgos")), /No command `lgos`; did you mean `logs`\?/);
});

const dummy = (name: string, aliases: string[] = []) =>
  defineCommand({
    name,
    aliases,
    summary: "x",
    usage: name,
    examples: [],
    options: [],
    interspersed: true,
    args: z.object({ _: z.array(z.string()) }),
    toAction: () => ({ kind: "job.list" }),
  });

test("the registry rejects two commands with one name", () => {
  assert.throws(() => createRegistry([dummy("ps"), dummy("ps")]), /command collision: "ps"/);
  assert.throws(() => createRegistry([dummy("ps"), dummy("list", ["ps"])]), /command collision: "ps" is claimed by both "ps" and "list"/);
});

test("the registry rejects a command whose options collide", () => {
  const bad = defineCommand({
    name: "x",
    summary: "x",
    usage: "x",
    examples: [],
    options: [
      { long: "force", short: "f", type: "flag", help: "" },
      { long: "follow", short: "f", type: "flag", help: "" },
    ],
    interspersed: true,
    args: z.object({ _: z.array(z.string()) }),
    toAction: () => ({ kind: "job.list" }),
  });
  assert.throws(() => createRegistry([bad]), /option collision in "x"/);
});

test("every command has a summary, usage and at least one example", () => {
  for (const c of commands) {
    assert.ok(c.summary.length > 10, c.name);
    assert.ok(c.usage.startsWith(c.name), c.name);
    assert.ok(c.examples.length > 0, c.name);
  }
});
