import type { CloudHostRecord } from "../store/records.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { code, type Message, msg, tone, user } from "./message.ts";
import type { Policy } from "./policy.ts";

export type LifetimeWork = {
  /** Ready hosts inside the reminder window that have not been reminded since their expiry last moved. */
  remind: CloudHostRecord[];
  /** Hosts past their expiry (ready or kept unreachable): remove them. */
  expire: CloudHostRecord[];
};

/** What the lifetime sweep has to do now. Pure: the clock and the records come in, the work goes out. */
export function lifetimeDue(records: readonly CloudHostRecord[], policy: Policy, now: number): LifetimeWork {
  const lead = (parseDuration(policy.azure.reminder) as number) * 1000;
  const settled = records.filter((r) => r.status === "ready" || r.status === "unreachable");
  return {
    remind: settled.filter((r) => r.expiresAt > now && r.expiresAt - lead <= now && r.remindedAt === null),
    expire: settled.filter((r) => r.expiresAt <= now),
  };
}

/** In a host's thread before it expires: who made it, when it goes, and that it can be extended. */
export function hostReminder(host: Pick<CloudHostRecord, "name" | "expiresAt" | "requester">, now: number): Message {
  const left = formatDuration(Math.max(0, host.expiresAt - now));
  const at = new Date(host.expiresAt).toISOString().slice(0, 16).replace("T", " ");
  return msg`${tone("expired")} ${user(host.requester)} ${code(host.name)} is removed in ${left} (${at} UTC). Extend it if you still need it.`;
}

export type Extension = { ok: true; expiresAt: number; capped: boolean } | { ok: false; reason: Message };

/**
 * A new expiry for `host extend`: from now (or the current expiry, if later) by the requested or default TTL, never past
 * the policy's maximum lifetime counted from creation.
 */
export function extendTo(record: CloudHostRecord, policy: Policy, now: number, ttlSeconds?: number): Extension {
  if (record.status !== "ready" && record.status !== "unreachable") {
    return { ok: false, reason: msg`${code(record.name)} is ${record.status}; only a host that exists can be extended.` };
  }
  const by = (ttlSeconds ?? (parseDuration(policy.azure.defaultTtl) as number)) * 1000;
  const limit = record.createdAt + (parseDuration(policy.azure.maxTtl) as number) * 1000;
  const wanted = Math.max(record.expiresAt, now) + by;
  if (record.expiresAt >= limit) {
    return {
      ok: false,
      reason: msg`${code(record.name)} already lives as long as the policy allows (${policy.azure.maxTtl} from creation). Create a new host if you need one longer.`,
    };
  }
  return { ok: true, expiresAt: Math.min(wanted, limit), capped: wanted > limit };
}

/**
 * The expiry an undone `host extend` sets back (`until`): never in the past (a host whose earlier expiry has passed
 * would be removed at once; the undo refuses instead).
 */
export function setBackTo(record: CloudHostRecord, policy: Policy, now: number, until: number): Extension {
  if (record.status !== "ready" && record.status !== "unreachable")
    return { ok: false, reason: msg`${code(record.name)} is ${record.status}; only a host that exists can have its expiry set back.` };
  if (until <= now)
    return {
      ok: false,
      reason: msg`${code(record.name)}'s earlier expiry has passed already: setting it back would remove the host now. Remove it with ${code(`host rm ${record.name}`)} if that is what you want.`,
    };
  // A button's value is whatever the click says: never past the lifetime the policy allows, like any extension.
  const limit = record.createdAt + (parseDuration(policy.azure.maxTtl) as number) * 1000;
  return { ok: true, expiresAt: Math.min(until, limit), capped: until > limit };
}
