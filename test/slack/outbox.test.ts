import assert from "node:assert/strict";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { WebClient } from "@slack/web-api";
import { slackLimits } from "../../src/slack/limits.ts";
import { unescapeMrkdwn } from "../../src/slack/mrkdwn-escape.ts";
import { createOutbox } from "../../src/slack/outbox.ts";
import { createThread } from "../../src/slack/thread.ts";
import { SEED, SlackFake } from "../support/slack-fake.ts";
import { slackSpacing } from "../support/slack-spacing.ts";

// The outbox and the thread against the Slack fake with Slack's real limits on, through the real WebClient.
let fake: SlackFake;
let client: WebClient;

before(async () => {
  fake = await SlackFake.start();
  client = new WebClient(fake.botToken, { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true });
});
after(() => fake.stop());

test("posts to one channel are paced to Slack's one per second: six posts, no 429", async () => {
  fake.reset();
  const outbox = createOutbox({ client, spacing: slackSpacing });
  const ts = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => outbox.post(SEED.incidentChannel, { text: `m${n}` })));
  assert.equal(new Set(ts).size, 6);
  assert.deepEqual(
    fake.messages(SEED.incidentChannel).map((m) => m.text),
    ["m1", "m2", "m3", "m4", "m5", "m6"],
  );
  assert.deepEqual(fake.rateLimited, []);
});

test("edits of one message are coalesced: the newest state wins and far fewer calls are made", async () => {
  fake.reset();
  const outbox = createOutbox({ client, spacing: slackSpacing });
  const ts = await outbox.post(SEED.incidentChannel, { text: "v0" });
  await Promise.all(Array.from({ length: 40 }, (_, i) => outbox.update(SEED.incidentChannel, ts, { text: `v${i + 1}` })));
  assert.equal(fake.message(SEED.incidentChannel, ts)?.text, "v40");
  assert.ok(fake.calls("chat.update").length <= 3, `made ${fake.calls("chat.update").length} chat.update calls`);
  assert.deepEqual(fake.rateLimited, []);
});

test("a 429 is waited out for Retry-After and the same call is sent again; nothing is dropped", async () => {
  fake.reset();
  const outbox = createOutbox({ client, spacing: slackSpacing });
  fake.fail({ method: "chat.postMessage", status: 429, retryAfter: 1, times: 2 });
  const ts = await outbox.post(SEED.incidentChannel, { text: "persistent" });
  assert.equal(fake.message(SEED.incidentChannel, ts)?.text, "persistent");
  assert.equal(outbox.stats.rateLimited["chat.postMessage"], 2);
  assert.equal(fake.calls("chat.postMessage").length, 3);
});

test("other Slack errors reach the caller with Slack's code", async () => {
  fake.reset();
  const outbox = createOutbox({ client, spacing: slackSpacing });
  await assert.rejects(
    outbox.post(SEED.randomChannel, { text: "x" }),
    (e: unknown) => (e as { data?: { error?: string } }).data?.error === "not_in_channel",
  );
});

test("a thread over its cap says so, keeps the newest lines for the card, and uploads every line", async () => {
  fake.reset();
  const outbox = createOutbox({ client, spacing: slackSpacing });
  const parent = await outbox.post(SEED.incidentChannel, { text: "card" });
  const dir = mkdtempSync(join(tmpdir(), "berth-thread-"));
  const thread = createThread({
    outbox,
    channel: SEED.incidentChannel,
    threadTs: parent,
    spoolPath: join(dir, "j.log"),
    filename: "j.log",
    maxMessages: 3,
    flushMs: 50,
  });
  const lines = Array.from({ length: 3000 }, (_, i) => `${String(i + 1).padStart(5, "0")} <tag> & "quoted"`);
  for (const text of lines) await thread.write({ stream: "stdout", text });
  const result = await thread.close("cap test");
  assert.equal(result.capped, true);
  assert.equal(result.uploaded, true);
  assert.equal(result.lines, 3000);
  const replies = fake.thread(SEED.incidentChannel, parent).filter((m) => !m.files?.length);
  assert.equal(replies.length, 3, "two chunks and the cap notice");
  assert.match(replies.at(-1)?.text ?? "", /reached berth's limit of 3 messages/);
  assert.ok(replies.every((m) => m.text.length <= 4000));
  assert.match(replies[0]?.text ?? "", /00001 &lt;tag&gt; &amp; "quoted"/, "log text is escaped for mrkdwn");
  assert.deepEqual(thread.tail().at(-1), lines.at(-1));
  const file = fake.files().find((f) => f.title === "Full log: cap test");
  assert.deepEqual(file?.content.trimEnd().split("\n"), lines);
  assert.deepEqual(fake.rateLimited, []);
});

test("a very long line is split across replies without losing a character", async () => {
  fake.reset();
  const outbox = createOutbox({ client, spacing: slackSpacing });
  const parent = await outbox.post(SEED.incidentChannel, { text: "card" });
  const dir = mkdtempSync(join(tmpdir(), "berth-thread-"));
  const thread = createThread({
    outbox,
    channel: SEED.incidentChannel,
    threadTs: parent,
    spoolPath: join(dir, "j.log"),
    filename: "j.log",
    flushMs: 50,
  });
  const long = "&".repeat(10_000);
  await thread.write({ stream: "stdout", text: long });
  await thread.close("long line");
  const body = fake
    .thread(SEED.incidentChannel, parent)
    .filter((m) => m.text.startsWith("```"))
    .map((m) => m.text.replace(/^```\n|\n```$/g, "").replace(/\n/g, ""))
    .join("");
  assert.equal(body.replace(/&amp;/g, "&"), long);
});

test("output reaches Slack as rich_text_preformatted (literal) with the escaped code fence as its text", async () => {
  fake.reset();
  const outbox = createOutbox({ client, spacing: slackSpacing });
  const parent = await outbox.post(SEED.incidentChannel, { text: "card" });
  const dir = mkdtempSync(join(tmpdir(), "berth-thread-"));
  const thread = createThread({
    outbox,
    channel: SEED.incidentChannel,
    threadTs: parent,
    spoolPath: join(dir, "j.log"),
    filename: "j.log",
    flushMs: 50,
  });
  const pinger = "ping <@U0OPER> <!channel> <!here> `tick` ```fence``` &amp; <http://evil.example|innocent>";
  const lines = [pinger, "&".repeat(10_000), ...Array.from({ length: 400 }, (_, i) => `${i} <tag> & "quoted"`)];
  for (const text of lines) await thread.write({ stream: "stdout", text });
  await thread.close("rich text");
  const replies = fake.thread(SEED.incidentChannel, parent).filter((m) => m.text.startsWith("```"));
  assert.ok(replies.length >= 4, `${replies.length} replies`);
  const shown = replies.map((m) => {
    const [block] = (m.blocks ?? []) as { type: string; elements: { type: string; elements: { type: string; text: string }[] }[] }[];
    assert.equal(block?.type, "rich_text");
    assert.deepEqual(
      block?.elements.flatMap((e) => [e.type, ...e.elements.map((i) => i.type)]),
      ["rich_text_preformatted", "text"],
    );
    const body = block?.elements[0]?.elements[0]?.text ?? "";
    // The fallback says the same, escaped for mrkdwn (its ``` broken by a zero-width space).
    assert.equal(unescapeMrkdwn(m.text.replace(/^```\n|\n```$/g, "")).replaceAll("`\u200b``", "```"), body);
    assert.ok(m.text.length <= slackLimits.textChars);
    return body;
  });
  assert.equal(shown[0]?.split("\n")[0], pinger, "shown exactly as written: nothing pings, nothing links");
  // Long lines are cut into pieces as before; put back together, every line is there.
  assert.equal(shown.join("\n").replace(/&\n&/g, "&&"), lines.join("\n"));
  assert.deepEqual(fake.rateLimited, []);
});

test("after a drain request the thread keeps its first replies and the rest goes to the full log, counted", async () => {
  fake.reset();
  const outbox = createOutbox({ client, spacing: slackSpacing });
  const parent = await outbox.post(SEED.incidentChannel, { text: "card" });
  const dir = mkdtempSync(join(tmpdir(), "berth-thread-"));
  const thread = createThread({
    outbox,
    channel: SEED.incidentChannel,
    threadTs: parent,
    spoolPath: join(dir, "j.log"),
    filename: "j.log",
    flushMs: 50,
  });
  const lines = Array.from({ length: 5000 }, (_, i) => `line ${i + 1}`);
  thread.drain(":fast_forward: exited");
  for (const text of lines) await thread.write({ stream: "stdout", text });
  const result = await thread.close("drain test");
  const replies = fake.thread(SEED.incidentChannel, parent).filter((m) => !m.files?.length);
  const chunks = replies.filter((m) => m.text.startsWith("```")).length;
  assert.ok(chunks >= 3 && chunks <= 4, `3 replies, plus the one being filled when the third went out (got ${chunks})`);
  const shown = replies.filter((m) => m.text.startsWith("```")).flatMap((m) => m.text.replace(/^```\n|\n```$/g, "").split("\n"));
  assert.deepEqual(shown, lines.slice(0, shown.length));
  assert.equal(result.drained, 5000 - shown.length);
  assert.match(replies.at(-1)?.text ?? "", new RegExp(`exited \\(${(5000 - shown.length).toLocaleString("en")} more lines\\)`));
  assert.deepEqual(
    fake
      .files()
      .find((f) => f.title === "Full log: drain test")
      ?.content.trimEnd()
      .split("\n"),
    lines,
  );
});

test("a new card is not held back behind other channels' thread replies", async () => {
  fake.reset();
  const outbox = createOutbox({ client, spacing: slackSpacing });
  const channels = Array.from({ length: 8 }, (_, i) => `C0Q${i}`);
  for (const id of channels) fake.addChannel({ id, name: `q-${id}`, members: [fake.botUserId] });
  const parents = await Promise.all(channels.map((c) => outbox.post(c, { text: "parent" })));
  await new Promise((r) => setTimeout(r, slackLimits.postSpacingTopLevelMs + 100)); // those cards were posted long ago
  const replies = channels.map((c, i) => outbox.post(c, { text: "reply", thread_ts: parents[i] as string }));
  const card = outbox.post(SEED.incidentChannel, { text: "new card" });
  const order: string[] = [];
  await Promise.all([...replies.map((p) => p.then(() => order.push("reply"))), card.then(() => order.push("card"))]);
  assert.ok(order.indexOf("card") < 2, `the card went out at position ${order.indexOf("card")} of ${order.length}`);
  assert.deepEqual(fake.rateLimited, []);
});

test("a job's spool file on disk is readable by berth only, whatever the umask", async () => {
  fake.reset();
  const outbox = createOutbox({ client, spacing: slackSpacing });
  const parent = await outbox.post(SEED.incidentChannel, { text: "card" });
  const dir = join(mkdtempSync(join(tmpdir(), "berth-thread-")), "spool");
  const old = process.umask(0o000);
  try {
    const thread = createThread({
      outbox,
      channel: SEED.incidentChannel,
      threadTs: parent,
      spoolPath: join(dir, "j.log"),
      filename: "j.log",
    });
    // Past the spool's 256 KiB buffer, so that it is written to disk before the job ends.
    for (let i = 0; i < 300; i++) await thread.write({ stream: "stdout", text: "x".repeat(1000) });
    assert.equal(statSync(join(dir, "j.log")).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    await thread.close("modes");
  } finally {
    process.umask(old);
  }
});
