/**
 * Rows to records, shared by both store adapters: the column names are the same in node:sqlite and PostgreSQL, and
 * Number() reads both SQLite integers and PostgreSQL BIGINTs (which the driver hands over as text).
 */
import type { AuditHead, AuditRecord } from "./audit-log.ts";
import type { GrantRecord, JobCursor, PendingRecord, StoredJob } from "./port.ts";

type NewPending = Omit<PendingRecord, "state" | "createdAt" | "decidedBy" | "decidedAt" | "messageTs">;

type Row = Record<string, unknown>;
const text = (v: unknown) => (v === null || v === undefined ? null : String(v));
const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
/** JSON columns: text in SQLite, text in PostgreSQL too (kept byte for byte, unlike jsonb). */
const json = (v: unknown): unknown => (v === null || v === undefined ? null : JSON.parse(String(v)));

export function toJob(r: Row): StoredJob {
  const cursor: JobCursor | null =
    r.cursor_at === null || r.cursor_at === undefined ? null : { at: String(r.cursor_at), lines: Number(r.cursor_lines) };
  return {
    id: String(r.id),
    kind: String(r.kind),
    userId: String(r.user_id),
    channelId: String(r.channel_id),
    host: text(r.host),
    summary: String(r.summary),
    status: String(r.status) as StoredJob["status"],
    createdAt: Number(r.created_at),
    endedAt: num(r.ended_at),
    exitCode: num(r.exit_code),
    messageTs: text(r.message_ts),
    cancelBy: text(r.cancel_by),
    detail: text(r.detail),
    cursor,
    resume: json(r.resume),
  };
}

/** A new pending request's column values, in the order both adapters' INSERT names them. */
export function pendingParams(p: NewPending, createdAt: number): (string | number | null)[] {
  return [
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
    createdAt,
    p.expiresAt,
  ];
}

export function toPending(r: Row): PendingRecord {
  return {
    id: String(r.id),
    requestId: String(r.request_id),
    gate: String(r.gate) as PendingRecord["gate"],
    requester: String(r.requester),
    channelId: String(r.channel_id),
    channelName: text(r.channel_name),
    host: text(r.host),
    summary: String(r.summary),
    action: json(r.action),
    rule: String(r.rule),
    gateRule: String(r.gate_rule),
    approvers: JSON.parse(String(r.approvers)) as string[],
    state: String(r.state) as PendingRecord["state"],
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    decidedBy: text(r.decided_by),
    decidedAt: num(r.decided_at),
    messageTs: text(r.message_ts),
  };
}

export function toGrant(r: Row): GrantRecord {
  return {
    id: String(r.id),
    userId: String(r.user_id),
    role: String(r.role),
    reason: String(r.reason),
    channelId: String(r.channel_id),
    approvedBy: String(r.approved_by),
    startsAt: Number(r.starts_at),
    expiresAt: Number(r.expires_at),
    endedAnnounced: Number(r.ended_announced) === 1,
  };
}

/** An audit row as both databases hold it. */
export type AuditRow = { seq: number; at: number; record: string; prev_hash: string; hash: string; key_id: string | null };

export const toAuditRow = (r: Row): AuditRow => ({
  seq: Number(r.seq),
  at: Number(r.at),
  record: String(r.record),
  prev_hash: String(r.prev_hash),
  hash: String(r.hash),
  key_id: text(r.key_id),
});

export const toAuditRecord = (r: AuditRow): AuditRecord => ({
  ...(JSON.parse(r.record) as Omit<AuditRecord, "seq" | "at" | "prevHash" | "hash" | "keyId">),
  seq: r.seq,
  at: r.at,
  prevHash: r.prev_hash,
  hash: r.hash,
  keyId: r.key_id,
});

export const toAuditHead = (r: AuditRow): AuditHead => ({ seq: r.seq, hash: r.hash, keyId: r.key_id, at: r.at });
