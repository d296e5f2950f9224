import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { Outbox } from "../../src/slack/outbox.ts";
import { createThread } from "../../src/slack/thread.ts";

// A thread carried on after berth restarted (run-job.ts, core/resume.ts): its spool, the full log, is cut back to what
// the job's cursor covers and goes on from there.

function recordingOutbox() {
  const posts: string[] = [];
  const uploads: string[] = [];
  const outbox: Outbox = {
    stats: { calls: {}, rateLimited: {}, retried: {} },
    post: async (_channel, message) => {
      posts.push(message.text);
      return "1.0";
    },
    update: async () => undefined,
    // The upload streams the spool file; the test reads what it holds at that moment.
    upload: async (_channel, _thread, file) => {
      uploads.push(readFileSync(file.path, "utf8"));
    },
  };
  return { outbox, posts, uploads };
}

test("a resumed thread cuts its spool back to the cursor's lines, counts on from there and uploads the full log", async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-thread-resume-"));
  const spoolPath = join(dir, "j.log");
  // The previous berth spooled 5 lines; its cursor covered 3 (lines 4 and 5 are read from the engine again).
  writeFileSync(spoolPath, "line-1\nline-2\nline-3\nline-4\nline-5\n");
  const { outbox, posts, uploads } = recordingOutbox();
  const thread = createThread({
    outbox,
    channel: "C1",
    threadTs: "1.0",
    spoolPath,
    filename: "j.log",
    resume: { lines: 3, messages: 2 },
  });
  for (const n of [4, 5, 6]) await thread.write({ stream: "stdout", text: `line-${n}` });
  const result = await thread.close("run");
  assert.equal(result.lines, 6);
  assert.equal(result.messages, 3, "two replies before the restart, one after");
  assert.deepEqual(posts, ["```\nline-4\nline-5\nline-6\n```"]);
  assert.deepEqual(uploads, ["line-1\nline-2\nline-3\nline-4\nline-5\nline-6\n"], "every line once, in order");
});

test("sync writes the spooled lines to disk; pause posts what is buffered and keeps the spool for the next berth", async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-thread-pause-"));
  const spoolPath = join(dir, "j.log");
  const { outbox, posts } = recordingOutbox();
  const thread = createThread({ outbox, channel: "C1", threadTs: "1.0", spoolPath, filename: "j.log", flushMs: 60_000 });
  await thread.write({ stream: "stdout", text: "a" });
  await thread.sync();
  assert.equal(readFileSync(spoolPath, "utf8"), "a\n");
  assert.deepEqual(posts, [], "not posted yet: it waits for company");
  await thread.write({ stream: "stdout", text: "b" });
  await thread.pause();
  assert.deepEqual(posts, ["```\na\nb\n```"]);
  assert.equal(readFileSync(spoolPath, "utf8"), "a\nb\n", "the spool stays");
});
