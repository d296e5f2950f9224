/**
 * The embedded store port over node:sqlite: berth.db in BERTH_DATA_DIR, the same file older berths kept (its tables stay
 * as they are; the new ones are added by versioned migrations), held by one berth process at a time.
 *
 * Longer than most files because it is the whole adapter: every statement sits next to the others it must agree with.
 */

import { randomUUID } from "node:crypto";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { BerthError } from "../core/errors.ts";
import { type AuditKeyring, ensureLocalAuditKeys, ephemeralAuditKeys } from "./audit-key.ts";
import { createAuditLog, migrateAuditTable } from "./audit-log.ts";
import { type CloudHostRecord, checkLanes, type Fence, type LeaseResult, reserveSlot, type StorePort, type Written } from "./port.ts";
import { pendingParams, toGrant, toJob, toPending } from "./rows.ts";
import type { SecretBox } from "./secret-box.ts";
import { secretStore } from "./secret-rules.ts";

export type SqliteStoreOptions = {
  /** BERTH_DATA_DIR, or `:memory:` for tests that need no file. */
  dataDir: string;
  clock?: (() => number) | undefined;
  secretBox?: SecretBox | undefined;
  /** Without them, a data dir signs with its own key file (audit-key.ts) and `:memory:` with a throwaway key. */
  auditKeys?: AuditKeyring | undefined;
};

/** Versioned by `PRAGMA user_version`. Version 1 is the schema older berths wrote, so an existing berth.db just moves on. */
const migrations: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, user_id TEXT NOT NULL, channel_id TEXT NOT NULL, host TEXT,
    summary TEXT NOT NULL, status TEXT NOT NULL, created_at INTEGER NOT NULL, ended_at INTEGER,
    exit_code INTEGER, message_ts TEXT, detail TEXT);
  CREATE TABLE IF NOT EXISTS pending (
    id TEXT PRIMARY KEY, request_id TEXT NOT NULL, gate TEXT NOT NULL, requester TEXT NOT NULL, channel_id TEXT NOT NULL,
    channel_name TEXT, host TEXT, summary TEXT NOT NULL, action TEXT NOT NULL, rule TEXT NOT NULL, gate_rule TEXT NOT NULL,
    approvers TEXT NOT NULL, state TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, decided_by TEXT,
    decided_at INTEGER, message_ts TEXT);
  CREATE TABLE IF NOT EXISTS grants (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, role TEXT NOT NULL, reason TEXT NOT NULL, channel_id TEXT NOT NULL,
    approved_by TEXT NOT NULL, starts_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, ended_announced INTEGER NOT NULL DEFAULT 0);
  CREATE TABLE IF NOT EXISTS cloud_hosts (name TEXT PRIMARY KEY, status TEXT NOT NULL, record TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, record TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, key_id TEXT);
  CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
  CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;`,
  // The job cursor columns come first (migrateJobsTable: an older berth may have added them already).
  `CREATE INDEX IF NOT EXISTS jobs_running ON jobs (created_at) WHERE status = 'running';
  CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, owner TEXT, token INTEGER NOT NULL, expires_at INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS dedupe (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL); -- an older berth may have made it
  CREATE TABLE IF NOT EXISTS rate_windows (
    bucket TEXT NOT NULL, window_start INTEGER NOT NULL, window_ms INTEGER NOT NULL, used INTEGER NOT NULL,
    PRIMARY KEY (bucket, window_start));`,
  // Who asked to stop a job, for the replica carrying it (the Stop button may reach any replica).
  "ALTER TABLE jobs ADD COLUMN cancel_by TEXT;",
  // The Slack budget as each lane's next free time (port.ts, RateBudget); rate_windows is left for an older berth.
  "CREATE TABLE IF NOT EXISTS rate_slots (key TEXT PRIMARY KEY, next_at INTEGER NOT NULL);",
];

/**
 * The columns a job's cursor and resume details need, added to a berth.db an older berth made. The same names as the
 * store port's second migration (sqlite-store.ts), so the data carries over to it.
 */
export function migrateJobsTable(db: DatabaseSync): void {
  const columns = new Set(
    db
      .prepare("PRAGMA table_info(jobs)")
      .all()
      .map((c) => String(c.name)),
  );
  for (const [name, type] of [
    ["cursor_at", "TEXT"],
    ["cursor_lines", "INTEGER"],
    ["resume", "TEXT"],
  ] as const) {
    if (!columns.has(name)) db.exec(`ALTER TABLE jobs ADD COLUMN ${name} ${type}`);
  }
}

/** SQLite's primary result codes berth tells apart (https://sqlite.org/rescode.html). */
const sqliteCode = { busy: 5, locked: 6, readonly: 8, corrupt: 11, full: 13, cantopen: 14, constraint: 19, notadb: 26 };

/** An SQLite failure as a BerthError that names the file and what to do; anything else passes through. */
function storageFault(error: unknown, path: string): unknown {
  if (error instanceof BerthError) return error;
  const options = { cause: error };
  const errno = (error as NodeJS.ErrnoException).code;
  if (errno === "ENOSPC")
    return new BerthError("UNAVAILABLE", `The disk holding ${path} is full. Free space there (or grow the volume).`, options);
  if (errno === "EACCES" || errno === "EPERM" || errno === "EROFS") {
    return new BerthError("CONFIG", `berth cannot write ${path} (${errno}). Make BERTH_DATA_DIR writable by berth's user.`, options);
  }
  const errcode = (error as { errcode?: unknown }).errcode;
  if (typeof errcode !== "number") return error;
  switch (errcode & 0xff) {
    case sqliteCode.busy:
    case sqliteCode.locked:
      return new BerthError("UNAVAILABLE", `The database ${path} is locked by another process; berth will try again.`, options);
    case sqliteCode.full:
      return new BerthError(
        "UNAVAILABLE",
        `The disk holding ${path} is full. Free space there (or grow the volume); berth carries on once it can write.`,
        options,
      );
    case sqliteCode.readonly:
      return new BerthError(
        "UNAVAILABLE",
        `${path} cannot be written (read-only file or volume). Make BERTH_DATA_DIR writable by berth's user.`,
        options,
      );
    case sqliteCode.cantopen:
      return new BerthError("CONFIG", `Cannot open ${path}: check that BERTH_DATA_DIR exists and berth's user can write it.`, options);
    case sqliteCode.corrupt:
    case sqliteCode.notadb:
      return new BerthError(
        "CONFIG",
        `${path} is damaged or is not a berth database. Restore it from a backup, or move it aside to start with an empty store.`,
        options,
      );
    case sqliteCode.constraint:
      return new BerthError("CONFLICT", `That record already exists in ${path}.`, options);
    default:
      return new BerthError("INTERNAL", `The database ${path} failed: ${(error as Error).message}`, options);
  }
}

/**
 * One berth per data directory: an exclusive SQLite lock on berth.lock, which the operating system drops when the
 * process ends however it ends (a pid file would outlive a kill -9, and pid 1 is alive in every container). berth.db
 * itself stays readable, so `berth audit verify` works next to a live berth. The holder writes who it is beside it.
 */
function holdDirectory(dir: string): DatabaseSync {
  const lockPath = join(dir, "berth.lock");
  const holderPath = join(dir, "berth.lock.holder");
  closeSync(openSync(lockPath, "a", 0o600)); // made before SQLite opens it, so that it never has a wider mode
  const lock = new DatabaseSync(lockPath, { timeout: 0 });
  try {
    lock.exec("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS held (at INTEGER); COMMIT;");
  } catch (cause) {
    lock.close();
    const code = (cause as { errcode?: number }).errcode ?? 0;
    if ((code & 0xff) !== sqliteCode.busy && (code & 0xff) !== sqliteCode.locked) throw storageFault(cause, lockPath);
    const holder = existsSync(holderPath) ? readFileSync(holderPath, "utf8").trim() : "another process";
    throw new BerthError(
      "CONFLICT",
      `The data directory ${dir} is in use by ${holder}. One berth holds a data directory at a time (two would take each other's jobs for failed ones). Stop the other berth first; to run more than one berth, give them all BERTH_DATABASE_URL=postgres://… (a shared PostgreSQL database) instead.`,
      { cause },
    );
  }
  writeFileSync(holderPath, `berth pid ${process.pid} on host ${hostname()} since ${new Date().toISOString()}\n`, { mode: 0o600 });
  return lock;
}

/** The data directory is berth's alone (0700) and its files are readable by berth only (0600). */
function privateDirectory(dir: string, db: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    chmodSync(dir, 0o700);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") throw error;
  }
  closeSync(openSync(db, "a", 0o600));
  for (const f of [db, `${db}-wal`, `${db}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
}

function migrate(db: DatabaseSync): void {
  const version = Number(db.prepare("PRAGMA user_version").get()?.user_version ?? 0);
  if (version > migrations.length) {
    throw new BerthError(
      "CONFIG",
      `This berth.db was written by a newer berth (schema ${version}; this berth knows up to ${migrations.length}). Run that berth's version or newer.`,
    );
  }
  for (let v = version; v < migrations.length; v++) {
    db.exec("BEGIN IMMEDIATE");
    try {
      if (v === 1) migrateJobsTable(db);
      db.exec(migrations[v] as string);
      if (v === 0) migrateAuditTable(db); // an audit table made before the chain was keyed
      db.exec(`PRAGMA user_version = ${v + 1}`);
      db.exec("COMMIT");
    } catch (error) {
      db.exec("ROLLBACK");
      throw error;
    }
  }
}

export async function openSqliteStore(options: SqliteStoreOptions): Promise<StorePort> {
  const { dataDir } = options;
  const clock = options.clock ?? Date.now;
  // `:memory:` is SQLite's name for a database in memory (not an emoji code: nothing here is shown in Slack).
  const memory = dataDir === ":memory:";
  const path = memory ? ":memory:" : join(dataDir, "berth.db");
  let lock: DatabaseSync | undefined;
  let db: DatabaseSync | undefined;
  try {
    if (!memory) {
      privateDirectory(dataDir, path);
      lock = holdDirectory(dataDir);
    }
    const auditKeys = options.auditKeys ?? (memory ? ephemeralAuditKeys() : ensureLocalAuditKeys(dataDir).keys);
    // A busy timeout covers a reader (berth audit verify) holding the file for a moment; never another writer.
    db = new DatabaseSync(path, { timeout: 5000 });
    db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON;");
    migrate(db);
    if (!memory) for (const f of [`${path}-wal`, `${path}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
    return sqliteAdapter(db, lock, { path, clock, auditKeys, secretBox: options.secretBox, durable: !memory });
  } catch (error) {
    db?.close();
    lock?.close();
    throw storageFault(error, path);
  }
}

function sqliteAdapter(
  db: DatabaseSync,
  lock: DatabaseSync | undefined,
  o: { path: string; clock: () => number; auditKeys: AuditKeyring; secretBox: SecretBox | undefined; durable: boolean },
): StorePort {
  const { clock, path } = o;
  let open = true;
  /** Every call goes through here: node:sqlite is synchronous, the port is not, and faults name the file. */
  const guard = async <T>(work: () => T): Promise<T> => {
    if (!open) throw new BerthError("UNAVAILABLE", `The store ${path} is closed.`);
    try {
      return work();
    } catch (error) {
      throw storageFault(error, path);
    }
  };
  const changed = (r: { changes: number | bigint }) => Number(r.changes) > 0;
  const s = (sql: string) => db.prepare(sql);

  const holdsFence = s("SELECT 1 AS ok FROM leases WHERE name = ? AND token = ? AND owner IS NOT NULL");
  const jobExists = s("SELECT status FROM jobs WHERE id = ?");
  /** Runs a job write only while `fence` holds; the reason when it did not change the row. */
  const fencedJobWrite = (id: string, fence: Fence | undefined, write: () => boolean, finishing = false): Written => {
    if (fence && !holdsFence.get(fence.name, fence.token)) return { ok: false, reason: "fenced" };
    if (write()) return { ok: true };
    const row = jobExists.get(id);
    if (!row) return { ok: false, reason: "not-found" };
    return finishing && row.status !== "running" ? { ok: false, reason: "finished" } : { ok: true };
  };

  const insertJob = s(
    "INSERT INTO jobs (id, kind, user_id, channel_id, host, summary, status, created_at, message_ts, resume) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)",
  );
  const getJob = s("SELECT * FROM jobs WHERE id = ?");
  const jobByCard = s("SELECT * FROM jobs WHERE channel_id = ? AND message_ts = ? ORDER BY created_at DESC, id DESC LIMIT 1");
  const setJobTs = s("UPDATE jobs SET message_ts = ? WHERE id = ?");
  const setJobResume = s("UPDATE jobs SET resume = ? WHERE id = ?");
  const advanceJob = s("UPDATE jobs SET cursor_at = ?, cursor_lines = ? WHERE id = ? AND (cursor_lines IS NULL OR cursor_lines <= ?)");
  const finishJob = s("UPDATE jobs SET status = ?, ended_at = ?, exit_code = ?, detail = ? WHERE id = ? AND status = 'running'");
  const runningJobs = s("SELECT * FROM jobs WHERE status = 'running' ORDER BY created_at, id");
  const unownedJobs = s(
    `SELECT j.* FROM jobs j LEFT JOIN leases l ON l.name = 'job:' || j.id
     WHERE j.status = 'running' AND (l.name IS NULL OR l.owner IS NULL OR l.expires_at <= ?) ORDER BY j.created_at, j.id`,
  );
  const jobCounts = s("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status");
  const cancelJob = s("UPDATE jobs SET cancel_by = COALESCE(cancel_by, ?) WHERE id = ? AND status = 'running'");

  const insertPending = s(
    `INSERT INTO pending (id, request_id, gate, requester, channel_id, channel_name, host, summary, action, rule, gate_rule,
       approvers, state, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)`,
  );
  const getPending = s("SELECT * FROM pending WHERE id = ?");
  const decidePending = s(
    "UPDATE pending SET state = ?, decided_by = ?, decided_at = ? WHERE id = ? AND state = 'pending' AND expires_at > ?",
  );
  const expirePending = s("UPDATE pending SET state = 'expired', decided_at = ? WHERE id = ? AND state = 'pending' AND expires_at <= ?");
  const overduePending = s("SELECT * FROM pending WHERE state = 'pending' AND expires_at <= ? ORDER BY expires_at, id");
  const waitingPending = s("SELECT * FROM pending WHERE state = 'pending' AND expires_at > ? ORDER BY created_at, id");
  const setPendingTs = s("UPDATE pending SET message_ts = ? WHERE id = ?");

  const insertGrant = s(
    "INSERT INTO grants (id, user_id, role, reason, channel_id, approved_by, starts_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const activeGrants = s("SELECT * FROM grants WHERE expires_at > ? ORDER BY starts_at, id");
  const endedGrants = s("SELECT * FROM grants WHERE expires_at <= ? AND ended_announced = 0 ORDER BY expires_at, id");
  const markGrant = s("UPDATE grants SET ended_announced = 1 WHERE id = ? AND ended_announced = 0");
  const getGrant = s("SELECT * FROM grants WHERE id = ?");
  const revokeGrant = s("UPDATE grants SET expires_at = ?, ended_announced = 1 WHERE id = ? AND expires_at > ? AND ended_announced = 0");

  const getCloudHost = s("SELECT record FROM cloud_hosts WHERE name = ?");
  const putCloudHost = s(
    "INSERT INTO cloud_hosts (name, status, record) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET status = excluded.status, record = excluded.record",
  );
  const liveCloudHosts = s("SELECT record FROM cloud_hosts WHERE status != 'removed' ORDER BY name");

  const getSecret = s("SELECT value FROM secrets WHERE name = ?");
  const insertSecret = s("INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)");
  const replaceSecret = s("UPDATE secrets SET value = ? WHERE name = ? AND value = ?");
  const deleteSecret = s("DELETE FROM secrets WHERE name = ?");

  const acquireLease = s(
    `INSERT INTO leases (name, owner, token, expires_at) VALUES (?, ?, 1, ?)
     ON CONFLICT (name) DO UPDATE SET
       token = CASE WHEN leases.owner = excluded.owner AND leases.expires_at > ? THEN leases.token ELSE leases.token + 1 END,
       owner = excluded.owner, expires_at = excluded.expires_at
     WHERE leases.owner IS NULL OR leases.expires_at <= ? OR leases.owner = excluded.owner
     RETURNING name, owner, token, expires_at`,
  );
  const renewLease = s(
    "UPDATE leases SET expires_at = ? WHERE name = ? AND owner = ? AND token = ? RETURNING name, owner, token, expires_at",
  );
  const releaseLease = s("UPDATE leases SET owner = NULL, expires_at = 0 WHERE name = ? AND owner = ? AND token = ?");
  const getLease = s("SELECT name, owner, token, expires_at FROM leases WHERE name = ? AND owner IS NOT NULL");
  const claimKey = s(
    "INSERT INTO dedupe (key, expires_at) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE dedupe.expires_at <= ? RETURNING key",
  );
  const readSlot = s("SELECT next_at FROM rate_slots WHERE key = ?");
  const writeSlot = s("INSERT INTO rate_slots (key, next_at) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET next_at = excluded.next_at");
  const sweepKeys = s("DELETE FROM dedupe WHERE expires_at <= ?");
  const sweepWindows = s("DELETE FROM rate_windows WHERE window_start + window_ms <= ?");
  const sweepSlots = s("DELETE FROM rate_slots WHERE next_at <= ?");

  const toLease = (r: Record<string, unknown>) => ({
    name: String(r.name),
    owner: String(r.owner),
    token: Number(r.token),
    expiresAt: Number(r.expires_at),
  });
  const refused = (name: string): LeaseResult => {
    const held = getLease.get(name);
    return { ok: false, holder: held ? String(held.owner) : "", expiresAt: held ? Number(held.expires_at) : 0 };
  };

  const audit = createAuditLog(db, o.auditKeys, clock);

  return {
    kind: "sqlite",
    location: path,
    sealsSecrets: o.secretBox !== undefined,
    jobs: {
      create: (job) =>
        guard(() => {
          insertJob.run(job.id, job.kind, job.userId, job.channelId, job.host, job.summary, clock(), job.messageTs, jsonOrNull(job.resume));
        }),
      get: (id) =>
        guard(() => {
          const row = getJob.get(id);
          return row ? toJob(row) : undefined;
        }),
      byCard: (channelId, ts) =>
        guard(() => {
          const row = jobByCard.get(channelId, ts);
          return row ? toJob(row) : undefined;
        }),
      setMessageTs: (id, ts, fence) => guard(() => fencedJobWrite(id, fence, () => changed(setJobTs.run(ts, id)))),
      setResume: (id, resume, fence) => guard(() => fencedJobWrite(id, fence, () => changed(setJobResume.run(jsonOrNull(resume), id)))),
      advanceCursor: (id, cursor, fence) =>
        guard(() => fencedJobWrite(id, fence, () => changed(advanceJob.run(cursor.at, cursor.lines, id, cursor.lines)))),
      finish: (id, outcome, fence) =>
        guard(() =>
          fencedJobWrite(id, fence, () => changed(finishJob.run(outcome.status, clock(), outcome.exitCode, outcome.detail, id)), true),
        ),
      requestCancel: (id, by) => guard(() => changed(cancelJob.run(by, id))),
      running: () => guard(() => runningJobs.all().map(toJob)),
      unowned: () => guard(() => unownedJobs.all(clock()).map(toJob)),
      counts: () => guard(() => Object.fromEntries(jobCounts.all().map((r) => [String(r.status), Number(r.n)]))),
    },
    pending: {
      create: (p) =>
        guard(() => {
          insertPending.run(...pendingParams(p, clock()));
          return toPending(getPending.get(p.id) as Record<string, unknown>);
        }),
      get: (id) =>
        guard(() => {
          const row = getPending.get(id);
          return row ? toPending(row) : undefined;
        }),
      decide: (id, state, by) =>
        guard(() => {
          const now = clock();
          return changed(decidePending.run(state, by, now, id, now));
        }),
      expire: (id) =>
        guard(() => {
          const now = clock();
          return changed(expirePending.run(now, id, now));
        }),
      overdue: () => guard(() => overduePending.all(clock()).map(toPending)),
      waiting: () => guard(() => waitingPending.all(clock()).map(toPending)),
      setMessageTs: (id, ts) =>
        guard(() => {
          setPendingTs.run(ts, id);
        }),
    },
    grants: {
      create: (g) =>
        guard(() => {
          insertGrant.run(g.id, g.userId, g.role, g.reason, g.channelId, g.approvedBy, g.startsAt, g.expiresAt);
        }),
      active: () => guard(() => activeGrants.all(clock()).map(toGrant)),
      ended: () => guard(() => endedGrants.all(clock()).map(toGrant)),
      markAnnounced: (id) => guard(() => changed(markGrant.run(id))),
      get: (id) =>
        guard(() => {
          const row = getGrant.get(id);
          return row ? toGrant(row) : undefined;
        }),
      // Read and write in one synchronous call on the one connection: nothing else runs in between.
      revoke: (id, at) =>
        guard(() => {
          const row = getGrant.get(id);
          return row && changed(revokeGrant.run(at, id, at)) ? toGrant(row) : undefined;
        }),
    },
    cloudHosts: {
      get: (name) =>
        guard(() => {
          const row = getCloudHost.get(name);
          return row ? (JSON.parse(String(row.record)) as CloudHostRecord) : undefined;
        }),
      put: (record, fence) =>
        guard((): Written => {
          if (fence && !holdsFence.get(fence.name, fence.token)) return { ok: false, reason: "fenced" };
          putCloudHost.run(record.name, record.status, JSON.stringify(record));
          return { ok: true };
        }),
      live: () => guard(() => liveCloudHosts.all().map((r) => JSON.parse(String(r.record)) as CloudHostRecord)),
    },
    secrets: secretStore(
      {
        read: (name) => guard(() => getSecret.get(name)?.value as string | undefined),
        insertIfAbsent: (name, value) =>
          guard(() => {
            insertSecret.run(name, value);
          }),
        replace: (name, from, to) =>
          guard(() => {
            if (!changed(replaceSecret.run(to, name, from))) return false;
            // secure_delete zeroed the old cell; the checkpoint moves the page over the one that held the clear text.
            db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
            return true;
          }),
        remove: (name) => guard(() => changed(deleteSecret.run(name))),
      },
      o.secretBox,
      o.durable,
    ),
    audit: {
      append: (entry) => guard(() => audit.append(entry)),
      all: () => guard(() => audit.all()),
      head: () => guard(() => audit.head()),
      at: (seq) => guard(() => audit.at(seq)),
      check: (from) => guard(() => audit.check(from)),
      verify: () => guard(() => audit.verify()),
    },
    leases: {
      acquire: (name, owner, ttlMs) =>
        guard(() => {
          const now = clock();
          const row = acquireLease.get(name, owner, now + ttlMs, now, now);
          return row ? { ok: true, lease: toLease(row) } : refused(name);
        }),
      renew: (lease, ttlMs) =>
        guard(() => {
          const row = renewLease.get(clock() + ttlMs, lease.name, lease.owner, lease.token);
          return row ? { ok: true, lease: toLease(row) } : refused(lease.name);
        }),
      release: (lease) => guard(() => changed(releaseLease.run(lease.name, lease.owner, lease.token))),
      get: (name) =>
        guard(() => {
          const row = getLease.get(name);
          return row ? toLease(row) : undefined;
        }),
      holds: (fence) => guard(() => holdsFence.get(fence.name, fence.token) !== undefined),
    },
    dedupe: {
      claim: (key, ttlMs) =>
        guard(() => {
          const now = clock();
          return claimKey.get(key, now + ttlMs, now) !== undefined;
        }),
    },
    rateBudget: {
      // One process holds the database and node:sqlite is synchronous: the read and the write cannot interleave.
      reserve: (lanes, mode) =>
        guard(() => {
          checkLanes(lanes);
          const next = lanes.map((l) => Number(readSlot.get(l.key)?.next_at ?? 0));
          const { reservation, write } = reserveSlot(next, lanes, mode, clock());
          if (write) for (const [i, l] of lanes.entries()) writeSlot.run(l.key, write[i] as number);
          return reservation;
        }),
    },
    installationId: () =>
      guard(() => {
        insertSecret.run("installation", randomUUID()); // ignored once there is one: the first stays
        return String(getSecret.get("installation")?.value);
      }),
    sweep: () =>
      guard(() => {
        const now = clock();
        return Number(sweepKeys.run(now).changes) + Number(sweepWindows.run(now).changes) + Number(sweepSlots.run(now).changes);
      }),
    ping: () =>
      guard(() => {
        db.prepare("SELECT 1").get();
      }),
    close: async () => {
      if (!open) return;
      open = false;
      db.close();
      lock?.close();
    },
  };
}

const jsonOrNull = (value: unknown) => (value === undefined || value === null ? null : JSON.stringify(value));
