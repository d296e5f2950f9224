/**
 * Delivery de-duplication in the embedded store: a key (a Slack delivery's trigger, envelope or action) is claimed once
 * until it expires. The table, the statement and its semantics are the store port's `dedupe` (sqlite-store.ts,
 * postgres-store.ts): `claim(key, ttlMs)` is true for the first claim and false while an earlier claim has not expired,
 * so moving the callers to the port is a matter of adding `await`.
 */
import type { DatabaseSync } from "node:sqlite";

/** The same table sqlite-store.ts's migration 2 makes, so a berth.db written here carries its keys over to the port. */
const table = "CREATE TABLE IF NOT EXISTS dedupe (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)";

/** Expired keys are deleted by a claim at most this often: the table stays as small as the keys still in force. */
const sweepEveryMs = 60_000;

export type DedupeTable = ReturnType<typeof createDedupe>;

export function createDedupe(db: DatabaseSync, clock: () => number) {
  db.exec(table);
  // An expired key is claimed again in place: the one statement decides, so two claims cannot both win.
  const claimKey = db.prepare(
    "INSERT INTO dedupe (key, expires_at) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE dedupe.expires_at <= ? RETURNING key",
  );
  const sweepKeys = db.prepare("DELETE FROM dedupe WHERE expires_at <= ?");
  let sweptAt = Number.NEGATIVE_INFINITY;

  const sweep = (): number => {
    const now = clock();
    sweptAt = now;
    return Number(sweepKeys.run(now).changes);
  };

  return {
    /** True for the first claim of `key`; false while an earlier claim has not expired (the port's `dedupe.claim`). */
    claim(key: string, ttlMs: number): boolean {
      const now = clock();
      if (now - sweptAt >= sweepEveryMs) sweep();
      return claimKey.get(key, now + ttlMs, now) !== undefined;
    },
    /** Deletes the expired keys now; returns how many went (a claim also does this, at most once a minute). */
    sweep,
  };
}
