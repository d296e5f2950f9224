import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { Outbox } from "../../src/slack/outbox.ts";
import { createThread } from "../../src/slack/thread.ts";

/** An outbox that accepts everything at once: nothing in it ever waits for the event loop. */
const instantOutbox: Outbox = {
  stats: { calls: {}, rateLimited: {}, retried: {} },
  post: async () => "1.0",
  update: async () => undefined,
  upload: async () => undefined,
};

test("a burst of long lines lets the event loop turn (acks are answered in between)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-thread-"));
  const thread = createThread({
    outbox: instantOutbox,
    channel: "C1",
    threadTs: "1.0",
    spoolPath: join(dir, "j.log"),
    filename: "j.log",
    maxMessages: 1_000_000,
  });
  // Lines written between two turns of the event loop, at most.
  let written = 0;
  let seen = 0;
  let most = 0;
  const turn = () => {
    most = Math.max(most, written - seen);
    seen = written;
    ticker = setImmediate(turn);
  };
  let ticker = setImmediate(turn);
  const line = "x".repeat(16 * 1024);
  for (let i = 0; i < 64; i++) {
    await thread.write({ stream: "stdout", text: line });
    written++;
  }
  clearImmediate(ticker);
  await thread.close("burst");
  // 1 MiB of output in 16 KiB lines: other work waits for one 64 KiB slice at most, never for the whole burst.
  assert.ok(most <= 4, `${most} lines of 16 KiB were taken without the event loop turning`);
});

test("a preface is the thread's first reply and counts toward its limit, but not as output needing a full log", async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-thread-"));
  const posts: string[] = [];
  let uploads = 0;
  const outbox: Outbox = {
    ...instantOutbox,
    post: async (_channel, message) => {
      posts.push(message.text);
      return "1.0";
    },
    upload: async () => {
      uploads++;
    },
  };
  const thread = createThread({
    outbox,
    channel: "C1",
    threadTs: "1.0",
    spoolPath: join(dir, "j.log"),
    filename: "j.log",
    flushMs: 60_000,
  });
  await thread.preface(["Full command (part 1 of 2):\n```\nrun a\n```", "Full command (part 2 of 2):\n```\nb\n```"]);
  await thread.write({ stream: "stdout", text: "hello" });
  const result = await thread.close("run a b");
  assert.deepEqual(posts, ["Full command (part 1 of 2):\n```\nrun a\n```", "Full command (part 2 of 2):\n```\nb\n```", "```\nhello\n```"]);
  assert.equal(result.messages, 3);
  assert.equal(uploads, 0, "one reply of output is all of it: no full log");
});
