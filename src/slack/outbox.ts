import { stat } from "node:fs/promises";
import bolt, { type webApi } from "@slack/bolt";
import type { RateBudget } from "../store/port.ts";
import { createSharedBudget } from "./shared-budget.ts";
import { backoff, verdict } from "./slack-faults.ts";
import { postFile, type ReadPattern } from "./upload-stream.ts";

type WebClient = webApi.WebClient;
type ChatPostMessageArguments = webApi.ChatPostMessageArguments;
type ChatUpdateArguments = webApi.ChatUpdateArguments;

type Lane = { key: string; nextAt: number; spacing: number };
type Message = Omit<ChatPostMessageArguments, "channel"> & { text: string };
type Update = Omit<ChatUpdateArguments, "channel" | "ts"> & { text: string };
type Waiter = { resolve(): void; reject(e: unknown): void };

export type OutboxStats = {
  calls: Record<string, number>;
  rateLimited: Record<string, number>;
  /** Calls sent again after a 5xx, a network error or no answer within the deadline. */
  retried: Record<string, number>;
  // The two below are optional only so that the stand-in outboxes of other tests need not list them; createOutbox
  // always sets them.
  /** Calls that went out on local spacing alone because the shared budget could not be reached (database down). */
  budgetUnavailable?: number;
  /** Times the shared budget refused a call and it waited for the next window (other replicas used it). */
  budgetRefused?: number;
};

export type OutboxOptions = {
  /** berth's Slack client: the outbox calls Slack with the same token and URL through a client of its own (below). */
  client: WebClient;
  spacing: { postPerChannelMs: number; postRepliesMs: number; postTopLevelMs: number; updateMs: number; uploadMs: number };
  /** Longest one Slack call may go without an answer before it is abandoned and sent again (default 10 s). */
  callDeadlineMs?: number;
  /** How long a call failing with a 5xx, a network error or no answer is tried again before its caller is told (default 5 min). */
  retryForMs?: number;
  /** The first and the longest wait between two tries of a failing call (default 1 s and 30 s). */
  backoffMs?: { first: number; max: number };
  /**
   * The rate budget shared by every replica (`store.rateBudget`): without it each replica spaces only its own calls,
   * and N replicas can send N times Slack's limits. With it, each call also takes a token per lane (shared-budget.ts).
   */
  budget?: RateBudget;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** For the jitter of waits on the shared budget (tests). */
  random?: () => number;
};

export type UploadFile = { filename: string; title: string; comment?: string; path: string };
export type UploadOptions = {
  /** Told each time a try failed and another follows: the caller can say "pending" meanwhile. */
  onRetry?: (reason: string) => void;
  /** Told how the bytes were read (tests check they were streamed). */
  observe?: (pattern: ReadPattern) => void;
};

/** An edit that a newer edit of the same message replaced while it waited for a retry. */
class Superseded extends Error {}

/**
 * The only way berth writes to Slack channels. It spaces calls to stay inside Slack's rate limits (per channel for
 * posts, per workspace for edits and uploads), coalesces edits of the same message so the newest state wins, and when
 * Slack still answers 429 (or `ok:false` `ratelimited`) it waits `Retry-After` and sends the same call again. A call
 * that fails with a 5xx or a network error, or gets no answer within the deadline, is abandoned and sent again with
 * backoff for `retryForMs`; only then is its caller told. Nothing queued is dropped.
 *
 * Order is kept by sequence, not by waiting: calls take their slot in the order they are asked for; a thread's replies
 * are one sequence (a reply goes out once the previous one landed: Slack orders a thread by arrival, and a log must
 * read in order), so a hung reply holds only its own thread. Top-level posts (cards, answers) each answer their own
 * request: one that is being retried holds no other post of its channel, and it goes before the replies waiting in
 * its channel (they claim the channel only when it is free). Edits of different messages are independent.
 * A call whose answer was lost may have reached Slack: a retried post can then show twice (at least once, never lost).
 *
 * With several replicas, `budget` makes the lanes shared: after its local slot a call also takes a slot on each of
 * its lanes from the database (shared-budget.ts), so all replicas together stay at one replica's rate, served in the
 * order they asked. Waiting for the shared budget is part of the call's own try, so the order above holds: a thread's
 * next reply still waits for the previous one to land, and a card waiting for the budget (or being retried) holds no
 * other post. Replies and top-level posts take different workspace lanes (`post:replies`, `post:top-level`), so fifty
 * streams' replies never hold a new card back in the shared budget either; they meet only in their channel's lane,
 * which a reply claims only when it is free and a card books ahead (see post()).
 * When the database cannot be reached the outbox goes on with local spacing alone and counts `budgetUnavailable`.
 */
export function createOutbox(options: OutboxOptions) {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadlineMs = options.callDeadlineMs ?? 10_000;
  const retryForMs = options.retryForMs ?? 5 * 60_000;
  const { first: firstBackoff, max: maxBackoff } = options.backoffMs ?? { first: 1000, max: 30_000 };
  // The deadline has to abort the request itself: a call only raced against a timer would keep its socket and its
  // place in the client's request queue for as long as Slack holds it. The client never retries: the outbox decides.
  const client = new bolt.webApi.WebClient(options.client.token, {
    slackApiUrl: options.client.slackApiUrl,
    timeout: deadlineMs,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    logLevel: bolt.webApi.LogLevel.ERROR,
  });
  const lanes = new Map<string, Lane>();
  const stats: Required<OutboxStats> = { calls: {}, rateLimited: {}, retried: {}, budgetUnavailable: 0, budgetRefused: 0 };
  const shared =
    options.budget &&
    createSharedBudget({
      budget: options.budget,
      now,
      sleep,
      ...(options.random ? { random: options.random } : {}),
      onUnavailable: () => {
        stats.budgetUnavailable++;
      },
      onRefused: () => {
        stats.budgetRefused++;
      },
    });
  const chains = new Map<string, Promise<unknown>>();
  const count = (table: Record<string, number>, method: string) => {
    table[method] = (table[method] ?? 0) + 1;
  };

  const rateLane = (l: Lane) => ({ key: l.key, spacingMs: Math.max(1, Math.ceil(l.spacing)) });
  const lane = (key: string, spacing: number): Lane => {
    const known = lanes.get(key);
    if (known) return known;
    const created = { key, nextAt: 0, spacing };
    lanes.set(key, created);
    return created;
  };

  /**
   * Reserves the next free slot on every lane at once, at the moment the call is asked for: first come, first
   * served, so fifty streams sharing the workspace budget take turns instead of racing for it. A rate limit pauses
   * the lanes; a failure backs off this call only. `late` lanes are not reserved ahead but claimed when the call is
   * about to go, once they are free: a call that reserves them meanwhile goes first (a card before the replies
   * waiting in its channel). Then the shared budget, if any, for every try (a try is a call Slack sees): the lanes
   * reserved ahead are queued there too, the `late` ones claimed only when free (shared-budget.ts).
   */
  async function send<T>(
    method: string,
    laneList: Lane[],
    call: () => Promise<T>,
    hooks: { onRetry?: (reason: string) => void; superseded?: () => boolean; late?: Lane[] } = {},
  ): Promise<T> {
    const started = now();
    const late = hooks.late ?? [];
    const freeAt = () => Math.max(...late.map((l) => l.nextAt));
    for (let tries = 1; ; tries++) {
      const slot = Math.max(now(), ...laneList.map((l) => l.nextAt));
      for (const l of laneList) l.nextAt = slot + l.spacing;
      const wait = slot - now();
      if (wait > 0) await sleep(wait);
      for (let free = freeAt(); free > now(); free = freeAt()) await sleep(free - now());
      for (const l of late) l.nextAt = now() + l.spacing;
      if (shared) await shared.take(laneList.map(rateLane), late.map(rateLane));
      count(stats.calls, method);
      try {
        return await call();
      } catch (error) {
        const v = verdict(error);
        if (v.kind === "fail") throw error;
        if (v.kind === "wait") {
          count(stats.rateLimited, method);
          const until = now() + v.ms;
          for (const l of [...late, ...laneList]) l.nextAt = Math.max(l.nextAt, until);
        } else {
          if (now() - started >= retryForMs) throw error;
          count(stats.retried, method);
          hooks.onRetry?.(v.reason);
          await sleep(backoff(tries, firstBackoff, maxBackoff));
        }
        if (hooks.superseded?.()) throw new Superseded();
      }
    }
  }

  /** Calls for one key run one after another, in the order they were asked for. */
  function serial<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = chains.get(key) ?? Promise.resolve();
    const next = previous.then(task, task);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    chains.set(key, settled);
    void settled.then(() => {
      if (chains.get(key) === settled) chains.delete(key);
    });
    return next;
  }

  /** Edits not sent yet, by message; one sender per message at a time. */
  const queuedEdits = new Map<string, { args: ChatUpdateArguments; waiters: Waiter[] }>();
  const editing = new Set<string>();

  async function sendEdits(key: string): Promise<void> {
    editing.add(key);
    try {
      for (;;) {
        const edit = queuedEdits.get(key);
        if (!edit) return;
        queuedEdits.delete(key);
        try {
          await send("chat.update", [lane("update:*", options.spacing.updateMs)], () => client.chat.update(edit.args), {
            superseded: () => queuedEdits.has(key),
          });
          for (const w of edit.waiters) w.resolve();
        } catch (error) {
          const newer = queuedEdits.get(key);
          // A newer state of the same message is waiting: the failed one is not sent again, its callers wait for that.
          if (error instanceof Superseded && newer) newer.waiters.push(...edit.waiters);
          else for (const w of edit.waiters) w.reject(error);
        }
      }
    } finally {
      editing.delete(key);
    }
  }

  return {
    stats: stats as OutboxStats,
    /** Posts a message (a card, or a reply in a thread) and returns its ts. */
    post(channel: string, message: Message): Promise<string> {
      // Replies take their channel's lane and bucket too: Slack's ~1 post/s per channel is not documented to leave
      // thread replies out (docs/reference/slack-platform.md §4.1 says to assume they count, and the emulator counts
      // them), so leaving them out would let a channel get a card and a reply per second, or N replicas' replies.
      // But a reply claims its channel only when it is about to go (`late`), while a card reserves it when asked for:
      // a new card goes out within about a second even where fifty streams wait to reply in the same channel, and a
      // reply's slot on the workspace-wide reply lane is not pushed back behind its busy channel's queue (which held
      // every other channel's replies up). The channel comes first in the shared budget: it is the narrower bucket.
      const channelLane = lane(`post:${channel}`, options.spacing.postPerChannelMs);
      const go = async () => {
        const res: webApi.ChatPostMessageResponse = await send(
          "chat.postMessage",
          message.thread_ts
            ? [lane("post:replies", options.spacing.postRepliesMs)]
            : [channelLane, lane("post:top-level", options.spacing.postTopLevelMs)],
          () => client.chat.postMessage({ unfurl_links: false, unfurl_media: false, ...message, channel } as ChatPostMessageArguments),
          message.thread_ts ? { late: [channelLane] } : {},
        );
        return String(res.ts);
      };
      return message.thread_ts ? serial(`thread:${channel}:${message.thread_ts}`, go) : go();
    },
    /**
     * Edits a message; edits of the same message that have not been sent yet are merged, the newest winning. A failed
     * edit is retried like any call (a card's last edit must land, or it shows "Running" and a live Stop for good).
     */
    update(channel: string, ts: string, update: Update): Promise<void> {
      const key = `${channel}:${ts}`;
      const args = { ...update, channel, ts } as ChatUpdateArguments;
      return new Promise<void>((resolve, reject) => {
        const queued = queuedEdits.get(key);
        if (queued) {
          queued.args = args;
          queued.waiters.push({ resolve, reject });
        } else {
          queuedEdits.set(key, { args, waiters: [{ resolve, reject }] });
        }
        if (!editing.has(key)) void sendEdits(key);
      });
    },
    /**
     * Uploads a file from disk into a thread (files.getUploadURLExternal, the bytes streamed to its upload URL,
     * files.completeUploadExternal). A failed POST of the bytes starts over with a new upload URL, with backoff.
     */
    async upload(channel: string, threadTs: string, file: UploadFile, hooks: UploadOptions = {}): Promise<void> {
      const uploadLane = lane("upload:*", options.spacing.uploadMs);
      const started = now();
      const onRetry = hooks.onRetry;
      for (let tries = 1; ; tries++) {
        const { size } = await stat(file.path);
        const target = await send(
          "files.getUploadURLExternal",
          [uploadLane],
          () => client.files.getUploadURLExternal({ filename: file.filename, length: size }),
          onRetry ? { onRetry } : {},
        );
        count(stats.calls, "upload");
        try {
          await postFile(String(target.upload_url), file.path, size, deadlineMs, hooks.observe);
        } catch (error) {
          if (now() - started >= retryForMs) throw error;
          count(stats.retried, "upload");
          onRetry?.((error as Error).message);
          await sleep(backoff(tries, firstBackoff, maxBackoff));
          continue;
        }
        await send(
          "files.completeUploadExternal",
          [uploadLane],
          () =>
            client.files.completeUploadExternal({
              files: [{ id: String(target.file_id), title: file.title }],
              channel_id: channel,
              thread_ts: threadTs,
              ...(file.comment ? { initial_comment: file.comment } : {}),
            }),
          onRetry ? { onRetry } : {},
        );
        return;
      }
    },
  };
}

export type Outbox = ReturnType<typeof createOutbox>;
