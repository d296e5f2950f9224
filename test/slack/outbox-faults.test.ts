import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { WebClient } from "@slack/web-api";
import { createOutbox, type OutboxOptions } from "../../src/slack/outbox.ts";
import { SEED, SlackFake } from "../support/slack-fake.ts";
import { slackSpacing } from "../support/slack-spacing.ts";

// Slack failing in the ways it does in production (calls that never answer, `ok:false` `ratelimited` with HTTP 200,
// 5xx, failed edits), against the Slack emulator through the real WebClient; each test reads what reached the channel.
let fake: SlackFake;
let client: WebClient;

before(async () => {
  fake = await SlackFake.start();
  client = new WebClient(fake.botToken, { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true });
});
after(() => fake.stop());
beforeEach(() => {
  fake.reset();
  fake.clearFaults();
});

/** Short deadlines and backoff, so that a test waits for seconds where production waits for tens of seconds. */
const outboxWith = (o: Partial<OutboxOptions> = {}) =>
  createOutbox({ client, spacing: slackSpacing, callDeadlineMs: 1500, backoffMs: { first: 200, max: 1000 }, ...o });

test("a hung card post is abandoned at its deadline and sent again; other channels, edits and later cards go on meanwhile", async () => {
  // A deadline well above what the three other calls take, so that they run while Slack still sits on the first.
  const outbox = outboxWith({ callDeadlineMs: 4000 });
  const other = "C0OTHER";
  fake.addChannel({ id: other, name: "other", members: [fake.botUserId] });
  const existing = await outbox.post(other, { text: "old card" });
  fake.fail({ method: "chat.postMessage", hang: true });
  const started = performance.now();
  const hung = outbox.post(SEED.incidentChannel, { text: "hung card" });
  await fake.waitFor("chat.postMessage", (c) => c.args.text === "hung card" && c.status === 0);
  // While Slack sits on that call: another channel, a card edit, and the next card of the same channel all land.
  await outbox.post(other, { text: "other channel" });
  await outbox.update(other, existing, { text: "edited card" });
  await outbox.post(SEED.incidentChannel, { text: "next card" });
  const ts = await hung;
  const resumedMs = Math.round(performance.now() - started);
  assert.equal(fake.message(SEED.incidentChannel, ts)?.text, "hung card");
  assert.equal(fake.message(other, existing)?.text, "edited card");
  assert.deepEqual(
    fake
      .calls("chat.postMessage")
      .filter((c) => c.args.text === "hung card")
      .map((c) => c.status),
    [0, 200],
    "one abandoned try, one answered",
  );
  assert.deepEqual(
    fake.messages(SEED.incidentChannel).map((m) => m.text),
    ["next card", "hung card"],
    "the next card of the channel did not wait for the hung one",
  );
  console.log(`# hung card post: landed ${resumedMs} ms after it was asked for (deadline 4000 ms + backoff 200 ms)`);
});

test("a hung thread reply holds only its own thread, and the thread stays in order", async () => {
  const outbox = outboxWith();
  const a = await outbox.post(SEED.incidentChannel, { text: "job A" });
  const b = await outbox.post(SEED.incidentChannel, { text: "job B" });
  fake.fail({ method: "chat.postMessage", hang: true });
  const replies = ["a1", "a2", "a3"].map((text) => outbox.post(SEED.incidentChannel, { text, thread_ts: a }));
  await fake.waitFor("chat.postMessage", (c) => c.args.text === "a1" && c.status === 0);
  await outbox.post(SEED.incidentChannel, { text: "b1", thread_ts: b });
  assert.deepEqual(
    fake.thread(SEED.incidentChannel, a).map((m) => m.text),
    [],
    "A's later replies wait for a1: a thread is one sequence",
  );
  await Promise.all(replies);
  assert.deepEqual(
    fake.thread(SEED.incidentChannel, a).map((m) => m.text),
    ["a1", "a2", "a3"],
  );
  assert.deepEqual(
    fake.thread(SEED.incidentChannel, b).map((m) => m.text),
    ["b1"],
  );
});

test('`{"ok":false,"error":"ratelimited"}` with HTTP 200 is waited out like a 429, for posts, edits and uploads', async () => {
  const outbox = outboxWith({ retryForMs: 0 });
  fake.fail({ method: "chat.postMessage", error: "ratelimited", times: 2 });
  const ts = await outbox.post(SEED.incidentChannel, { text: "after the limit" });
  assert.equal(fake.message(SEED.incidentChannel, ts)?.text, "after the limit");
  fake.fail({ method: "chat.update", error: "ratelimited" });
  await outbox.update(SEED.incidentChannel, ts, { text: "edited after the limit" });
  assert.equal(fake.message(SEED.incidentChannel, ts)?.text, "edited after the limit");
  fake.fail({ method: "files.completeUploadExternal", error: "ratelimited" });
  const { path } = await spoolOf("one line\n");
  await outbox.upload(SEED.incidentChannel, ts, { filename: "j.log", title: "Full log", path });
  assert.equal(fake.files().find((f) => f.title === "Full log")?.content, "one line\n");
  assert.deepEqual(outbox.stats.rateLimited, { "chat.postMessage": 2, "chat.update": 1, "files.completeUploadExternal": 1 });
  assert.deepEqual(outbox.stats.retried, {}, "a rate limit is not a failure: no retry budget was spent (retryForMs is 0)");
});

test("5xx, internal_error and a closed connection are retried with backoff until the call lands", async () => {
  const outbox = outboxWith();
  fake.fail({ method: "chat.postMessage", status: 503, times: 1 });
  fake.fail({ method: "chat.postMessage", error: "internal_error", times: 1 });
  const ts = await outbox.post(SEED.incidentChannel, { text: "through the outage" });
  assert.equal(fake.message(SEED.incidentChannel, ts)?.text, "through the outage");
  fake.fail({ method: "chat.update", status: 502, times: 2 });
  await outbox.update(SEED.incidentChannel, ts, { text: "edited through the outage" });
  assert.equal(fake.message(SEED.incidentChannel, ts)?.text, "edited through the outage");
  assert.deepEqual(outbox.stats.retried, { "chat.postMessage": 2, "chat.update": 2 });
});

test("a card's final edit is retried until it lands, and a newer edit replaces a failing one", async () => {
  const outbox = outboxWith();
  const ts = await outbox.post(SEED.incidentChannel, { text: "Running" });
  fake.fail({ method: "chat.update", status: 500, times: 3 });
  const running = outbox.update(SEED.incidentChannel, ts, { text: "Running, 10 lines" });
  await fake.waitFor("chat.update", (c) => c.status === 500);
  const final = outbox.update(SEED.incidentChannel, ts, { text: "Succeeded (exit 0)" });
  await Promise.all([running, final]);
  assert.equal(fake.message(SEED.incidentChannel, ts)?.text, "Succeeded (exit 0)");
  const sent = fake.calls("chat.update").map((c) => [c.args.text, c.status]);
  assert.deepEqual(sent.at(-1), ["Succeeded (exit 0)", 200]);
  assert.equal(
    sent.filter(([text, status]) => text === "Running, 10 lines" && status === 200).length,
    0,
    "the superseded state is never sent after the final one",
  );
});

test("a call failing for longer than retryForMs reaches its caller with the error; Slack's refusals are not retried", async () => {
  const outbox = outboxWith({ retryForMs: 1000 });
  fake.fail({ method: "chat.postMessage", status: 500, times: Number.POSITIVE_INFINITY });
  await assert.rejects(
    outbox.post(SEED.incidentChannel, { text: "never" }),
    (e: unknown) => (e as { statusCode?: number }).statusCode === 500,
  );
  fake.clearFaults();
  const before = fake.calls("chat.postMessage").length;
  await assert.rejects(
    outbox.post(SEED.randomChannel, { text: "x" }),
    (e: unknown) => (e as { data?: { error?: string } }).data?.error === "not_in_channel",
  );
  assert.equal(fake.calls("chat.postMessage").length, before + 1, "not_in_channel is sent once");
});

async function spoolOf(content: string): Promise<{ path: string }> {
  const { mkdtemp, writeFile } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = await mkdtemp(join(tmpdir(), "berth-outbox-"));
  const path = join(dir, "j.log");
  await writeFile(path, content);
  return { path };
}
