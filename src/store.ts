import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";

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

export type AuditEntry = {
  requestId: string;
  type: "decision" | "outcome";
  userId: string;
  channelId: string;
  action: unknown; // the normalized, typed action (never env values: see redactAction)
  host: string | null;
  decision: "allow" | "deny" | null;
  rule: string | null;
  outcome: string | null;
  messageTs: string | null;
};

export type AuditRecord = AuditEntry & { seq: number; at: number; prevHash: string; hash: string };

export type Store = ReturnType<typeof openStore>;

const schema = `
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, user_id TEXT NOT NULL, channel_id TEXT NOT NULL, host TEXT,
  summary TEXT NOT NULL, status TEXT NOT NULL, created_at INTEGER NOT NULL, ended_at INTEGER,
  exit_code INTEGER, message_ts TEXT, detail TEXT);
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, record TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
`;

const genesis = "0".repeat(64);

export function auditHash(prevHash: string, seq: number, at: number, record: string): string {
  return createHash("sha256").update(`${prevHash}\n${seq}\n${at}\n${record}`).digest("hex");
}

/** The embedded store (node:sqlite) under BERTH_DATA_DIR; `:memory:` for tests that need no file. */
export function openStore(dir: string | ":memory:", clock: () => number = Date.now) {
  let path = ":memory:";
  if (dir !== ":memory:") {
    mkdirSync(dir, { recursive: true });
    path = join(dir, "berth.db");
  }
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
  db.exec(schema);
  // Jobs that were running when berth last stopped can no longer be followed; say so instead of showing them running.
  db.prepare("UPDATE jobs SET status = 'failed', detail = 'berth restarted while this job ran', ended_at = ? WHERE status = 'running'").run(
    clock(),
  );

  const insertJob = db.prepare(
    "INSERT INTO jobs (id, kind, user_id, channel_id, host, summary, status, created_at, message_ts) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?)",
  );
  const finishJob = db.prepare("UPDATE jobs SET status = ?, ended_at = ?, exit_code = ?, detail = ? WHERE id = ?");
  const setJobTs = db.prepare("UPDATE jobs SET message_ts = ? WHERE id = ?");
  const getJob = db.prepare("SELECT * FROM jobs WHERE id = ?");
  const runningJobs = db.prepare("SELECT * FROM jobs WHERE status = 'running' ORDER BY created_at");
  const lastAudit = db.prepare("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
  const insertAudit = db.prepare("INSERT INTO audit (seq, at, record, prev_hash, hash) VALUES (?, ?, ?, ?, ?)");
  const allAudit = db.prepare("SELECT seq, at, record, prev_hash, hash FROM audit ORDER BY seq");

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

  return {
    jobs: {
      create(job: Pick<JobRecord, "id" | "kind" | "userId" | "channelId" | "host" | "summary" | "messageTs">): void {
        insertJob.run(job.id, job.kind, job.userId, job.channelId, job.host, job.summary, clock(), job.messageTs);
      },
      setMessageTs(id: string, ts: string): void {
        setJobTs.run(ts, id);
      },
      finish(id: string, status: Exclude<JobRecord["status"], "running">, exitCode: number | null, detail: string | null): void {
        finishJob.run(status, clock(), exitCode, detail, id);
      },
      get(id: string): JobRecord | undefined {
        const row = getJob.get(id);
        return row ? toJob(row) : undefined;
      },
      running(): JobRecord[] {
        return runningJobs.all().map(toJob);
      },
    },
    audit: {
      /** Appends one record, chained to the one before by its hash; returns the stored record. */
      append(entry: AuditEntry): AuditRecord {
        db.exec("BEGIN IMMEDIATE");
        try {
          const last = lastAudit.get() as { seq: number; hash: string } | undefined;
          const seq = (last?.seq ?? 0) + 1;
          const prevHash = last?.hash ?? genesis;
          const at = clock();
          const record = JSON.stringify(entry);
          const hash = auditHash(prevHash, seq, at, record);
          insertAudit.run(seq, at, record, prevHash, hash);
          db.exec("COMMIT");
          return { ...entry, seq, at, prevHash, hash };
        } catch (error) {
          db.exec("ROLLBACK");
          throw error;
        }
      },
      all(): AuditRecord[] {
        return allAudit.all().map((r) => ({
          ...(JSON.parse(String(r.record)) as AuditEntry),
          seq: Number(r.seq),
          at: Number(r.at),
          prevHash: String(r.prev_hash),
          hash: String(r.hash),
        }));
      },
      /** Re-computes the chain; returns the first record that does not fit, or undefined if all do. */
      verify(): { seq: number; problem: string } | undefined {
        let prev = genesis;
        let expectedSeq = 1;
        for (const r of allAudit.all()) {
          const seq = Number(r.seq);
          if (seq !== expectedSeq) return { seq, problem: `record ${expectedSeq} is missing` };
          if (String(r.prev_hash) !== prev) return { seq, problem: "does not follow the record before it" };
          if (auditHash(prev, seq, Number(r.at), String(r.record)) !== String(r.hash)) return { seq, problem: "was edited" };
          prev = String(r.hash);
          expectedSeq++;
        }
        return undefined;
      },
    },
    close(): void {
      db.close();
    },
  };
}
