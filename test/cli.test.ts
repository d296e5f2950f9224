import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test } from "node:test";
import { promisify } from "node:util";
import { type AuditEntry, openStore } from "../src/store.ts";

// The operator CLI, run as an operator would: `npx berth …` is bin/berth.js.
const run = promisify(execFile);
async function berth(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return berthWith({}, ...args);
}
async function berthWith(env: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["bin/berth.js", ...args], { env: { PATH: process.env.PATH ?? "", ...env } });
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
  const [usage = "", examples = ""] = stdout.split("Examples:");
  for (const c of ["policy check", "audit export", "audit verify", "hosts check"]) {
    assert.match(usage, new RegExp(`npx berth ${c}`), `${c} in the usage`);
    assert.match(examples, new RegExp(`npx berth ${c}`), `an example of ${c}`);
  }
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

function hostsFile(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "berth-cli-")), "hosts.yaml");
  writeFileSync(path, text);
  return path;
}

test("hosts check lists each host of a valid file, with its URL and the default", async () => {
  const path = hostsFile(
    "hosts:\n  - name: local\n    url: unix:///var/run/docker.sock\n  - name: edge-1\n    url: tcp://10.0.0.9:2375\ndefault: local\n",
  );
  const { code, stdout } = await berth("hosts", "check", path);
  assert.equal(code, 0);
  assert.match(stdout, /valid — 2 hosts/);
  assert.match(stdout, /local\s+unix:\/\/\/var\/run\/docker\.sock\s+\(default\)/);
  assert.match(stdout, /edge-1\s+tcp:\/\/10\.0\.0\.9:2375\n/);
  assert.doesNotMatch(stdout, /reachable/i, "without --connect nothing is contacted");
});

test("hosts check reads $BERTH_HOSTS when no file is given", async () => {
  const path = hostsFile("hosts:\n  - name: from-env\n    url: unix:///var/run/docker.sock\n");
  const { code, stdout } = await berthWith({ BERTH_HOSTS: path }, "hosts", "check");
  assert.equal(code, 0);
  assert.match(stdout, new RegExp(`${path}: valid — 1 host\n`));
  assert.match(stdout, /from-env/);
});

test("hosts check refuses an invalid file with the line and the problem, as berth's start-up would", async () => {
  const bad = await berth("hosts", "check", hostsFile("hosts:\n  - name: a\n    url: http://a:2375\n"));
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /line 3 \(hosts\.0\.url\)/);
  assert.match(bad.stderr, /unix:\/\/\/path, tcp:\/\/host:port or ssh:\/\/user@host/);
  const missing = await berth("hosts", "check", "/nonexistent/hosts.yaml");
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Cannot read the hosts file \/nonexistent\/hosts\.yaml/);
});

test("hosts check --connect reports the local engine's OS and Docker version", async () => {
  const path = hostsFile("hosts:\n  - name: local\n    url: unix:///var/run/docker.sock\n");
  const { code, stdout } = await berth("hosts", "check", path, "--connect");
  assert.equal(code, 0, stdout);
  assert.match(stdout, /local\s+reachable — .+ \(linux\/[a-z0-9_]+\), Docker \S+, API 1\.\d+/);
});

test("hosts check --connect names an unreachable host and why, and exits 1", async () => {
  // One port that refuses, and one that accepts and never answers (bounded by --timeout).
  const refused = createServer();
  await new Promise<void>((resolve) => refused.listen(0, "127.0.0.1", resolve));
  const refusedPort = (refused.address() as { port: number }).port;
  await new Promise<void>((resolve) => refused.close(() => resolve()));
  const sockets = new Set<Socket>();
  const silent = createServer((s) => sockets.add(s));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  const silentPort = (silent.address() as { port: number }).port;
  try {
    const path = hostsFile(
      [
        "hosts:",
        "  - name: local",
        "    url: unix:///var/run/docker.sock",
        "  - name: refused",
        `    url: tcp://127.0.0.1:${refusedPort}`,
        "  - name: silent",
        `    url: tcp://127.0.0.1:${silentPort}`,
        "",
      ].join("\n"),
    );
    const { code, stdout } = await berth("hosts", "check", path, "--connect", "--timeout", "1000");
    assert.equal(code, 1);
    assert.match(stdout, /local\s+reachable/);
    assert.match(stdout, /refused\s+UNREACHABLE — Docker engine "refused" is unreachable at tcp:\/\/127\.0\.0\.1:\d+: connection refused/);
    assert.match(stdout, /silent\s+UNREACHABLE — Docker engine "silent" is unreachable .*no answer within 1 s/);
    assert.match(stdout, /2 of 3 hosts unreachable/);
  } finally {
    for (const s of sockets) s.destroy();
    silent.close();
  }
});

test("hosts check refuses a --timeout that is not a number of milliseconds", async () => {
  const { code, stderr } = await berth("hosts", "check", "--timeout", "soon");
  assert.equal(code, 2);
  assert.match(stderr, /--timeout takes milliseconds/);
});
