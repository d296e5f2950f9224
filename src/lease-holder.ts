import type { Lease, LeaseStore } from "./store/port.ts";

/**
 * Work one replica does for all of them (a host's container watch): whoever holds the lease `name` does it, the others
 * try again every third of the TTL and take over once the holder is gone (dead, drained or cut off from the database
 * for a whole TTL). `run` is started on gaining the lease and its signal aborted on losing it or on `signal`.
 */
export function holdLease(o: {
  leases: LeaseStore;
  name: string;
  owner: string;
  ttlMs: number;
  run: (signal: AbortSignal) => void;
  signal: AbortSignal;
  log: (event: string, fields: Record<string, unknown>) => void;
}): void {
  let held: { lease: Lease; work: AbortController } | undefined;
  const lose = (why: string) => {
    if (!held) return;
    held.work.abort();
    held = undefined;
    o.log("lease lost", { lease: o.name, why });
  };
  const beat = async () => {
    if (o.signal.aborted) return;
    try {
      const r = held ? await o.leases.renew(held.lease, o.ttlMs) : await o.leases.acquire(o.name, o.owner, o.ttlMs);
      if (o.signal.aborted) return;
      if (!r.ok) return lose(`held by ${r.holder}`);
      if (held) {
        held.lease = r.lease;
        return;
      }
      held = { lease: r.lease, work: new AbortController() };
      o.log("lease taken", { lease: o.name });
      o.run(AbortSignal.any([held.work.signal, o.signal]));
    } catch (error) {
      // The database away: the lease still holds until its expiry, which another replica respects; past it, stop.
      if (held && Date.now() >= held.lease.expiresAt) lose(`database unreachable: ${(error as Error).message}`);
    }
  };
  const timer = setInterval(() => void beat(), Math.max(200, Math.floor(o.ttlMs / 3)));
  timer.unref();
  void beat();
  o.signal.addEventListener(
    "abort",
    () => {
      clearInterval(timer);
      const was = held;
      held = undefined;
      // Given up at once on shutdown, so another replica takes the work over without waiting for the TTL.
      if (was) void o.leases.release(was.lease).catch(() => false);
    },
    { once: true },
  );
}
