/**
 * Requests whose work runs at once; the rest wait their turn. Jobs (streams) only hold a slot while they start: their
 * streaming runs outside it. Bounding this keeps a burst of commands from starving the acks of the next ones.
 */
const maxConcurrentWork = 4;

/**
 * Runs a request's work after the ack, in a later turn of the event loop: acks of requests that are already waiting go
 * out first, so a burst of commands does not make later acks wait behind earlier commands' work. Also keeps every
 * promise of work under way (a job's stream) so that shutdown and tests can wait for all of it.
 */
export function createWorkQueue() {
  const pending = new Set<Promise<unknown>>();
  const waiting: (() => void)[] = [];
  let running = 0;
  function keep(p: Promise<unknown>): void {
    pending.add(p);
    void p.finally(() => pending.delete(p));
  }
  return {
    /** Runs `work` in its turn, at most `maxConcurrentWork` at a time. */
    run(work: () => Promise<unknown>): void {
      const turn =
        running < maxConcurrentWork
          ? new Promise<void>((resolve) => setImmediate(resolve))
          : new Promise<void>((resolve) => waiting.push(() => setImmediate(resolve)));
      running++;
      const p = turn.then(work).finally(() => {
        running--;
        waiting.shift()?.();
      });
      keep(p);
    },
    /** Work that runs on its own (a started job's stream), outside the slots, still waited for by `settled`. */
    keep,
    /** Resolves once everything kept so far has settled. */
    settled: (): Promise<unknown> => Promise.allSettled([...pending]),
    get size() {
      return pending.size;
    },
  };
}

export type WorkQueue = ReturnType<typeof createWorkQueue>;
