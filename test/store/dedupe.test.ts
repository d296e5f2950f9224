// The embedded store's delivery de-duplication (src/store/dedupe.ts): the same answers as the store port's
// `dedupe.claim` for the same calls, kept across a restart, and handed over to the port on the same berth.db.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { openSqliteStore } from "../../src/store/sqlite-store.ts";
import { openStore } from "../../src/store/store.ts";
import { manualClock } from "./store-contract.ts";

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-dedupe-"));
  dirs.push(dir);
  return dir;
};
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test("claim answers exactly as the store port's dedupe.claim does, call for call", async () => {
  const syncClock = manualClock();
  const portClock = manualClock();
  const store = openStore(":memory:", syncClock);
  const port = await openSqliteStore({ dataDir: ":memory:", clock: portClock });
  try {
    // The port contract's scenario (test/store/store-contract.ts), plus a key claimed again the moment it expires.
    const steps: [advanceMs: number, key: string, ttlMs: number][] = [
      [0, "envelope:e1", 60_000],
      [0, "envelope:e1", 60_000],
      [1_000, "envelope:e2", 60_000],
      [58_999, "envelope:e1", 60_000],
      [1, "envelope:e1", 60_000],
      [0, "envelope:e1", 60_000],
      [0, "envelope:e2", 60_000],
      [1_000, "envelope:e2", 5],
      [5, "envelope:e2", 5],
    ];
    const sync: boolean[] = [];
    const async: boolean[] = [];
    for (const [advance, key, ttl] of steps) {
      syncClock.now += advance;
      portClock.now += advance;
      sync.push(store.dedupe.claim(key, ttl));
      async.push(await port.dedupe.claim(key, ttl));
    }
    assert.deepEqual(sync, async);
    assert.deepEqual(sync, [true, false, true, false, true, false, false, true, true]);
  } finally {
    store.close();
    await port.close();
  }
});

test("a claimed key holds across a restart of the store, until it expires", () => {
  const dir = tempDir();
  const clock = manualClock();
  const first = openStore(dir, clock);
  assert.equal(first.dedupe.claim("command:T1:trigger-1", 3_600_000), true);
  first.close();
  const second = openStore(dir, clock);
  try {
    assert.equal(second.dedupe.claim("command:T1:trigger-1", 3_600_000), false, "the restarted store still knows the key");
    assert.equal(second.dedupe.claim("command:T1:trigger-2", 3_600_000), true);
    clock.now += 3_600_000;
    assert.equal(second.dedupe.claim("command:T1:trigger-1", 3_600_000), true, "an expired key is claimed again");
  } finally {
    second.close();
  }
});

test("a claim deletes expired keys (at most once a minute), so the table holds only keys in force", () => {
  const clock = manualClock();
  const store = openStore(":memory:", clock);
  try {
    for (const key of ["a", "b", "c"]) assert.equal(store.dedupe.claim(key, 1_000), true);
    clock.now += 2_000;
    assert.equal(store.dedupe.claim("d", 1_000), true, "within a minute of the last sweep: no sweep");
    assert.equal(store.dedupe.sweep(), 3, "a, b and c had expired and were still there");
    for (const key of ["e", "f"]) assert.equal(store.dedupe.claim(key, 1_000), true);
    clock.now += 60_000;
    assert.equal(store.dedupe.claim("g", 1_000), true);
    assert.equal(store.dedupe.sweep(), 0, "the claim a minute later swept d, e and f itself");
  } finally {
    store.close();
  }
});

test("the port opens a berth.db whose keys store.ts wrote, and keeps honouring them", async () => {
  const dir = tempDir();
  const clock = manualClock();
  const store = openStore(dir, clock);
  assert.equal(store.dedupe.claim("envelope:carried-over", 60_000), true);
  store.close();
  const port = await openSqliteStore({ dataDir: dir, clock });
  try {
    assert.equal(await port.dedupe.claim("envelope:carried-over", 60_000), false);
    assert.equal(await port.dedupe.claim("envelope:new", 60_000), true);
  } finally {
    await port.close();
  }
});
