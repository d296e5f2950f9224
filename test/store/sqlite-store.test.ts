import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, test } from "node:test";
import { BerthError } from "../../src/core/errors.ts";
import { auditHash } from "../../src/store/audit-log.ts";
import { openStorePort } from "../../src/store/open-store-port.ts";
import { createSecretBox, isSealed } from "../../src/store/secret-box.ts";
import { openSqliteStore } from "../../src/store/sqlite-store.ts";
import { entry, manualClock, storeContract } from "./store-contract.ts";

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-sqlite-store-"));
  dirs.push(dir);
  return dir;
};
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

storeContract("node:sqlite (a data directory)", ({ clock, secretBox }) => openSqliteStore({ dataDir: tempDir(), clock, secretBox }));
storeContract("node:sqlite (:memory:)", ({ clock, secretBox }) => openSqliteStore({ dataDir: ":memory:", clock, secretBox }));

test("a second store on the same data directory is refused, saying who holds it and pointing to BERTH_DATABASE_URL", async () => {
  const dir = tempDir();
  const first = await openSqliteStore({ dataDir: dir });
  try {
    await assert.rejects(
      openSqliteStore({ dataDir: dir }),
      (error: unknown) =>
        error instanceof BerthError &&
        error.code === "CONFLICT" &&
        error.message.includes(`in use by berth pid ${process.pid}`) &&
        error.message.includes("BERTH_DATABASE_URL"),
    );
    await first.jobs.create({ id: "j1", kind: "k", userId: "U", channelId: "C", host: null, summary: "s", messageTs: null });
  } finally {
    await first.close();
  }
  const second = await openSqliteStore({ dataDir: dir });
  assert.equal((await second.jobs.get("j1"))?.status, "running");
  await second.close();
});

test("another process holding the directory refuses this one; killed with SIGKILL, it holds nothing", async () => {
  const dir = tempDir();
  const module = resolve(import.meta.dirname, "../../src/store/sqlite-store.ts");
  const child = spawn(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `import { openSqliteStore } from ${JSON.stringify(module)}; await openSqliteStore({ dataDir: ${JSON.stringify(dir)} }); console.log("held"); setInterval(() => {}, 1000);`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const exited = new Promise((r) => child.once("exit", r));
  try {
    await new Promise<void>((ok, fail) => {
      child.stdout.on("data", (d: Buffer) => d.toString().includes("held") && ok());
      child.once("exit", (code) => fail(new Error(`the holder exited early (${code})`)));
    });
    await assert.rejects(
      openSqliteStore({ dataDir: dir }),
      (e: unknown) => e instanceof BerthError && e.message.includes(`pid ${child.pid}`),
    );
  } finally {
    child.kill("SIGKILL");
    await exited;
  }
  const store = await openSqliteStore({ dataDir: dir });
  await store.close();
});

/** A berth.db as the synchronous store of older berths wrote it (schema version 0: no user_version, no cursor columns). */
function olderBerthDb(dir: string): void {
  const db = new DatabaseSync(join(dir, "berth.db"));
  db.exec(`CREATE TABLE jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, user_id TEXT NOT NULL, channel_id TEXT NOT NULL, host TEXT,
    summary TEXT NOT NULL, status TEXT NOT NULL, created_at INTEGER NOT NULL, ended_at INTEGER, exit_code INTEGER, message_ts TEXT, detail TEXT);
    INSERT INTO jobs VALUES ('j-old', 'container.logs', 'U1', 'C1', 'local', 'logs -f api', 'running', 1, NULL, NULL, '1.1', NULL);
    CREATE TABLE audit (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, record TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
    CREATE TABLE dedupe (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);`);
  const record = JSON.stringify(entry(1));
  db.prepare("INSERT INTO audit VALUES (1, 1000, ?, ?, ?)").run(record, "0".repeat(64), auditHash("0".repeat(64), 1, 1000, record));
  db.prepare("INSERT INTO dedupe VALUES ('envelope:carried-over', ?)").run(manualClock().now + 60_000);
  db.close();
}

test("a berth.db an older berth wrote moves on: its jobs keep running (to be resumed), the chain and the claimed keys continue", async () => {
  const dir = tempDir();
  olderBerthDb(dir);
  const store = await openSqliteStore({ dataDir: dir, clock: manualClock() });
  try {
    const [running] = await store.jobs.running();
    assert.equal(running?.id, "j-old", "a job running when berth stopped is left for resume, not failed");
    assert.equal(running?.cursor, null);
    assert.equal(running?.resume, null);
    assert.deepEqual(await store.jobs.advanceCursor("j-old", { at: "2026-12-05T12:00:00.000000001Z", lines: 3 }), { ok: true });
    assert.deepEqual((await store.jobs.get("j-old"))?.cursor, { at: "2026-12-05T12:00:00.000000001Z", lines: 3 });
    const [first] = await store.audit.all();
    const second = await store.audit.append(entry(2));
    assert.equal(second.prevHash, first?.hash);
    assert.equal((await store.audit.check()).problem, undefined);
    assert.equal(await store.dedupe.claim("envelope:carried-over", 60_000), false, "a key the older berth claimed still holds");
    assert.equal(await store.dedupe.claim("envelope:new", 60_000), true);
  } finally {
    await store.close();
  }
});

test("jobs, their cursors and resume details, claimed keys and the installation id outlive a restart", async () => {
  const dir = tempDir();
  const clock = manualClock();
  const first = await openSqliteStore({ dataDir: dir, clock });
  await first.jobs.create({
    id: "j-1",
    kind: "container.logs",
    userId: "U1",
    channelId: "C1",
    host: "local",
    summary: "logs -f api",
    messageTs: "1.1",
  });
  await first.jobs.create({
    id: "j-2",
    kind: "container.run",
    userId: "U1",
    channelId: "C1",
    host: "local",
    summary: "run",
    messageTs: null,
  });
  await first.jobs.finish("j-2", { status: "succeeded", exitCode: 0, detail: "Exited with code 0" });
  await first.jobs.setResume("j-1", { container: "abc", follow: true });
  await first.jobs.advanceCursor("j-1", { at: "2026-12-05T12:00:01.000000002Z", lines: 20 });
  assert.equal(await first.dedupe.claim("command:T1:trigger-1", 3_600_000), true);
  const id = await first.installationId();
  await first.close();
  const reopened = await openSqliteStore({ dataDir: dir, clock });
  try {
    const [resumable, ...others] = await reopened.jobs.running();
    assert.deepEqual(others, []);
    assert.equal(resumable?.id, "j-1");
    assert.deepEqual(resumable?.cursor, { at: "2026-12-05T12:00:01.000000002Z", lines: 20 });
    assert.deepEqual(resumable?.resume, { container: "abc", follow: true });
    assert.equal((await reopened.jobs.get("j-2"))?.exitCode, 0);
    assert.equal(await reopened.dedupe.claim("command:T1:trigger-1", 3_600_000), false, "the restarted store still knows the key");
    assert.equal(await reopened.dedupe.claim("command:T1:trigger-2", 3_600_000), true);
    clock.now += 3_600_000;
    assert.equal(await reopened.dedupe.claim("command:T1:trigger-1", 3_600_000), true, "an expired key is claimed again");
    assert.equal(await reopened.installationId(), id, "the same berth after a restart");
  } finally {
    await reopened.close();
  }
});

test("a damaged database is named, with what to do, instead of a stack trace", async () => {
  const dir = tempDir();
  writeFileSync(join(dir, "berth.db"), "this is not a database, only some text that is long enough to be read as a header".repeat(20));
  await assert.rejects(
    openSqliteStore({ dataDir: dir }),
    (e: unknown) => e instanceof BerthError && e.code === "CONFIG" && e.message.includes(join(dir, "berth.db")) && /backup/.test(e.message),
  );
  // the refused open left the directory free
  writeFileSync(join(dir, "berth.db"), "");
  const store = await openSqliteStore({ dataDir: dir });
  await store.close();
});

test("without BERTH_SECRET_KEY a data directory takes no secret; one an older berth kept in clear is sealed when read with a key", async () => {
  const dir = tempDir();
  const bare = await openStorePort({ dataDir: dir });
  try {
    assert.equal(bare.kind, "sqlite");
    await assert.rejects(bare.secrets.putOnce("ca", "pem"), (e: unknown) => e instanceof BerthError && e.code === "CONFIG");
  } finally {
    await bare.close();
  }
  const raw = new DatabaseSync(join(dir, "berth.db"));
  raw.prepare("INSERT INTO secrets (name, value) VALUES ('ca', 'clear pem')").run();
  raw.close();
  const keyed = await openStorePort({ dataDir: dir, secretBox: createSecretBox("0123456789abcdef0123456789abcdef-sqlite") });
  try {
    assert.equal(await keyed.secrets.get("ca"), "clear pem");
  } finally {
    await keyed.close();
  }
  const check = new DatabaseSync(join(dir, "berth.db"), { readOnly: true });
  assert.ok(isSealed(String(check.prepare("SELECT value FROM secrets WHERE name = 'ca'").get()?.value)));
  check.close();
});
