import assert from "node:assert/strict";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, test } from "node:test";
import { WebClient } from "@slack/web-api";
import { createOutbox } from "../../src/slack/outbox.ts";
import { createThread } from "../../src/slack/thread.ts";
import { type ReadPattern, uploadChunkBytes } from "../../src/slack/upload-stream.ts";
import { SEED, SlackFake } from "../support/slack-fake.ts";
import { slackSpacing } from "../support/slack-spacing.ts";

// The full log: uploaded from the spool file as a stream, kept on disk until the upload landed, retried while it fails.
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

async function threadWith(lines: readonly string[], observeUpload?: (p: ReadPattern) => void) {
  const outbox = createOutbox({ client, spacing: slackSpacing, callDeadlineMs: 5000, backoffMs: { first: 200, max: 1000 } });
  const parent = await outbox.post(SEED.incidentChannel, { text: "card" });
  const spoolPath = join(mkdtempSync(join(tmpdir(), "berth-full-log-")), "j.log");
  const thread = createThread({
    outbox,
    channel: SEED.incidentChannel,
    threadTs: parent,
    spoolPath,
    filename: "j.log",
    maxMessages: 2,
    flushMs: 50,
    ...(observeUpload && { observeUpload }),
  });
  for (const text of lines) await thread.write({ stream: "stdout", text });
  return { thread, spoolPath, parent };
}

test("an upload failing (500 on the upload URL, then on files.getUploadURLExternal) is pending, kept on disk, and lands later", async () => {
  const lines = Array.from({ length: 2000 }, (_, i) => `line ${i + 1}`);
  const { thread, spoolPath } = await threadWith(lines);
  fake.fail({ method: "upload", status: 500, times: 2 });
  fake.fail({ method: "files.getUploadURLExternal", status: 503, times: 1 });
  const result = await thread.close("flaky upload");
  assert.ok(result.uploadPending, "close returns while berth keeps trying: the card can say 'full log pending'");
  assert.equal(result.uploaded, false);
  await result.uploadPending;
  assert.equal(result.uploaded, true);
  assert.equal(result.uploadError, undefined);
  assert.equal(existsSync(spoolPath), false, "the spool is removed once the upload landed");
  const file = fake.files().find((f) => f.title === "Full log: flaky upload");
  assert.deepEqual(file?.content.trimEnd().split("\n"), lines);
  assert.equal(fake.calls("upload").filter((c) => c.status === 500).length, 2);
});

test("an upload berth gives up on keeps the spool on disk and says why", async () => {
  const lines = Array.from({ length: 2000 }, (_, i) => `line ${i + 1}`);
  const outbox = createOutbox({
    client,
    spacing: slackSpacing,
    callDeadlineMs: 5000,
    retryForMs: 500,
    backoffMs: { first: 100, max: 200 },
  });
  const parent = await outbox.post(SEED.incidentChannel, { text: "card" });
  const spoolPath = join(mkdtempSync(join(tmpdir(), "berth-full-log-")), "j.log");
  const thread = createThread({
    outbox,
    channel: SEED.incidentChannel,
    threadTs: parent,
    spoolPath,
    filename: "j.log",
    maxMessages: 2,
    flushMs: 50,
  });
  for (const text of lines) await thread.write({ stream: "stdout", text });
  fake.fail({ method: "upload", status: 500, times: Number.POSITIVE_INFINITY });
  const result = await thread.close("no upload");
  await result.uploadPending;
  assert.equal(result.uploaded, false);
  assert.match(result.uploadError ?? "", /HTTP 500/);
  assert.ok(existsSync(spoolPath), "the log is not lost: the spool stays for a later try");
});

test("the full log is streamed from the spool in bounded reads, never read whole into memory", async () => {
  // About 3 MB of output: the upload reads it in chunks of at most 64 KiB while the bytes go out.
  const lines = Array.from({ length: 30_000 }, (_, i) => `${String(i + 1).padStart(6, "0")} ${"x".repeat(90)}`);
  let pattern: ReadPattern | undefined;
  const { thread } = await threadWith(lines, (p) => {
    pattern = p;
  });
  const result = await thread.close("streamed");
  assert.equal(result.uploaded, true);
  const file = fake.files().find((f) => f.title === "Full log: streamed");
  assert.equal(file?.content, `${lines.join("\n")}\n`);
  const size = Buffer.byteLength(file?.content ?? "");
  assert.ok(pattern, "the uploader reported its reads");
  assert.ok(pattern.largestRead <= uploadChunkBytes, `largest read ${pattern.largestRead} bytes`);
  assert.ok(pattern.reads >= Math.ceil(size / uploadChunkBytes), `${pattern.reads} reads for ${size} bytes`);
  assert.equal(
    fake.calls("upload").at(-1)?.args.content_type,
    "application/octet-stream",
    "raw bytes, not a multipart body built in memory",
  );
});
