import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { appendAnchor } from "../src/store/audit-anchor.ts";
import { parseAuditKeys } from "../src/store/audit-key.ts";
import { type AuditEntry, auditHash } from "../src/store/audit-log.ts";
import { openSqliteStore } from "../src/store/sqlite-store.ts";
import { eventually, findCard, isFinished, jobIdOf, testHosts, testImage, testPolicy, threadLines } from "./support/berth-harness.ts";
import { berthCli } from "./support/operator-cli.ts";
import { slashCommand } from "./support/slack-driver.ts";
import { SEED, SlackFake } from "./support/slack-fake.ts";

// The operator CLI, run as an operator would: `npx berth …` is bin/berth.js.
const run = promisify(execFile);
async function berth(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return berthWith({}, ...args);
}
const berthWith = berthCli;

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
async function auditDir(tamper?: (db: DatabaseSync) => void): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "berth-cli-"));
  // The store holds the directory while open: closed before the CLI reads it.
  const store = await openSqliteStore({ dataDir: dir });
  for (let i = 1; i <= 5; i++) await store.audit.append(entry(i));
  await store.close();
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
  const { code, stdout } = await berth("audit", "export", "--data-dir", await auditDir());
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
  const { code, stdout } = await berth("audit", "verify", "--data-dir", await auditDir());
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
    const { code, stderr } = await berth("audit", "verify", "--data-dir", await auditDir(tamper));
    assert.equal(code, 1);
    assert.match(stderr, /audit log TAMPERED/);
    assert.match(stderr, message);
  });
}

/**
 * The attack on berth.db alone, as someone who can write the data dir would do it: drop the triggers, delete record
 * `victim`, renumber and re-chain the rest with plain SHA-256. `legacy` also blanks the key ids, so the forged rows
 * pass for records written before the chain was keyed.
 */
function rechainWithoutKey(dir: string, victim: number, legacy = false): void {
  const db = new DatabaseSync(join(dir, "berth.db"));
  db.exec("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;");
  db.prepare("DELETE FROM audit WHERE seq = ?").run(victim);
  const rows = db.prepare("SELECT seq, at, record FROM audit ORDER BY seq").all() as { seq: number; at: number; record: string }[];
  let prev = "0".repeat(64);
  for (const [i, r] of rows.entries()) {
    const seq = i + 1;
    const hash = auditHash(prev, seq, r.at, r.record);
    db.prepare("UPDATE audit SET seq = ?, prev_hash = ?, hash = ? WHERE seq = ?").run(seq, prev, hash, r.seq);
    prev = hash;
  }
  if (legacy) db.exec("UPDATE audit SET key_id = NULL");
  db.close();
}

const k1 = "k1:0123456789abcdef-first-key";
const k2 = "k2:fedcba9876543210-second-key";

/** A data dir with `n` records signed with `keys` (as BERTH_AUDIT_KEY would give them). */
async function keyedDir(n: number, keys = k1, from = 1): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "berth-cli-"));
  await appendRecords(dir, keys, from, n);
  return dir;
}
async function appendRecords(dir: string, keys: string, from: number, n: number): Promise<void> {
  const store = await openSqliteStore({ dataDir: dir, auditKeys: parseAuditKeys(keys, "test") });
  for (let i = from; i < from + n; i++) await store.audit.append(entry(i));
  await store.close();
}
/** Anchors the data dir's current head in a new anchor file, as berth does. */
async function anchorNow(dir: string, keys = k1): Promise<{ file: string; seq: number; hash: string }> {
  const store = await openSqliteStore({ dataDir: dir, auditKeys: parseAuditKeys(keys, "test") });
  const head = await store.audit.head();
  await store.close();
  assert.ok(head);
  const file = join(mkdtempSync(join(tmpdir(), "berth-anchors-")), "anchors.jsonl");
  appendAnchor(file, { ...head, at: Date.now() });
  return { file, seq: head.seq, hash: head.hash };
}
const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

test("audit verify sees through a log re-chained with plain SHA-256 after a record was deleted", async () => {
  const dir = await auditDir();
  rechainWithoutKey(dir, 3);
  const { code, stderr } = await berth("audit", "verify", "--data-dir", dir);
  assert.equal(code, 1, "the forged chain must not verify");
  assert.match(stderr, /audit log TAMPERED: record 1 was edited/);
});

test("audit verify checks the HMAC chain with BERTH_AUDIT_KEY and prints the head to compare with the channel's anchor", async () => {
  const dir = await keyedDir(4);
  const keyFile = join(dir, "..", `${dir.split("/").at(-1)}.key`);
  writeFileSync(keyFile, `${k1}\n`);
  const { code, stdout } = await berthWith({ BERTH_AUDIT_KEY: `file:${keyFile}` }, "audit", "verify", "--data-dir", dir);
  assert.equal(code, 0);
  assert.match(stdout, /audit log intact: 4 records, HMAC-SHA256 chain verified with key k1/);
  const store = await openSqliteStore({ dataDir: dir, auditKeys: parseAuditKeys(k1, "test") });
  const head = await store.audit.head();
  await store.close();
  assert.match(stdout, new RegExp(`head: seq 4, hash ${head?.hash}, key k1`));
  assert.match(stdout, /anchors: none compared/);
  const wrong = await berthWith({ BERTH_AUDIT_KEY: "k1:not-the-key-that-signed" }, "audit", "verify", "--data-dir", dir);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /audit log TAMPERED: record 1 was edited/);
  const missing = await berthWith({ BERTH_AUDIT_KEY: "file:/nonexistent/berth-audit.key" }, "audit", "verify", "--data-dir", dir);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Cannot read the audit key file \/nonexistent\/berth-audit\.key/);
});

test("audit verify: records cut off after an anchor are TAMPERED, though the chain that is left holds", async () => {
  const dir = await keyedDir(5);
  const anchor = await anchorNow(dir);
  const ok = await berthWith({ BERTH_AUDIT_KEY: k1 }, "audit", "verify", "--data-dir", dir, "--anchors", anchor.file);
  assert.equal(ok.code, 0);
  assert.match(ok.stdout, /anchors: 1 in .* agree with the log; the last is record 5/);
  const db = new DatabaseSync(join(dir, "berth.db"));
  db.exec("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq >= 4");
  db.close();
  const plain = await berthWith({ BERTH_AUDIT_KEY: k1 }, "audit", "verify", "--data-dir", dir);
  assert.equal(plain.code, 0, "without the anchor a cut end cannot be seen");
  const cut = await berthWith({ BERTH_AUDIT_KEY: k1, BERTH_AUDIT_ANCHOR_FILE: anchor.file }, "audit", "verify", "--data-dir", dir);
  assert.equal(cut.code, 1);
  assert.match(cut.stderr, /audit log TAMPERED: the log ends at record 3, but record 5 was anchored at .*: records were cut off its end/);
});

test("audit verify: a log rewritten whole in the legacy format passes for legacy, but not against its anchor", async () => {
  const dir = await keyedDir(5);
  const anchor = await anchorNow(dir);
  rechainWithoutKey(dir, 2, true);
  const unanchored = await berthWith({ BERTH_AUDIT_KEY: k1 }, "audit", "verify", "--data-dir", dir);
  assert.match(unanchored.stdout, /legacy: records 1–4 are in the legacy format .* No record is keyed yet\./);
  const anchored = await berthWith({ BERTH_AUDIT_KEY: k1 }, "audit", "verify", "--data-dir", dir, "--anchors", anchor.file);
  assert.equal(anchored.code, 1);
  assert.match(anchored.stderr, /audit log TAMPERED: the log ends at record 4, but record 5 was anchored/);
  await appendRecords(dir, k1, 6, 1);
  const regrown = await berthWith({ BERTH_AUDIT_KEY: k1 }, "audit", "verify", "--data-dir", dir, "--anchors", anchor.file);
  assert.equal(regrown.code, 1);
  assert.match(regrown.stderr, /audit log TAMPERED: record 5 no longer has the hash anchored at .*: the log was rewritten/);
});

test("audit verify after a key rotation: both keys verify; without the old key it names the key it needs", async () => {
  const dir = await keyedDir(2, k1);
  await appendRecords(dir, `${k2},${k1}`, 3, 2);
  const both = await berthWith({ BERTH_AUDIT_KEY: `${k2},${k1}` }, "audit", "verify", "--data-dir", dir);
  assert.equal(both.code, 0);
  assert.match(both.stdout, /4 records, HMAC-SHA256 chain verified with key k1, k2/);
  const newOnly = await berthWith({ BERTH_AUDIT_KEY: k2 }, "audit", "verify", "--data-dir", dir);
  assert.equal(newOnly.code, 1);
  assert.match(newOnly.stderr, /audit log CANNOT BE VERIFIED: record 1 is signed with audit key "k1", which BERTH_AUDIT_KEY does not hold/);
});

test("audit anchor appends the verified head to the anchor file once, and refuses a broken chain", async () => {
  const dir = await keyedDir(3);
  const file = join(mkdtempSync(join(tmpdir(), "berth-anchors-")), "anchors.jsonl");
  const first = await berthWith({ BERTH_AUDIT_KEY: k1 }, "audit", "anchor", "--data-dir", dir, "--anchors", file);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /anchored: seq 3, hash [0-9a-f]{64}, key k1 in /);
  const again = await berthWith({ BERTH_AUDIT_KEY: k1, BERTH_AUDIT_ANCHOR_FILE: file }, "audit", "anchor", "--data-dir", dir);
  assert.match(again.stdout, /nothing to anchor: the head \(seq 3\) is anchored already/);
  assert.equal(readFileSync(file, "utf8").trim().split("\n").length, 1);
  rechainWithoutKey(dir, 2);
  const broken = await berthWith({ BERTH_AUDIT_KEY: k1 }, "audit", "anchor", "--data-dir", dir, "--anchors", file);
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, /audit log TAMPERED: record 1 was edited.*\nNothing was anchored\./s);
  assert.equal(readFileSync(file, "utf8").trim().split("\n").length, 1);
});

test("audit verify, export and anchor on a missing data dir fail, say how to point at the right one, and create nothing", async () => {
  const parent = mkdtempSync(join(tmpdir(), "berth-cli-"));
  const dir = join(parent, "no-such-data");
  for (const verb of ["verify", "export", "anchor"]) {
    const anchors = verb === "export" ? [] : ["--anchors", join(parent, "anchors.jsonl")];
    const { code, stdout, stderr } = await berth("audit", verb, "--data-dir", dir, ...anchors);
    assert.equal(code, 1);
    assert.equal(stdout, "", `${verb} says nothing is intact`);
    assert.match(stderr, /The data directory .*no-such-data \(given with --data-dir\) does not exist\. Nothing was created\./);
    assert.match(stderr, /Point --data-dir \(or BERTH_DATA_DIR\) at the directory the running berth uses/);
  }
  const fromEnv = await berthWith({ BERTH_DATA_DIR: dir }, "audit", "verify");
  assert.equal(fromEnv.code, 1);
  assert.match(fromEnv.stderr, /no-such-data \(from BERTH_DATA_DIR\) does not exist/);
  assert.deepEqual(readdirSync(parent), [], "nothing was created");
  // A directory without berth.db (the wrong one) is not a store either, and stays as it was.
  const empty = mkdtempSync(join(tmpdir(), "berth-cli-"));
  const wrong = await berth("audit", "verify", "--data-dir", empty);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /No berth database at .*\/berth\.db\. Point --data-dir \(or BERTH_DATA_DIR\)/);
  assert.deepEqual(readdirSync(empty), []);
});

test("an unknown option is refused with exit 2, naming it and the command's options, before anything is read", async () => {
  const dir = await auditDir();
  const typo = await berth("audit", "verify", "--data-dr", dir);
  assert.equal(typo.code, 2);
  assert.equal(typo.stdout, "", "nothing verified (an ignored --data-dir would have checked ./data)");
  assert.match(typo.stderr, /Unknown option --data-dr for `npx berth audit verify`\. Did you mean --data-dir\?/);
  assert.match(typo.stderr, /Its options: --data-dir DIR, --anchors FILE, --help\./);
  const inline = await berth("audit", "export", `--data-dr=${dir}`);
  assert.equal(inline.code, 2);
  assert.match(
    inline.stderr,
    /Unknown option --data-dr for `npx berth audit export`\. Did you mean --data-dir\? Its options: --data-dir DIR, --help\./,
  );
  const otherCommands = await berth("audit", "verify", "--data-dir", dir, "--connect");
  assert.equal(otherCommands.code, 2, "an option of another command is unknown here");
  assert.match(otherCommands.stderr, /Unknown option --connect for `npx berth audit verify`/);
  const short = await berth("hosts", "check", "-x");
  assert.equal(short.code, 2);
  assert.match(short.stderr, /Unknown option -x for `npx berth hosts check`\. Its options: --connect, --timeout MS, --help\./);
  const noValue = await berth("audit", "verify", "--data-dir", dir, "--anchors");
  assert.equal(noValue.code, 2);
  assert.match(noValue.stderr, /Option '--anchors <value>' argument missing/);
  const beforeCommand = await berth("--data-dr", dir, "audit", "verify");
  assert.equal(beforeCommand.code, 2);
  assert.match(beforeCommand.stderr, /Unknown option --data-dr\. See `npx berth --help`/);
});

test("a stray argument is refused with exit 2: the data dir is given with --data-dir", async () => {
  const dir = await auditDir();
  const stray = await berth("audit", "verify", dir);
  assert.equal(stray.code, 2);
  assert.equal(stray.stdout, "");
  assert.match(
    stray.stderr,
    /`npx berth audit verify` takes no argument, but was given ".*"\. Give the data directory with --data-dir DIR\./,
  );
  const two = await berth("policy", "check", "manifests/policy.example.yaml", "extra.yaml");
  assert.equal(two.code, 2);
  assert.match(two.stderr, /takes at most one FILE, but was given "manifests\/policy\.example\.yaml" "extra\.yaml"/);
});

/**
 * The operator's check against the store of a berth that is running a job, with real processes: `node src/main.ts`
 * with the Slack fake, a container that streams and keeps running, and `node bin/berth.js` on the same data dir.
 * Opening that store as berth does would run its start-up recovery and mark the live job failed.
 */
test("audit verify and export against a live berth's data dir leave its running job running and its card as it was", async () => {
  const fake = await SlackFake.start();
  const dir = mkdtempSync(join(tmpdir(), "berth-cli-live-"));
  const data = join(dir, "data");
  writeFileSync(join(dir, "policy.yaml"), testPolicy);
  writeFileSync(join(dir, "hosts.yaml"), testHosts);
  const child = spawn(process.execPath, ["src/main.ts"], {
    env: {
      PATH: process.env.PATH ?? "",
      SLACK_BOT_TOKEN: fake.botToken,
      SLACK_SIGNING_SECRET: fake.signingSecret,
      SLACK_API_URL: fake.apiUrl,
      PORT: "0",
      HOST: "127.0.0.1",
      BERTH_POLICY: join(dir, "policy.yaml"),
      BERTH_HOSTS: join(dir, "hosts.yaml"),
      BERTH_DATA_DIR: data,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  let jobId: string | undefined;
  try {
    const port = await eventually("berth to start", () => {
      if (child.exitCode !== null) throw new Error(`berth exited: ${output}`);
      const m = /"msg":"berth started".*"port":(\d+)/.exec(output);
      return m ? Number(m[1]) : undefined;
    });
    const url = `http://127.0.0.1:${port}/slack/events`;
    const res = await slashCommand(fake, { url, command: "/berth", text: `run ${testImage} sh -c 'echo cli-live-started; sleep 300'` });
    assert.equal(res.status, 200);
    const card = await eventually("the job card with its first line in the thread", () => {
      const c = findCard(fake, SEED.incidentChannel, "cli-live-started");
      return c && threadLines(fake, SEED.incidentChannel, c.ts).includes("cli-live-started") ? c : undefined;
    });
    const id = jobIdOf(card);
    assert.ok(id, "the card names its job");
    jobId = id;
    const status = () => {
      const db = new DatabaseSync(join(data, "berth.db"), { readOnly: true });
      try {
        return (db.prepare("SELECT status FROM jobs WHERE id = ?").get(id) as { status: string } | undefined)?.status;
      } finally {
        db.close();
      }
    };
    assert.equal(status(), "running");
    const edits = () => fake.calls("chat.update").filter((c) => (c.args as { ts?: string }).ts === card.ts).length;
    const editsBefore = edits();

    const verify = await berth("audit", "verify", "--data-dir", data);
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(verify.stdout, /audit log intact: \d+ records, HMAC-SHA256 chain verified/);
    const typo = await berth("audit", "verify", "--data-dr", data);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /Unknown option --data-dr/);
    const exported = await berth("audit", "export", "--data-dir", data);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /"container\.run"/, "the run is in the audit log");

    await sleep(1000); // what the CLI set off (a failed job, a card edit) would show by now
    assert.equal(status(), "running", "the live job is still running in the store");
    assert.equal(edits(), editsBefore, "the card was not edited");
    const now = fake.message(SEED.incidentChannel, card.ts);
    assert.ok(now && !isFinished(now), "the card still shows the job running, with its Stop button");
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200, "berth still serves");
  } finally {
    child.kill("SIGTERM");
    await exited;
    await fake.stop();
    if (jobId) {
      const { stdout } = await run("docker", ["ps", "-aq", "--filter", `label=io.berth.job=${jobId}`]);
      const ids = stdout.split("\n").filter(Boolean);
      if (ids.length) await run("docker", ["rm", "-f", ...ids]);
    }
  }
});

test("the CLI never opens the store read-write: that open runs berth's start-up recovery", () => {
  const imports = [...readFileSync("src/cli.ts", "utf8").matchAll(/^import .* from "(.+)";$/gm)].map((m) => m[1]);
  assert.ok(imports.includes("./store/audit-log.ts"), "it reads the audit log through openAuditLogReadOnly");
  assert.ok(!imports.includes("./store/store.ts"), "src/cli.ts must not import openStore");
});

test("audit verify and export do not change the database, nor make a key file", async () => {
  const dir = await keyedDir(3);
  const before = sha256(join(dir, "berth.db"));
  for (const verb of ["verify", "export"]) {
    const { code } = await berthWith({ BERTH_AUDIT_KEY: k1 }, "audit", verb, "--data-dir", dir);
    assert.equal(code, 0);
  }
  assert.equal(sha256(join(dir, "berth.db")), before);
  assert.ok(!readdirSync(dir).includes("audit.key"));
});

test("policy check accepts the example and names the line of a mistake", async () => {
  const ok = await berth("policy", "check", "manifests/policy.example.yaml");
  assert.equal(ok.code, 0);
  assert.match(ok.stdout, /valid — 4 roles, 5 bindings, 4 rules, 1 grant rules, 2 runbooks/);
  const dir = mkdtempSync(join(tmpdir(), "berth-cli-"));
  writeFileSync(join(dir, "p.yaml"), "version: 1\nroles:\n  a: { actions: [container.explode] }\n");
  const bad = await berth("policy", "check", join(dir, "p.yaml"));
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /line 3 \(roles\.a\.actions\.0\): unknown action "container\.explode"/);
});

test("policy check validates runbooks: unknown commands, missing parameters, steps no bound role could run", async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-cli-"));
  const policy = (steps: string) =>
    `version: 1\nroles:\n  r: { actions: [container.logs] }\nbindings:\n  - { role: r, users: [U0A] }\nrunbooks:\n  - name: rb\n    summary: s\n    params: [{ name: c, type: container }]\n    steps: ${steps}\n`;
  writeFileSync(join(dir, "p.yaml"), policy(`["logs {{c}}", "restrat {{c}}", "restart {{c}}"]`));
  const bad = await berth("policy", "check", join(dir, "p.yaml"));
  assert.equal(bad.code, 1);
  assert.match(
    bad.stderr,
    /2 runbook problems:\n {2}- runbook rb, step 2 \(restrat \{\{c\}\}\): berth has no command restrat\. Did you mean restart\?/,
  );
  assert.match(bad.stderr, /- runbook rb, step 3 \(restart \{\{c\}\}\): no role named in bindings allows container\.restart/);
  writeFileSync(join(dir, "q.yaml"), policy(`["logs {{c}} {{since}}"]`));
  const missing = await berth("policy", "check", join(dir, "q.yaml"));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /\{\{since\}\} names no parameter; parameters: c/);
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
