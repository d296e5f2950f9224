import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test } from "node:test";
import { type AuditEntry, openStore } from "../src/store.ts";

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

test("jobs are stored from start to outcome; running jobs of a previous process are closed on open", () => {
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
  store.close();
  const reopened = openStore(dir, () => 2000);
  assert.deepEqual(reopened.jobs.running(), []);
  assert.equal(reopened.jobs.get("j-1")?.status, "failed");
  assert.equal(reopened.jobs.get("j-1")?.detail, "berth restarted while this job ran");
  reopened.close();
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
