import assert from "node:assert/strict";
import { test } from "node:test";
import { code, command, join, msg, plainText, pre, strong, tone, user } from "../../src/core/message.ts";
import { toMrkdwn } from "../../src/slack/render.ts";

test("a message renders to mrkdwn with the configured slash command, and to plain text without markup", () => {
  const m = join([
    msg`${tone("denied")} ${user("U0ALICE")} stopped ${code("api")} on ${"<!channel> & co"}.`,
    msg`${strong("Next")}: ${command("logs -f api")}`,
  ]);
  assert.equal(toMrkdwn(m, "/ops"), ":no_entry: <@U0ALICE> stopped `api` on &lt;!channel&gt; &amp; co.\n*Next*: `/ops logs -f api`");
  assert.equal(plainText(m), " @U0ALICE stopped api on <!channel> & co.\nNext: /berth logs -f api");
});

test("only well-formed IDs become mentions, and a backtick cannot end inline code early", () => {
  assert.equal(toMrkdwn(msg`${user("<!here>")} ${code("a`b")} ${12}`), "&lt;!here&gt; `aˋb` 12");
});

test("preformatted lines are a code block whose content stays literal: no mention, no early end of the fence", () => {
  const m = join([msg`${strong("Processes")}`, [pre(["PID  CMD", "1    echo <!channel> & ```done```"])]]);
  assert.equal(toMrkdwn(m), "*Processes*\n```\nPID  CMD\n1    echo &lt;!channel&gt; &amp; `\u200b``done`\u200b``\n```");
  assert.equal(plainText(m), "Processes\nPID  CMD\n1    echo <!channel> & ```done```");
});
