// The PostgreSQL adapter: the shared contract, then what only a shared database has to get right: several replicas
// (two stores, two pools) writing at once, migrations raced at start, and the database restarting under berth.
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { after, before, describe, test } from "node:test";
import { Client } from "pg";
import { BerthError } from "../../src/core/errors.ts";
import { parseAuditKeys } from "../../src/store/audit-key.ts";
import { createAuditLog } from "../../src/store/audit-log.ts";
import { openStorePort } from "../../src/store/open-store-port.ts";
import type { StorePort } from "../../src/store/port.ts";
import { openPostgresStore } from "../../src/store/postgres-store.ts";
import { createSecretBox, isSealed } from "../../src/store/secret-box.ts";
import { startPostgres, type TestPostgres } from "../support/postgres.ts";
import { entry, type ManualClock, manualClock, storeContract } from "./store-contract.ts";

const keys = parseAuditKeys("k1:0123456789abcdef-postgres-test-key", "test keys");
let pg: TestPostgres;
before(async () => {
  pg = await startPostgres();
});
after(async () => {
  await pg?.stop();
});

storeContract("PostgreSQL", async ({ clock, secretBox }) =>
  openPostgresStore({ url: await pg.createDatabase(), auditKeys: keys, clock, secretBox }),
);

/** Two replicas of berth: two stores, each with its own pool, on one database and one clock. */
async function replicas(body: (a: StorePort, b: StorePort, clock: ManualClock, url: string) => Promise<void>): Promise<void> {
  const url = await pg.createDatabase();
  const clock = manualClock();
  const [a, b] = await Promise.all([
    openPostgresStore({ url, auditKeys: keys, clock, poolSize: 4 }),
    openPostgresStore({ url, auditKeys: keys, clock, poolSize: 4 }),
  ]);
  try {
    await body(a, b, clock, url);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

async function sql<T>(url: string, work: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The chain as the synchronous store's own verifier (audit-log.ts) sees it: the rows copied into an SQLite audit table. */
async function verifyWithSqliteVerifier(url: string) {
  const rows = await sql(url, async (c) => (await c.query("SELECT seq, at, record, prev_hash, hash, key_id FROM audit ORDER BY seq")).rows);
  const db = new DatabaseSync(":memory:");
  try {
    db.exec(
      "CREATE TABLE audit (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, record TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, key_id TEXT)",
    );
    const insert = db.prepare("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?)");
    for (const r of rows) insert.run(Number(r.seq), Number(r.at), r.record, r.prev_hash, r.hash, r.key_id);
    return createAuditLog(db, keys, Date.now).check();
  } finally {
    db.close();
  }
}

describe("PostgreSQL: several replicas on one database", () => {
  test("replicas starting together migrate once", async () => {
    const url = await pg.createDatabase();
    const stores = await Promise.all([1, 2, 3].map(() => openPostgresStore({ url, auditKeys: keys, poolSize: 2 })));
    await Promise.all(stores.map((s) => s.close()));
    const versions = await sql(url, async (c) => (await c.query("SELECT version FROM berth_schema_migrations ORDER BY version")).rows);
    assert.deepEqual(
      versions.map((r) => r.version),
      [1, 2, 3],
      "each migration recorded once",
    );
  });

  test("audit records appended by two replicas at once form one linear chain", () =>
    replicas(async (a, b, _clock, url) => {
      const appended = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).audit.append(entry(i, i % 2 ? "A" : "B"))));
      assert.deepEqual(
        appended.map((r) => r.seq).sort((x, y) => x - y),
        Array.from({ length: 60 }, (_, i) => i + 1),
      );
      const existing = await verifyWithSqliteVerifier(url);
      assert.equal(existing.problem, undefined);
      assert.equal(existing.records, 60);
      const own = await b.audit.check();
      assert.deepEqual(own, existing, "the adapter's check agrees with audit-log.ts's verifier");
    }));

  test("an edited record is found, and both verifiers name the same one", () =>
    replicas(async (a, _b, _clock, url) => {
      for (let i = 1; i <= 4; i++) await a.audit.append(entry(i));
      await sql(url, async (c) => {
        await assert.rejects(c.query("UPDATE audit SET at = 0"), /append-only/);
        await assert.rejects(c.query("DELETE FROM audit"), /append-only/);
        await assert.rejects(c.query("TRUNCATE audit"), /append-only/);
        await c.query("ALTER TABLE audit DISABLE TRIGGER audit_no_change");
        await c.query("UPDATE audit SET record = replace(record, 'allow', 'deny') WHERE seq = 3");
      });
      const own = await a.audit.check();
      assert.deepEqual(own.problem, { seq: 3, problem: "was edited", kind: "tampered" });
      assert.deepEqual(own, await verifyWithSqliteVerifier(url));
    }));

  test("a lease taken over after expiry fences the old owner", () =>
    replicas(async (a, b, clock) => {
      await a.jobs.create({
        id: "j1",
        kind: "container.logs",
        userId: "U1",
        channelId: "C1",
        host: "local",
        summary: "logs",
        messageTs: "1.1",
      });
      const held = await a.leases.acquire("job:j1", "replica-a", 10_000);
      assert.ok(held.ok);
      const fenceA = { name: "job:j1", token: held.lease.token };
      assert.equal((await b.leases.acquire("job:j1", "replica-b", 10_000)).ok, false);
      assert.deepEqual(
        (await b.jobs.unowned()).map((j) => j.id),
        [],
      );
      clock.now += 10_000; // replica-a stops heartbeating (a GC pause, a partition)
      assert.deepEqual(
        (await b.jobs.unowned()).map((j) => j.id),
        ["j1"],
      );
      const taken = await b.leases.acquire("job:j1", "replica-b", 10_000);
      assert.ok(taken.ok);
      assert.ok(taken.lease.token > fenceA.token);
      // replica-a wakes up and carries on as if it still owned the job: every write is refused
      assert.deepEqual(await a.jobs.advanceCursor("j1", { at: "2026-12-05T12:00:00Z", lines: 10 }, fenceA), {
        ok: false,
        reason: "fenced",
      });
      assert.deepEqual(await a.jobs.finish("j1", { status: "failed", exitCode: null, detail: "stale" }, fenceA), {
        ok: false,
        reason: "fenced",
      });
      assert.equal(await a.leases.holds(fenceA), false);
      assert.equal((await a.leases.renew(held.lease, 10_000)).ok, false);
      const fenceB = { name: "job:j1", token: taken.lease.token };
      assert.deepEqual(await b.jobs.advanceCursor("j1", { at: "2026-12-05T12:00:01Z", lines: 11 }, fenceB), { ok: true });
      assert.deepEqual((await a.jobs.get("j1"))?.cursor, { at: "2026-12-05T12:00:01Z", lines: 11 });
    }));

  test("a lease and a dedupe key wanted by both replicas at the same moment go to exactly one", () =>
    replicas(async (a, b, clock) => {
      for (let round = 0; round < 20; round++) {
        const key = `envelope:${round}`;
        const claims = await Promise.all([a.dedupe.claim(key, 60_000), b.dedupe.claim(key, 60_000)]);
        assert.equal(claims.filter(Boolean).length, 1, `${key}: ${claims}`);
        const leases = await Promise.all([a.leases.acquire(`host:${round}`, "a", 10_000), b.leases.acquire(`host:${round}`, "b", 10_000)]);
        assert.equal(leases.filter((l) => l.ok).length, 1);
      }
      clock.now += 10_000; // every lease expired: both want them again, one takes each, with the next token
      const again = await Promise.all([a.leases.acquire("host:0", "a", 10_000), b.leases.acquire("host:0", "b", 10_000)]);
      const winners = again.filter((l) => l.ok);
      assert.equal(winners.length, 1);
      assert.equal(winners[0]?.ok && winners[0].lease.token, 2);
    }));

  test("the Slack budget is shared: two replicas' concurrent reservations get distinct slots, one spacing apart", () =>
    replicas(async (a, b) => {
      const lanes = [
        { key: "post:C1", spacingMs: 1050 },
        { key: "post:top-level", spacingMs: 600 },
      ];
      // Half of them name the lanes the other way round: the store locks in one order, so none deadlocks.
      const booked = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).rateBudget.reserve(i % 4 < 2 ? lanes : [...lanes].reverse(), "queue")),
      );
      const waits = booked.map((r) => (r.ok ? r.waitMs : Number.NaN)).sort((x, y) => x - y);
      assert.deepEqual(
        waits,
        Array.from({ length: 40 }, (_, i) => i * 1050),
      );
    }));

  test("a database restart mid-use surfaces as UNAVAILABLE, then the same store carries on", () =>
    replicas(async (a, b) => {
      await a.audit.append(entry(1));
      await b.jobs.create({ id: "j1", kind: "k", userId: "U", channelId: "C", host: null, summary: "s", messageTs: null });
      const unavailable = (e: unknown) => e instanceof BerthError && e.code === "UNAVAILABLE" && /cannot be reached/.test(e.message);
      await pg.restart({
        whileDown: async () => {
          await assert.rejects(a.audit.append(entry(2)), unavailable);
          await assert.rejects(b.jobs.advanceCursor("j1", { at: "2026-12-05T12:00:00Z", lines: 1 }), unavailable);
          await assert.rejects(a.ping(), unavailable);
        },
      });
      // the pools dropped the connections the restart closed; the next calls connect again
      await a.ping();
      const second = await a.audit.append(entry(2));
      assert.equal(second.seq, 2);
      assert.deepEqual(await b.jobs.advanceCursor("j1", { at: "2026-12-05T12:00:00Z", lines: 1 }), { ok: true });
      assert.equal((await b.audit.check()).problem, undefined);
    }));

  test("a database whose schema is newer than this berth is refused at open, saying why", async () => {
    const url = await pg.createDatabase();
    const store = await openPostgresStore({ url, auditKeys: keys });
    await store.close();
    await sql(url, (c) => c.query("INSERT INTO berth_schema_migrations (version, name) VALUES (99, 'from the future')"));
    await assert.rejects(
      openPostgresStore({ url, auditKeys: keys }),
      (e: unknown) => e instanceof BerthError && e.code === "CONFIG" && /schema is version 99/.test(e.message),
    );
  });

  test("an unreachable database is UNAVAILABLE at open, with the URL shown without its password", async () => {
    const url = new URL(pg.url);
    url.port = "1"; // nothing listens there
    url.password = "hunter2";
    await assert.rejects(
      openPostgresStore({ url: url.toString(), auditKeys: keys }),
      (e: unknown) =>
        e instanceof BerthError && e.code === "UNAVAILABLE" && !e.message.includes("hunter2") && e.message.includes("127.0.0.1:1"),
    );
  });
});

describe("PostgreSQL: secrets and choosing the store", () => {
  const box = createSecretBox("0123456789abcdef0123456789abcdef-postgres");

  test("without BERTH_SECRET_KEY no secret is stored; one an older berth stored in clear is sealed when read with a key", async () => {
    const url = await pg.createDatabase();
    const bare = await openPostgresStore({ url, auditKeys: keys });
    try {
      await assert.rejects(
        bare.secrets.putOnce("ca", "pem"),
        (e: unknown) => e instanceof BerthError && e.code === "CONFIG" && /BERTH_SECRET_KEY/.test(e.message),
      );
    } finally {
      await bare.close();
    }
    await sql(url, (c) => c.query("INSERT INTO secrets (name, value) VALUES ('ca', 'clear pem')"));
    const keyed = await openPostgresStore({ url, auditKeys: keys, secretBox: box });
    try {
      assert.equal(await keyed.secrets.get("ca"), "clear pem");
      const stored = await sql(url, async (c) => (await c.query("SELECT value FROM secrets WHERE name = 'ca'")).rows[0]?.value);
      assert.ok(isSealed(String(stored)), "sealed in place");
      assert.equal(await keyed.secrets.get("ca"), "clear pem");
    } finally {
      await keyed.close();
    }
  });

  test("BERTH_DATABASE_URL chooses PostgreSQL, and then the audit key must be given", async () => {
    const url = await pg.createDatabase();
    await assert.rejects(
      openStorePort({ databaseUrl: url, dataDir: "/nonexistent" }),
      (e: unknown) => e instanceof BerthError && e.code === "CONFIG" && /BERTH_AUDIT_KEY/.test(e.message),
    );
    const store = await openStorePort({ databaseUrl: url, dataDir: "/nonexistent", auditKeys: keys });
    try {
      assert.equal(store.kind, "postgres");
      assert.equal(store.location, url);
    } finally {
      await store.close();
    }
  });
});
