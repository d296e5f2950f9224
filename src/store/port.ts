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

/** A lane of a shared rate: calls on it go at least `spacingMs` apart, whichever replica sends them. */
export type RateLane = { key: string; spacingMs: number };

/** When a call may go: after `waitMs` (its slot is reserved), or, refused, not before `retryAfterMs` (nothing reserved). */
export type Reservation = { ok: true; waitMs: number } | { ok: false; retryAfterMs: number };

export type JobStore = {
  create(job: NewJob): Promise<void>;
  get(id: string): Promise<StoredJob | undefined>;
  /** The job whose card is the message `ts` in `channelId` (a mention in its thread acts on it); the newest if several. */
  byCard(channelId: string, ts: string): Promise<StoredJob | undefined>;
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
  /** Requests still waiting for a decision and not yet expired, oldest first (what an approver's Home tab lists). */
  waiting(): Promise<PendingRecord[]>;
  setMessageTs(id: string, ts: string): Promise<void>;
};

export type GrantStore = {
  create(g: Omit<GrantRecord, "endedAnnounced">): Promise<void>;
  get(id: string): Promise<GrantRecord | undefined>;
  active(): Promise<GrantRecord[]>;
  /** Grants that ended and were not announced yet; `markAnnounced` claims one so it is announced once. */
  ended(): Promise<GrantRecord[]>;
  markAnnounced(id: string): Promise<boolean>;
  /**
   * Ends an active grant now (`at`): it expires at `at` and counts as announced, so the sweep does not announce it
   * again. Returns the grant as it was before, or undefined when it is unknown, already ended or already revoked (of
   * two revokes at once, exactly one gets the record).
   */
  revoke(id: string, at: number): Promise<GrantRecord | undefined>;
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
 * A rate budget shared by every replica, as slots rather than windows: each lane keeps the earliest time its next call
 * may go, and a reservation moves it on by the lane's spacing (the virtual scheduling of GCRA, with no burst allowance).
 * Calls on a lane are thus never closer than its spacing, at any moment (fixed windows let two calls through a few ms
 * apart at a window's boundary), and are served first come, first served across replicas (no one loses its turn to
 * a retry that came at the right moment).
 *
 * `queue`: takes the earliest slot free on every lane at once (the latest of their next times, or now) and moves each
 *   lane on from it; always succeeds.
 * `now`: takes the slot only if every lane is free now; otherwise reserves nothing and says when the busiest frees up.
 *   For a lane a call must not queue on: a thread reply claims its channel this way, so the replies never book a
 *   channel ahead of a new card, which queues.
 * Times are the caller's clock (replicas are expected to run NTP; a skew of s ms lets two replicas' calls come s ms
 * closer). Lanes are locked in key order, so concurrent reservations never deadlock.
 */
export type RateBudget = {
  reserve(lanes: readonly RateLane[], mode: "queue" | "now"): Promise<Reservation>;
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
export function checkLanes(lanes: readonly RateLane[]): void {
  const keys = new Set(lanes.map((l) => l.key));
  if (lanes.length === 0 || keys.size !== lanes.length || lanes.some((l) => !Number.isInteger(l.spacingMs) || l.spacingMs < 1)) {
    throw new BerthError("INVALID", "A rate reservation needs one or more distinct lanes, each spaced a whole number of ms (1 or more).");
  }
}

/**
 * The reservation rule both stores apply, on the lanes' next times read under lock: the new next times to write
 * (nothing when refused) and the answer.
 */
export function reserveSlot(
  next: readonly number[],
  lanes: readonly RateLane[],
  mode: "queue" | "now",
  now: number,
): { reservation: Reservation; write?: number[] } {
  const slot = Math.max(now, ...next);
  if (mode === "now" && slot > now) return { reservation: { ok: false, retryAfterMs: slot - now } };
  return { reservation: { ok: true, waitMs: slot - now }, write: lanes.map((l) => slot + l.spacingMs) };
}
