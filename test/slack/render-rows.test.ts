import assert from "node:assert/strict";
import { test } from "node:test";
import { slackLimits } from "../../src/slack/limits.ts";
import { renderRows } from "../../src/slack/render-rows.ts";

test("each row is a section with its own choice button; a row without a choice has none", () => {
  const { blocks, text } = renderRows("*Changes on local*", [
    { text: "12:00 `api` restarted 3×", choice: { label: "Logs", value: '{"kind":"container.logs"}' } },
    { text: "12:01 image `busybox:1` pulled" },
  ]);
  assert.equal(blocks.length, 3);
  const [, first, second] = blocks as { type: string; accessory?: { action_id: string; value: string } }[];
  assert.equal(first?.accessory?.action_id, "berth_choice:0");
  assert.equal(first?.accessory?.value, '{"kind":"container.logs"}');
  assert.equal(second?.accessory, undefined);
  assert.equal(text, "*Changes on local*\n12:00 `api` restarted 3×\n12:01 image `busybox:1` pulled");
});

test("within Slack's limits: at most 50 blocks, the block text bounded, the rest counted", () => {
  const many = Array.from({ length: 80 }, (_, i) => ({ text: `line ${i} ${"x".repeat(100)}`, choice: { label: "Logs", value: `v${i}` } }));
  const { blocks, text } = renderRows("heading", many);
  assert.ok(blocks.length <= slackLimits.blocksPerMessage);
  const last = blocks.at(-1) as { type: string; elements?: { text: string }[] };
  assert.equal(last.type, "context");
  assert.match(last.elements?.[0]?.text ?? "", /^…and \d+ more lines$/);
  assert.ok(text.length <= slackLimits.textChars);
  const long = renderRows("h", [{ text: "y".repeat(5000) }]);
  assert.ok(((long.blocks[1] as { text: { text: string } }).text.text.length ?? 0) <= slackLimits.sectionChars);
});
