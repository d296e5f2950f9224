/**
 * The store port over PostgreSQL (BERTH_DATABASE_URL), shared by every berth replica. Driver: `pg` (node-postgres),
 * the maintained, most used PostgreSQL client for Node, with a pool whose clients can be held for a transaction (the
 * audit chain's advisory lock needs one connection from BEGIN to COMMIT). Every query is parameterized.
 *
 * Concurrency lives in the database, not in this process: each claim, lease change and budget take is one
 * `INSERT … ON CONFLICT DO UPDATE … WHERE` (PostgreSQL locks the row and re-checks the condition, so of two replicas
 * exactly one wins); audit appends hold a transaction-scoped advisory lock, which keeps the chain linear.
 *
 * Longer than most files because it is the whole adapter: every statement sits next to the others it must agree with.
 */
import { randomUUID } from "node:crypto";
import { Pool, type PoolClient, type QueryResultRow } from "pg";
import { BerthError } from "../core/errors.ts";
import { createChainChecker } from "./audit-chain.ts";
import type { AuditKeyring } from "./audit-key.ts";
import { genesis, macInput } from "./audit-log.ts";
import { type CloudHostRecord, checkLanes, type Fence, type LeaseResult, reserveSlot, type StorePort, type Written } from "./port.ts";
import { migrations } from "./postgres-migrations.ts";
import { pendingParams, toAuditHead, toAuditRecord, toAuditRow, toGrant, toJob, toPending } from "./rows.ts";
import type { SecretBox } from "./secret-box.ts";
import { secretStore } from "./secret-rules.ts";

export type PostgresStoreOptions = {
  /** BERTH_DATABASE_URL: postgres://user:password@host:port/database[?sslmode=…] */
  url: string;
  /** Every replica must sign the chain with the same keys (BERTH_AUDIT_KEY): there is no data dir to keep one in. */
  auditKeys: AuditKeyring;
  clock?: (() => number) | undefined;
  secretBox?: SecretBox | undefined;
  /** Connections this replica may hold (default 10). */
  poolSize?: number | undefined;
  /** An idle connection the server dropped (a restart, a failover); the pool has already let it go. */
  onIdleError?: ((error: Error) => void) | undefined;
};

/** Advisory lock keys: berth's namespace ('bert'), then what is locked. */
const lockSpace = 0x62657274;
const migrationLock = 1;
const auditLock = 2;

/** Node's socket errors and PostgreSQL's SQLSTATEs that mean "the database cannot be reached now; try again". */
const unreachable = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);
const unavailableStates = new Set(["57P01", "57P02", "57P03", "53300", "57014", "40001", "40P01"]);
const configStates = new Set(["28P01", "28000", "3D000", "42501"]);
const droppedConnection =
  /Connection terminated|timeout exceeded when trying to connect|connection error|Query read timeout|Connection ended/i;

function isConnectionLoss(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && (unreachable.has(code) || code.startsWith("08") || unavailableStates.has(code))) return true;
  return error instanceof Error && droppedConnection.test(error.message);
}

/** The URL as it may be shown: without its password. */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "the PostgreSQL database in BERTH_DATABASE_URL";
  }
}

function fault(error: unknown, where: string): BerthError {
  if (error instanceof BerthError) return error;
  const options = { cause: error };
  const code = (error as { code?: unknown }).code;
  const detail = error instanceof Error ? error.message : String(error);
  if (isConnectionLoss(error)) {
    return new BerthError(
      "UNAVAILABLE",
      `The PostgreSQL database at ${where} cannot be reached (${detail}); berth will try again.`,
      options,
    );
  }
  if (typeof code === "string" && configStates.has(code)) {
    return new BerthError(
      "CONFIG",
      `berth cannot use the PostgreSQL database at ${where}: ${detail}. Check BERTH_DATABASE_URL and the role's rights.`,
      options,
    );
  }
  if (code === "23505") return new BerthError("CONFLICT", `That record already exists in ${where}.`, options);
  return new BerthError("INTERNAL", `The PostgreSQL database at ${where} failed: ${detail}`, options);
}

export async function openPostgresStore(options: PostgresStoreOptions): Promise<StorePort> {
  const where = redactedUrl(options.url);
  const pool = new Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    application_name: "berth",
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    // A hung database must not hang berth: the server gives up on a statement, and the client on a silent socket.
    statement_timeout: 15_000,
    query_timeout: 20_000,
    keepAlive: true,
  });
  // Without a listener, an idle connection dropped by the server (a restart) would be an uncaught 'error' event.
  pool.on("error", (error) => options.onIdleError?.(error));
  try {
    await migrate(pool);
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw fault(error, where);
  }
  return postgresAdapter(pool, { ...options, where });
}

/**
 * One connection from BEGIN to COMMIT. A connection that broke on the way is destroyed, not returned to the pool, and
 * keeps a no-op 'error' listener: while a client is checked out the pool does not listen, and an unheard 'error'
 * event (the server closing the socket between two statements) would end the process.
 */
async function transaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  const ignore = () => undefined; // the next statement on this client fails and says why
  client.on("error", ignore);
  try {
    await client.query("BEGIN");
    const result = await work(client);
    await client.query("COMMIT");
    client.off("error", ignore);
    client.release();
    return result;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    const lost = isConnectionLoss(error);
    if (!lost) client.off("error", ignore);
    client.release(lost ? (error as Error) : undefined);
    throw error;
  }
}

function migrate(pool: Pool): Promise<void> {
  return transaction(pool, async (client) => {
    // Replicas starting together: the second waits here, then finds every migration applied.
    await client.query("SELECT pg_advisory_xact_lock($1, $2)", [lockSpace, migrationLock]);
    await client.query(
      "CREATE TABLE IF NOT EXISTS berth_schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    );
    const applied = new Set((await client.query("SELECT version FROM berth_schema_migrations")).rows.map((r) => Number(r.version)));
    const newest = Math.max(0, ...applied);
    const known = migrations.at(-1)?.version ?? 0;
    if (newest > known) {
      throw new BerthError(
        "CONFIG",
        `The database's schema is version ${newest}, written by a newer berth; this berth knows up to ${known}. Run that berth's version or newer.`,
      );
    }
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      await client.query(m.sql);
      await client.query("INSERT INTO berth_schema_migrations (version, name) VALUES ($1, $2)", [m.version, m.name]);
    }
  });
}

/** `($n IS NULL OR the lease $n still has token $n+1)`, with the lease row share-locked so a takeover waits for the write. */
const fenceHolds = (n: number) =>
  `($${n}::text IS NULL OR EXISTS (SELECT 1 FROM leases WHERE name = $${n}::text AND token = $${n + 1}::bigint AND owner IS NOT NULL FOR SHARE))`;
const fenceParams = (fence: Fence | undefined) => [fence?.name ?? null, fence?.token ?? null];

function postgresAdapter(pool: Pool, o: PostgresStoreOptions & { where: string }): StorePort {
  const clock = o.clock ?? Date.now;
  const { where, auditKeys } = o;
  let open = true;

  async function q<R extends QueryResultRow = Record<string, unknown>>(sql: string, params: unknown[] = []) {
    if (!open) throw new BerthError("UNAVAILABLE", `The store for ${where} is closed.`);
    try {
      return await pool.query<R>(sql, params);
    } catch (error) {
      throw fault(error, where);
    }
  }

  async function tx<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    if (!open) throw new BerthError("UNAVAILABLE", `The store for ${where} is closed.`);
    try {
      return await transaction(pool, work);
    } catch (error) {
      throw fault(error, where);
    }
  }

  const one = async (sql: string, params: unknown[]) => (await q(sql, params)).rows[0];
  const count = async (sql: string, params: unknown[]) => (await q(sql, params)).rowCount ?? 0;

  /** Why a fenced job write changed nothing. */
  async function whyNot(id: string, fence: Fence | undefined, finishing: boolean): Promise<Written> {
    if (fence && !(await holds(fence))) return { ok: false, reason: "fenced" };
    const row = await one("SELECT status FROM jobs WHERE id = $1", [id]);
    if (!row) return { ok: false, reason: "not-found" };
    return finishing && row.status !== "running" ? { ok: false, reason: "finished" } : { ok: true };
  }
  const holds = async (fence: Fence) =>
    (await one("SELECT 1 AS ok FROM leases WHERE name = $1 AND token = $2 AND owner IS NOT NULL", [fence.name, fence.token])) !== undefined;
  async function jobWrite(id: string, fence: Fence | undefined, set: string, values: unknown[], finishing = false): Promise<Written> {
    const n = values.length;
    const sql = `UPDATE jobs SET ${set} WHERE id = $${n + 1}${finishing ? " AND status = 'running'" : ""} AND ${fenceHolds(n + 2)}`;
    if ((await count(sql, [...values, id, ...fenceParams(fence)])) > 0) return { ok: true };
    return whyNot(id, fence, finishing);
  }

  const toLease = (r: Record<string, unknown>) => ({
    name: String(r.name),
    owner: String(r.owner),
    token: Number(r.token),
    expiresAt: Number(r.expires_at),
  });
  async function refused(name: string): Promise<LeaseResult> {
    const held = await one("SELECT owner, expires_at FROM leases WHERE name = $1 AND owner IS NOT NULL", [name]);
    return { ok: false, holder: held ? String(held.owner) : "", expiresAt: held ? Number(held.expires_at) : 0 };
  }
  async function checkChain(from?: { seq: number; hash: string }) {
    const checker = createChainChecker(auditKeys, from);
    // Read in pages, so that a long log is never held in memory at once.
    let after = (from?.seq ?? 1) - 1;
    for (;;) {
      const page = (await q(`SELECT ${auditColumns} FROM audit WHERE seq > $1 ORDER BY seq LIMIT 1000`, [after])).rows.map(toAuditRow);
      if (!page.every((r) => checker.push(r))) break;
      const last = page.at(-1);
      if (!last || page.length < 1000) break;
      after = last.seq;
    }
    return checker.finish();
  }

  const json = (value: unknown) => (value === undefined || value === null ? null : JSON.stringify(value));
  const auditColumns = "seq, at, record, prev_hash, hash, key_id";

  return {
    kind: "postgres",
    location: where,
    sealsSecrets: o.secretBox !== undefined,
    jobs: {
      async create(job) {
        await q(
          "INSERT INTO jobs (id, kind, user_id, channel_id, host, summary, status, created_at, message_ts, resume) VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $8, $9)",
          [job.id, job.kind, job.userId, job.channelId, job.host, job.summary, clock(), job.messageTs, json(job.resume)],
        );
      },
      async get(id) {
        const row = await one("SELECT * FROM jobs WHERE id = $1", [id]);
        return row && toJob(row);
      },
      async byCard(channelId, ts) {
        const row = await one("SELECT * FROM jobs WHERE channel_id = $1 AND message_ts = $2 ORDER BY created_at DESC, id DESC LIMIT 1", [
          channelId,
          ts,
        ]);
        return row && toJob(row);
      },
      setMessageTs: (id, ts, fence) => jobWrite(id, fence, "message_ts = $1", [ts]),
      setResume: (id, resume, fence) => jobWrite(id, fence, "resume = $1", [json(resume)]),
      advanceCursor: async (id, cursor, fence) => {
        const sql = `UPDATE jobs SET cursor_at = $1, cursor_lines = $2 WHERE id = $3 AND (cursor_lines IS NULL OR cursor_lines <= $2) AND ${fenceHolds(4)}`;
        if ((await count(sql, [cursor.at, cursor.lines, id, ...fenceParams(fence)])) > 0) return { ok: true };
        return whyNot(id, fence, false);
      },
      finish: (id, outcome, fence) =>
        jobWrite(
          id,
          fence,
          "status = $1, ended_at = $2, exit_code = $3, detail = $4",
          [outcome.status, clock(), outcome.exitCode, outcome.detail],
          true,
        ),
      requestCancel: async (id, by) =>
        (await count("UPDATE jobs SET cancel_by = COALESCE(cancel_by, $1) WHERE id = $2 AND status = 'running'", [by, id])) === 1,
      running: async () => (await q("SELECT * FROM jobs WHERE status = 'running' ORDER BY created_at, id")).rows.map(toJob),
      unowned: async () =>
        (
          await q(
            `SELECT j.* FROM jobs j LEFT JOIN leases l ON l.name = 'job:' || j.id
             WHERE j.status = 'running' AND (l.name IS NULL OR l.owner IS NULL OR l.expires_at <= $1) ORDER BY j.created_at, j.id`,
            [clock()],
          )
        ).rows.map(toJob),
      counts: async () =>
        Object.fromEntries(
          (await q("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")).rows.map((r) => [String(r.status), Number(r.n)]),
        ),
    },
    pending: {
      async create(p) {
        const row = await one(
          `INSERT INTO pending (id, request_id, gate, requester, channel_id, channel_name, host, summary, action, rule, gate_rule,
             approvers, state, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'pending', $13, $14)
           RETURNING *`,
          pendingParams(p, clock()),
        );
        return toPending(row as Record<string, unknown>);
      },
      async get(id) {
        const row = await one("SELECT * FROM pending WHERE id = $1", [id]);
        return row && toPending(row);
      },
      async decide(id, state, by) {
        const now = clock();
        const sql =
          "UPDATE pending SET state = $1, decided_by = $2, decided_at = $3 WHERE id = $4 AND state = 'pending' AND expires_at > $3";
        return (await count(sql, [state, by, now, id])) === 1;
      },
      async expire(id) {
        const sql = "UPDATE pending SET state = 'expired', decided_at = $1 WHERE id = $2 AND state = 'pending' AND expires_at <= $1";
        return (await count(sql, [clock(), id])) === 1;
      },
      overdue: async () =>
        (await q("SELECT * FROM pending WHERE state = 'pending' AND expires_at <= $1 ORDER BY expires_at, id", [clock()])).rows.map(
          toPending,
        ),
      waiting: async () =>
        (await q("SELECT * FROM pending WHERE state = 'pending' AND expires_at > $1 ORDER BY created_at, id", [clock()])).rows.map(
          toPending,
        ),
      async setMessageTs(id, ts) {
        await q("UPDATE pending SET message_ts = $1 WHERE id = $2", [ts, id]);
      },
    },
    grants: {
      async create(g) {
        await q(
          "INSERT INTO grants (id, user_id, role, reason, channel_id, approved_by, starts_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
          [g.id, g.userId, g.role, g.reason, g.channelId, g.approvedBy, g.startsAt, g.expiresAt],
        );
      },
      active: async () => (await q("SELECT * FROM grants WHERE expires_at > $1 ORDER BY starts_at, id", [clock()])).rows.map(toGrant),
      ended: async () =>
        (await q("SELECT * FROM grants WHERE expires_at <= $1 AND ended_announced = 0 ORDER BY expires_at, id", [clock()])).rows.map(
          toGrant,
        ),
      markAnnounced: async (id) => (await count("UPDATE grants SET ended_announced = 1 WHERE id = $1 AND ended_announced = 0", [id])) === 1,
      async get(id) {
        const row = await one("SELECT * FROM grants WHERE id = $1", [id]);
        return row && toGrant(row);
      },
      // The row is locked as it is read: a second revoke waits, then reads it ended and gets nothing.
      async revoke(id, at) {
        const row = await one(
          `WITH old AS (SELECT * FROM grants WHERE id = $1 AND expires_at > $2 AND ended_announced = 0 FOR UPDATE)
           UPDATE grants g SET expires_at = $2, ended_announced = 1 FROM old WHERE g.id = old.id RETURNING old.*`,
          [id, at],
        );
        return row && toGrant(row);
      },
    },
    cloudHosts: {
      async get(name) {
        const row = await one("SELECT record FROM cloud_hosts WHERE name = $1", [name]);
        return row && (JSON.parse(String(row.record)) as CloudHostRecord);
      },
      async put(record, fence) {
        const sql = `INSERT INTO cloud_hosts (name, status, record) SELECT $1, $2, $3 WHERE ${fenceHolds(4)}
          ON CONFLICT (name) DO UPDATE SET status = excluded.status, record = excluded.record`;
        const n = await count(sql, [record.name, record.status, JSON.stringify(record), ...fenceParams(fence)]);
        return n > 0 ? { ok: true } : { ok: false, reason: "fenced" };
      },
      live: async () =>
        (await q("SELECT record FROM cloud_hosts WHERE status != 'removed' ORDER BY name")).rows.map(
          (r) => JSON.parse(String(r.record)) as CloudHostRecord,
        ),
    },
    secrets: secretStore(
      {
        read: async (name) => {
          const row = await one("SELECT value FROM secrets WHERE name = $1", [name]);
          return row && String(row.value);
        },
        insertIfAbsent: async (name, value) => {
          await q("INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", [name, value]);
        },
        replace: async (name, from, to) =>
          (await count("UPDATE secrets SET value = $1 WHERE name = $2 AND value = $3", [to, name, from])) === 1,
        remove: async (name) => (await count("DELETE FROM secrets WHERE name = $1", [name])) === 1,
      },
      o.secretBox,
      true,
    ),
    audit: {
      append: (entry) =>
        tx(async (c) => {
          // One writer at a time across every replica: the chain stays linear (the lock ends with the transaction).
          await c.query("SELECT pg_advisory_xact_lock($1, $2)", [lockSpace, auditLock]);
          const last = (await c.query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")).rows[0];
          const seq = last ? Number(last.seq) + 1 : 1;
          const prevHash = last ? String(last.hash) : genesis;
          const at = clock();
          const record = JSON.stringify(entry);
          const keyId = auditKeys.currentId;
          const hash = auditKeys.mac(keyId, macInput(prevHash, seq, at, keyId, record));
          if (hash === undefined) throw new BerthError("INTERNAL", "the audit log was opened without a signing key");
          await c.query(`INSERT INTO audit (${auditColumns}) VALUES ($1, $2, $3, $4, $5, $6)`, [seq, at, record, prevHash, hash, keyId]);
          return { ...entry, seq, at, prevHash, hash, keyId };
        }),
      all: async () => (await q(`SELECT ${auditColumns} FROM audit ORDER BY seq`)).rows.map((r) => toAuditRecord(toAuditRow(r))),
      async head() {
        const row = await one(`SELECT ${auditColumns} FROM audit ORDER BY seq DESC LIMIT 1`, []);
        return row && toAuditHead(toAuditRow(row));
      },
      async at(seq) {
        const row = await one(`SELECT ${auditColumns} FROM audit WHERE seq = $1`, [seq]);
        return row && toAuditHead(toAuditRow(row));
      },
      check: checkChain,
      async verify() {
        const problem = (await checkChain()).problem;
        return problem && { seq: problem.seq, problem: problem.problem };
      },
    },
    leases: {
      async acquire(name, owner, ttlMs) {
        const now = clock();
        const row = await one(
          `INSERT INTO leases (name, owner, token, expires_at) VALUES ($1, $2, 1, $3)
           ON CONFLICT (name) DO UPDATE SET
             token = CASE WHEN leases.owner = excluded.owner AND leases.expires_at > $4 THEN leases.token ELSE leases.token + 1 END,
             owner = excluded.owner, expires_at = excluded.expires_at
           WHERE leases.owner IS NULL OR leases.expires_at <= $4 OR leases.owner = excluded.owner
           RETURNING name, owner, token, expires_at`,
          [name, owner, now + ttlMs, now],
        );
        return row ? { ok: true, lease: toLease(row) } : refused(name);
      },
      async renew(lease, ttlMs) {
        const row = await one(
          "UPDATE leases SET expires_at = $1 WHERE name = $2 AND owner = $3 AND token = $4 RETURNING name, owner, token, expires_at",
          [clock() + ttlMs, lease.name, lease.owner, lease.token],
        );
        return row ? { ok: true, lease: toLease(row) } : refused(lease.name);
      },
      release: async (lease) =>
        (await count("UPDATE leases SET owner = NULL, expires_at = 0 WHERE name = $1 AND owner = $2 AND token = $3", [
          lease.name,
          lease.owner,
          lease.token,
        ])) === 1,
      async get(name) {
        const row = await one("SELECT name, owner, token, expires_at FROM leases WHERE name = $1 AND owner IS NOT NULL", [name]);
        return row && toLease(row);
      },
      holds,
    },
    dedupe: {
      async claim(key, ttlMs) {
        const now = clock();
        const sql = `INSERT INTO dedupe (key, expires_at) VALUES ($1, $2)
          ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE dedupe.expires_at <= $3`;
        return (await count(sql, [key, now + ttlMs, now])) === 1;
      },
    },
    rateBudget: {
      async reserve(lanes, mode) {
        checkLanes(lanes);
        const sorted = [...lanes].sort((a, b) => (a.key < b.key ? -1 : 1));
        const keys = sorted.map((l) => l.key);
        return tx(async (client) => {
          // The upsert locks each lane's row (made on first use) in key order and reads its next time in one statement.
          const read = await client.query(
            `INSERT INTO rate_slots (key, next_at) SELECT k, 0 FROM unnest($1::text[]) WITH ORDINALITY AS u(k, i) ORDER BY i
             ON CONFLICT (key) DO UPDATE SET next_at = rate_slots.next_at RETURNING key, next_at`,
            [keys],
          );
          const nextOf = new Map(read.rows.map((r) => [String(r.key), Number(r.next_at)]));
          const { reservation, write } = reserveSlot(
            sorted.map((l) => nextOf.get(l.key) ?? 0),
            sorted,
            mode,
            clock(),
          );
          if (write) {
            await client.query(
              "UPDATE rate_slots SET next_at = u.n FROM unnest($1::text[], $2::bigint[]) AS u(k, n) WHERE rate_slots.key = u.k",
              [keys, write],
            );
          }
          return reservation;
        });
      },
    },
    async installationId() {
      await q("INSERT INTO secrets (name, value) VALUES ('installation', $1) ON CONFLICT (name) DO NOTHING", [randomUUID()]);
      return String((await one("SELECT value FROM secrets WHERE name = 'installation'", []))?.value);
    },
    async sweep() {
      const now = clock();
      return (
        (await count("DELETE FROM dedupe WHERE expires_at <= $1", [now])) +
        (await count("DELETE FROM rate_windows WHERE window_start + window_ms <= $1", [now])) +
        (await count("DELETE FROM rate_slots WHERE next_at <= $1", [now]))
      );
    },
    async ping() {
      await q("SELECT 1");
    },
    async close() {
      if (!open) return;
      open = false;
      await pool.end();
    },
  };
}
