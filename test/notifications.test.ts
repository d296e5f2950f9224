import assert from "node:assert/strict";
import { test } from "node:test";
import type { ContainerEvent } from "../src/engines/ports.ts";
import { createNotices, noticeChannel, shownOnJobCard } from "../src/notifications.ts";
import type { JobRecord } from "../src/store/records.ts";

const event = (kind: ContainerEvent["kind"], over: Partial<ContainerEvent> = {}): ContainerEvent => ({
  kind,
  id: "abc123abc123",
  name: "api",
  image: "busybox:1",
  exitCode: kind === "die" ? 3 : undefined,
  labels: { "io.berth.channel": "C0START", "io.berth.user": "U1" },
  timeNano: 1n,
  ...over,
});

test("repeats of one container update one notice with a counter; another container opens its own", () => {
  let now = 1_000_000;
  const notices = createNotices({ hostChannel: () => undefined }, () => now);
  const first = notices.add("h", event("die"));
  assert.equal(first?.isNew, true);
  assert.equal(first?.notice.channel, "C0START", "the channel the container was started from");
  assert.equal(first?.notice.headline, "exited with code 3");
  for (let i = 0; i < 4; i++) {
    now += 2000;
    const again = notices.add("h", event("die", { exitCode: 1 }));
    assert.equal(again?.isNew, false);
  }
  const last = notices.add("h", event("unhealthy"));
  assert.equal(last?.notice.count, 6);
  assert.equal(last?.notice.headline, "turned unhealthy (its health check fails)");
  assert.equal(last?.notice.firstAt, 1_000_000);
  assert.equal(notices.add("h", event("die", { id: "def456def456" }))?.isNew, true);
  assert.equal(notices.add("other-host", event("die"))?.isNew, true, "the same id on another host is another container");
});

test("an OOM kill (oom, then die 137) counts once and says why", () => {
  let now = 0;
  const notices = createNotices({ hostChannel: () => undefined }, () => now);
  notices.add("h", event("oom"));
  now += 50;
  const die = notices.add("h", event("die", { exitCode: 137 }));
  assert.equal(die?.notice.count, 1);
  assert.equal(die?.notice.headline, "was killed for running out of memory (exit 137)");
  now += 60_000;
  assert.equal(notices.add("h", event("die", { exitCode: 137 }))?.notice.count, 2, "a later die is a new crash");
});

test("routing: the configured channel, else the host's, else the starting channel; none at all → nothing", () => {
  assert.equal(createNotices({ channel: "C0ALL", hostChannel: () => "C0HOST" }).add("h", event("die"))?.notice.channel, "C0ALL");
  assert.equal(createNotices({ hostChannel: () => "C0HOST" }).add("h", event("die"))?.notice.channel, "C0HOST");
  assert.equal(createNotices({ hostChannel: () => undefined }).add("h", event("die", { labels: {} })), undefined);
});

test("a container quiet for hours starts a fresh notice", () => {
  let now = 0;
  const notices = createNotices({ hostChannel: () => undefined }, () => now);
  notices.add("h", event("die"));
  now += 7 * 3600_000;
  assert.equal(notices.add("h", event("die"))?.isNew, true);
});

test("a container's own job card in the channel shows its event: no second message there", () => {
  const at = 1_700_000_000_000;
  const die = event("die", { labels: { "io.berth.channel": "C0START", "io.berth.job": "j-1" }, timeNano: BigInt(at) * 1_000_000n });
  const job = (over: Partial<Pick<JobRecord, "status" | "channelId" | "endedAt">> = {}) => ({
    status: "running" as const,
    channelId: "C0START",
    endedAt: null,
    ...over,
  });
  assert.equal(shownOnJobCard(job(), die, "C0START"), true, "the running job's card follows the container to its exit");
  assert.equal(shownOnJobCard(job({ status: "failed", endedAt: at + 300 }), die, "C0START"), true, "ended right after the exit");
  assert.equal(shownOnJobCard(job({ status: "failed", endedAt: at - 1000 }), die, "C0START"), true, "within berth's clock slack");
  assert.equal(
    shownOnJobCard(job({ status: "succeeded", endedAt: at - 60_000 }), die, "C0START"),
    false,
    "a job that ended well before: a restarted container crashing later",
  );
  assert.equal(shownOnJobCard(job(), die, "C0ELSEWHERE"), false, "the notice goes to another channel than the card");
  assert.equal(shownOnJobCard(undefined, die, "C0START"), false, "no job (no label, or unknown): notified");
  const detached = event("die", { labels: { ...die.labels, "io.berth.detached": "true" }, timeNano: die.timeNano });
  assert.equal(shownOnJobCard(job(), detached, "C0START"), false, "a run -d card ends at Started, even while it still finishes");
  assert.equal(shownOnJobCard(job({ status: "succeeded", endedAt: at + 50 }), detached, "C0START"), false);
});

test("notices go where routing says: the configured channel, else the host's, else the starting channel", () => {
  const e = event("die");
  assert.equal(noticeChannel({ channel: "C0ALL", hostChannel: () => "C0HOST" }, "h", e), "C0ALL");
  assert.equal(noticeChannel({ hostChannel: (h) => (h === "h" ? "C0HOST" : undefined) }, "h", e), "C0HOST");
  assert.equal(noticeChannel({ hostChannel: () => undefined }, "h", e), "C0START");
});
