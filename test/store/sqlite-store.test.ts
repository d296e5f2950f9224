import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, test } from "node:test";
import { BerthError } from "../../src/core/errors.ts";
import { openStorePort } from "../../src/store/open-store-port.ts";
import { createSecretBox, isSealed } from "../../src/store/secret-box.ts";
import { openSqliteStore } from "../../src/store/sqlite-store.ts";
import { openStore } from "../../src/store/store.ts";
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

test("a berth.db written by the synchronous store moves on: its jobs keep running (to be resumed) and the chain continues", async () => {
  const dir = tempDir();
  const old = openStore(dir);
  old.jobs.create({ id: "j1", kind: "container.run", userId: "U1", channelId: "C1", host: "local", summary: "run", messageTs: "1.1" });
  const first = old.audit.append(entry(1));
  old.close();
  const store = await openSqliteStore({ dataDir: dir, clock: manualClock() });
  try {
    const [running] = await store.jobs.running();
    assert.equal(running?.id, "j1", "a job running when berth stopped is left for resume, not failed");
    assert.equal(running?.cursor, null);
    const second = await store.audit.append(entry(2));
    assert.equal(second.prevHash, first.hash);
    assert.equal((await store.audit.check()).problem, undefined);
  } finally {
    await store.close();
  }
  // and the synchronous store still reads what the port wrote (the same file, until the callers move over)
  const again = openStore(dir);
  assert.equal(again.audit.verify(), undefined);
  again.close();
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
