/** The embedded store whole (node:sqlite): every table's statements sit next to the schema they must agree with, hence its length. */
import { randomUUID } from "node:crypto";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { BerthError } from "../core/errors.ts";
import { type AuditKeyring, ensureLocalAuditKeys, ephemeralAuditKeys } from "./audit-key.ts";
import { createAuditLog, migrateAuditTable } from "./audit-log.ts";
import { createDedupe } from "./dedupe.ts";
import { isSealed, type SecretBox } from "./secret-box.ts";

export type { AuditEntry, AuditRecord } from "./audit-log.ts";
export { auditHash } from "./audit-log.ts";

/** A job as stored: attached runs, log streams and execs, from start to outcome. */
export type JobRecord = {
  id: string;
  kind: string;
  userId: string;
  channelId: string;
  host: string | null;
  summary: string;
  status: "running" | "succeeded" | "failed" | "cancelled";
  createdAt: number;
  endedAt: number | null;
  exitCode: number | null;
  messageTs: string | null;
  detail: string | null;
};

/**
 * How far a job's output has been handed on (to Slack or the spool): the Docker timestamp of the last whole line, as
 * Docker prints it (RFC 3339 with nanoseconds, kept as text), and how many lines (spool lines) so far. The same shape
 * as the store port's JobCursor.
 */
export type JobCursor = { at: string; lines: number };

/** A job with what a restarted berth needs to carry it on: its cursor and the resume details its runner wrote. */
export type ResumableJob = JobRecord & { cursor: JobCursor | null; resume: unknown };

/** A request waiting for its requester's confirmation or another person's approval. */
export type PendingRecord = {
  id: string;
  requestId: string;
  gate: "confirm" | "approval";
  requester: string;
  channelId: string;
  channelName: string | null;
  host: string | null;
  summary: string;
  /** The action with environment values masked; the real values live only in memory (see approvals.ts). */
  action: unknown;
  rule: string;
  gateRule: string;
  approvers: string[];
  state: "pending" | "approved" | "denied" | "expired" | "cancelled";
  createdAt: number;
  expiresAt: number;
  decidedBy: string | null;
  decidedAt: number | null;
  messageTs: string | null;
};

export type GrantRecord = {
  id: string;
  userId: string;
  role: string;
  reason: string;
  channelId: string;
  approvedBy: string;
  startsAt: number;
  expiresAt: number;
  endedAnnounced: boolean;
};

/** A Docker host berth made in Azure: what was asked, how far provisioning got (resumable), and how to reach it. */
export type CloudHostRecord = {
  name: string;
  os: "linux" | "windows";
  size: string;
  region: string;
  hyperv: boolean;
  private: boolean;
  requester: string;
  channelId: string;
  /** The job card whose thread tells this host's story (creation, reminders, removal). */
  threadTs: string | null;
  jobId: string;
  createdAt: number;
  expiresAt: number;
  remindedAt: number | null;
  status: "provisioning" | "ready" | "unreachable" | "removing" | "removed";
  /** Per resource: done, or the stored poller of the operation in flight. */
  steps: Record<string, { state: "running" | "done"; poller?: string | undefined; id?: string | undefined }>;
  removal: Record<string, { state: "running" | "done"; poller?: string | undefined }>;
  address: string | null;
  fqdn: string | null;
  dockerUrl: string | null;
  /** The bootstrap inputs that must be identical on a retry (customData cannot change); dropped once the VM exists. */
  bootstrap: {
    customData: string;
    setupCommand?: string | undefined;
    adminPassword?: string | undefined;
    sshPublicKey?: string | undefined;
  } | null;
  detail: string | null;
};

export type Store = ReturnType<typeof openStore>;

const schema = `
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, user_id TEXT NOT NULL, channel_id TEXT NOT NULL, host TEXT,
  summary TEXT NOT NULL, status TEXT NOT NULL, created_at INTEGER NOT NULL, ended_at INTEGER,
  exit_code INTEGER, message_ts TEXT, detail TEXT);
CREATE TABLE IF NOT EXISTS pending (
  id TEXT PRIMARY KEY, request_id TEXT NOT NULL, gate TEXT NOT NULL, requester TEXT NOT NULL, channel_id TEXT NOT NULL,
  channel_name TEXT, host TEXT, summary TEXT NOT NULL, action TEXT NOT NULL, rule TEXT NOT NULL, gate_rule TEXT NOT NULL, approvers TEXT NOT NULL,
  state TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, decided_by TEXT, decided_at INTEGER,
  message_ts TEXT);
CREATE TABLE IF NOT EXISTS grants (
  id TEXT PRIMARY KEY, user_id TEXT NOT NULL, role TEXT NOT NULL, reason TEXT NOT NULL, channel_id TEXT NOT NULL,
  approved_by TEXT NOT NULL, starts_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, ended_announced INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS cloud_hosts (name TEXT PRIMARY KEY, status TEXT NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, record TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, key_id TEXT);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
`;

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

export type StoreOptions = {
  /** Encrypts the secrets table (BERTH_SECRET_KEY); without it, berth cannot keep a secret on disk. */
  secretBox?: SecretBox | undefined;
  /** Sign the audit chain; without them a `:memory:` store uses a throwaway key and a data dir its own key file (audit-key.ts). */
  auditKeys?: AuditKeyring | undefined;
};

/**
 * The data directory is berth's alone (0700) and the database in it is readable by berth only (0600): it holds the
 * audit log, jobs and requests. Modes are set explicitly, whatever the umask and whatever an older berth left.
 */
function privateFiles(dir: string, db: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    chmodSync(dir, 0o700);
  } catch (error) {
    // A volume's mount point owned by someone else (Kubernetes fsGroup): the files in it are still berth's alone.
    if ((error as NodeJS.ErrnoException).code !== "EPERM") throw error;
  }
  // Created before SQLite opens it, so that it never exists with a wider mode; SQLite gives -wal and -shm its mode.
  closeSync(openSync(db, "a", 0o600));
  for (const f of [db, `${db}-wal`, `${db}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
}

const noKey = (name: string) =>
  new BerthError(
    "CONFIG",
    `berth needs BERTH_SECRET_KEY to keep "${name}" (its CA's private key) on disk, and it is not set. Set it to at least 32 random characters (\`openssl rand -base64 32\`) or file:PATH, kept outside BERTH_DATA_DIR, and restart berth.`,
  );

/** The embedded store (node:sqlite) under BERTH_DATA_DIR; `:memory:` for tests that need no file. */
export function openStore(dir: string | ":memory:", clock: () => number = Date.now, options: StoreOptions = {}) {
  let path = ":memory:";
  if (dir !== ":memory:") {
    path = join(dir, "berth.db");
    privateFiles(dir, path);
  }
  const auditKeys = options.auditKeys ?? (dir === ":memory:" ? ephemeralAuditKeys() : ensureLocalAuditKeys(dir).keys);
  const db = new DatabaseSync(path);
  // secure_delete: what is overwritten or deleted (a secret stored in clear by an older berth) is zeroed on disk.
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON;");
  db.exec(schema);
  migrateAuditTable(db);
  // SQLite made the -wal and -shm files just now, with the database's mode; said again, so no umask decides it.
  if (path !== ":memory:") for (const f of [`${path}-wal`, `${path}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
  const box = options.secretBox;
  migrateJobsTable(db);

  const getCloudHost = db.prepare("SELECT record FROM cloud_hosts WHERE name = ?");
  const putCloudHost = db.prepare(
    "INSERT INTO cloud_hosts (name, status, record) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET status = excluded.status, record = excluded.record",
  );
  const liveCloudHosts = db.prepare("SELECT record FROM cloud_hosts WHERE status != 'removed' ORDER BY name");
  const getSecret = db.prepare("SELECT value FROM secrets WHERE name = ?");
  const insertSecret = db.prepare("INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)");
  const replaceSecret = db.prepare("UPDATE secrets SET value = ? WHERE name = ? AND value = ?");
  const insertJob = db.prepare(
    "INSERT INTO jobs (id, kind, user_id, channel_id, host, summary, status, created_at, message_ts, resume) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)",
  );
  // The first outcome stays: a job resumed after a restart and then stopped cannot be finished twice.
  const finishJob = db.prepare("UPDATE jobs SET status = ?, ended_at = ?, exit_code = ?, detail = ? WHERE id = ? AND status = 'running'");
  const setJobTs = db.prepare("UPDATE jobs SET message_ts = ? WHERE id = ?");
  const setJobResume = db.prepare("UPDATE jobs SET resume = ? WHERE id = ?");
  const advanceJob = db.prepare(
    "UPDATE jobs SET cursor_at = ?, cursor_lines = ? WHERE id = ? AND (cursor_lines IS NULL OR cursor_lines <= ?)",
  );
  const getJob = db.prepare("SELECT * FROM jobs WHERE id = ?");
  const runningJobs = db.prepare("SELECT * FROM jobs WHERE status = 'running' ORDER BY created_at");
  const jobCounts = db.prepare("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status");

  const toResumable = (row: Record<string, unknown>): ResumableJob => ({
    ...toJob(row),
    cursor: row.cursor_at === null ? null : { at: String(row.cursor_at), lines: Number(row.cursor_lines) },
    resume: row.resume === null ? null : JSON.parse(String(row.resume)),
  });
  const toJob = (row: Record<string, unknown>): JobRecord => ({
    id: String(row.id),
    kind: String(row.kind),
    userId: String(row.user_id),
    channelId: String(row.channel_id),
    host: row.host === null ? null : String(row.host),
    summary: String(row.summary),
    status: row.status as JobRecord["status"],
    createdAt: Number(row.created_at),
    endedAt: row.ended_at === null ? null : Number(row.ended_at),
    exitCode: row.exit_code === null ? null : Number(row.exit_code),
    messageTs: row.message_ts === null ? null : String(row.message_ts),
    detail: row.detail === null ? null : String(row.detail),
  });

  const insertPending = db.prepare(
    `INSERT INTO pending (id, request_id, gate, requester, channel_id, channel_name, host, summary, action, rule, gate_rule,
       approvers, state, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)`,
  );
  const getPending = db.prepare("SELECT * FROM pending WHERE id = ?");
  // The WHERE clause makes a decision atomic: of two clicks (or two approvers) only one changes the row.
  const decidePending = db.prepare(
    "UPDATE pending SET state = ?, decided_by = ?, decided_at = ? WHERE id = ? AND state = 'pending' AND expires_at > ?",
  );
  const expirePending = db.prepare(
    "UPDATE pending SET state = 'expired', decided_at = ? WHERE id = ? AND state = 'pending' AND expires_at <= ?",
  );
  const overduePending = db.prepare("SELECT * FROM pending WHERE state = 'pending' AND expires_at <= ?");
  const setPendingTs = db.prepare("UPDATE pending SET message_ts = ? WHERE id = ?");
  const insertGrant = db.prepare(
    "INSERT INTO grants (id, user_id, role, reason, channel_id, approved_by, starts_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const activeGrants = db.prepare("SELECT * FROM grants WHERE expires_at > ? ORDER BY starts_at");
  const endedGrants = db.prepare("SELECT * FROM grants WHERE expires_at <= ? AND ended_announced = 0");
  const markGrantAnnounced = db.prepare("UPDATE grants SET ended_announced = 1 WHERE id = ? AND ended_announced = 0");

  const toPending = (r: Record<string, unknown>): PendingRecord => ({
    id: String(r.id),
    requestId: String(r.request_id),
    gate: r.gate as PendingRecord["gate"],
    requester: String(r.requester),
    channelId: String(r.channel_id),
    channelName: r.channel_name === null ? null : String(r.channel_name),
    host: r.host === null ? null : String(r.host),
    summary: String(r.summary),
    action: JSON.parse(String(r.action)),
    rule: String(r.rule),
    gateRule: String(r.gate_rule),
    approvers: JSON.parse(String(r.approvers)) as string[],
    state: r.state as PendingRecord["state"],
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    decidedBy: r.decided_by === null ? null : String(r.decided_by),
    decidedAt: r.decided_at === null ? null : Number(r.decided_at),
    messageTs: r.message_ts === null ? null : String(r.message_ts),
  });
  const toGrant = (r: Record<string, unknown>): GrantRecord => ({
    id: String(r.id),
    userId: String(r.user_id),
    role: String(r.role),
    reason: String(r.reason),
    channelId: String(r.channel_id),
    approvedBy: String(r.approved_by),
    startsAt: Number(r.starts_at),
    expiresAt: Number(r.expires_at),
    endedAnnounced: Number(r.ended_announced) === 1,
  });

  return {
    pending: {
      create(p: Omit<PendingRecord, "state" | "createdAt" | "decidedBy" | "decidedAt" | "messageTs">): PendingRecord {
        insertPending.run(
          p.id,
          p.requestId,
          p.gate,
          p.requester,
          p.channelId,
          p.channelName,
          p.host,
          p.summary,
          JSON.stringify(p.action),
          p.rule,
          p.gateRule,
          JSON.stringify(p.approvers),
          clock(),
          p.expiresAt,
        );
        return toPending(getPending.get(p.id) as Record<string, unknown>);
      },
      get(id: string): PendingRecord | undefined {
        const row = getPending.get(id);
        return row ? toPending(row) : undefined;
      },
      /** Moves a pending request to its decision; false when it was already decided or has expired. */
      decide(id: string, state: "approved" | "denied" | "cancelled", by: string): boolean {
        const now = clock();
        return Number(decidePending.run(state, by, now, id, now).changes) === 1;
      },
      expire(id: string): boolean {
        const now = clock();
        return Number(expirePending.run(now, id, now).changes) === 1;
      },
      overdue(): PendingRecord[] {
        return overduePending.all(clock()).map(toPending);
      },
      setMessageTs(id: string, ts: string): void {
        setPendingTs.run(ts, id);
      },
    },
    grants: {
      create(g: Omit<GrantRecord, "endedAnnounced">): void {
        insertGrant.run(g.id, g.userId, g.role, g.reason, g.channelId, g.approvedBy, g.startsAt, g.expiresAt);
      },
      active(): GrantRecord[] {
        return activeGrants.all(clock()).map(toGrant);
      },
      /** Grants that ended and were not announced yet; `markAnnounced` claims one so it is announced once. */
      ended(): GrantRecord[] {
        return endedGrants.all(clock()).map(toGrant);
      },
      markAnnounced(id: string): boolean {
        return Number(markGrantAnnounced.run(id).changes) === 1;
      },
    },
    jobs: {
      create(job: Pick<JobRecord, "id" | "kind" | "userId" | "channelId" | "host" | "summary" | "messageTs"> & { resume?: unknown }): void {
        const resume = job.resume === undefined ? null : JSON.stringify(job.resume);
        insertJob.run(job.id, job.kind, job.userId, job.channelId, job.host, job.summary, clock(), job.messageTs, resume);
      },
      setMessageTs(id: string, ts: string): void {
        setJobTs.run(ts, id);
      },
      /** What a restarted berth needs to carry the job on (container id, request id…), as its runner wrote it. */
      setResume(id: string, resume: unknown): void {
        setJobResume.run(JSON.stringify(resume), id);
      },
      /** Moves the cursor forward; a cursor with fewer lines than the stored one is ignored (it never moves back). */
      advanceCursor(id: string, cursor: JobCursor): void {
        advanceJob.run(cursor.at, cursor.lines, id, cursor.lines);
      },
      finish(id: string, status: Exclude<JobRecord["status"], "running">, exitCode: number | null, detail: string | null): void {
        finishJob.run(status, clock(), exitCode, detail, id);
      },
      get(id: string): JobRecord | undefined {
        const row = getJob.get(id);
        return row ? toJob(row) : undefined;
      },
      /** Unfinished jobs, oldest first, with their cursors: what a starting berth carries on. */
      running(): ResumableJob[] {
        return runningJobs.all().map(toResumable);
      },
      resumable(id: string): ResumableJob | undefined {
        const row = getJob.get(id);
        return row ? toResumable(row) : undefined;
      },
      /** How many jobs are in each state (for the berth_jobs gauge). */
      counts(): Record<string, number> {
        return Object.fromEntries(jobCounts.all().map((r) => [String(r.status), Number(r.n)]));
      },
    },
    audit: createAuditLog(db, auditKeys, clock),
    /** Slack deliveries already taken (retries, redelivered envelopes and clicks): the port's `dedupe`, synchronous. */
    dedupe: createDedupe(db, clock),
    /** Hosts made in Azure; the record is rewritten after every step so another process can pick it up. */
    cloudHosts: {
      get(name: string): CloudHostRecord | undefined {
        const row = getCloudHost.get(name);
        return row ? (JSON.parse(String(row.record)) as CloudHostRecord) : undefined;
      },
      put(record: CloudHostRecord): void {
        putCloudHost.run(record.name, record.status, JSON.stringify(record));
      },
      /** Hosts not yet removed (a removed host's name can be used again). */
      live(): CloudHostRecord[] {
        return liveCloudHosts.all().map((r) => JSON.parse(String(r.record)) as CloudHostRecord);
      },
    },
    /**
     * berth's own key material (its CA); never logged, never shown. Encrypted at rest with the secret box; a value an
     * older berth stored in clear is encrypted in place the first time it is read with a key.
     */
    secrets: {
      get: (name: string): string | undefined => {
        const row = getSecret.get(name);
        if (!row) return undefined;
        const value = String(row.value);
        if (isSealed(value)) {
          if (!box) throw noKey(name);
          return box.open(name, value);
        }
        if (box && replaceSecret.run(box.seal(name, value), name, value).changes) {
          // secure_delete zeroed the old cell; the checkpoint moves the page over the one that held the clear text.
          db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
        }
        return value;
      },
      /** Stores the value unless one is there already; returns the one that is kept (first writer wins). */
      putOnce(name: string, value: string): string {
        if (!box && path !== ":memory:") throw noKey(name);
        insertSecret.run(name, box ? box.seal(name, value) : value);
        const kept = String(getSecret.get(name)?.value);
        return box && isSealed(kept) ? box.open(name, kept) : kept;
      },
    },
    /**
     * This berth's installation id, made on first use and kept: it marks the containers this berth started, so a
     * container that merely carries `io.berth.managed` (any image can) is not taken for one of them.
     */
    installationId(): string {
      insertSecret.run("installation", randomUUID()); // ignored once there is one: the first stays
      return String(getSecret.get("installation")?.value);
    },
    close(): void {
      db.close();
    },
  };
}
