import type { RateBudget, RateLane } from "../store/port.ts";

export type SharedBudgetOptions = {
  budget: RateBudget;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Told each time a call goes out on local spacing alone because the budget could not be reached. */
  onUnavailable: () => void;
  /** Told each time a call had to wait for the shared budget (other replicas' calls were booked before it). */
  onRefused: () => void;
  random?: () => number;
  /** After the budget failed, how long calls go on local spacing alone before it is asked again (default 10 s). */
  unavailableForMs?: number;
};

/** Longest random delay added before asking again for a busy lane, so that replicas refused together do not ask in step. */
const JITTER_MS = 25;

/**
 * The budget that every replica shares, on top of each replica's own spacing: each lane is spaced as one replica
 * spaces it, whatever the number of replicas (store port, RateBudget: slots, first come first served).
 *
 * A call books a slot on its `queued` lanes (all at once, the latest of their next times) and sleeps until it, then
 * claims its `whenFree` lanes only if they are free at that moment, asking again when they free up. The outbox queues
 * a card on its channel and on the top-level lane, and a thread reply on the reply lane, while a reply claims its
 * channel only when free: replies never book a channel ahead, so a new card waits for at most the one post its
 * channel has just had, however many streams reply there. Both lanes of a card are booked at one slot, so the call
 * goes out exactly when every lane expected it; a reply books its channel at the moment it goes, too.
 *
 * When the budget cannot be reached (the database is down), posting goes on: the call goes out on local spacing
 * alone (each replica then keeps Slack's limits by itself, N replicas up to N times them) and it is counted; the
 * budget is asked again after `unavailableForMs`, so that a down database does not add its timeout to every call.
 */
export function createSharedBudget(options: SharedBudgetOptions) {
  const random = options.random ?? Math.random;
  const unavailableForMs = options.unavailableForMs ?? 10_000;
  let unavailableUntil = Number.NEGATIVE_INFINITY;

  /** The budget's answer, or undefined when it cannot be reached (counted, and not asked again for a while). */
  async function ask(lanes: readonly RateLane[], mode: "queue" | "now") {
    if (options.now() < unavailableUntil) return undefined;
    try {
      return await options.budget.reserve(lanes, mode);
    } catch {
      // Any failure, not only UNAVAILABLE: the budget only refines the local spacing and must never stop a post.
      unavailableUntil = options.now() + unavailableForMs;
      return undefined;
    }
  }

  return {
    async take(queued: readonly RateLane[], whenFree: readonly RateLane[]): Promise<void> {
      if (queued.length > 0) {
        const booked = await ask(queued, "queue");
        if (!booked) return options.onUnavailable();
        if (booked.ok && booked.waitMs > 0) {
          options.onRefused();
          await options.sleep(booked.waitMs);
        }
      }
      if (whenFree.length === 0) return;
      for (;;) {
        const claimed = await ask(whenFree, "now");
        if (!claimed) return options.onUnavailable();
        if (claimed.ok) return;
        options.onRefused();
        await options.sleep(claimed.retryAfterMs + Math.floor(random() * JITTER_MS) + 1);
      }
    },
  };
}

export type SharedBudget = ReturnType<typeof createSharedBudget>;
