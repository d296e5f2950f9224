import { type Action, minCpus, minMemoryBytes } from "./action.ts";
import { formatBytes, formatDuration, parseBytes, parseDuration } from "./duration.ts";
import { BerthError } from "./errors.ts";
import { code, join, type Message, msg } from "./message.ts";
import { resolveMounts } from "./mounts.ts";
import type { Policy } from "./policy-schema.ts";

export function checkLimits(policy: Policy, action: Action): Message | undefined {
  if (action.kind !== "container.run") return undefined;
  const c = policy.containers;
  const maxMemory = parseBytes(c.maxMemory) ?? 0;
  if (action.memoryBytes !== undefined && action.memoryBytes > maxMemory) {
    return msg`--memory ${formatBytes(action.memoryBytes)} is above the policy's limit of ${formatBytes(maxMemory)}. Ask for less.`;
  }
  // The schema refuses these too; a limit that reads as "unlimited" must never get past the policy, whatever built the action.
  if (action.memoryBytes !== undefined && action.memoryBytes < minMemoryBytes) {
    return msg`--memory ${formatBytes(action.memoryBytes)} is below Docker's minimum of ${formatBytes(minMemoryBytes)}. Ask for more.`;
  }
  if (action.cpus !== undefined && !(action.cpus >= minCpus)) {
    return msg`--cpus ${action.cpus} is below berth's minimum of ${minCpus} (less would mean no CPU limit at all). Ask for more.`;
  }
  if (action.cpus !== undefined && action.cpus > c.maxCpus) {
    return msg`--cpus ${action.cpus} is above the policy's limit of ${c.maxCpus}. Ask for less.`;
  }
  const maxTimeout = parseDuration(c.maxTimeout) ?? 0;
  if (action.timeoutSeconds !== undefined && action.timeoutSeconds > maxTimeout) {
    return msg`--timeout is above the policy's limit of ${c.maxTimeout}. Ask for less.`;
  }
  if (action.privileged && !c.privileged) {
    return msg`--privileged is not allowed by the policy (${code("containers.privileged: false")}). Run without it.`;
  }
  if (action.network !== undefined && action.network !== c.network && !(c.networks ?? []).includes(action.network)) {
    const allowed = join(
      [c.network, ...(c.networks ?? [])].map((n) => [code(n)]),
      ", ",
    );
    return msg`--network ${action.network} is not allowed by the policy (allowed: ${allowed}).`;
  }
  const mounts = resolveMounts(c.mounts, action.mounts);
  if (!mounts.ok) return msg`${mounts.reason}`;
  return undefined;
}

/**
 * The resolved container limits for a run: what was asked, else the policy's defaults. Mounts are resolved against
 * the policy in force now (it may have changed while the run waited for approval): CONFIG when they no longer pass.
 */
export function containerLimits(policy: Policy, action: Extract<Action, { kind: "container.run" }>) {
  const c = policy.containers;
  const mounts = resolveMounts(c.mounts, action.mounts);
  if (!mounts.ok) throw new BerthError("CONFIG", `The policy no longer allows these mounts: ${mounts.reason}`);
  return {
    memoryBytes: action.memoryBytes ?? (parseBytes(c.memory) as number),
    nanoCpus: Math.round((action.cpus ?? c.cpus) * 1e9),
    pidsLimit: c.pids,
    timeoutSeconds: action.timeoutSeconds ?? (parseDuration(c.timeout) as number),
    networkMode: action.network ?? c.network,
    privileged: action.privileged && c.privileged,
    mounts: mounts.mounts,
  };
}

/** Azure sizes that run Hyper-V inside the VM (nested virtualization): Dv3/Ev3 and newer D and E families. */
export function supportsNestedVirtualization(size: string): boolean {
  return /^Standard_[DE]\d+[a-z]*_v[3-9]$/i.test(size);
}

export type HostRequest = Extract<Action, { kind: "host.create" }>;
export type HostLimits = { ok: true; size: string; region: string; ttlSeconds: number } | { ok: false; reason: string };

/** Resolves a `host create` against the policy's Azure limits: defaults filled in, or why it is refused and what to ask for. */
export function hostLimits(policy: Policy, action: HostRequest, defaults: { region: string }): HostLimits {
  const a = policy.azure;
  const size = action.size ?? (a.sizes[0] as string);
  const region = action.region ?? defaults.region;
  const regions = a.regions.length ? a.regions : [defaults.region];
  const maxTtl = parseDuration(a.maxTtl) as number;
  const ttlSeconds = action.ttlSeconds ?? (parseDuration(a.defaultTtl) as number);
  const same = (x: string, y: string) => x.toLowerCase() === y.toLowerCase();
  if (!a.sizes.some((s) => same(s, size))) {
    return { ok: false, reason: `The policy does not allow size ${size}. Allowed: ${a.sizes.join(", ")} (pick one with --size).` };
  }
  if (!regions.some((r) => same(r, region))) {
    return { ok: false, reason: `The policy does not allow region ${region}. Allowed: ${regions.join(", ")} (pick one with --region).` };
  }
  if (ttlSeconds > maxTtl) {
    return { ok: false, reason: `--ttl ${formatDuration(ttlSeconds * 1000)} is longer than the policy's maximum of ${a.maxTtl}.` };
  }
  if (action.hyperv && action.os !== "windows") return { ok: false, reason: "--hyperv is for Windows hosts: add --os windows." };
  if (action.hyperv && !supportsNestedVirtualization(size)) {
    const nested = a.sizes.filter(supportsNestedVirtualization);
    return {
      ok: false,
      reason: `Hyper-V isolation needs nested virtualization, which ${size} does not have (Dv3/Ev3 and newer D/E sizes do). ${
        nested.length
          ? `Allowed sizes that have it: ${nested.join(", ")}.`
          : "No size the policy allows has it; ask an admin to allow one (e.g. Standard_D4s_v5)."
      }`,
    };
  }
  return {
    ok: true,
    size: a.sizes.find((s) => same(s, size)) as string,
    region: regions.find((r) => same(r, region)) as string,
    ttlSeconds,
  };
}
