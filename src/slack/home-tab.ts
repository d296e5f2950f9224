import type { Action, Actor } from "../core/action.ts";
import { type HomeDeps, homeFor } from "../core/home.ts";
import type { RateBudget } from "../store/port.ts";
import type { Respond } from "./deliver.ts";
import { type HomeView, renderHome } from "./render-home.ts";
import { slackError } from "./run-job.ts";

/**
 * The App Home tab: publishes each person's Home view (core/home.ts, rendered by render-home.ts) when they open it,
 * and again when something it shows may have changed, for the people who opened it since berth started.
 *
 * Slack allows views.publish about 100 times a minute for the workspace (Tier 4; docs/reference/slack-platform.md
 * §4.1): publishes go at least `spacingMs` apart (shared by replicas through the store's rate budget when there is
 * one), a burst of changes is one publish per person per `debounceMs`, a 429 waits its Retry-After, and only the
 * `maxViewers` people who opened Home most recently are kept up to date (the others see a fresh view when they open it).
 */
export type HomeTabDeps = {
  core: HomeDeps;
  publish: (userId: string, view: HomeView) => Promise<unknown>;
  slash: string;
  log: (event: string, fields: Record<string, unknown>) => void;
  budget?: RateBudget | undefined;
  debounceMs?: number | undefined;
  spacingMs?: number | undefined;
  maxViewers?: number | undefined;
};

type Viewer = Pick<Actor, "userId" | "teamId" | "homeTeam">;

export const homeTabDefaults = { debounceMs: 3000, spacingMs: Math.ceil(60_000 / 90), maxViewers: 50 } as const;

export function createHomeTab(deps: HomeTabDeps) {
  const debounceMs = deps.debounceMs ?? homeTabDefaults.debounceMs;
  const spacingMs = deps.spacingMs ?? homeTabDefaults.spacingMs;
  const maxViewers = deps.maxViewers ?? homeTabDefaults.maxViewers;
  /** Recent viewers, oldest first (a Map keeps insertion order: opening Home again moves them to the end). */
  const viewers = new Map<string, Viewer>();
  /** The answer to each person's last tap in Home, shown at its top until they open Home again. */
  const notices = new Map<string, string>();
  const timers = new Map<string, NodeJS.Timeout>();
  const lastAt = new Map<string, number>();
  /** Who waits for a publish, each at most once: people looking at Home now (opened it, tapped in it) before refreshes. */
  const urgent = new Map<string, Viewer>();
  const refresh = new Map<string, Viewer>();
  const waiters = new Map<string, (() => void)[]>();
  let nextSlot = 0;
  let closed = false;
  let pumping: Promise<void> | undefined;

  /** Waits for the next views.publish slot: this process's spacing, and the replicas' shared budget when there is one. */
  async function slot(): Promise<void> {
    const wait = Math.max(0, nextSlot - Date.now());
    nextSlot = Math.max(Date.now(), nextSlot) + spacingMs;
    if (wait) await new Promise((resolve) => setTimeout(resolve, wait));
    const shared = await deps.budget?.reserve([{ key: "views.publish", spacingMs }], "queue").catch(() => undefined);
    if (shared?.ok && shared.waitMs > 0) await new Promise((resolve) => setTimeout(resolve, shared.waitMs));
  }

  async function publishNow(viewer: Viewer): Promise<void> {
    const content = await homeFor(deps.core, viewer, AbortSignal.timeout(15_000));
    const view = renderHome(content, deps.slash, notices.get(viewer.userId));
    for (let attempt = 0; attempt < 3 && !closed; attempt++) {
      await slot();
      try {
        await deps.publish(viewer.userId, view);
        lastAt.set(viewer.userId, Date.now());
        return;
      } catch (error) {
        const retryAfter = (error as { retryAfter?: unknown }).retryAfter;
        if (typeof retryAfter !== "number") throw error;
        nextSlot = Math.max(nextSlot, Date.now() + retryAfter * 1000);
      }
    }
  }

  /** Resolves once `viewer`'s view has been published (or berth stopped publishing). */
  function request(viewer: Viewer, now: boolean): Promise<void> {
    if (closed) return Promise.resolve();
    const { userId } = viewer;
    if (now) {
      refresh.delete(userId);
      urgent.set(userId, viewer);
    } else if (!urgent.has(userId)) refresh.set(userId, viewer);
    const done = new Promise<void>((resolve) => waiters.set(userId, [...(waiters.get(userId) ?? []), resolve]));
    pumping ??= pump();
    return done;
  }

  /** One publish at a time: the spacing holds, and a person's newer view is never overtaken by an older one. */
  async function pump(): Promise<void> {
    try {
      for (;;) {
        const next = urgent.values().next().value ?? refresh.values().next().value;
        if (!next || closed) break;
        urgent.delete(next.userId);
        refresh.delete(next.userId);
        const resolvers = waiters.get(next.userId) ?? [];
        waiters.delete(next.userId);
        await publishNow(next).catch((error: unknown) =>
          deps.log("home view not published", { user: next.userId, error: slackError(error) }),
        );
        for (const resolve of resolvers) resolve();
      }
    } finally {
      pumping = undefined;
      if (closed) for (const resolve of [...waiters.values()].flat()) resolve();
    }
  }

  function schedule(userId: string): void {
    const viewer = viewers.get(userId);
    if (!viewer || timers.has(userId) || closed) return;
    const due = Math.max(debounceMs, (lastAt.get(userId) ?? 0) + debounceMs - Date.now());
    const timer = setTimeout(() => {
      timers.delete(userId);
      void request(viewer, false);
    }, due);
    timer.unref();
    timers.set(userId, timer);
  }

  return {
    /** Someone opened their Home tab: remembered as a recent viewer, and their view published now. */
    opened(viewer: Viewer): Promise<void> {
      viewers.delete(viewer.userId);
      viewers.set(viewer.userId, viewer);
      while (viewers.size > maxViewers) {
        const oldest = viewers.keys().next().value as string;
        viewers.delete(oldest);
        notices.delete(oldest);
      }
      notices.delete(viewer.userId);
      clearTimeout(timers.get(viewer.userId));
      timers.delete(viewer.userId);
      return request(viewer, true);
    },
    /**
     * Something Home shows may have changed (a job started or ended, a request appeared or was decided, a grant began
     * or ended): every recent viewer's view is published again, once per burst.
     */
    changed(): void {
      for (const userId of viewers.keys()) schedule(userId);
    },
    /**
     * Where the answer to a tap in Home goes: Home has no response_url and no channel for an ephemeral reply, so it
     * is shown at the top of the person's Home view, published again at once.
     */
    respond(viewer: Viewer): Respond {
      return async (message) => {
        // Only berth's own workspace gets a view (app.ts refuses the others before anything is shown).
        if (viewer.homeTeam !== true) return;
        notices.set(viewer.userId, message.text);
        if (!viewers.has(viewer.userId)) viewers.set(viewer.userId, viewer);
        await request(viewer, true);
      };
    },
    /**
     * The channel a tap in Home is authorized in: the one of the job or request it concerns, as the slash command
     * typed there would be (policy places are channels, and Home is none). Undefined when the click names neither:
     * it is then judged in no channel, where only bindings without `channels` apply.
     */
    async channelOf(
      action: Action,
      blockId: string | undefined,
      store: HomeDeps["store"],
    ): Promise<{ channelId: string; channelName?: string | undefined } | undefined> {
      if (action.kind === "approval.decide") {
        const p = await store.pending.get(action.id);
        return p && { channelId: p.channelId, channelName: p.channelName ?? undefined };
      }
      const jobId = action.kind === "job.cancel" ? action.job : /^home-job:(.+)$/.exec(blockId ?? "")?.[1];
      const job = jobId === undefined ? undefined : await store.jobs.get(jobId);
      return job && { channelId: job.channelId };
    },
    /** Stops publishing; resolves when the publishes under way are done. */
    async close(): Promise<void> {
      closed = true;
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
      await pumping;
      for (const resolve of [...waiters.values()].flat()) resolve();
      waiters.clear();
    },
  };
}

export type HomeTab = ReturnType<typeof createHomeTab>;
