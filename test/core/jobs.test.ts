// The job registry's leases (issue 13, item 8): two replicas' registries over one store. A job is one replica's at a
// time; a stale owner's writes are fenced off; a Stop pressed on another replica reaches the owner; a drained job is
// free at once.
import assert from "node:assert/strict";
import { once } from "node:events";
import { test } from "node:test";
import { cancelledBy, takenOver } from "../../src/core/job-context.ts";
import { createJobRegistry } from "../../src/core/jobs.ts";
import { jobLease } from "../../src/store/port.ts";
import { openSqliteStore } from "../../src/store/sqlite-store.ts";

const record = { id: "j-000001", kind: "container.logs", userId: "U1", channelId: "C1", host: "local", summary: "logs -f api" };

async function fleet(t: { after: (fn: () => Promise<void> | void) => void }, ttlMs = 600) {
  let now = 1_000_000;
  const store = await openSqliteStore({ dataDir: ":memory:", clock: () => now });
  const a = createJobRegistry(store, { owner: "replica-a", leaseTtlMs: ttlMs });
  const b = createJobRegistry(store, { owner: "replica-b", leaseTtlMs: ttlMs });
  t.after(async () => {
    a.close();
    b.close();
    await store.close();
  });
  return { store, a, b, advance: (ms: number) => (now += ms) };
}

test("a job is one replica's: another cannot take it while the lease holds, and can once it ran out", async (t) => {
  const { store, a, b, advance } = await fleet(t);
  const mine = await a.start({ ...record, messageTs: "1.1" });
  assert.ok(mine, "the first replica registers the job");
  assert.equal(await b.start({ ...record, messageTs: "1.1" }, { resumed: true }), undefined, "held by the other replica");
  assert.deepEqual(
    (await store.jobs.unowned()).map((j) => j.id),
    [],
    "not offered for take-over",
  );
  a.close(); // the first replica stops beating (it died, or lost the database)
  advance(601);
  assert.deepEqual(
    (await store.jobs.unowned()).map((j) => j.id),
    [record.id],
    "offered once the lease ran out",
  );
  const theirs = await b.start({ ...record, messageTs: "1.1" }, { resumed: true });
  assert.ok(theirs, "the other replica takes it over");
  assert.ok(theirs.fence.token > mine.fence.token, "with a newer fencing token");
  assert.deepEqual(await store.jobs.advanceCursor(record.id, { at: "2026-12-05T00:00:01Z", lines: 5 }, mine.fence), {
    ok: false,
    reason: "fenced",
  });
  assert.equal(await store.leases.holds(mine.fence), false, "the stale owner may no longer post");
  assert.equal(await a.finish(record.id, "failed", null, "stale"), false, "nor record an outcome");
  assert.equal(await b.finish(record.id, "succeeded", 0, "ended"), true);
  assert.equal((await store.jobs.get(record.id))?.status, "succeeded", "the new owner's outcome stands");
});

test("the owner learns at its next heartbeat that another replica took its job, and stops writing", async (t) => {
  const { store, a, advance } = await fleet(t);
  const mine = await a.start({ ...record, messageTs: "1.1" });
  assert.ok(mine);
  // A replica cut off from the database for longer than the lease: another took the job meanwhile.
  advance(601);
  const taken = await store.leases.acquire(jobLease(record.id), "replica-b", 600);
  assert.ok(taken.ok);
  await once(mine.controller.signal, "abort");
  assert.ok(takenOver(mine.controller.signal), "stopped as taken over, not as cancelled");
});

test("Stop pressed on a replica that does not carry the job reaches the one that does", async (t) => {
  const { store, a, b } = await fleet(t);
  const mine = await a.start({ ...record, messageTs: "1.1" });
  assert.ok(mine);
  assert.equal(b.get(record.id), undefined, "not running on the other replica");
  assert.equal(await b.cancel(record.id, "U2"), true, "asked through the store");
  await once(mine.controller.signal, "abort");
  assert.equal(cancelledBy(mine.controller.signal), "U2", "stopped by the person who pressed Stop");
  assert.equal(takenOver(mine.controller.signal), false);
  assert.equal((await store.jobs.get(record.id))?.cancelBy, "U2");
  assert.equal(await b.cancel("j-nosuch", "U2"), false, "no such running job");
});

test("a drained job's lease is given up at once: another replica takes it without waiting for the TTL", async (t) => {
  const { a, b } = await fleet(t, 60_000);
  assert.ok(await a.start({ ...record, messageTs: "1.1" }));
  a.suspendAll();
  await a.release(record.id);
  await a.idle();
  assert.ok(await b.start({ ...record, messageTs: "1.1" }, { resumed: true }), "taken over at once");
});
