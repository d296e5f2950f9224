import assert from "node:assert/strict";
import { test } from "node:test";
import type { ContainerEvent } from "../../src/engines/ports.ts";
import { createNotifier, type NotifierDeps } from "../../src/slack/notifier.ts";
import type { Outbox } from "../../src/slack/outbox.ts";

const at = 1_700_000_000_000;
const die = (over: Partial<ContainerEvent> = {}): ContainerEvent => ({
  kind: "die",
  id: "abc123abc123",
  name: "api",
  image: "busybox:1",
  exitCode: 3,
  labels: { "io.berth.channel": "C0START", "io.berth.user": "U1", "io.berth.job": "j-000001" },
  timeNano: BigInt(at) * 1_000_000n,
  ...over,
});

/** A notifier over an outbox that records its posts, and a log that records its lines. */
function setup(jobOf: NotifierDeps["jobOf"], routing: NotifierDeps["routing"] = { hostChannel: () => undefined }) {
  const posts: { channel: string; text: string }[] = [];
  const logged: { event: string; fields: Record<string, unknown> }[] = [];
  const outbox: Outbox = {
    stats: { calls: {}, rateLimited: {}, retried: {} },
    post: async (channel, message) => {
      posts.push({ channel, text: JSON.stringify(message) });
      return `${posts.length}.0`;
    },
    update: async () => undefined,
    upload: async () => undefined,
  };
  const notifier = createNotifier({
    outbox,
    routing,
    lastLines: async () => [],
    jobOf,
    log: (event, fields) => logged.push({ event, fields }),
    clock: () => at,
  });
  return { notifier, posts, logged };
}

test("an exit its running job's card will show is not posted again, and the skip is logged", async () => {
  const { notifier, posts, logged } = setup(async () => ({ status: "running", channelId: "C0START", endedAt: null }));
  notifier.handle("local", die());
  await notifier.idle();
  assert.equal(posts.length, 0);
  const skipped = logged.find((l) => l.event === "notification skipped: the job's card shows it");
  assert.deepEqual(skipped?.fields, { host: "local", container: "abc123abc123", job: "j-000001", kind: "die" });
});

test("a crash after the job ended, or routed to another channel, gets its card", async () => {
  const ended = setup(async () => ({ status: "failed", channelId: "C0START", endedAt: at - 3600_000 }));
  ended.notifier.handle("local", die());
  await ended.notifier.idle();
  assert.deepEqual(
    ended.posts.map((p) => p.channel),
    ["C0START"],
  );
  const routed = setup(async () => ({ status: "running", channelId: "C0START", endedAt: null }), {
    channel: "C0INCIDENTS",
    hostChannel: () => undefined,
  });
  routed.notifier.handle("local", die());
  await routed.notifier.idle();
  assert.deepEqual(
    routed.posts.map((p) => p.channel),
    ["C0INCIDENTS"],
  );
});

test("a job that cannot be looked up is notified (never dropped silently) and the failure logged", async () => {
  const { notifier, posts, logged } = setup(async () => {
    throw new Error("database is down");
  });
  notifier.handle("local", die());
  await notifier.idle();
  assert.equal(posts.length, 1);
  assert.ok(logged.some((l) => l.event.startsWith("notification job lookup failed") && l.fields.job === "j-000001"));
});

test("events of one container are shown in the order they came, whatever their lookups take", async () => {
  const lookups: (() => void)[] = [];
  const { notifier, posts } = setup(
    () =>
      new Promise((resolve) => {
        lookups.push(() => resolve(undefined));
      }),
  );
  notifier.handle("local", die({ kind: "oom", exitCode: undefined }));
  notifier.handle("local", die({ exitCode: 137 }));
  const idle = notifier.idle();
  // Only the first lookup is under way: the second event waits for it, so the OOM kill opens the card.
  await new Promise((r) => setImmediate(r));
  assert.equal(lookups.length, 1);
  lookups[0]?.();
  while (lookups.length < 2) await new Promise((r) => setImmediate(r));
  lookups[1]?.();
  await idle;
  assert.equal(posts.length, 1, "one crash, one card");
  assert.match(posts[0]?.text ?? "", /running out of memory/);
});
