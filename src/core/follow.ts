/**
 * Streams that survive an engine that blinks (a restart with --live-restore, a dropped TCP connection): a lost
 * connection is retried with backoff for a bounded time, the card says so, and the stream carries on after the last
 * line it handed on, so nothing is repeated or skipped. Only once the time is up does the stream end with the error.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { ExitStatus, LogQuery } from "../engines/ports.ts";
import { formatDuration } from "./duration.ts";
import { BerthError } from "./errors.ts";
import type { JobEvent } from "./events.ts";
import type { JobContext } from "./job-context.ts";
import { type Message, msg } from "./message.ts";

/** How long a lost engine connection is retried by default (BERTH_ENGINE_RECONNECT). */
export const defaultReconnectMs = 120_000;
/** Backoff between attempts: doubling from the first, never longer than the last. */
const backoff = { firstMs: 500, maxMs: 5_000 };

/** The engine did not answer or the stream broke: worth another try. Anything else (gone, refused) is final. */
export const connectionLost = (error: unknown): boolean => error instanceof BerthError && error.code === "UNAVAILABLE";

type Retry = { lostAt: number | undefined; attempt: number };

/** Waits before the next attempt; false when the window is over (or the job was stopped meanwhile). */
async function again(retry: Retry, windowMs: number, clock: () => number, signal: AbortSignal): Promise<boolean> {
  retry.lostAt ??= clock();
  if (clock() - retry.lostAt >= windowMs) return false;
  const wait = Math.min(backoff.maxMs, backoff.firstMs * 2 ** retry.attempt++, windowMs - (clock() - retry.lostAt));
  try {
    await sleep(wait, undefined, { signal });
  } catch {
    return false;
  }
  return !signal.aborted;
}

/** One engine call retried across a lost connection, for the same window (a job resumed while its engine restarts). */
export async function reconnecting<T>(
  ctx: Pick<JobContext, "clock" | "reconnectMs">,
  signal: AbortSignal,
  call: () => Promise<T>,
): Promise<T> {
  const retry: Retry = { lostAt: undefined, attempt: 0 };
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (!connectionLost(error) || !(await again(retry, ctx.reconnectMs ?? defaultReconnectMs, ctx.clock ?? Date.now, signal)))
        throw error;
    }
  }
}

/**
 * A container's log lines as job events, reconnecting after a lost connection. `running` is the card's status while
 * all is well: it comes back once the stream does.
 */
export async function* followLogs(
  ctx: Pick<JobContext, "engine" | "host" | "clock" | "reconnectMs">,
  query: LogQuery,
  running: Message,
  signal: AbortSignal,
): AsyncGenerator<JobEvent> {
  const clock = ctx.clock ?? Date.now;
  const windowMs = ctx.reconnectMs ?? defaultReconnectMs;
  const retry: Retry = { lostAt: undefined, attempt: 0 };
  let after = query.after;
  for (;;) {
    try {
      for await (const line of ctx.engine.logs({ ...query, after }, signal)) {
        if (retry.lostAt !== undefined) {
          yield {
            type: "notice",
            text: [`Reconnected to ${ctx.host} after ${formatDuration(clock() - retry.lostAt)}; the stream goes on.`],
          };
          yield { type: "status", text: running };
          retry.lostAt = undefined;
          retry.attempt = 0;
        }
        // A piece of a cut line moves nothing: after a reconnect the whole line comes again rather than only its end.
        if (line.at !== undefined && !line.continued) after = line.at;
        yield { type: "line", line };
      }
      return;
    } catch (error) {
      if (signal.aborted) return; // stopped, timed out or suspended: the caller says how it ended
      if (!connectionLost(error)) throw error;
      const first = retry.lostAt === undefined;
      if (first) {
        yield {
          type: "status",
          text: msg`Lost the connection to ${ctx.host}; reconnecting for up to ${formatDuration(windowMs)}…`,
        };
      }
      if (!(await again(retry, windowMs, clock, signal))) {
        if (signal.aborted) return;
        throw error;
      }
    }
  }
}

/**
 * Watches for a container's exit across lost connections (the same window as the stream). `exited()` says whether it
 * has ended; `result` settles with its exit status, or with the error once reconnecting is given up.
 */
export function watchExit(ctx: Pick<JobContext, "engine" | "clock" | "reconnectMs">, container: string) {
  const clock = ctx.clock ?? Date.now;
  const windowMs = ctx.reconnectMs ?? defaultReconnectMs;
  const stop = new AbortController();
  let exited = false;
  const result = (async (): Promise<ExitStatus> => {
    const retry: Retry = { lostAt: undefined, attempt: 0 };
    for (;;) {
      try {
        const status = await ctx.engine.wait(container, stop.signal);
        exited = true;
        return status;
      } catch (error) {
        if (stop.signal.aborted || !connectionLost(error) || !(await again(retry, windowMs, clock, stop.signal))) throw error;
      }
    }
  })();
  result.catch(() => undefined);
  return {
    result,
    exited: () => exited,
    /** Stops watching (berth is shutting down, or the status is no longer needed). */
    cancel: () => stop.abort(),
  };
}
