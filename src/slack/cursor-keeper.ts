import { BerthError } from "../core/errors.ts";
import { lost, takenOver } from "../core/job-context.ts";
import type { LiveJob } from "../core/jobs.ts";
import type { StoredResume } from "../core/resume.ts";
import type { LogLine } from "../engines/ports.ts";
import type { StorePort, Written } from "../store/port.ts";
import type { Outbox } from "./outbox.ts";
import type { Thread } from "./thread.ts";

/**
 * Keeps a job's cursor (store.jobs.advanceCursor) so that the next berth carries it on with no gap and no repeat:
 * before any reply leaves for the thread, the spool is written and the cursor stored, so every posted line is at or
 * before the cursor, and every line at or before it is in the spool file. A timer moves it on while nothing is posted
 * (a capped or drained thread). The thread's reply count goes with it (its cap counts across restarts).
 */
export function cursorKeeper(
  job: LiveJob,
  deps: {
    store: Pick<StorePort, "jobs" | "leases">;
    outbox: Outbox;
    log?: ((event: string, fields: Record<string, unknown>) => void) | undefined;
  },
) {
  const id = job.record.id;
  let thread: Thread | undefined;
  let stored: StoredResume | undefined;
  let handed: { at: string; lines: number } | undefined;
  let kept = -1;
  let keptMessages = -1;
  let chain: Promise<void> = Promise.resolve();
  const timer = setInterval(() => void checkpoint(), 1000);
  timer.unref();

  /** A write refused by the fence: another replica has the job now, so this one stops writing anything about it. */
  const fenced = (written: Written) => {
    if (!written.ok && written.reason === "fenced" && !job.controller.signal.aborted) job.controller.abort(lost);
  };
  const save = async () => {
    if (stored) fenced(await deps.store.jobs.setResume(id, stored, job.fence));
  };
  /**
   * Before a post or an edit leaves for Slack: still this replica's job? A replica cut off from the database longer
   * than the lease no longer is, and must not post over its successor (a check, then the call: the window between
   * them is one Slack call long, far shorter than the lease).
   */
  const owned = async () => {
    if (takenOver(job.controller.signal)) throw new BerthError("CONFLICT", "job taken over");
    if (await deps.store.leases.holds(job.fence)) return;
    job.controller.abort(lost);
    throw new BerthError("CONFLICT", `Job ${id} is carried by another berth replica now.`);
  };
  const write = async () => {
    if (!thread) return;
    const at = handed;
    const messages = thread.result.messages + thread.result.failedPosts;
    if ((!at || at.lines <= kept) && messages === keptMessages) return;
    try {
      await thread.sync();
      if (at && at.lines > kept) {
        fenced(await deps.store.jobs.advanceCursor(id, at, job.fence));
        kept = at.lines;
      }
      if (stored && messages !== keptMessages) {
        stored.messages = messages;
        await save();
        keptMessages = messages;
      }
    } catch (error) {
      // A disk or store failing must not hold the output back: the thread goes on, a restart may repeat some lines.
      deps.log?.("job cursor not stored", { job: id, err: error });
    }
  };
  /** Serialized: the cursor is only ever written forward. */
  const checkpoint = (): Promise<void> => {
    chain = chain.then(write, write);
    return chain;
  };
  return {
    outbox: {
      ...deps.outbox,
      post: async (channel: string, message: Parameters<Outbox["post"]>[1]) => {
        await checkpoint();
        await owned();
        return deps.outbox.post(channel, message);
      },
      update: async (...args: Parameters<Outbox["update"]>) => {
        await owned();
        return deps.outbox.update(...args);
      },
    } satisfies Outbox,
    attach(t: Thread, s: StoredResume): void {
      thread = t;
      stored = s;
    },
    /**
     * A line is in the thread (and its spool): a whole line with a time moves the cursor there. A stream's first one
     * is stored as where its full log starts, so a replica carrying it on can read the spool's lines again.
     */
    handed(line: LogLine, lines: number): void {
      if (line.at === undefined || line.continued) return;
      handed = { at: line.at, lines };
      const point = stored?.point;
      if (point?.kind === "container.logs" && point.firstAt === undefined) {
        point.firstAt = line.at;
        void save().catch((error: unknown) => deps.log?.("job resume details not stored", { job: id, err: error }));
      }
    },
    save,
    checkpoint,
    stop(): void {
      clearInterval(timer);
    },
  };
}
