import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test } from "node:test";
import { parseAuditKeys } from "../../src/store/audit-key.ts";
import { type AuditEntry, auditHash, openStore } from "../../src/store/store.ts";

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

test("audit records are chained and verify", () => {
  const store = openStore(":memory:");
  const a = store.audit.append(entry(1));
  const b = store.audit.append(entry(2));
  assert.equal(a.seq, 1);
  assert.equal(b.prevHash, a.hash);
  assert.equal(store.audit.verify(), undefined);
  assert.equal(store.audit.all().length, 2);
  store.close();
});

test("the audit table refuses updates and deletes", () => {
  const store = openStore(":memory:");
  store.audit.append(entry(1));
  store.close();
  const dir = mkdtempSync(join(tmpdir(), "berth-store-"));
  const s2 = openStore(dir);
  s2.audit.append(entry(1));
  s2.close();
  const db = new DatabaseSync(join(dir, "berth.db"));
  assert.throws(() => db.exec("UPDATE audit SET record = '{}'"), /append-only/);
  assert.throws(() => db.exec("DELETE FROM audit"), /append-only/);
  db.close();
});

test("verify finds an edited record even when the triggers were bypassed", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-store-"));
  const store = openStore(dir);
  for (let i = 1; i <= 3; i++) store.audit.append(entry(i));
  store.close();
  const db = new DatabaseSync(join(dir, "berth.db"));
  db.exec("DROP TRIGGER audit_no_update; UPDATE audit SET record = replace(record, 'allow', 'deny') WHERE seq = 2");
  db.close();
  const again = openStore(dir);
  assert.deepEqual(again.audit.verify(), { seq: 2, problem: "was edited" });
  again.close();
});

test("verify finds a removed record", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-store-"));
  const store = openStore(dir);
  for (let i = 1; i <= 3; i++) store.audit.append(entry(i));
  store.close();
  const db = new DatabaseSync(join(dir, "berth.db"));
  db.exec("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 2");
  db.close();
  const again = openStore(dir);
  assert.deepEqual(again.audit.verify(), { seq: 3, problem: "follows a gap: record 2 is missing" });
  again.close();
});

const key = (spec: string) => parseAuditKeys(spec, "test keys");
const k1 = "k1:0123456789abcdef-first-key";
const k2 = "k2:fedcba9876543210-second-key";

/** A data dir with `n` records signed with `keys`. */
function keyedDir(n: number, keys = k1): string {
  const dir = mkdtempSync(join(tmpdir(), "berth-store-"));
  const store = openStore(dir, Date.now, { auditKeys: key(keys) });
  for (let i = 1; i <= n; i++) store.audit.append(entry(i));
  store.close();
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

test("the attack: triggers dropped, a record deleted, the chain recomputed with plain SHA-256 — verify says tampered", () => {
  const dir = keyedDir(5);
  deleteAndRechain(
    dir,
    3,
    (prev, r) => auditHash(prev, r.seq, r.at, r.record),
    (r) => r.key_id,
  );
  const store = openStore(dir, Date.now, { auditKeys: key(k1) });
  assert.equal(store.audit.all().length, 4, "the forged log is complete and gap-free");
  assert.deepEqual(store.audit.verify(), { seq: 1, problem: "was edited" });
  store.close();
});

test("the attack with HMAC under a key of the attacker's own: verify says tampered", () => {
  const dir = keyedDir(5);
  const attackerKey = "0123456789abcdef-first-kez";
  deleteAndRechain(
    dir,
    4,
    (prev, r) => createHmac("sha256", attackerKey).update(`${prev}\n${r.seq}\n${r.at}\nk1\n${r.record}`).digest("hex"),
    () => "k1",
  );
  const store = openStore(dir, Date.now, { auditKeys: key(k1) });
  assert.deepEqual(store.audit.verify(), { seq: 1, problem: "was edited" });
  store.close();
});

test("keyed records rewritten in the legacy format after keyed ones are refused", () => {
  const dir = keyedDir(4);
  const db = new DatabaseSync(join(dir, "berth.db"));
  db.exec("DROP TRIGGER audit_no_update;");
  const r3 = db.prepare("SELECT seq, at, record, prev_hash FROM audit WHERE seq = 3").get() as Row & { prev_hash: string };
  const edited = r3.record.replace("r3", "rX");
  db.prepare("UPDATE audit SET record = ?, key_id = NULL, hash = ? WHERE seq = 3").run(edited, auditHash(r3.prev_hash, 3, r3.at, edited));
  db.close();
  const store = openStore(dir, Date.now, { auditKeys: key(k1) });
  const problem = store.audit.check().problem;
  assert.equal(problem?.seq, 3);
  assert.match(problem?.problem ?? "", /legacy unkeyed format but follows keyed records/);
  store.close();
});

test("key rotation: old records verify with the old key kept for verification, and name it when it is gone", () => {
  const dir = keyedDir(2, k1);
  const rotated = openStore(dir, Date.now, { auditKeys: key(`${k2},${k1}`) });
  rotated.audit.append(entry(3));
  const report = rotated.audit.check();
  assert.equal(report.problem, undefined);
  assert.deepEqual(report.keyIds, ["k1", "k2"]);
  assert.equal(rotated.audit.head()?.keyId, "k2");
  rotated.close();
  const dropped = openStore(dir, Date.now, { auditKeys: key(k2) });
  const problem = dropped.audit.check().problem;
  assert.equal(problem?.kind, "unknown-key");
  assert.equal(problem?.seq, 1);
  assert.match(problem?.problem ?? "", /signed with audit key "k1", which test keys does not hold \(it holds: k2\)/);
  dropped.close();
});

test("a database from before keyed audit: its plain-SHA-256 records verify as the legacy prefix, new records are keyed", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-store-"));
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
  const store = openStore(dir, Date.now, { auditKeys: key(k1) });
  store.audit.append(entry(4));
  const report = store.audit.check();
  assert.equal(report.problem, undefined);
  assert.equal(report.legacy, 3);
  assert.equal(report.records, 4);
  assert.deepEqual(
    store.audit.all().map((r) => r.keyId),
    [null, null, null, "k1"],
  );
  store.close();
});

test("a check from an anchor notices records cut off after it", () => {
  const dir = keyedDir(5);
  const store = openStore(dir, Date.now, { auditKeys: key(k1) });
  const anchored = store.audit.head();
  assert.ok(anchored);
  assert.equal(store.audit.check(anchored).problem, undefined);
  store.close();
  const db = new DatabaseSync(join(dir, "berth.db"));
  db.exec("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq >= 4");
  db.close();
  const cut = openStore(dir, Date.now, { auditKeys: key(k1) });
  assert.equal(cut.audit.check().problem, undefined, "the rest of the chain holds: only the anchor can tell");
  assert.match(cut.audit.check(anchored).problem?.problem ?? "", /is gone: the log was cut off/);
  cut.close();
});

test("without a configured key a data dir gets its own key file, mode 0600, reused on the next open", () => {
  const dir = keyedDir(0);
  const a = openStore(dir);
  a.audit.append(entry(1));
  a.close();
  assert.equal(statSync(join(dir, "audit.key")).mode & 0o777, 0o600);
  const b = openStore(dir);
  b.audit.append(entry(2));
  assert.equal(b.audit.check().problem, undefined);
  assert.equal(b.audit.head()?.keyId, "local");
  b.close();
});

test("jobs are stored from start to outcome with a cursor that only moves forward; running jobs outlive the process", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-store-"));
  const store = openStore(dir, () => 1000);
  store.jobs.create({
    id: "j-1",
    kind: "container.logs",
    userId: "U1",
    channelId: "C1",
    host: "local",
    summary: "logs -f api",
    messageTs: "1.1",
  });
  store.jobs.create({ id: "j-2", kind: "container.run", userId: "U1", channelId: "C1", host: "local", summary: "run", messageTs: null });
  store.jobs.finish("j-2", "succeeded", 0, "Exited with code 0");
  assert.deepEqual(
    store.jobs.running().map((j) => j.id),
    ["j-1"],
  );
  assert.equal(store.jobs.get("j-2")?.exitCode, 0);
  store.jobs.setResume("j-1", { container: "abc", follow: true });
  store.jobs.advanceCursor("j-1", { at: "2026-12-05T12:00:01.000000002Z", lines: 20 });
  store.jobs.advanceCursor("j-1", { at: "2026-12-05T12:00:00.000000001Z", lines: 10 }); // late, older: ignored
  store.close();
  // A restart leaves unfinished jobs running, with what is needed to carry them on (the next berth resumes them).
  const reopened = openStore(dir, () => 2000);
  const [resumable] = reopened.jobs.running();
  assert.equal(resumable?.id, "j-1");
  assert.deepEqual(resumable?.cursor, { at: "2026-12-05T12:00:01.000000002Z", lines: 20 });
  assert.deepEqual(resumable?.resume, { container: "abc", follow: true });
  reopened.jobs.finish("j-1", "cancelled", null, "Stopped");
  reopened.jobs.finish("j-1", "failed", 1, "late"); // the first outcome stays
  assert.equal(reopened.jobs.get("j-1")?.status, "cancelled");
  reopened.close();
});

test("a berth.db an older berth made gets the cursor columns, its jobs intact", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-store-old-"));
  const db = new DatabaseSync(join(dir, "berth.db"));
  db.exec(`CREATE TABLE jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, user_id TEXT NOT NULL, channel_id TEXT NOT NULL, host TEXT,
    summary TEXT NOT NULL, status TEXT NOT NULL, created_at INTEGER NOT NULL, ended_at INTEGER, exit_code INTEGER, message_ts TEXT, detail TEXT);
    INSERT INTO jobs VALUES ('j-old', 'container.logs', 'U1', 'C1', 'local', 'logs -f api', 'running', 1, NULL, NULL, '1.1', NULL);`);
  db.close();
  const store = openStore(dir);
  assert.deepEqual(
    store.jobs.running().map((j) => [j.id, j.cursor, j.resume]),
    [["j-old", null, null]],
  );
  store.jobs.advanceCursor("j-old", { at: "2026-12-05T12:00:00.000000001Z", lines: 3 });
  assert.deepEqual(store.jobs.resumable("j-old")?.cursor, { at: "2026-12-05T12:00:00.000000001Z", lines: 3 });
  store.close();
});

test("the installation id is made once, kept across restarts, and differs between installations", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-store-installation-"));
  const first = openStore(dir);
  const id = first.installationId();
  assert.match(id, /^[0-9a-f-]{36}$/);
  assert.equal(first.installationId(), id);
  first.close();
  const again = openStore(dir);
  assert.equal(again.installationId(), id, "the same berth after a restart");
  again.close();
  const other = openStore(":memory:");
  assert.notEqual(other.installationId(), id, "another berth");
  other.close();
});
