import { randomBytes } from "node:crypto";
import { type Fence, type JobRecord, jobLease, type Lease, type NewJob, type StorePort } from "../store/port.ts";
import { type CancelReason, lost, suspension, takenOver } from "./job-context.ts";

export type LiveJob = {
  record: JobRecord;
  controller: AbortController;
  channelName?: string | undefined;
  /** Carried by every write about this job (store and Slack): refused once another replica has taken the job over. */
  fence: Fence;
};

export type JobRegistryOptions = {
  /** This process among the replicas; a lease held by the same owner is taken back at once (see main.ts). */
  owner: string;
  /** How long a job stays this replica's without a heartbeat (default 10 s): a dead replica's jobs move on after it. */
  leaseTtlMs?: number;
  log?: (event: string, fields: Record<string, unknown>) => void;
};

/**
 * Jobs running in this process: their stored record, the controller that stops them and the lease that makes them
 * this replica's. A heartbeat renews every lease and picks up Stop requests made on another replica; a lease lost
 * (another replica took the job over, after this one could not reach the database for a whole TTL) stops the job
 * here at once, without an outcome: its new owner carries it on.
 */
export function createJobRegistry(store: StorePort, options: JobRegistryOptions) {
  const ttl = options.leaseTtlMs ?? 10_000;
  const live = new Map<string, LiveJob & { lease: Lease }>();
  const idle = new Set<() => void>();
  let suspending = false;
  const gone = (id: string) => {
    live.delete(id);
    if (live.size === 0) for (const resolve of idle) resolve();
  };

  async function beat(): Promise<void> {
    for (const job of [...live.values()]) {
      // A stopped job still renews until it has its outcome (stopping a container takes up to its grace period);
      // only a job taken over does not.
      if (takenOver(job.controller.signal)) continue;
      try {
        const renewed = await store.leases.renew(job.lease, ttl);
        if (!renewed.ok) {
          options.log?.("job taken over by another replica", { job: job.record.id, holder: renewed.holder });
          job.controller.abort(lost);
          continue;
        }
        job.lease = renewed.lease;
        const stored = await store.jobs.get(job.record.id);
        if (stored?.cancelBy && !job.controller.signal.aborted) job.controller.abort({ by: stored.cancelBy } satisfies CancelReason);
      } catch (error) {
        // The database away for a moment: the lease holds for its TTL; the next beat tries again.
        options.log?.("job heartbeat failed", { job: job.record.id, err: error });
      }
    }
  }
  // A third of the TTL: two beats may fail (a database blink) before the lease runs out.
  const heartbeat = setInterval(() => void beat(), Math.max(200, Math.floor(ttl / 3)));
  heartbeat.unref();

  return {
    owner: options.owner,
    leaseTtlMs: ttl,
    newId: () => `j-${randomBytes(3).toString("hex")}`,
    /**
     * Registers a job as running here and takes its lease. A new one is stored with its resume details; a `resumed`
     * one (carried on after a restart or from another replica) is already stored and keeps its record. Undefined when
     * another replica holds the job: it is not this one's to run.
     */
    async start(
      record: Omit<NewJob, "messageTs"> & { messageTs?: string | null; channelName?: string | undefined },
      opts: { resumed?: boolean } = {},
    ): Promise<LiveJob | undefined> {
      const { channelName, ...stored } = record;
      // The lease first: a job row without one is what other replicas' take-over scans look for.
      const taken = await store.leases.acquire(jobLease(record.id), options.owner, ttl);
      if (!taken.ok) return undefined;
      if (!opts.resumed) await store.jobs.create({ ...stored, messageTs: record.messageTs ?? null });
      const kept = await store.jobs.get(record.id);
      if (!kept) return undefined;
      const job = {
        record: kept,
        controller: new AbortController(),
        channelName,
        lease: taken.lease,
        fence: { name: taken.lease.name, token: taken.lease.token },
      };
      // A job that begins while berth drains is left to the next berth at once, like those already running. A Stop
      // asked for while no replica carried it is heeded at the first heartbeat, once its run can stop the container.
      if (suspending) job.controller.abort(suspension);
      live.set(record.id, job);
      return job;
    },
    get: (id: string): LiveJob | undefined => live.get(id),
    list: () => [...live.values()].map((j) => j.record),
    /**
     * Stops a job: at once when it runs here, otherwise by asking, through the store, whichever replica carries it
     * (it stops at its next heartbeat). False when no such job is running.
     */
    async cancel(id: string, by: string): Promise<boolean> {
      const job = live.get(id);
      if (job) {
        if (job.controller.signal.aborted) return false;
        job.controller.abort({ by } satisfies CancelReason);
        return true;
      }
      return store.jobs.requestCancel(id, by);
    },
    /** Records the outcome; false when another replica has taken the job over meanwhile (its outcome is theirs to say). */
    async finish(
      id: string,
      status: Exclude<JobRecord["status"], "running">,
      exitCode: number | null,
      detail: string | null,
    ): Promise<boolean> {
      const job = live.get(id);
      try {
        const written = await store.jobs.finish(id, { status, exitCode, detail }, job?.fence);
        if (job && written.ok) await store.leases.release(job.lease).catch(() => false);
        return written.ok;
      } finally {
        gone(id);
      }
    },
    /**
     * A job this process stops carrying without an outcome: it stays running in the store, and its lease is given up
     * so that another replica (or the next berth) takes it over at once instead of after the TTL.
     */
    async release(id: string, opts: { keepLease?: boolean } = {}): Promise<void> {
      const job = live.get(id);
      try {
        if (job && !opts.keepLease) await store.leases.release(job.lease);
      } catch {
        // The lease then runs out by itself: another replica takes the job over a TTL later.
      } finally {
        gone(id);
      }
    },
    /** On shutdown: every job stops reading and records its cursor; containers keep running (see job-context.ts). */
    suspendAll(): void {
      suspending = true;
      for (const job of live.values()) if (!job.controller.signal.aborted) job.controller.abort(suspension);
    },
    /** Resolves once no job runs here (all finished or released). */
    idle(): Promise<void> {
      if (live.size === 0) return Promise.resolve();
      return new Promise((resolve) => {
        const done = () => {
          idle.delete(done);
          resolve();
        };
        idle.add(done);
      });
    },
    close(): void {
      clearInterval(heartbeat);
    },
  };
}

export type JobRegistry = ReturnType<typeof createJobRegistry>;

/**
 * Whether `viewer` may see (and so name, to cancel) a job: their own, and the jobs of the channel they are in.
 * Everyone's, everywhere (private channels and DMs included) takes the `job.list.all` permission: `seesAll`.
 */
export function jobVisible(
  job: Pick<JobRecord, "userId" | "channelId">,
  viewer: { userId: string; channelId: string },
  seesAll: () => boolean,
): boolean {
  return job.userId === viewer.userId || job.channelId === viewer.channelId || seesAll();
}
