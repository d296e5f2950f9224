/**
 * The audit chain check over rows read in pages (PostgreSQL cannot hand berth a synchronous cursor the way node:sqlite
 * does). Each record is judged by `checkLink` of audit-log.ts, the one statement of the chain rules, and
 * test/store/postgres-store.test.ts holds the two logs to the same verdicts.
 */
import type { AuditKeyring } from "./audit-key.ts";
import { type ChainProblem, type ChainReport, checkLink, genesis } from "./audit-log.ts";
import { type AuditRow, toAuditHead } from "./rows.ts";

/** Feed rows in `seq` order from `from.seq` (or the start); stops at the first problem. */
export function createChainChecker(keys: AuditKeyring, from?: { seq: number; hash: string }) {
  const report: ChainReport = { records: 0, legacy: 0, keyIds: [], head: undefined };
  let prev = genesis;
  let expectedSeq = 1;
  let keyed = false;

  const link = (r: AuditRow): ChainProblem | undefined => checkLink(keys, r, prev, keyed);

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
