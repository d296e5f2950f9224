import type { webApi } from "@slack/bolt";

type WebClient = webApi.WebClient;
type ChatPostMessageArguments = webApi.ChatPostMessageArguments;
type ChatUpdateArguments = webApi.ChatUpdateArguments;

type Lane = { nextAt: number; spacing: number };
type Message = Omit<ChatPostMessageArguments, "channel"> & { text: string };
type Update = Omit<ChatUpdateArguments, "channel" | "ts"> & { text: string };

export type OutboxStats = { calls: Record<string, number>; rateLimited: Record<string, number> };

export type OutboxOptions = {
  client: WebClient;
  spacing: { postPerChannelMs: number; postRepliesMs: number; postTopLevelMs: number; updateMs: number; uploadMs: number };
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
};

const isRateLimited = (e: unknown): e is { retryAfter: number } =>
  typeof e === "object" && e !== null && (e as { code?: string }).code === "slack_webapi_rate_limited_error";

/**
 * The only way berth writes to Slack channels. It spaces calls to stay inside Slack's rate limits (per channel for
 * posts, per workspace for edits and uploads), coalesces edits of the same message so the newest state wins, and when
 * Slack still answers 429 it waits `Retry-After` and sends the same call again: nothing queued is dropped.
 */
export function createOutbox(options: OutboxOptions) {
  const { client } = options;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const lanes = new Map<string, Lane>();
  const stats: OutboxStats = { calls: {}, rateLimited: {} };
  const chains = new Map<string, Promise<unknown>>();

  const lane = (key: string, spacing: number): Lane => {
    const known = lanes.get(key);
    if (known) return known;
    const created = { nextAt: 0, spacing };
    lanes.set(key, created);
    return created;
  };

  /**
   * Reserves the next free slot on every lane at once, at the moment the call is asked for: first come, first
   * served, so fifty streams sharing the workspace budget take turns instead of racing for it. On a 429 the lanes
   * wait Retry-After and the call is sent again.
   */
  async function send<T>(method: string, laneList: Lane[], call: () => Promise<T>): Promise<T> {
    for (;;) {
      const slot = Math.max(now(), ...laneList.map((l) => l.nextAt));
      for (const l of laneList) l.nextAt = slot + l.spacing;
      const wait = slot - now();
      if (wait > 0) await sleep(wait);
      stats.calls[method] = (stats.calls[method] ?? 0) + 1;
      try {
        return await call();
      } catch (error) {
        if (!isRateLimited(error)) throw error;
        stats.rateLimited[method] = (stats.rateLimited[method] ?? 0) + 1;
        const until = now() + Math.max(1, error.retryAfter) * 1000;
        for (const l of laneList) l.nextAt = Math.max(l.nextAt, until);
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

  const pendingUpdates = new Map<string, { args: ChatUpdateArguments; waiters: { resolve(): void; reject(e: unknown): void }[] }>();
  let updating = false;

  async function drainUpdates(): Promise<void> {
    if (updating) return;
    updating = true;
    try {
      for (;;) {
        const first = pendingUpdates.entries().next();
        if (first.done) return;
        const [key, pending] = first.value;
        pendingUpdates.delete(key);
        try {
          await send("chat.update", [lane("update:*", options.spacing.updateMs)], () => client.chat.update(pending.args));
          for (const w of pending.waiters) w.resolve();
        } catch (error) {
          for (const w of pending.waiters) w.reject(error);
        }
      }
    } finally {
      updating = false;
    }
  }

  return {
    stats,
    /** Posts a message (a card, or a reply in a thread) and returns its ts. */
    post(channel: string, message: Message): Promise<string> {
      return serial(`post:${channel}`, async () => {
        const res: webApi.ChatPostMessageResponse = await send(
          "chat.postMessage",
          [
            lane(`post:${channel}`, options.spacing.postPerChannelMs),
            message.thread_ts
              ? lane("post:replies", options.spacing.postRepliesMs)
              : lane("post:top-level", options.spacing.postTopLevelMs),
          ],
          () => client.chat.postMessage({ unfurl_links: false, unfurl_media: false, ...message, channel } as ChatPostMessageArguments),
        );
        return String(res.ts);
      });
    },
    /** Edits a message; edits of the same message that have not been sent yet are merged, the newest winning. */
    update(channel: string, ts: string, update: Update): Promise<void> {
      const key = `${channel}:${ts}`;
      const args = { ...update, channel, ts } as ChatUpdateArguments;
      return new Promise<void>((resolve, reject) => {
        const pending = pendingUpdates.get(key);
        if (pending) {
          pending.args = args;
          pending.waiters.push({ resolve, reject });
        } else {
          pendingUpdates.set(key, { args, waiters: [{ resolve, reject }] });
        }
        void drainUpdates();
      });
    },
    /** Uploads a file into a thread with files.getUploadURLExternal + files.completeUploadExternal. */
    upload(channel: string, threadTs: string, file: { filename: string; title: string; content: Buffer; comment?: string }) {
      return send("files.uploadV2", [lane("upload:*", options.spacing.uploadMs)], () =>
        client.filesUploadV2({
          channel_id: channel,
          thread_ts: threadTs,
          file: file.content,
          filename: file.filename,
          title: file.title,
          ...(file.comment ? { initial_comment: file.comment } : {}),
        }),
      );
    },
  };
}

export type Outbox = ReturnType<typeof createOutbox>;
