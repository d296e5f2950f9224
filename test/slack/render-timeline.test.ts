import assert from "node:assert/strict";
import { test } from "node:test";
import { msg, user } from "../../src/core/message.ts";
import type { Timeline, TimelineEntry } from "../../src/core/timeline.ts";
import { permalink, renderTimelineMarkdown, renderTimelineSummary, timelineFilename } from "../../src/slack/render-timeline.ts";

const t0 = Date.UTC(2026, 11, 6, 12, 0, 0);
const base = "https://acme.slack.com/";
const entry = (minute: number, over: Partial<TimelineEntry> = {}): TimelineEntry => ({
  at: t0 + minute * 60_000,
  who: "U0OLIVE",
  what: "container.stop api on local",
  result: msg`approved by ${user("U0ADA")} — ok`,
  card: { channel: "C0INC", ts: "1765022400.000100" },
  failed: false,
  ...over,
});
const timeline = (entries: TimelineEntry[], from = t0 - 3600_000): Timeline => ({
  channel: "C0INC",
  from,
  to: t0 + 3600_000,
  entries,
  counts: { commands: entries.length, approvals: 1, denials: 0, failures: 0, grants: 0 },
});
const options = { slash: "/berth", usergroups: [], workspaceUrl: base };

test("a permalink is built from a channel ID and a ts only, in chat.getPermalink's form", () => {
  assert.equal(permalink(base, { channel: "C0INC", ts: "1765022400.000100" }), "https://acme.slack.com/archives/C0INC/p1765022400000100");
  assert.equal(permalink("https://acme.slack.com", { channel: "C0INC", ts: "1.2" }), "https://acme.slack.com/archives/C0INC/p12");
  assert.equal(permalink(base, { channel: "C0INC|evil", ts: "1.2" }), undefined);
  assert.equal(permalink(base, { channel: "C0INC", ts: "1.2>" }), undefined);
  assert.equal(permalink("javascript:alert(1)", { channel: "C0INC", ts: "1.2" }), undefined);
  assert.equal(permalink(undefined, { channel: "C0INC", ts: "1.2" }), undefined);
});

test("the summary: counts, then one line per entry with its card's link; text from the log stays inert", () => {
  const text = renderTimelineSummary(
    timeline([
      entry(3),
      entry(5, { what: "run busybox echo <!channel> <https://evil|x>", failed: true, card: undefined, result: msg`failed (exit 1)` }),
    ]),
    options,
  );
  const lines = text.split("\n");
  assert.equal(lines[0], "*Timeline* of <#C0INC>, 2026-12-06 11:00 to 2026-12-06 13:00 UTC: 2 commands, 1 approval, 0 denied, 0 failed");
  assert.equal(
    lines[1],
    "• 12:03 <@U0OLIVE> container.stop api on local — approved by <@U0ADA> — ok <https://acme.slack.com/archives/C0INC/p1765022400000100|card>",
  );
  assert.equal(lines[2], "✗ 12:05 <@U0OLIVE> run busybox echo &lt;!channel&gt; &lt;https://evil|x&gt; — failed (exit 1)");
  assert.match(lines[3] ?? "", /the file in this thread/);
});

test("a long timeline's summary stops within Slack's limit and says the file has the rest", () => {
  const entries = Array.from({ length: 200 }, (_, i) => entry(i % 60));
  const text = renderTimelineSummary(timeline(entries), options);
  assert.ok(text.length <= 4000, `${text.length} characters`);
  const shown = text.split("\n").filter((l) => l.startsWith("• ")).length;
  assert.match(text, new RegExp(`…and ${200 - shown} more: the file in this thread has all 200\\.$`));
});

test("the Markdown file: plain IDs, Markdown links, escaped cells, dates when the window spans days", () => {
  const t = timeline([entry(3, { what: "exec api sh -c 'a | b' *x*" }), entry(5, { card: undefined })], t0 - 2 * 86400_000);
  const md = renderTimelineMarkdown(t, { slash: "/berth", workspaceUrl: base });
  const rows = md.split("\n").filter((l) => l.startsWith("| 2026"));
  assert.deepEqual(rows, [
    "| 2026-12-06 12:03 | @U0OLIVE | exec api sh -c 'a \\| b' \\*x\\* | approved by @U0ADA — ok | [card](https://acme.slack.com/archives/C0INC/p1765022400000100) |",
    "| 2026-12-06 12:05 | @U0OLIVE | container.stop api on local | approved by @U0ADA — ok |  |",
  ]);
  assert.ok(!/<@|<#|<!/.test(md), "no Slack markup");
  assert.match(timelineFilename(t), /^timeline-C0INC-2026-12-06\.md$/);
  const withoutUrl = renderTimelineMarkdown(t, { slash: "/berth", workspaceUrl: undefined });
  assert.match(withoutUrl, /\| message 1765022400\.000100 \|/, "without the workspace's URL, the card's ts is still there");
});
