import { randomBytes } from "node:crypto";
import type { JobRecord, Store } from "../store/store.ts";
import type { CancelReason } from "./execute.ts";

export type LiveJob = { record: JobRecord; controller: AbortController; channelName?: string | undefined };

/** Jobs running in this process: their stored record and the controller that stops them. */
export function createJobRegistry(store: Store) {
  const live = new Map<string, LiveJob>();
  return {
    newId: () => `j-${randomBytes(3).toString("hex")}`,
    start(
      record: Omit<Parameters<Store["jobs"]["create"]>[0], "messageTs"> & { messageTs?: string | null; channelName?: string | undefined },
    ): LiveJob {
      const { channelName, ...stored } = record;
      store.jobs.create({ ...stored, messageTs: record.messageTs ?? null });
      const job = { record: store.jobs.get(record.id) as JobRecord, controller: new AbortController(), channelName };
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
      live.delete(id);
      store.jobs.finish(id, status, exitCode, detail);
    },
    /** On shutdown: stop following everything, so streams end with a message rather than vanish. */
    cancelAll(by: string): void {
      for (const id of live.keys()) this.cancel(id, by);
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
