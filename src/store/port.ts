/**
 * The one store berth keeps its state in, asynchronous so that it can live in PostgreSQL (several replicas share it)
 * as well as in the embedded node:sqlite database (one berth per data directory). Two adapters implement it:
 * sqlite-store.ts and postgres-store.ts; test/store/store-contract.ts holds both to the same behaviour.
 *
 * Expected outcomes are values (a claim lost, a lease held by another replica, a write refused because its fencing
 * token is stale, a budget spent). Failures throw BerthError: "UNAVAILABLE" when the database cannot be reached (the
 * caller may retry the same call later), "CONFIG" when it is set up wrongly, "INTERNAL" otherwise.
 */
import { BerthError } from "../core/errors.ts";
import type { AuditEntry, AuditHead, AuditRecord, ChainReport } from "./audit-log.ts";
import type { CloudHostRecord, GrantRecord, JobRecord, PendingRecord } from "./records.ts";

export type { AuditEntry, AuditHead, AuditRecord, ChainReport } from "./audit-log.ts";
export type { CloudHostRecord, GrantRecord, JobRecord, PendingRecord } from "./records.ts";

/**
 * How far a job's output has been handed on (to Slack or the spool): the Docker timestamp of the last line, as Docker
 * prints it (RFC 3339 with nanoseconds, kept as text: a JS number cannot hold nanoseconds), and how many lines so far.
 * A resumed stream asks Docker for `since` this time and drops lines at or before it.
 */
export type JobCursor = { at: string; lines: number };

/** A job as the port stores it: the record berth always kept, plus what a replica needs to carry it on. */
export type StoredJob = JobRecord & {
  cursor: JobCursor | null;
  /** What resuming needs (container id, stream options), as the caller wrote it; null until set. */
  resume: unknown;
  /** Who pressed Stop (or typed `cancel`) on another replica than the one carrying the job; it stops at its next heartbeat. */
  cancelBy: string | null;
};

export type NewJob = Pick<JobRecord, "id" | "kind" | "userId" | "channelId" | "host" | "summary" | "messageTs"> & {
  resume?: unknown;
};

/** A held lease: `token` grows every time the lease changes hands, so a write carrying an older one is refused. */
export type Lease = { name: string; owner: string; token: number; expiresAt: number };

/** Proof of ownership carried by a write: the lease's name and the token it was acquired with. */
export type Fence = { name: string; token: number };

export type LeaseResult = { ok: true; lease: Lease } | { ok: false; holder: string; expiresAt: number };

/**
 * A write that may carry a fence: refused "fenced" when the lease has since changed hands or was released, "not-found"
 * when there is no such record, "finished" when a job already has its outcome (the first one stays).
 */
export type Written = { ok: true } | { ok: false; reason: "fenced" | "not-found" | "finished" };

export type BudgetResult = { ok: true; remaining: number } | { ok: false; retryAfterMs: number };

export type JobStore = {
  create(job: NewJob): Promise<void>;
  get(id: string): Promise<StoredJob | undefined>;
  setMessageTs(id: string, ts: string, fence?: Fence): Promise<Written>;
  setResume(id: string, resume: unknown, fence?: Fence): Promise<Written>;
  /** Moves the cursor forward; a cursor with fewer lines than the stored one is ignored (never moves back). */
  advanceCursor(id: string, cursor: JobCursor, fence?: Fence): Promise<Written>;
  /** Ends a running job; a job that already ended keeps its first outcome ("finished"). */
  finish(
    id: string,
    outcome: { status: Exclude<JobRecord["status"], "running">; exitCode: number | null; detail: string | null },
    fence?: Fence,
  ): Promise<Written>;
  /** Asks whichever replica carries a running job to stop it; false when the job is not running. The first asker is kept. */
  requestCancel(id: string, by: string): Promise<boolean>;
  /** Every unfinished job, oldest first (what a starting berth resumes). */
  running(): Promise<StoredJob[]>;
  /** Unfinished jobs whose lease `jobLease(id)` is missing, released or expired: the ones no replica carries now. */
  unowned(): Promise<StoredJob[]>;
  /** How many jobs are in each state (for the berth_jobs gauge). */
  counts(): Promise<Record<string, number>>;
};

export type PendingStore = {
  create(p: Omit<PendingRecord, "state" | "createdAt" | "decidedBy" | "decidedAt" | "messageTs">): Promise<PendingRecord>;
  get(id: string): Promise<PendingRecord | undefined>;
  /** Moves a pending request to its decision; false when it was already decided or has expired (one click wins). */
  decide(id: string, state: "approved" | "denied" | "cancelled", by: string): Promise<boolean>;
  expire(id: string): Promise<boolean>;
  overdue(): Promise<PendingRecord[]>;
  setMessageTs(id: string, ts: string): Promise<void>;
};

export type GrantStore = {
  create(g: Omit<GrantRecord, "endedAnnounced">): Promise<void>;
  active(): Promise<GrantRecord[]>;
  /** Grants that ended and were not announced yet; `markAnnounced` claims one so it is announced once. */
  ended(): Promise<GrantRecord[]>;
  markAnnounced(id: string): Promise<boolean>;
};

export type CloudHostStore = {
  get(name: string): Promise<CloudHostRecord | undefined>;
  put(record: CloudHostRecord, fence?: Fence): Promise<Written>;
  /** Hosts not yet removed (a removed host's name can be used again). */
  live(): Promise<CloudHostRecord[]>;
};

/** berth's own key material (its CA), sealed with the secret box; see secret-rules.ts for the rules both adapters follow. */
export type SecretStore = {
  get(name: string): Promise<string | undefined>;
  /** Stores the value unless one is there already; returns the one that is kept (first writer wins). */
  putOnce(name: string, value: string): Promise<string>;
  /** Deletes a value (a pending request's sealed action once it is decided); true when there was one. */
  remove(name: string): Promise<boolean>;
};

/** One linear HMAC chain, whatever the number of writers: appends are serialized by the database. */
export type AuditStore = {
  append(entry: AuditEntry): Promise<AuditRecord>;
  all(): Promise<AuditRecord[]>;
  head(): Promise<AuditHead | undefined>;
  at(seq: number): Promise<AuditHead | undefined>;
  /** Re-computes the chain from the start or from an anchor; reports the first record that does not fit. */
  check(from?: { seq: number; hash: string }): Promise<ChainReport>;
  /** The first record that does not fit the chain, or undefined if all do. */
  verify(): Promise<{ seq: number; problem: string } | undefined>;
};

/**
 * Leases expire by the store's clock, read by whichever replica asks: the replicas' clocks must agree (NTP) to well
 * within the shortest TTL. Fencing does not depend on clocks: a token only ever grows.
 */
export type LeaseStore = {
  /** Takes the lease when it is free, released or expired (the token grows), or renews it when `owner` holds it. */
  acquire(name: string, owner: string, ttlMs: number): Promise<LeaseResult>;
  /** The heartbeat: extends a lease still held with this token; fails once another owner has taken it. */
  renew(lease: Pick<Lease, "name" | "owner" | "token">, ttlMs: number): Promise<LeaseResult>;
  /** Gives the lease up (at drain); false when it had already changed hands. */
  release(lease: Pick<Lease, "name" | "owner" | "token">): Promise<boolean>;
  get(name: string): Promise<Lease | undefined>;
  /** Whether a fence still holds (before a side effect outside the store, such as a Slack post or edit). */
  holds(fence: Fence): Promise<boolean>;
};

/** Delivery de-duplication: a key (envelope id, retry of a slash command, action id) is claimed once across replicas. */
export type DedupeStore = {
  /** True for the first claim of `key`; false while an earlier claim has not expired. */
  claim(key: string, ttlMs: number): Promise<boolean>;
};

/**
 * A rate budget shared by every replica: at most `limit` tokens of `bucket` per fixed window of `windowMs`. A take is
 * all or nothing; a refusal says when the next window opens.
 */
export type RateBudget = {
  take(bucket: string, n: number, rule: { limit: number; windowMs: number }): Promise<BudgetResult>;
};

export type StorePort = {
  readonly kind: "sqlite" | "postgres";
  /** Where the data lives, for messages (a path, or the database URL without its password). */
  readonly location: string;
  /** Whether secrets are sealed (BERTH_SECRET_KEY is set): only then may values like a pending run's environment be kept. */
  readonly sealsSecrets: boolean;
  jobs: JobStore;
  pending: PendingStore;
  grants: GrantStore;
  cloudHosts: CloudHostStore;
  secrets: SecretStore;
  audit: AuditStore;
  leases: LeaseStore;
  dedupe: DedupeStore;
  rateBudget: RateBudget;
  /**
   * This berth's installation id, made on first use and kept (shared by every replica): it marks the containers berth
   * started, so a container that merely carries `io.berth.managed` is not taken for one of them.
   */
  installationId(): Promise<string>;
  /** Deletes expired de-duplication keys and past rate windows; returns how many rows went. */
  sweep(): Promise<number>;
  /** Resolves when the database answers (readiness); throws BerthError "UNAVAILABLE" when it does not. */
  ping(): Promise<void>;
  close(): Promise<void>;
};

/** The lease that says which replica carries a job. */
export const jobLease = (jobId: string) => `job:${jobId}`;

/**
 * Held while a host job is being started (a command, an expiry, a take-over), until the job holds its own lease: one
 * replica makes or removes a host at a time, and no take-over scan picks up a host job in the moment before it runs.
 */
export const hostLease = (name: string) => `host:${name}`;

/** Whether some replica holds a job's lease at `now`. */
export async function jobCarried(store: Pick<StorePort, "leases">, jobId: string, now: number): Promise<boolean> {
  const lease = await store.leases.get(jobLease(jobId));
  return lease !== undefined && lease.owner !== null && lease.expiresAt > now;
}

/** A take larger than the whole budget could never succeed: that is the caller's mistake, not a spent budget. */
export function checkTake(n: number, rule: { limit: number; windowMs: number }): void {
  if (!Number.isInteger(n) || n < 1 || n > rule.limit || !Number.isInteger(rule.windowMs) || rule.windowMs < 1) {
    throw new BerthError("INVALID", `A rate budget take must be 1..${rule.limit} whole tokens over a whole number of ms (got ${n}).`);
  }
}
