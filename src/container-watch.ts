/**
 * Keeps one engine's container events flowing to the notifier for as long as berth runs: reconnects with backoff
 * when the stream is lost, resumes from the last event it delivered, and never delivers one event twice.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { BerthError } from "./core/errors.ts";
import type { Hosts } from "./core/hosts.ts";
import { type ContainerEngine, type ContainerEvent, isOwned, labels } from "./engines/ports.ts";

export type WatchOptions = {
  signal: AbortSignal;
  log?: ((event: string, fields: Record<string, unknown>) => void) | undefined;
  /** Backoff between reconnects: doubles from minMs up to maxMs, back to minMs once events flow again. */
  retry?: { minMs: number; maxMs: number } | undefined;
};

/** Keys of delivered events kept for deduplication; a reconnect replays at most the engine's short buffer. */
const remembered = 1024;

/**
 * Calls `onEvent` for every die (non-zero), oom and unhealthy event of berth's containers on `engine`, from now on.
 * Resolves when `signal` aborts; never rejects. A failing `onEvent` is logged and does not stop the watch.
 */
export async function watchContainers(
  engine: Pick<ContainerEngine, "name" | "events">,
  onEvent: (e: ContainerEvent) => void,
  opts: WatchOptions,
): Promise<void> {
  const { signal } = opts;
  const log = opts.log ?? (() => {});
  const { minMs, maxMs } = opts.retry ?? { minMs: 1000, maxMs: 30_000 };
  const seen = new Set<string>(); // insertion order: the first entry is the oldest
  let lastNano: bigint | undefined;
  // Resume point before any event arrived. berth's clock stands in for the engine's here; a skew between the two can
  // only replay or miss that skew's worth of events from before the first one, which is the best available.
  let startNano: bigint | undefined;
  let delay = minMs;
  while (!signal.aborted) {
    const connectedAt = Date.now();
    try {
      // The engine replays events at exactly `since` too: the dedupe below drops the one already delivered.
      const since = lastNano ?? startNano;
      startNano ??= BigInt(connectedAt) * 1_000_000n;
      for await (const e of engine.events({ sinceNano: since }, signal)) {
        const key = `${e.timeNano}:${e.id}:${e.kind}`;
        if (seen.has(key)) continue;
        seen.add(key);
        if (seen.size > remembered) {
          const oldest = seen.values().next();
          if (!oldest.done) seen.delete(oldest.value);
        }
        if (lastNano === undefined || e.timeNano > lastNano) lastNano = e.timeNano;
        delay = minMs;
        try {
          onEvent(e);
        } catch (error) {
          log("container event handler failed", { host: engine.name, container: e.id, kind: e.kind, err: error });
        }
      }
      if (signal.aborted) return;
      log("container events ended", { host: engine.name, retryInMs: delay });
    } catch (error) {
      if (signal.aborted) return;
      const code = error instanceof BerthError ? error.code : "INTERNAL";
      log("container events lost", { host: engine.name, code, err: error, retryInMs: delay });
    }
    if (Date.now() - connectedAt >= maxMs) delay = minMs; // it was connected a good while: this is a fresh failure
    await sleep(delay, undefined, { signal }).catch(() => undefined);
    delay = Math.min(delay * 2, maxMs);
  }
}

/**
 * One watch per host, each reconnecting on its own, so a host that is down never delays the others. Only containers
 * this installation started and still knows of are reported: another berth sharing the engine speaks for its own, and
 * of two manifest names for one engine, the host a container was started on speaks.
 */
export function watchOwnContainers(o: {
  hosts: Pick<Hosts, "connections">;
  engine: (host: string) => Pick<ContainerEngine, "name" | "events">;
  installation: string;
  known: (jobId: string) => Promise<boolean>;
  onEvent: (host: string, event: ContainerEvent) => void;
  signal: AbortSignal;
  log: (event: string, fields: Record<string, unknown>) => void;
  error: (event: string, fields: Record<string, unknown>) => void;
}): void {
  for (const c of o.hosts.connections) {
    const ours = async (event: ContainerEvent) =>
      isOwned(event.labels, o.installation) &&
      (event.labels[labels.host] ?? c.name) === c.name &&
      (await o.known(event.labels[labels.job] ?? "").catch(() => false));
    const seen = (event: ContainerEvent) =>
      void ours(event).then(
        (mine) => mine && o.onEvent(c.name, event),
        () => undefined,
      );
    void watchContainers(o.engine(c.name), seen, {
      signal: o.signal,
      log: (event, fields) => o.log(event, { host: c.name, ...fields }),
    }).catch((error: unknown) => o.error("container watch stopped", { host: c.name, err: error }));
  }
}
