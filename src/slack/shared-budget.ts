import type { RateBudget } from "../store/port.ts";

/** A lane of the outbox as the shared budget sees it: its bucket and the spacing one replica keeps on it. */
export type BudgetLane = { key: string; spacing: number };

/**
 * The shared rule for a lane spaced `spacingMs` apart: k tokens per window of k × spacing, k chosen so that a window
 * is about one second. The rate is exactly one replica's (1 per spacing), whatever the number of replicas.
 *
 * Fixed windows allow a burst at their boundary: k calls at the end of one window and k more at the start of the
 * next, so up to 2k calls can reach Slack within a few milliseconds (2 posts in a channel, 6 thread replies, 4 cards).
 * Keeping windows near one second keeps that burst inside what Slack tolerates ("short bursts >1 allowed"); longer
 * windows (say 180 replies per minute) would allow 360 replies in one second at a minute's boundary. When Slack
 * still answers 429 after such a burst, the outbox waits Retry-After as it always did.
 */
export function budgetRule(spacingMs: number): { limit: number; windowMs: number } {
  const spacing = Math.max(1, Math.ceil(spacingMs));
  const limit = Math.max(1, Math.round(1000 / spacing));
  return { limit, windowMs: limit * spacing };
}

export type SharedBudgetOptions = {
  budget: RateBudget;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Told each time a call goes out on local spacing alone because the budget could not be reached. */
  onUnavailable: () => void;
  /** Told each time the budget refused a call and it waits for the next window. */
  onRefused: () => void;
  random?: () => number;
  /** After the budget failed, how long calls go on local spacing alone before it is asked again (default 10 s). */
  unavailableForMs?: number;
};

/** Longest random delay added to a wait for the next window, so that the replicas refused together do not all ask again at once. */
const JITTER_MS = 25;

/**
 * The budget that every replica shares, on top of each replica's own spacing. A call takes one token on each of its
 * lanes; until it has them all it does not go out.
 *
 * All or nothing across lanes: the port takes one bucket at a time, so a call takes its lanes in the order given
 * and, when one refuses, waits for that lane's next window and starts over from the first lane. The tokens it got
 * before the refusal are lost (a small waste, never an excess): nothing is held while waiting, so no call can sit on
 * lane A's token while it waits for lane B, and a call that goes out has a token of every lane taken just before it.
 * The outbox gives the narrowest lane first (the channel before the workspace-wide lanes): when a channel refuses,
 * nothing was taken; when the workspace refuses, the lost token belongs to that channel alone, at a moment when the
 * workspace had no room for it anyway.
 *
 * Urgent calls (new cards and answers) ask again within the first JITTER_MS of a new window, the others after it,
 * so that in a channel's bucket a card usually comes before a stream's next reply.
 *
 * When the budget cannot be reached (the database is down), posting goes on: the call goes out on local spacing
 * alone (each replica then keeps Slack's limits by itself, N replicas up to N times them) and it is counted; the
 * budget is asked again after `unavailableForMs`, so that a down database does not add its timeout to every call.
 */
export function createSharedBudget(options: SharedBudgetOptions) {
  const random = options.random ?? Math.random;
  const unavailableForMs = options.unavailableForMs ?? 10_000;
  let unavailableUntil = Number.NEGATIVE_INFINITY;

  return {
    async take(lanes: readonly BudgetLane[], urgent: boolean): Promise<void> {
      for (;;) {
        if (options.now() < unavailableUntil) {
          options.onUnavailable();
          return;
        }
        let retryAfterMs: number | undefined;
        for (const lane of lanes) {
          let result: Awaited<ReturnType<RateBudget["take"]>>;
          try {
            result = await options.budget.take(lane.key, 1, budgetRule(lane.spacing));
          } catch {
            // Any failure, not only UNAVAILABLE: the budget only refines the local spacing and must never stop a post.
            unavailableUntil = options.now() + unavailableForMs;
            options.onUnavailable();
            return;
          }
          if (!result.ok) {
            retryAfterMs = Math.max(0, result.retryAfterMs);
            break;
          }
        }
        if (retryAfterMs === undefined) return;
        options.onRefused();
        await options.sleep(retryAfterMs + (urgent ? 0 : JITTER_MS) + Math.floor(random() * JITTER_MS) + 1);
      }
    },
  };
}

export type SharedBudget = ReturnType<typeof createSharedBudget>;
