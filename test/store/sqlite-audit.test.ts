// The embedded store's audit table on disk (berth.db): what an attacker with the file alone can do and what verify then
// says, key rotation, a database from before keyed audit, and the key file a data dir makes for itself. These need
// the SQLite file under the store; the chain's behaviour through the port is in store-contract.ts.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, test } from "node:test";
import { parseAuditKeys } from "../../src/store/audit-key.ts";
import { type AuditEntry, auditHash } from "../../src/store/audit-log.ts";
import { openSqliteStore } from "../../src/store/sqlite-store.ts";

const dirs: string[] = [];
const mkdir = () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-store-"));
  dirs.push(dir);
  return dir;
};
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const entry = (n: number): AuditEntry => ({
  requestId: `r${n}`,
  type: "decision",
  userId: "U1",
  channelId: "C1",
  action: { kind: "container.list", all: false },
  host: "local",
  decision: "allow",
  rule: "bindings[0]",
  outcome: null,
  messageTs: null,
});

test("the audit table refuses updates and deletes", async () => {
  const store = await openSqliteStore({ dataDir: ":memory:" });
  await store.audit.append(entry(1));
  await store.close();
  const dir = mkdir();
  const s2 = await openSqliteStore({ dataDir: dir });
  await s2.audit.append(entry(1));
  await s2.close();
  const db = new DatabaseSync(join(dir, "berth.db"));
  assert.throws(() => db.exec("UPDATE audit SET record = '{}'"), /append-only/);
  assert.throws(() => db.exec("DELETE FROM audit"), /append-only/);
  db.close();
});

test("verify finds an edited record even when the triggers were bypassed", async () => {
  const dir = mkdir();
  const store = await openSqliteStore({ dataDir: dir });
  for (let i = 1; i <= 3; i++) await store.audit.append(entry(i));
  await store.close();
  const db = new DatabaseSync(join(dir, "berth.db"));
  db.exec("DROP TRIGGER audit_no_update; UPDATE audit SET record = replace(record, 'allow', 'deny') WHERE seq = 2");
  db.close();
  const again = await openSqliteStore({ dataDir: dir });
  assert.deepEqual(await again.audit.verify(), { seq: 2, problem: "was edited" });
  await again.close();
});

test("verify finds a removed record", async () => {
  const dir = mkdir();
  const store = await openSqliteStore({ dataDir: dir });
  for (let i = 1; i <= 3; i++) await store.audit.append(entry(i));
  await store.close();
  const db = new DatabaseSync(join(dir, "berth.db"));
  db.exec("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 2");
  db.close();
  const again = await openSqliteStore({ dataDir: dir });
  assert.deepEqual(await again.audit.verify(), { seq: 3, problem: "follows a gap: record 2 is missing" });
  await again.close();
});

const key = (spec: string) => parseAuditKeys(spec, "test keys");
const k1 = "k1:0123456789abcdef-first-key";
const k2 = "k2:fedcba9876543210-second-key";

/** A data dir with `n` records signed with `keys`. */
async function keyedDir(n: number, keys = k1): Promise<string> {
  const dir = mkdir();
  const store = await openSqliteStore({ dataDir: dir, auditKeys: key(keys) });
  for (let i = 1; i <= n; i++) await store.audit.append(entry(i));
  await store.close();
  return dir;
}

type Row = { seq: number; at: number; record: string; key_id: string | null };

/**
 * The attack on the database alone: drop the triggers, delete record `victim`, renumber the rest and re-chain every
 * record with `link` (what the attacker can compute). `keyId` is what the forged rows claim to be signed with.
 */
function deleteAndRechain(dir: string, victim: number, link: (prev: string, r: Row) => string, keyId: (r: Row) => string | null) {
  const db = new DatabaseSync(join(dir, "berth.db"));
  db.exec("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;");
  db.prepare("DELETE FROM audit WHERE seq = ?").run(victim);
  const rows = db.prepare("SELECT seq, at, record, key_id FROM audit ORDER BY seq").all() as unknown as Row[];
  db.exec("DELETE FROM audit");
  const insert = db.prepare("INSERT INTO audit (seq, at, record, prev_hash, hash, key_id) VALUES (?, ?, ?, ?, ?, ?)");
  let prev = "0".repeat(64);
  for (const [i, r] of rows.entries()) {
    const forged = { ...r, seq: i + 1, key_id: keyId(r) };
    const hash = link(prev, forged);
    insert.run(forged.seq, r.at, r.record, prev, hash, forged.key_id);
    prev = hash;
  }
  db.close();
}

test("the attack: triggers dropped, a record deleted, the chain recomputed with plain SHA-256 — verify says tampered", async () => {
  const dir = await keyedDir(5);
  deleteAndRechain(
    dir,
    3,
    (prev, r) => auditHash(prev, r.seq, r.at, r.record),
    (r) => r.key_id,
  );
  const store = await openSqliteStore({ dataDir: dir, auditKeys: key(k1) });
  assert.equal((await store.audit.all()).length, 4, "the forged log is complete and gap-free");
  assert.deepEqual(await store.audit.verify(), { seq: 1, problem: "was edited" });
  await store.close();
});

test("the attack with HMAC under a key of the attacker's own: verify says tampered", async () => {
  const dir = await keyedDir(5);
  const attackerKey = "0123456789abcdef-first-kez";
  deleteAndRechain(
    dir,
    4,
    (prev, r) => createHmac("sha256", attackerKey).update(`${prev}\n${r.seq}\n${r.at}\nk1\n${r.record}`).digest("hex"),
    () => "k1",
  );
  const store = await openSqliteStore({ dataDir: dir, auditKeys: key(k1) });
  assert.deepEqual(await store.audit.verify(), { seq: 1, problem: "was edited" });
  await store.close();
});

test("keyed records rewritten in the legacy format after keyed ones are refused", async () => {
  const dir = await keyedDir(4);
  const db = new DatabaseSync(join(dir, "berth.db"));
  db.exec("DROP TRIGGER audit_no_update;");
  const r3 = db.prepare("SELECT seq, at, record, prev_hash FROM audit WHERE seq = 3").get() as Row & { prev_hash: string };
  const edited = r3.record.replace("r3", "rX");
  db.prepare("UPDATE audit SET record = ?, key_id = NULL, hash = ? WHERE seq = 3").run(edited, auditHash(r3.prev_hash, 3, r3.at, edited));
  db.close();
  const store = await openSqliteStore({ dataDir: dir, auditKeys: key(k1) });
  const problem = (await store.audit.check()).problem;
  assert.equal(problem?.seq, 3);
  assert.match(problem?.problem ?? "", /legacy unkeyed format but follows keyed records/);
  await store.close();
});

test("key rotation: old records verify with the old key kept for verification, and name it when it is gone", async () => {
  const dir = await keyedDir(2, k1);
  const rotated = await openSqliteStore({ dataDir: dir, auditKeys: key(`${k2},${k1}`) });
  await rotated.audit.append(entry(3));
  const report = await rotated.audit.check();
  assert.equal(report.problem, undefined);
  assert.deepEqual(report.keyIds, ["k1", "k2"]);
  assert.equal((await rotated.audit.head())?.keyId, "k2");
  await rotated.close();
  const dropped = await openSqliteStore({ dataDir: dir, auditKeys: key(k2) });
  const problem = (await dropped.audit.check()).problem;
  assert.equal(problem?.kind, "unknown-key");
  assert.equal(problem?.seq, 1);
  assert.match(problem?.problem ?? "", /signed with audit key "k1", which test keys does not hold \(it holds: k2\)/);
  await dropped.close();
});

test("a database from before keyed audit: its plain-SHA-256 records verify as the legacy prefix, new records are keyed", async () => {
  const dir = mkdir();
  const old = new DatabaseSync(join(dir, "berth.db"));
  old.exec(
    "CREATE TABLE audit (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, record TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)",
  );
  let prev = "0".repeat(64);
  for (let seq = 1; seq <= 3; seq++) {
    const record = JSON.stringify(entry(seq));
    const hash = auditHash(prev, seq, 1000 + seq, record);
    old.prepare("INSERT INTO audit VALUES (?, ?, ?, ?, ?)").run(seq, 1000 + seq, record, prev, hash);
    prev = hash;
  }
  old.close();
  const store = await openSqliteStore({ dataDir: dir, auditKeys: key(k1) });
  await store.audit.append(entry(4));
  const report = await store.audit.check();
  assert.equal(report.problem, undefined);
  assert.equal(report.legacy, 3);
  assert.equal(report.records, 4);
  assert.deepEqual(
    (await store.audit.all()).map((r) => r.keyId),
    [null, null, null, "k1"],
  );
  await store.close();
});

test("a check from an anchor notices records cut off after it", async () => {
  const dir = await keyedDir(5);
  const store = await openSqliteStore({ dataDir: dir, auditKeys: key(k1) });
  const anchored = await store.audit.head();
  assert.ok(anchored);
  assert.equal((await store.audit.check(anchored)).problem, undefined);
  await store.close();
  const db = new DatabaseSync(join(dir, "berth.db"));
  db.exec("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq >= 4");
  db.close();
  const cut = await openSqliteStore({ dataDir: dir, auditKeys: key(k1) });
  assert.equal((await cut.audit.check()).problem, undefined, "the rest of the chain holds: only the anchor can tell");
  assert.match((await cut.audit.check(anchored)).problem?.problem ?? "", /is gone: the log was cut off/);
  await cut.close();
});

test("without a configured key a data dir gets its own key file, mode 0600, reused on the next open", async () => {
  const dir = await keyedDir(0);
  const a = await openSqliteStore({ dataDir: dir });
  await a.audit.append(entry(1));
  await a.close();
  assert.equal(statSync(join(dir, "audit.key")).mode & 0o777, 0o600);
  const b = await openSqliteStore({ dataDir: dir });
  await b.audit.append(entry(2));
  assert.equal((await b.audit.check()).problem, undefined);
  assert.equal((await b.audit.head())?.keyId, "local");
  await b.close();
});
