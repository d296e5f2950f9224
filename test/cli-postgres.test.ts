// `npx berth audit …` against a fleet's PostgreSQL log (BERTH_DATABASE_URL): verified with the replicas' key, in a
// read-only session that creates nothing and changes nothing, with tampering named like the embedded log's.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Client } from "pg";
import { parseAuditKeys } from "../src/store/audit-key.ts";
import type { AuditEntry } from "../src/store/audit-log.ts";
import { openPostgresStore } from "../src/store/postgres-store.ts";
import { berthCli } from "./support/operator-cli.ts";
import { startPostgres, type TestPostgres } from "./support/postgres.ts";

const key = "fleet:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0xMjM0NTY=";

const berth = berthCli;

const entry = (n: number): AuditEntry => ({
  requestId: `req-${n}`,
  type: "decision",
  userId: "U1",
  channelId: "C1",
  action: { kind: "container.ps" },
  host: "local",
  decision: "allow",
  rule: "ops",
  outcome: null,
  messageTs: null,
});

async function tables(url: string): Promise<string[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).rows.map((r) =>
      String(r.tablename),
    );
  } finally {
    await client.end();
  }
}

let pg: TestPostgres;
before(async () => {
  pg = await startPostgres();
});
after(() => pg.stop());

test("audit verify and export read the fleet's log from BERTH_DATABASE_URL, and name a tampered record", async () => {
  const url = await pg.createDatabase();
  const store = await openPostgresStore({ url, auditKeys: parseAuditKeys(key, "test") });
  for (let n = 1; n <= 3; n++) await store.audit.append(entry(n));
  await store.close();
  const env = { BERTH_DATABASE_URL: url, BERTH_AUDIT_KEY: key };

  const verified = await berth(env, "audit", "verify");
  assert.equal(verified.code, 0, verified.stderr);
  assert.match(verified.stdout, /audit log intact: 3 records, HMAC-SHA256 chain verified with key fleet/);
  assert.doesNotMatch(verified.stdout, /postgres:\/\/berth@[^ ]*:[^*@ ]+@/, "no password in the output");

  const exported = await berth(env, "audit", "export");
  assert.equal(exported.code, 0, exported.stderr);
  assert.deepEqual(
    exported.stdout
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { requestId: string }).requestId),
    ["req-1", "req-2", "req-3"],
  );

  const wrongKey = await berth(
    { ...env, BERTH_AUDIT_KEY: "fleet:bm90LXRoZS1rZXktdGhhdC1zaWduZWQtdGhlc2UtcmVjb3Jkcy0wMA==" },
    "audit",
    "verify",
  );
  assert.equal(wrongKey.code, 1, "a key that did not sign the log fails the check");

  // Someone with the database's owner rights edits record 2 (the append-only trigger set aside).
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("ALTER TABLE audit DISABLE TRIGGER audit_no_change");
    await client.query("UPDATE audit SET record = replace(record, 'req-2', 'req-X') WHERE seq = 2");
  } finally {
    await client.end();
  }
  const tampered = await berth(env, "audit", "verify");
  assert.equal(tampered.code, 1);
  assert.match(tampered.stderr, /audit log TAMPERED: record 2/);
});

test("audit verify against a database that holds no berth log says so, exits 1 and creates nothing", async () => {
  const url = await pg.createDatabase();
  const result = await berth({ BERTH_DATABASE_URL: url, BERTH_AUDIT_KEY: key }, "audit", "verify");
  assert.equal(result.code, 1);
  assert.match(result.stderr, /has no berth audit log \(no audit table\)\. Nothing was created\. Check BERTH_DATABASE_URL/);
  assert.deepEqual(await tables(url), [], "no table was made");
});

test("audit verify without BERTH_AUDIT_KEY next to a fleet's database asks for the replicas' key", async () => {
  const url = await pg.createDatabase();
  const store = await openPostgresStore({ url, auditKeys: parseAuditKeys(key, "test") });
  await store.audit.append(entry(1));
  await store.close();
  const result = await berth({ BERTH_DATABASE_URL: url }, "audit", "verify");
  assert.equal(result.code, 1);
  assert.match(result.stderr, /BERTH_AUDIT_KEY/);
});
