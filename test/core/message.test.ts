import assert from "node:assert/strict";
import { test } from "node:test";
import { code, command, join, msg, plainText, strong, tone, user } from "../../src/core/message.ts";
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
