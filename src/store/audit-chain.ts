/**
 * The audit chain check over rows read in pages (PostgreSQL cannot hand berth a synchronous cursor the way node:sqlite
 * does). It applies the rules of createAuditLog's check in audit-log.ts record for record, and
 * test/store/postgres-store.test.ts holds the two to the same verdicts; once issue 12's restructure has landed,
 * audit-log.ts can use this checker too and the rules will live in one place.
 */
import { timingSafeEqual } from "node:crypto";
import type { AuditKeyring } from "./audit-key.ts";
import { auditHash, type ChainProblem, type ChainReport, genesis, macInput } from "./audit-log.ts";
import { type AuditRow, toAuditHead } from "./rows.ts";

const sameHex = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/** Feed rows in `seq` order from `from.seq` (or the start); stops at the first problem. */
export function createChainChecker(keys: AuditKeyring, from?: { seq: number; hash: string }) {
  const report: ChainReport = { records: 0, legacy: 0, keyIds: [], head: undefined };
  let prev = genesis;
  let expectedSeq = 1;
  let keyed = false;

  function link(r: AuditRow): ChainProblem | undefined {
    const seq = r.seq;
    if (r.prev_hash !== prev) return { seq, problem: "does not follow the record before it", kind: "tampered" };
    if (r.key_id === null) {
      if (keyed) {
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

  return {
    /** Checks the next row; false once a problem is found (the report says which). */
    push(r: AuditRow): boolean {
      if (report.problem) return false;
      if (from && report.records === 0) {
        if (r.seq !== from.seq) report.problem = { seq: from.seq, problem: "is missing", kind: "tampered" };
        else if (r.hash !== from.hash) {
          report.problem = { seq: from.seq, problem: "no longer has the hash it was anchored with", kind: "tampered" };
        } else {
          prev = r.hash;
          expectedSeq = r.seq + 1;
          keyed = r.key_id !== null;
          report.records++;
          report.head = toAuditHead(r);
        }
        return !report.problem;
      }
      if (r.seq !== expectedSeq) {
        report.problem = { seq: r.seq, problem: `follows a gap: record ${expectedSeq} is missing`, kind: "tampered" };
        return false;
      }
      const problem = link(r);
      if (problem) {
        report.problem = problem;
        return false;
      }
      if (r.key_id === null) report.legacy++;
      else {
        keyed = true;
        if (!report.keyIds.includes(r.key_id)) report.keyIds.push(r.key_id);
      }
      report.records++;
      report.head = toAuditHead(r);
      prev = r.hash;
      expectedSeq++;
      return true;
    },
    /** The verdict once every row was fed. */
    finish(): ChainReport {
      if (from && report.records === 0 && !report.problem) {
        report.problem = { seq: from.seq, problem: "is gone: the log was cut off after it was anchored", kind: "tampered" };
      }
      return { ...report, keyIds: [...report.keyIds] };
    },
  };
}
