import { randomBytes } from "node:crypto";
import type { JobRecord, Store } from "../store/store.ts";
import { type CancelReason, suspension } from "./job-context.ts";

export type LiveJob = { record: JobRecord; controller: AbortController; channelName?: string | undefined };

/** Jobs running in this process: their stored record and the controller that stops them. */
export function createJobRegistry(store: Store) {
  const live = new Map<string, LiveJob>();
  const idle = new Set<() => void>();
  let suspending = false;
  const gone = (id: string) => {
    live.delete(id);
    if (live.size === 0) for (const resolve of idle) resolve();
  };
  return {
    newId: () => `j-${randomBytes(3).toString("hex")}`,
    /**
     * Registers a job as running here. A new one is stored with its resume details; a `resumed` one (carried on
     * after a restart) is already stored and keeps its record.
     */
    start(
      record: Omit<Parameters<Store["jobs"]["create"]>[0], "messageTs"> & { messageTs?: string | null; channelName?: string | undefined },
      options: { resumed?: boolean } = {},
    ): LiveJob {
      const { channelName, ...stored } = record;
      if (!options.resumed) store.jobs.create({ ...stored, messageTs: record.messageTs ?? null });
      const job = { record: store.jobs.get(record.id) as JobRecord, controller: new AbortController(), channelName };
      // A job that begins while berth drains is left to the next berth at once, like those already running.
      if (suspending) job.controller.abort(suspension);
      live.set(record.id, job);
      return job;
    },
    get: (id: string) => live.get(id),
    list: () => [...live.values()].map((j) => j.record),
    cancel(id: string, by: string): boolean {
      const job = live.get(id);
      if (!job || job.controller.signal.aborted) return false;
      job.controller.abort({ by } satisfies CancelReason);
      return true;
    },
    finish(id: string, status: Exclude<JobRecord["status"], "running">, exitCode: number | null, detail: string | null): void {
      store.jobs.finish(id, status, exitCode, detail);
      gone(id);
    },
    /** A job this process stops carrying without an outcome: it stays running in the store for the next berth. */
    release(id: string): void {
      gone(id);
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
