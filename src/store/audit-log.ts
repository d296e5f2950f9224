import { createHash, timingSafeEqual } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { BerthError } from "../core/errors.ts";
import type { AuditKeyring } from "./audit-key.ts";

export type AuditEntry = {
  requestId: string;
  /**
   * decision: policy's answer; approval: a person approved or denied; outcome: how it ended; grant: a grant began or
   * ended; policy: a policy reload was applied or refused.
   */
  type: "decision" | "approval" | "outcome" | "grant" | "policy";
  userId: string;
  channelId: string;
  action: unknown; // the normalized, typed action (never env values: see redactAction)
  host: string | null;
  decision: "allow" | "deny" | null;
  rule: string | null;
  outcome: string | null;
  messageTs: string | null;
  /** Who approved (or denied) a gated request. */
  approver?: string | null;
  /** The break-glass grant the action was allowed under. */
  grant?: string | null;
};

/** `keyId` null: a legacy record, chained with plain SHA-256 before the chain was keyed. */
export type AuditRecord = AuditEntry & { seq: number; at: number; prevHash: string; hash: string; keyId: string | null };

/** The newest record: what an anchor writes down outside the database. */
export type AuditHead = { seq: number; hash: string; keyId: string | null; at: number };

export type ChainProblem = {
  seq: number;
  problem: string;
  /** tampered: the chain does not hold; unknown-key: a record is signed with a key this keyring does not hold. */
  kind: "tampered" | "unknown-key";
};

export type ChainReport = {
  /** Records checked. */
  records: number;
  /** Records in the legacy (plain SHA-256) prefix: anyone who could write the database could have rewritten them. */
  legacy: number;
  /** Keys the keyed records are signed with, in order of first use. */
  keyIds: string[];
  /** The last record checked (undefined: an empty log). */
  head: AuditHead | undefined;
  problem?: ChainProblem | undefined;
};

export const genesis = "0".repeat(64);

/** The legacy link: plain SHA-256, which anyone can recompute. Only verified, never written any more. */
export function auditHash(prevHash: string, seq: number, at: number, record: string): string {
  return createHash("sha256").update(`${prevHash}\n${seq}\n${at}\n${record}`).digest("hex");
}

/** What a keyed record's HMAC covers: its place in the chain, its time, the key id and the record itself. */
export const macInput = (prevHash: string, seq: number, at: number, keyId: string, record: string) =>
  `${prevHash}\n${seq}\n${at}\n${keyId}\n${record}`;

const sameHex = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

type Row = { seq: number; at: number; record: string; prev_hash: string; hash: string; key_id: string | null };
/**
 * Why one record does not hold, given the hash it must follow; undefined when it does. The one statement of the chain
 * rules: the embedded log checks with it here, PostgreSQL's paged checker in audit-chain.ts too.
 */
export function checkLink(keys: AuditKeyring, r: Row, prev: string, keyedBefore: boolean): ChainProblem | undefined {
  const seq = r.seq;
  if (r.prev_hash !== prev) return { seq, problem: "does not follow the record before it", kind: "tampered" };
  if (r.key_id === null) {
    if (keyedBefore) {
      return {
        seq,
        problem: "is in the legacy unkeyed format but follows keyed records: the log was re-chained without the key",
        kind: "tampered",
      };
    }
    return sameHex(auditHash(prev, seq, r.at, r.record), r.hash) ? undefined : { seq, problem: "was edited", kind: "tampered" };
  }
  const mac = keys.mac(r.key_id, macInput(prev, seq, r.at, r.key_id, r.record));
  if (mac === undefined) {
    return {
      seq,
      problem: `is signed with audit key "${r.key_id}", which ${keys.source} does not hold (it holds: ${keys.ids.join(", ") || "no key"})`,
      kind: "unknown-key",
    };
  }
  return sameHex(mac, r.hash) ? undefined : { seq, problem: "was edited", kind: "tampered" };
}

const toRow = (r: Record<string, unknown>): Row => ({
  seq: Number(r.seq),
  at: Number(r.at),
  record: String(r.record),
  prev_hash: String(r.prev_hash),
  hash: String(r.hash),
  key_id: r.key_id === null || r.key_id === undefined ? null : String(r.key_id),
});

/** Adds the key id column to an audit table made before the chain was keyed (its records stay legacy). */
export function migrateAuditTable(db: DatabaseSync): void {
  if (!hasKeyColumn(db)) db.exec("ALTER TABLE audit ADD COLUMN key_id TEXT");
}

const hasKeyColumn = (db: DatabaseSync) =>
  db
    .prepare("PRAGMA table_info(audit)")
    .all()
    .some((c) => c.name === "key_id");

/**
 * The audit log over an open database: appends records chained by HMAC-SHA256 under the keyring's current key, and
 * re-checks the chain. The database alone cannot tell an honest chain from a recomputed one; the key, held outside it,
 * can (see docs/security.md "Audit log integrity").
 */
export function createAuditLog(db: DatabaseSync, keys: AuditKeyring, clock: () => number) {
  const keyColumn = hasKeyColumn(db) ? "key_id" : "NULL AS key_id";
  const columns = `seq, at, record, prev_hash, hash, ${keyColumn}`;
  const lastAudit = db.prepare(`SELECT ${columns} FROM audit ORDER BY seq DESC LIMIT 1`);
  const fromSeq = db.prepare(`SELECT ${columns} FROM audit WHERE seq >= ? ORDER BY seq`);
  const atSeq = db.prepare(`SELECT ${columns} FROM audit WHERE seq = ?`);
  let insertAudit: ReturnType<DatabaseSync["prepare"]> | undefined;

  const toRecord = (r: Row): AuditRecord => ({
    ...(JSON.parse(r.record) as AuditEntry),
    seq: r.seq,
    at: r.at,
    prevHash: r.prev_hash,
    hash: r.hash,
    keyId: r.key_id,
  });
  const toHead = (r: Row): AuditHead => ({ seq: r.seq, hash: r.hash, keyId: r.key_id, at: r.at });

  return {
    /** Appends one record, chained to the one before by its HMAC; returns the stored record. */
    append(entry: AuditEntry): AuditRecord {
      insertAudit ??= db.prepare("INSERT INTO audit (seq, at, record, prev_hash, hash, key_id) VALUES (?, ?, ?, ?, ?, ?)");
      const insert = insertAudit;
      db.exec("BEGIN IMMEDIATE");
      try {
        const lastRow = lastAudit.get();
        const last = lastRow && toRow(lastRow);
        const seq = (last?.seq ?? 0) + 1;
        const prevHash = last?.hash ?? genesis;
        const at = clock();
        const record = JSON.stringify(entry);
        const keyId = keys.currentId;
        const hash = keys.mac(keyId, macInput(prevHash, seq, at, keyId, record));
        if (hash === undefined) throw new BerthError("INTERNAL", "the audit log was opened without a signing key");
        insert.run(seq, at, record, prevHash, hash, keyId);
        db.exec("COMMIT");
        return { ...entry, seq, at, prevHash, hash, keyId };
      } catch (error) {
        db.exec("ROLLBACK");
        throw error;
      }
    },
    all(): AuditRecord[] {
      return fromSeq.all(0).map((r) => toRecord(toRow(r)));
    },
    head(): AuditHead | undefined {
      const row = lastAudit.get();
      return row && toHead(toRow(row));
    },
    /** The record at `seq` as an anchor would have seen it; undefined when there is none. */
    at(seq: number): AuditHead | undefined {
      const row = atSeq.get(seq);
      return row && toHead(toRow(row));
    },
    /**
     * Re-computes the chain, from the start or from a trusted point (an anchor: the record at `from.seq` must still
     * have `from.hash`), and reports the first record that does not fit.
     */
    check: checkChain,
    /** The first record that does not fit the chain, or undefined if all do. */
    verify(): { seq: number; problem: string } | undefined {
      const problem = checkChain().problem;
      return problem && { seq: problem.seq, problem: problem.problem };
    },
  };

  function checkChain(from?: { seq: number; hash: string }): ChainReport {
    const report: ChainReport = { records: 0, legacy: 0, keyIds: [], head: undefined };
    let prev = genesis;
    let expectedSeq = 1;
    let keyed = false;
    for (const raw of fromSeq.iterate(from?.seq ?? 0)) {
      const r = toRow(raw);
      if (from && report.records === 0) {
        if (r.seq !== from.seq) return { ...report, problem: { seq: from.seq, problem: "is missing", kind: "tampered" } };
        if (r.hash !== from.hash) {
          return { ...report, problem: { seq: from.seq, problem: "no longer has the hash it was anchored with", kind: "tampered" } };
        }
        prev = r.hash;
        expectedSeq = r.seq + 1;
        keyed = r.key_id !== null;
        report.records++;
        report.head = toHead(r);
        continue;
      }
      if (r.seq !== expectedSeq) {
        return { ...report, problem: { seq: r.seq, problem: `follows a gap: record ${expectedSeq} is missing`, kind: "tampered" } };
      }
      const problem = checkLink(keys, r, prev, keyed);
      if (problem) return { ...report, problem };
      if (r.key_id === null) report.legacy++;
      else {
        keyed = true;
        if (!report.keyIds.includes(r.key_id)) report.keyIds.push(r.key_id);
      }
      report.records++;
      report.head = toHead(r);
      prev = r.hash;
      expectedSeq++;
    }
    if (from && report.records === 0) {
      return { ...report, problem: { seq: from.seq, problem: "is gone: the log was cut off after it was anchored", kind: "tampered" } };
    }
    return report;
  }
}

export type AuditLog = ReturnType<typeof createAuditLog>;

/**
 * The audit log of a data dir, opened read-only for `audit verify` and `audit export`: it never creates the file,
 * migrates the schema or writes (a verification must not change what it verifies).
 */
export function openAuditLogReadOnly(dataDir: string, keys: AuditKeyring): AuditLog & { path: string; close(): void } {
  const path = join(dataDir, "berth.db");
  if (!existsSync(path)) {
    throw new BerthError(
      "NOT_FOUND",
      `No berth database at ${path}. Point --data-dir (or BERTH_DATA_DIR) at the directory berth runs with (it holds berth.db).`,
    );
  }
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const table = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'audit'").get();
    if (!table) throw new BerthError("NOT_FOUND", `${path} has no audit table: it is not a berth database.`);
    return Object.assign(
      createAuditLog(db, keys, () => Date.now()),
      { path, close: () => db.close() },
    );
  } catch (error) {
    db.close();
    throw error;
  }
}
