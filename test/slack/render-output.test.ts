import assert from "node:assert/strict";
import { test } from "node:test";
import { validateBlocks } from "@berth/slack-emulator";
import { slackLimits } from "../../src/slack/limits.ts";
import { renderOutput } from "../../src/slack/render-output.ts";

/** The text of the one preformatted element of a reply, checking that it is the only thing the blocks hold. */
function preformatted(blocks: unknown): string {
  assert.ok(Array.isArray(blocks) && blocks.length === 1);
  const [block] = blocks as { type: string; elements: { type: string; elements: { type: string; text: string }[] }[] }[];
  assert.equal(block?.type, "rich_text");
  assert.equal(block?.elements.length, 1);
  assert.equal(block?.elements[0]?.type, "rich_text_preformatted");
  const inline = block?.elements[0]?.elements ?? [];
  assert.deepEqual(
    inline.map((e) => e.type),
    ["text"],
    "one text element: no user, broadcast or link element that could ping or link",
  );
  return inline[0]?.text ?? "";
}

test("output is a rich_text_preformatted block with the code fence as its text fallback", () => {
  const reply = renderOutput(["line 1", "line 2"]);
  assert.equal(reply.text, "```\nline 1\nline 2\n```");
  assert.equal(preformatted(reply.blocks), "line 1\nline 2");
  assert.deepEqual(validateBlocks(reply.blocks as never), []);
});

test("mentions, links, backticks and entities in output stay text: escaped in the fallback, literal in the block", () => {
  const line = "hey <@U123> <!channel> <!subteam^S1> <http://evil.example|innocent> ```x``` &amp; a<b>c";
  const reply = renderOutput([line]);
  // Nothing parsed inside a rich_text text element: the line is shown as the container wrote it.
  assert.equal(preformatted(reply.blocks), line);
  // The mrkdwn fallback (notifications, clients without blocks) keeps today's escaping.
  assert.equal(
    reply.text,
    "```\nhey &lt;@U123&gt; &lt;!channel&gt; &lt;!subteam^S1&gt; &lt;http://evil.example|innocent&gt; `\u200b``x`\u200b`` &amp;amp; a&lt;b&gt;c\n```",
  );
  assert.doesNotMatch(reply.text, /<[@!#h]/, "no mention or link markup in the fallback");
});

test("a reply is cut to Slack's limits the way the fence is: text under 4,000, block text far under 12,000", () => {
  const lines = Array.from({ length: 2000 }, (_, i) => `${i} & <tag>`);
  const reply = renderOutput(lines);
  assert.ok(reply.text.length <= slackLimits.textChars, `${reply.text.length} characters of text`);
  const body = preformatted(reply.blocks);
  assert.ok(body.length <= slackLimits.outputReplyChars && body.length < slackLimits.blockTextChars);
  assert.ok(body.startsWith("0 & <tag>\n1 & <tag>"));
  assert.ok(body.endsWith("\n…"), "says it was cut");
  assert.deepEqual(validateBlocks(reply.blocks as never), []);
});

test("an empty line is still a reply Slack takes: the block's text is never empty", () => {
  const reply = renderOutput([""]);
  assert.equal(reply.text, "```\n\n```");
  assert.equal(preformatted(reply.blocks), " ");
});
