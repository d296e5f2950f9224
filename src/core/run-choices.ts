import { type Hosts, resolveHost } from "./hosts.ts";
import { findPermission, type Policy, type Subject } from "./policy.ts";

/** What a run form offers one person: images to pick, patterns a typed image must match, and hosts to run on. */
export type RunChoices = {
  /** The allow-list's exact references (no glob), in the policy's order. */
  images: string[];
  /** The allow-list's patterns: a reference typed in full must match one of them. */
  patterns: string[];
  /** The hosts this person may run containers on here (every host when the channel is not known yet). */
  hosts: string[];
  /** The host a run here goes to when none is chosen, when it is one of `hosts`. */
  defaultHost?: string | undefined;
};

const isPattern = (image: string) => /[*?[\]{}]/.test(image);

/**
 * The choices of a run form for `subject` in `channel` (undefined: a form opened outside any channel, which asks for
 * one). Only a convenience: the pipeline authorizes the submitted run again, in full.
 */
export function runChoices(
  policy: Policy,
  subject: Subject,
  hosts: Hosts,
  channel: { id: string; name?: string | undefined } | undefined,
  now: number,
): RunChoices {
  const all = policy.images ?? [];
  const names = hosts.connections.map((c) => c.name);
  const allowed = channel
    ? names.filter((host) =>
        findPermission(policy, subject, "container.run", { channelId: channel.id, channelName: channel.name, host }, now),
      )
    : names;
  const resolved = channel ? resolveHost(hosts, undefined, channel) : undefined;
  const defaultHost = resolved?.ok && resolved.host !== undefined && allowed.includes(resolved.host) ? resolved.host : undefined;
  return { images: all.filter((i) => !isPattern(i)), patterns: all.filter(isPattern), hosts: allowed, defaultHost };
}
