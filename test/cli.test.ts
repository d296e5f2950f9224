import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test } from "node:test";
import { promisify } from "node:util";
import { type AuditEntry, openStore } from "../src/store.ts";

// The operator CLI, run as an operator would: `npx berth …` is bin/berth.js.
const run = promisify(execFile);
async function berth(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["bin/berth.js", ...args], { env: { PATH: process.env.PATH ?? "" } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const entry = (n: number): AuditEntry => ({
  requestId: `req-${n}`,
  type: "decision",
  userId: "U0OPER",
  channelId: "C0INCIDENT",
  action: { kind: "container.restart", container: `api-${n}` },
  host: "local",
  decision: "allow",
  rule: "bindings[0] (role operator)",
  outcome: null,
  messageTs: null,
});

/** A data dir with five chained records; `tamper` then edits the database behind berth's back. */
function auditDir(tamper?: (db: DatabaseSync) => void): string {
  const dir = mkdtempSync(join(tmpdir(), "berth-cli-"));
  const store = openStore(dir);
  for (let i = 1; i <= 5; i++) store.audit.append(entry(i));
  store.close();
  if (tamper) {
    const db = new DatabaseSync(join(dir, "berth.db"));
    db.exec("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;");
    tamper(db);
    db.close();
  }
  return dir;
}

test("--help lists the operator commands with examples", async () => {
  const { code, stdout } = await berth("--help");
  assert.equal(code, 0);
  for (const c of ["policy check", "audit export", "audit verify"]) assert.match(stdout, new RegExp(`npx berth ${c}`));
  assert.match(stdout, /Examples:/);
});

test("audit export prints every record as a JSON line, oldest first", async () => {
  const { code, stdout } = await berth("audit", "export", "--data-dir", auditDir());
  assert.equal(code, 0);
  const records = stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { seq: number; requestId: string; hash: string });
  assert.deepEqual(
    records.map((r) => r.seq),
    [1, 2, 3, 4, 5],
  );
  assert.equal(records[2]?.requestId, "req-3");
  assert.match(records[0]?.hash ?? "", /^[0-9a-f]{64}$/);
});

test("audit verify passes an untouched log", async () => {
  const { code, stdout } = await berth("audit", "verify", "--data-dir", auditDir());
  assert.equal(code, 0);
  assert.match(stdout, /audit log intact: 5 records/);
});

const tampering: [string, (db: DatabaseSync) => void, RegExp][] = [
  [
    "an edited record",
    (db) => db.exec(`UPDATE audit SET record = replace(record, '"allow"', '"deny"') WHERE seq = 3`),
    /record 3 was edited/,
  ],
  ["a removed record", (db) => db.exec("DELETE FROM audit WHERE seq = 2"), /record 3 follows a gap: record 2 is missing/],
  [
    "two records swapped",
    (db) => {
      const rows = db.prepare("SELECT seq, at, record, prev_hash, hash FROM audit WHERE seq IN (2, 4) ORDER BY seq").all();
      const [two, four] = rows as { at: number; record: string; prev_hash: string; hash: string }[];
      const put = db.prepare("UPDATE audit SET at = ?, record = ?, prev_hash = ?, hash = ? WHERE seq = ?");
      if (two && four) {
        put.run(four.at, four.record, four.prev_hash, four.hash, 2);
        put.run(two.at, two.record, two.prev_hash, two.hash, 4);
      }
    },
    /record 2 does not follow the record before it/,
  ],
  [
    "a re-hashed edit",
    (db) => db.exec(`UPDATE audit SET record = replace(record, 'api-4', 'api-X'), hash = '${"f".repeat(64)}' WHERE seq = 4`),
    /record 4 was edited/,
  ],
  ["the first record removed", (db) => db.exec("DELETE FROM audit WHERE seq = 1"), /record 2 follows a gap: record 1 is missing/],
];

for (const [name, tamper, message] of tampering) {
  test(`audit verify detects ${name} and names the record`, async () => {
    const { code, stderr } = await berth("audit", "verify", "--data-dir", auditDir(tamper));
    assert.equal(code, 1);
    assert.match(stderr, /audit log TAMPERED/);
    assert.match(stderr, message);
  });
}

test("policy check accepts the example and names the line of a mistake", async () => {
  const ok = await berth("policy", "check", "manifests/policy.example.yaml");
  assert.equal(ok.code, 0);
  assert.match(ok.stdout, /valid — 4 roles, 5 bindings, 4 rules, 1 grant rules/);
  const dir = mkdtempSync(join(tmpdir(), "berth-cli-"));
  writeFileSync(join(dir, "p.yaml"), "version: 1\nroles:\n  a: { actions: [container.explode] }\n");
  const bad = await berth("policy", "check", join(dir, "p.yaml"));
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /line 3 \(roles\.a\.actions\.0\): unknown action "container\.explode"/);
});

test("an unknown command is refused with the help text", async () => {
  const { code, stderr } = await berth("audit", "shred");
  assert.equal(code, 2);
  assert.match(stderr, /Unknown command: audit shred/);
});
