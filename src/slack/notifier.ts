import type { Action } from "../core/action.ts";
import { type ContainerEvent, labels } from "../engines/ports.ts";
import { createNotices, type Notice, type NoticeRouting, noticeChannel, noticeHeadline, shownOnJobCard } from "../notifications.ts";
import type { JobRecord } from "../store/records.ts";
import { codeBlock, slackLimits } from "./limits.ts";
import type { Outbox } from "./outbox.ts";
import { renderNotification } from "./render.ts";
import { slackError } from "./run-job.ts";

export type NotifierDeps = {
  outbox: Outbox;
  routing: NoticeRouting;
  /** The container's last lines, already redacted; shown once, in the thread, when the notice opens. */
  lastLines: (host: string, containerId: string) => Promise<string[]>;
  /** The job that started a container (its `io.berth.job`), whose card may already show the event. */
  jobOf: (jobId: string) => Promise<Pick<JobRecord, "status" | "channelId" | "endedAt"> | undefined>;
  log: (event: string, fields: Record<string, unknown>) => void;
  clock?: () => number;
};

/**
 * Posts one card per crashing container and edits it as the crashes repeat, unless the container's job card in that
 * channel shows the event already. Posting is serialized per notice: an event that arrives while the first card is
 * still being posted edits that card once it exists.
 */
export function createNotifier(deps: NotifierDeps) {
  const notices = createNotices(deps.routing, deps.clock);
  const cards = new Map<string, Promise<string | undefined>>();
  const pending = new Set<Promise<unknown>>();
  const card = (n: Notice) => {
    const logs: Action = { kind: "container.logs", host: n.host, container: n.id, follow: false, tail: 100 };
    const restart: Action = { kind: "container.restart", host: n.host, container: n.id };
    return renderNotification({
      host: n.host,
      id: n.id,
      image: n.image,
      headline: noticeHeadline(n),
      count: n.count,
      firstAt: n.firstAt,
      lastAt: n.lastAt,
      startedBy: n.startedBy,
      logsAction: JSON.stringify(logs),
      restartAction: JSON.stringify(restart),
    });
  };
  async function open(n: Notice): Promise<string | undefined> {
    try {
      const ts = await deps.outbox.post(n.channel, card(n));
      const lines = await deps.lastLines(n.host, n.id).catch(() => []);
      if (lines.length) {
        await deps.outbox.post(n.channel, { text: `Last lines:\n${codeBlock(lines, slackLimits.textChars - 20)}`, thread_ts: ts });
      }
      return ts;
    } catch (error) {
      deps.log("notification failed", { host: n.host, container: n.id, channel: n.channel, error: slackError(error) });
      return undefined;
    }
  }
  const track = (p: Promise<unknown>) => {
    pending.add(p);
    void p.finally(() => pending.delete(p));
  };
  /** Whether to tell the event; a job that cannot be looked up is told (never dropped silently). */
  async function untold(host: string, event: ContainerEvent): Promise<boolean> {
    const jobId = event.labels[labels.job];
    const channel = noticeChannel(deps.routing, host, event);
    if (!jobId || !channel) return true;
    try {
      if (!shownOnJobCard(await deps.jobOf(jobId), event, channel)) return true;
      deps.log("notification skipped: the job's card shows it", { host, container: event.id, job: jobId, kind: event.kind });
      return false;
    } catch (error) {
      deps.log("notification job lookup failed, notifying", { host, container: event.id, job: jobId, err: error });
      return true;
    }
  }
  function show(host: string, event: ContainerEvent): void {
    const added = notices.add(host, event);
    if (!added) {
      deps.log("notification dropped: no channel", { host, container: event.id, kind: event.kind });
      return;
    }
    const { notice, isNew } = added;
    if (isNew) {
      const posted = open(notice);
      cards.set(notice.key, posted);
      track(posted);
      return;
    }
    const posted = cards.get(notice.key);
    track(
      (async () => {
        const ts = await posted;
        if (!ts) return;
        // The outbox coalesces edits of one message: a burst of crashes becomes a few edits, the last one current.
        await deps.outbox.update(notice.channel, ts, card(notice));
      })().catch((error: unknown) => deps.log("notification update failed", { host, container: event.id, error: slackError(error) })),
    );
  }
  // Per container, events are shown in the order they came (an OOM kill, then its exit), whatever their lookups take.
  const queues = new Map<string, Promise<void>>();
  return {
    handle(host: string, event: ContainerEvent): void {
      const key = `${host}/${event.id}`;
      const next = (queues.get(key) ?? Promise.resolve())
        .then(() => untold(host, event))
        .then((tell) => {
          if (tell) show(host, event);
        })
        .catch((error: unknown) => deps.log("notification failed", { host, container: event.id, err: error }));
      queues.set(key, next);
      track(next);
      void next.finally(() => {
        if (queues.get(key) === next) queues.delete(key);
      });
    },
    /** Resolves once nothing is under way, including the cards that events still being looked up go on to post. */
    async idle(): Promise<void> {
      while (pending.size) await Promise.allSettled([...pending]);
    },
  };
}
