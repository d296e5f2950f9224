// The store port's contract, run against every adapter (sqlite-store.test.ts, postgres-store.test.ts): what berth may
// rely on whichever database holds its state. Time is the store's injected clock, moved by hand: no test sleeps.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BerthError } from "../../src/core/errors.ts";
import type { AuditEntry, CloudHostRecord, StorePort } from "../../src/store/port.ts";
import { jobLease } from "../../src/store/port.ts";
import { createSecretBox } from "../../src/store/secret-box.ts";

export type ManualClock = { now: number; (): number };
export const manualClock = (start = 1_800_000_000_000): ManualClock => {
  const clock = (() => clock.now) as ManualClock;
  clock.now = start;
  return clock;
};

export type OpenOptions = { clock: ManualClock; secretBox?: ReturnType<typeof createSecretBox> | undefined };
/** Opens a store on an empty database of its own. */
export type Opener = (options: OpenOptions) => Promise<StorePort>;

export const entry = (n: number, by = "U1"): AuditEntry => ({
  requestId: `r${n}`,
  type: "decision",
  userId: by,
  channelId: "C1",
  action: { kind: "container.list", all: false, n },
  host: "local",
  decision: "allow",
  rule: "bindings[0]",
  outcome: null,
  messageTs: null,
});

const job = (id: string) => ({
  id,
  kind: "container.run",
  userId: "U1",
  channelId: "C1",
  host: "local",
  summary: `run ${id}`,
  messageTs: "1700000000.000100",
});

const host = (name: string, status: CloudHostRecord["status"] = "provisioning"): CloudHostRecord => ({
  name,
  os: "linux",
  size: "Standard_B2s",
  region: "westeurope",
  hyperv: false,
  private: false,
  requester: "U1",
  channelId: "C1",
  threadTs: null,
  jobId: `job-${name}`,
  createdAt: 1,
  expiresAt: 2,
  remindedAt: null,
  status,
  steps: { vm: { state: "running", poller: "{}" } },
  removal: {},
  address: null,
  fqdn: null,
  dockerUrl: null,
  bootstrap: null,
  detail: null,
});

const isCode = (code: string) => (error: unknown) => error instanceof BerthError && error.code === code;

export function storeContract(name: string, open: Opener): void {
  /** Runs `body` with a fresh store and closes it whatever happens. */
  async function withStore(body: (store: StorePort, clock: ManualClock) => Promise<void>, options: Partial<OpenOptions> = {}) {
    const clock = options.clock ?? manualClock();
    const store = await open({ ...options, clock });
    try {
      await body(store, clock);
    } finally {
      await store.close();
    }
  }

  describe(`store contract: ${name}`, () => {
    test("jobs: created running, finished once, counted", () =>
      withStore(async (store, clock) => {
        await store.jobs.create(job("j1"));
        clock.now += 10;
        await store.jobs.create({ ...job("j2"), resume: { container: "abc", follow: true } });
        const j1 = await store.jobs.get("j1");
        assert.equal(j1?.status, "running");
        assert.equal(j1?.cursor, null);
        assert.equal(j1?.resume, null);
        assert.deepEqual((await store.jobs.get("j2"))?.resume, { container: "abc", follow: true });
        assert.deepEqual(await store.jobs.setMessageTs("j1", "1700000000.000200"), { ok: true });
        assert.equal((await store.jobs.get("j1"))?.messageTs, "1700000000.000200");
        assert.equal((await store.jobs.byCard("C1", "1700000000.000200"))?.id, "j1", "a job is found by its card");
        assert.equal(await store.jobs.byCard("C2", "1700000000.000200"), undefined, "in its own channel only");
        assert.equal(await store.jobs.byCard("C1", "1700000000.000999"), undefined);
        clock.now += 5;
        assert.deepEqual(await store.jobs.finish("j1", { status: "succeeded", exitCode: 0, detail: null }), { ok: true });
        assert.deepEqual(await store.jobs.finish("j1", { status: "failed", exitCode: 1, detail: "late" }), {
          ok: false,
          reason: "finished",
        });
        const done = await store.jobs.get("j1");
        assert.equal(done?.status, "succeeded");
        assert.equal(done?.exitCode, 0);
        assert.equal(done?.endedAt, clock.now);
        assert.deepEqual(await store.jobs.finish("nope", { status: "failed", exitCode: null, detail: null }), {
          ok: false,
          reason: "not-found",
        });
        assert.deepEqual(
          (await store.jobs.running()).map((j) => j.id),
          ["j2"],
        );
        assert.deepEqual(await store.jobs.counts(), { running: 1, succeeded: 1 });
        assert.equal(await store.jobs.get("nope"), undefined);
        await assert.rejects(store.jobs.create(job("j1")), isCode("CONFLICT"));
      }));

    test("jobs: the cursor only moves forward and is what a resumed stream starts from", () =>
      withStore(async (store) => {
        await store.jobs.create(job("j1"));
        const at = "2026-12-05T12:00:00.123456789Z";
        assert.deepEqual(await store.jobs.advanceCursor("j1", { at, lines: 40 }), { ok: true });
        assert.deepEqual(await store.jobs.advanceCursor("j1", { at: "2026-12-05T11:00:00Z", lines: 12 }), { ok: true });
        assert.deepEqual((await store.jobs.get("j1"))?.cursor, { at, lines: 40 }, "an older cursor is ignored");
        assert.deepEqual(await store.jobs.setResume("j1", { container: "c1", since: at }), { ok: true });
        const [running] = await store.jobs.running();
        assert.deepEqual(running?.cursor, { at, lines: 40 });
        assert.deepEqual(running?.resume, { container: "c1", since: at });
        assert.deepEqual(await store.jobs.advanceCursor("nope", { at, lines: 1 }), { ok: false, reason: "not-found" });
      }));

    test("jobs: unowned lists unfinished jobs no live lease carries", () =>
      withStore(async (store, clock) => {
        for (const id of ["a", "b", "c"]) {
          await store.jobs.create(job(id));
          clock.now += 1;
        }
        await store.jobs.finish("c", { status: "cancelled", exitCode: null, detail: null });
        const ids = async () => (await store.jobs.unowned()).map((j) => j.id);
        assert.deepEqual(await ids(), ["a", "b"]);
        const held = await store.leases.acquire(jobLease("a"), "replica-1", 10_000);
        assert.ok(held.ok);
        assert.deepEqual(await ids(), ["b"]);
        clock.now += 10_000;
        assert.deepEqual(await ids(), ["a", "b"], "an expired lease carries nothing");
        const again = await store.leases.acquire(jobLease("a"), "replica-2", 10_000);
        assert.ok(again.ok);
        assert.deepEqual(await ids(), ["b"]);
        assert.equal(await store.leases.release(again.lease), true);
        assert.deepEqual(await ids(), ["a", "b"]);
      }));

    test("leases: one holder, heartbeat, takeover after expiry with a larger token", () =>
      withStore(async (store, clock) => {
        const first = await store.leases.acquire("host:h1", "r1", 10_000);
        assert.ok(first.ok);
        assert.equal(first.lease.token, 1);
        assert.equal(first.lease.expiresAt, clock.now + 10_000);
        const other = await store.leases.acquire("host:h1", "r2", 10_000);
        assert.deepEqual(other, { ok: false, holder: "r1", expiresAt: first.lease.expiresAt });
        const same = await store.leases.acquire("host:h1", "r1", 10_000);
        assert.ok(same.ok);
        assert.equal(same.lease.token, 1, "re-acquiring a lease one holds keeps its token");
        clock.now += 9_000;
        const beat = await store.leases.renew(first.lease, 10_000);
        assert.ok(beat.ok);
        assert.equal(beat.lease.expiresAt, clock.now + 10_000);
        clock.now += 9_999;
        assert.equal((await store.leases.acquire("host:h1", "r2", 10_000)).ok, false, "still held until it expires");
        clock.now += 1;
        const taken = await store.leases.acquire("host:h1", "r2", 10_000);
        assert.ok(taken.ok);
        assert.equal(taken.lease.token, 2);
        assert.deepEqual(await store.leases.renew(first.lease, 10_000), { ok: false, holder: "r2", expiresAt: taken.lease.expiresAt });
        assert.equal(await store.leases.release(first.lease), false, "a stale owner cannot release what it lost");
        assert.deepEqual(await store.leases.get("host:h1"), taken.lease);
        assert.equal(await store.leases.holds({ name: "host:h1", token: 1 }), false);
        assert.equal(await store.leases.holds({ name: "host:h1", token: 2 }), true);
        assert.equal(await store.leases.release(taken.lease), true);
        assert.equal(await store.leases.get("host:h1"), undefined);
        assert.equal(await store.leases.holds({ name: "host:h1", token: 2 }), false, "a released lease fences its last owner too");
        const next = await store.leases.acquire("host:h1", "r2", 10_000);
        assert.ok(next.ok);
        assert.equal(next.lease.token, 3, "tokens never repeat");
      }));

    test("fencing: a stale token is refused on every guarded write, the current one accepted", () =>
      withStore(async (store, clock) => {
        await store.jobs.create(job("j1"));
        const old = await store.leases.acquire(jobLease("j1"), "r1", 10_000);
        assert.ok(old.ok);
        const oldFence = { name: old.lease.name, token: old.lease.token };
        assert.deepEqual(await store.jobs.advanceCursor("j1", { at: "2026-12-05T12:00:01Z", lines: 1 }, oldFence), { ok: true });
        clock.now += 10_001;
        const now = await store.leases.acquire(jobLease("j1"), "r2", 10_000);
        assert.ok(now.ok);
        const fenced = { ok: false, reason: "fenced" };
        assert.deepEqual(await store.jobs.advanceCursor("j1", { at: "2026-12-05T12:00:09Z", lines: 9 }, oldFence), fenced);
        assert.deepEqual(await store.jobs.setMessageTs("j1", "1.2", oldFence), fenced);
        assert.deepEqual(await store.jobs.setResume("j1", { x: 1 }, oldFence), fenced);
        assert.deepEqual(await store.jobs.finish("j1", { status: "failed", exitCode: null, detail: "stale" }, oldFence), fenced);
        assert.deepEqual(await store.cloudHosts.put(host("h1"), oldFence), fenced);
        assert.equal(await store.cloudHosts.get("h1"), undefined);
        const stored = await store.jobs.get("j1");
        assert.equal(stored?.status, "running");
        assert.deepEqual(stored?.cursor, { at: "2026-12-05T12:00:01Z", lines: 1 });
        const newFence = { name: now.lease.name, token: now.lease.token };
        assert.deepEqual(await store.jobs.advanceCursor("j1", { at: "2026-12-05T12:00:02Z", lines: 2 }, newFence), { ok: true });
        assert.deepEqual(await store.cloudHosts.put(host("h1"), newFence), { ok: true });
        assert.deepEqual(await store.jobs.finish("j1", { status: "succeeded", exitCode: 0, detail: null }, newFence), { ok: true });
        assert.equal((await store.jobs.get("j1"))?.status, "succeeded");
      }));

    test("dedupe: a key is claimed once until it expires", () =>
      withStore(async (store, clock) => {
        assert.equal(await store.dedupe.claim("envelope:e1", 60_000), true);
        assert.equal(await store.dedupe.claim("envelope:e1", 60_000), false);
        clock.now += 1_000;
        assert.equal(await store.dedupe.claim("envelope:e2", 60_000), true);
        clock.now += 58_999;
        assert.equal(await store.dedupe.claim("envelope:e1", 60_000), false);
        clock.now += 1;
        assert.equal(await store.sweep(), 1, "e1 expired; e2 (claimed later) has not");
        assert.equal(await store.dedupe.claim("envelope:e1", 60_000), true);
      }));

    test("dedupe: a key is free again the moment it expires, without a sweep, whatever its TTL", () =>
      withStore(async (store, clock) => {
        // The scenario the synchronous store's dedupe table was held to, call for call.
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
        const claimed: boolean[] = [];
        for (const [advance, key, ttl] of steps) {
          clock.now += advance;
          claimed.push(await store.dedupe.claim(key, ttl));
        }
        assert.deepEqual(claimed, [true, false, true, false, true, false, false, true, true]);
      }));

    test("rate budget: slots first come first served, queued or only when free, never closer than the spacing", () =>
      withStore(async (store, clock) => {
        clock.now = 1_800_000_000_000;
        const channel = { key: "post:C1", spacingMs: 1000 };
        const topLevel = { key: "post:top-level", spacingMs: 600 };
        const budget = store.rateBudget;
        assert.deepEqual(await budget.reserve([channel, topLevel], "queue"), { ok: true, waitMs: 0 }, "free lanes: now");
        assert.deepEqual(await budget.reserve([channel, topLevel], "queue"), { ok: true, waitMs: 1000 }, "the busier lane decides");
        assert.deepEqual(await budget.reserve([topLevel], "queue"), { ok: true, waitMs: 1600 }, "behind the slot booked on it");
        assert.deepEqual(await budget.reserve([channel], "now"), { ok: false, retryAfterMs: 2000 }, "booked ahead: refused");
        assert.deepEqual(await budget.reserve([{ key: "post:C2", spacingMs: 1000 }], "now"), { ok: true, waitMs: 0 }, "lanes are separate");
        clock.now += 1500;
        assert.deepEqual(await budget.reserve([channel], "now"), { ok: false, retryAfterMs: 500 }, "nothing was booked by the refusal");
        clock.now += 500;
        assert.deepEqual(await budget.reserve([channel], "now"), { ok: true, waitMs: 0 });
        assert.deepEqual(await budget.reserve([channel], "queue"), { ok: true, waitMs: 1000 });
        await assert.rejects(budget.reserve([], "queue"), isCode("INVALID"));
        await assert.rejects(budget.reserve([channel, channel], "queue"), isCode("INVALID"));
        await assert.rejects(budget.reserve([{ key: "x", spacingMs: 0.5 }], "now"), isCode("INVALID"));
        clock.now += 10_000;
        assert.equal(await store.sweep(), 3, "the lanes whose next time has passed");
        assert.deepEqual(await budget.reserve([channel], "now"), { ok: true, waitMs: 0 }, "a swept lane is free");
      }));

    test("pending requests: one decision wins, expiry, overdue", () =>
      withStore(async (store, clock) => {
        const base = {
          requestId: "req",
          gate: "approval" as const,
          requester: "U1",
          channelId: "C1",
          channelName: "ops",
          host: "local",
          summary: "run alpine",
          action: { kind: "container.run", image: "alpine", env: { A: "***" } },
          rule: "bindings[0]",
          gateRule: "gates[0]",
          approvers: ["U2", "U3"],
        };
        const p = await store.pending.create({ ...base, id: "p1", expiresAt: clock.now + 1000 });
        assert.equal(p.state, "pending");
        assert.equal(p.createdAt, clock.now);
        assert.deepEqual(p.approvers, ["U2", "U3"]);
        assert.deepEqual(p.action, base.action);
        await store.pending.create({ ...base, id: "p2", expiresAt: clock.now + 1000 });
        assert.deepEqual(
          (await store.pending.waiting()).map((r) => r.id),
          ["p1", "p2"],
        );
        await store.pending.setMessageTs("p1", "1.5");
        assert.equal((await store.pending.get("p1"))?.messageTs, "1.5");
        assert.equal(await store.pending.decide("p1", "approved", "U2"), true);
        assert.equal(await store.pending.decide("p1", "denied", "U3"), false);
        const decided = await store.pending.get("p1");
        assert.equal(decided?.state, "approved");
        assert.equal(decided?.decidedBy, "U2");
        assert.deepEqual(await store.pending.overdue(), []);
        assert.deepEqual(
          (await store.pending.waiting()).map((r) => r.id),
          ["p2"],
          "a decided request no longer waits",
        );
        clock.now += 1000;
        assert.deepEqual(await store.pending.waiting(), [], "an overdue request no longer waits");
        assert.equal(await store.pending.decide("p2", "approved", "U2"), false, "too late");
        assert.deepEqual(
          (await store.pending.overdue()).map((r) => r.id),
          ["p2"],
        );
        assert.equal(await store.pending.expire("p2"), true);
        assert.equal(await store.pending.expire("p2"), false);
        assert.equal((await store.pending.get("p2"))?.state, "expired");
        assert.equal(await store.pending.get("nope"), undefined);
      }));

    test("grants: active until they end, announced once", () =>
      withStore(async (store, clock) => {
        const g = { userId: "U1", role: "admin", reason: "incident", channelId: "C1", approvedBy: "U2", startsAt: clock.now };
        await store.grants.create({ ...g, id: "g1", expiresAt: clock.now + 100 });
        await store.grants.create({ ...g, id: "g2", expiresAt: clock.now + 200 });
        assert.deepEqual(
          (await store.grants.active()).map((r) => r.id),
          ["g1", "g2"],
        );
        clock.now += 100;
        assert.deepEqual(
          (await store.grants.active()).map((r) => r.id),
          ["g2"],
        );
        const ended = await store.grants.ended();
        assert.deepEqual(
          ended.map((r) => [r.id, r.endedAnnounced]),
          [["g1", false]],
        );
        assert.equal(await store.grants.markAnnounced("g1"), true);
        assert.equal(await store.grants.markAnnounced("g1"), false);
        assert.deepEqual(await store.grants.ended(), []);
      }));

    test("grants: a revoke ends an active grant at once, once, and the sweep does not announce it again", () =>
      withStore(async (store, clock) => {
        const g = { userId: "U1", role: "admin", reason: "incident", channelId: "C1", approvedBy: "U2", startsAt: clock.now };
        await store.grants.create({ ...g, id: "g1", expiresAt: clock.now + 1000 });
        await store.grants.create({ ...g, id: "g2", expiresAt: clock.now + 100 });
        assert.deepEqual(await store.grants.get("g1"), { ...g, id: "g1", expiresAt: clock.now + 1000, endedAnnounced: false });
        assert.equal(await store.grants.get("nope"), undefined);
        clock.now += 10;
        const [first, second] = await Promise.all([store.grants.revoke("g1", clock.now), store.grants.revoke("g1", clock.now)]);
        assert.deepEqual([first, second].filter(Boolean), [{ ...g, id: "g1", expiresAt: clock.now + 990, endedAnnounced: false }]);
        assert.equal(await store.grants.revoke("g1", clock.now), undefined, "already revoked");
        assert.deepEqual(await store.grants.get("g1"), { ...g, id: "g1", expiresAt: clock.now, endedAnnounced: true });
        assert.deepEqual(
          (await store.grants.active()).map((r) => r.id),
          ["g2"],
          "a revoked grant is no longer active",
        );
        assert.deepEqual(await store.grants.ended(), [], "nor waiting to be announced");
        assert.equal(await store.grants.revoke("nope", clock.now), undefined, "unknown");
        clock.now += 100;
        assert.equal(await store.grants.revoke("g2", clock.now), undefined, "expired");
        assert.deepEqual(
          (await store.grants.ended()).map((r) => r.id),
          ["g2"],
          "an expired grant is still announced by the sweep",
        );
      }));

    test("cloud hosts: the record round-trips; removed hosts are not live", () =>
      withStore(async (store) => {
        assert.deepEqual(await store.cloudHosts.put(host("h1")), { ok: true });
        await store.cloudHosts.put(host("h2"));
        assert.deepEqual(await store.cloudHosts.get("h1"), host("h1"));
        await store.cloudHosts.put(host("h1", "removed"));
        assert.deepEqual(
          (await store.cloudHosts.live()).map((h) => h.name),
          ["h2"],
        );
        assert.equal(await store.cloudHosts.get("nope"), undefined);
      }));

    test("secrets: sealed, first writer wins; the installation id is made once", () =>
      withStore(
        async (store) => {
          assert.equal(await store.secrets.get("ca"), undefined);
          assert.equal(await store.secrets.putOnce("ca", "first"), "first");
          assert.equal(await store.secrets.putOnce("ca", "second"), "first");
          assert.equal(await store.secrets.get("ca"), "first");
          const id = await store.installationId();
          assert.match(id, /^[0-9a-f-]{36}$/);
          assert.equal(await store.installationId(), id);
        },
        { secretBox: createSecretBox("0123456789abcdef0123456789abcdef-contract") },
      ));

    test("the installation id differs between installations", () =>
      withStore(async (store, clock) => {
        const other = await open({ clock });
        try {
          assert.notEqual(await other.installationId(), await store.installationId());
        } finally {
          await other.close();
        }
      }));

    test("audit: one chain, its head, a record by seq, and a check from an anchor", () =>
      withStore(async (store, clock) => {
        assert.equal(await store.audit.head(), undefined);
        const a = await store.audit.append(entry(1));
        clock.now += 1;
        const b = await store.audit.append(entry(2));
        const c = await store.audit.append(entry(3));
        assert.equal(a.seq, 1);
        assert.equal(b.prevHash, a.hash);
        assert.equal(c.prevHash, b.hash);
        assert.deepEqual(await store.audit.head(), { seq: 3, hash: c.hash, keyId: c.keyId, at: c.at });
        assert.deepEqual(await store.audit.at(2), { seq: 2, hash: b.hash, keyId: b.keyId, at: b.at });
        assert.equal(await store.audit.at(9), undefined);
        const all = await store.audit.all();
        assert.deepEqual(all, [a, b, c]);
        assert.equal(await store.audit.verify(), undefined);
        const report = await store.audit.check();
        assert.equal(report.problem, undefined);
        assert.equal(report.records, 3);
        assert.deepEqual(report.head, await store.audit.head());
        const fromAnchor = await store.audit.check({ seq: 2, hash: b.hash });
        assert.equal(fromAnchor.problem, undefined);
        assert.equal(fromAnchor.records, 2);
        assert.deepEqual((await store.audit.check({ seq: 2, hash: a.hash })).problem, {
          seq: 2,
          problem: "no longer has the hash it was anchored with",
          kind: "tampered",
        });
        assert.deepEqual((await store.audit.check({ seq: 7, hash: a.hash })).problem, {
          seq: 7,
          problem: "is gone: the log was cut off after it was anchored",
          kind: "tampered",
        });
      }));

    test("a closed store answers UNAVAILABLE; close is idempotent", async () => {
      const store = await open({ clock: manualClock() });
      await store.ping();
      await store.close();
      await store.close();
      await assert.rejects(store.ping(), isCode("UNAVAILABLE"));
      await assert.rejects(store.jobs.running(), isCode("UNAVAILABLE"));
    });
  });
}
