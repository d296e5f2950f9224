import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, test } from "node:test";
import { createCa } from "../../src/cloud/certificates.ts";
import { berthPki } from "../../src/cloud/provision.ts";
import { loadConfig } from "../../src/config.ts";
import { BerthError } from "../../src/core/errors.ts";
import { createSecretBox, isSealed } from "../../src/store/secret-box.ts";
import { openSqliteStore } from "../../src/store/sqlite-store.ts";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "berth-secrets-"));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const key = `${"k".repeat(16)}0123456789abcdefghij`;
const otherKey = "o".repeat(40);
const rawSecret = (dir: string, name: string) => {
  const db = new DatabaseSync(join(dir, "berth.db"));
  try {
    return String(db.prepare("SELECT value FROM secrets WHERE name = ?").get(name)?.value ?? "");
  } finally {
    db.close();
  }
};

test("a sealed value opens with the same key, under the same name only, and never twice the same ciphertext", () => {
  const box = createSecretBox(key);
  const sealed = box.seal("pki", "-----BEGIN PRIVATE KEY-----");
  assert.ok(isSealed(sealed));
  assert.ok(!sealed.includes("PRIVATE KEY"));
  assert.notEqual(box.seal("pki", "-----BEGIN PRIVATE KEY-----"), sealed, "a fresh nonce per value");
  assert.equal(box.open("pki", sealed), "-----BEGIN PRIVATE KEY-----");
  assert.equal(createSecretBox(key).open("pki", sealed), "-----BEGIN PRIVATE KEY-----", "the key, not the process, decides");
  assert.throws(() => box.open("other", sealed), { name: "BerthError", code: "CONFIG", message: /does not decrypt/ });
  const tampered = sealed.slice(0, -6) + (sealed.endsWith("AAAA==") ? "BBBB==" : "AAAA==");
  assert.throws(() => box.open("pki", tampered), { name: "BerthError", message: /altered/ });
});

test("a wrong key is named as such, with both key ids", () => {
  const sealed = createSecretBox(key).seal("pki", "x");
  const other = createSecretBox(otherKey);
  assert.throws(
    () => other.open("pki", sealed),
    (e: unknown) =>
      e instanceof BerthError &&
      e.code === "CONFIG" &&
      /encrypted with another BERTH_SECRET_KEY/.test(e.message) &&
      e.message.includes(other.keyId) &&
      e.message.includes(createSecretBox(key).keyId),
  );
});

test("a short key is refused with what to use instead", () => {
  assert.throws(() => createSecretBox("short"), { name: "BerthError", code: "CONFIG", message: /at least 32 random/ });
});

test("the CA key is stored encrypted: the database holds no PEM, and berth reads it back after a restart", async () => {
  const dir = tempDir();
  const store = await openSqliteStore({ dataDir: dir, secretBox: createSecretBox(key) });
  const pki = await berthPki(store, new Date());
  await store.close();
  const raw = rawSecret(dir, "pki");
  assert.ok(isSealed(raw), raw.slice(0, 40));
  assert.ok(!raw.includes("PRIVATE KEY") && !raw.includes("BEGIN"));
  const again = await openSqliteStore({ dataDir: dir, secretBox: createSecretBox(key) });
  assert.deepEqual(await berthPki(again, new Date()), pki);
  await again.close();
  const wrong = await openSqliteStore({ dataDir: dir, secretBox: createSecretBox(otherKey) });
  await assert.rejects(berthPki(wrong, new Date()), { name: "BerthError", code: "CONFIG", message: /another BERTH_SECRET_KEY/ });
  await wrong.close();
  const none = await openSqliteStore({ dataDir: dir });
  await assert.rejects(berthPki(none, new Date()), { name: "BerthError", code: "CONFIG", message: /needs BERTH_SECRET_KEY/ });
  await none.close();
});

test("without a key nothing secret is written to disk; an in-memory store needs none", async () => {
  const dir = tempDir();
  const store = await openSqliteStore({ dataDir: dir });
  await assert.rejects(berthPki(store, new Date()), { name: "BerthError", code: "CONFIG", message: /BERTH_SECRET_KEY/ });
  await store.close();
  assert.equal(rawSecret(dir, "pki"), "");
  const memory = await openSqliteStore({ dataDir: ":memory:" });
  assert.ok((await berthPki(memory, new Date())).ca.key.includes("PRIVATE KEY"));
  await memory.close();
});

test("a CA an older berth stored in clear is encrypted in place on its first read with a key", async () => {
  const dir = tempDir();
  const ca = await createCa("old berth CA");
  const legacy = JSON.stringify({ ca, client: ca });
  await (await openSqliteStore({ dataDir: dir })).close();
  const db = new DatabaseSync(join(dir, "berth.db"));
  db.prepare("INSERT INTO secrets (name, value) VALUES ('pki', ?)").run(legacy);
  db.close();
  const store = await openSqliteStore({ dataDir: dir, secretBox: createSecretBox(key) });
  assert.equal(await store.secrets.get("pki"), legacy);
  await store.close();
  const raw = rawSecret(dir, "pki");
  assert.ok(isSealed(raw) && !raw.includes("PRIVATE KEY"));
  for (const f of ["berth.db", "berth.db-wal"]) {
    const bytes = existsSync(join(dir, f)) ? readFileSync(join(dir, f)) : Buffer.alloc(0);
    assert.ok(!bytes.includes("PRIVATE KEY"), `no clear key left in ${f}`);
  }
  const again = await openSqliteStore({ dataDir: dir, secretBox: createSecretBox(key) });
  assert.equal(await again.secrets.get("pki"), legacy);
  await again.close();
});

test("the data directory is 0700 and the database files 0600, whatever the umask", async () => {
  const parent = tempDir();
  const dir = join(parent, "data");
  const old = process.umask(0o000);
  try {
    const store = await openSqliteStore({ dataDir: dir, secretBox: createSecretBox(key) });
    await store.secrets.putOnce("x", "y");
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    for (const f of ["berth.db", "berth.db-wal", "berth.db-shm"]) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
    await store.close();
  } finally {
    process.umask(old);
  }
});

test("an existing data directory and database left world-readable are closed up on open", async () => {
  const dir = tempDir();
  await (await openSqliteStore({ dataDir: dir })).close();
  chmodSync(dir, 0o755);
  chmodSync(join(dir, "berth.db"), 0o644);
  await (await openSqliteStore({ dataDir: dir })).close();
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(statSync(join(dir, "berth.db")).mode & 0o777, 0o600);
});

test("BERTH_SECRET_KEY: required with Azure, read from file:PATH", () => {
  const azure = { AZURE_SUBSCRIPTION_ID: "00000000-0000-0000-0000-000000000000", AZURE_LOCATION: "westeurope" };
  assert.throws(() => loadConfig(azure), { name: "BerthError", code: "CONFIG", message: /BERTH_SECRET_KEY is not/ });
  assert.equal(loadConfig({ ...azure, BERTH_SECRET_KEY: key }).secretKey, key);
  const file = join(tempDir(), "key");
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  assert.equal(loadConfig({ BERTH_SECRET_KEY: `file:${file}` }).secretKey, key);
  assert.throws(() => loadConfig({ BERTH_SECRET_KEY: "file:/nonexistent/berth-key" }), { code: "CONFIG", message: /Cannot read/ });
  assert.equal(loadConfig({}).secretKey, undefined, "the playground and berth without Azure need no key");
});
