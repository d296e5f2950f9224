import { code, type Message, msg } from "./core/message.ts";
import { type ContainerEvent, labels } from "./engines/ports.ts";
import type { JobRecord } from "./store/records.ts";

/** One container's notification thread: what happened, how often, and where it is shown. */
export type Notice = {
  key: string;
  host: string;
  channel: string;
  id: string;
  container: string;
  image: string;
  headline: string;
  count: number;
  firstAt: number;
  lastAt: number;
  startedBy: string | undefined;
  lastKind: ContainerEvent["kind"];
};

export type NoticeRouting = {
  /** Every notification goes here when set (the manifest's `notifications.channel`). */
  channel?: string | undefined;
  /** Per-host override (a host's `notify`). */
  hostChannel: (host: string) => string | undefined;
};

/** Where a host's container events are told: the configured channel, else the host's, else where it was started from. */
export function noticeChannel(routing: NoticeRouting, host: string, event: ContainerEvent): string | undefined {
  return routing.channel ?? routing.hostChannel(host) ?? event.labels[labels.channel];
}

/**
 * How long before its container's event a job may have ended and still show it. The job ends right after its
 * container does; this only covers berth's clock trailing the engine's a little.
 */
const cardSlackMs = 5_000;

/**
 * Whether the job card of the event's container, in `channel`, already shows the event: one message per event, so it
 * gets no notification card there. True while the job runs (its card follows the container and ends with its exit),
 * and when the job ended no earlier than the event. A `run -d` job, one that ended before (a container restarted after
 * its run), one whose card is in another channel, and a container without a known job are notified.
 */
export function shownOnJobCard(
  job: Pick<JobRecord, "status" | "channelId" | "endedAt"> | undefined,
  event: ContainerEvent,
  channel: string,
): boolean {
  if (!job || job.channelId !== channel) return false;
  // Its job ended at "Started", maybe still finishing when the container dies: nothing on the card tells the crash.
  if (event.labels[labels.detached] === "true") return false;
  if (job.status === "running") return true;
  const eventAt = Number(event.timeNano / 1_000_000n);
  return job.endedAt !== null && job.endedAt >= eventAt - cardSlackMs;
}

/** A die that follows an OOM kill this soon is the same crash, not a second one. */
const oomDieMs = 10_000;
/** After this long without events, a container's next crash starts a new thread. */
const quietMs = 6 * 3600_000;

/**
 * Coalesces container events into one notice per container: the first event opens it (post a card), later ones
 * update it (edit the card's counter). Pure state; the Slack side posts and edits.
 */
export function createNotices(routing: NoticeRouting, clock: () => number = Date.now) {
  const notices = new Map<string, Notice>();
  return {
    /** Returns the notice to show and whether it is new; undefined when the event changes nothing shown. */
    add(host: string, event: ContainerEvent): { notice: Notice; isNew: boolean } | undefined {
      const now = clock();
      const key = `${host}/${event.id}`;
      const channel = noticeChannel(routing, host, event);
      if (!channel) return undefined;
      const known = notices.get(key);
      if (known && now - known.lastAt < quietMs) {
        // The engine reports an OOM kill as `oom` then `die` (exit 137): one crash, told once.
        if (event.kind === "die" && known.lastKind === "oom" && now - known.lastAt < oomDieMs) {
          known.headline = `was killed for running out of memory (exit ${event.exitCode ?? 137})`;
          known.lastKind = "die";
          return { notice: known, isNew: false };
        }
        known.count++;
        known.lastAt = now;
        known.lastKind = event.kind;
        known.headline = headline(event);
        return { notice: known, isNew: false };
      }
      const notice: Notice = {
        key,
        host,
        channel,
        id: event.id,
        container: event.name,
        image: event.image,
        headline: headline(event),
        count: 1,
        firstAt: now,
        lastAt: now,
        startedBy: event.labels[labels.user],
        lastKind: event.kind,
      };
      notices.set(key, notice);
      // Old threads are forgotten so the map stays small on a long-running berth.
      for (const [k, n] of notices) if (now - n.lastAt >= quietMs) notices.delete(k);
      return { notice, isNew: true };
    },
  };
}

/** What a notice says happened: "`api` on local exited with code 3". */
export function noticeHeadline(n: Pick<Notice, "container" | "host" | "headline">): Message {
  return msg`${code(n.container)} on ${n.host} ${n.headline}`;
}

function headline(e: ContainerEvent): string {
  switch (e.kind) {
    case "die":
      return `exited with code ${e.exitCode ?? "?"}`;
    case "oom":
      return "was killed for running out of memory";
    case "unhealthy":
      return "turned unhealthy (its health check fails)";
  }
}
