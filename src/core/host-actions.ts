import { newHostRecord, type ProvisionDeps, provisionHost, removeHost } from "../cloud/provision.ts";
import type { ActionOf, Actor } from "./action.ts";
import type { JobEvent } from "./events.ts";
import { extendTo, setBackTo } from "./host-lifetime.ts";
import { code, command, join, type Message, msg, tone, user } from "./message.ts";
import { hostLimits } from "./policy.ts";

export type HostJobAction = ActionOf<"host.create"> | ActionOf<"host.remove">;
export type CloudAction = HostJobAction | ActionOf<"host.extend">;

/** What `host create|rm|extend` comes to: a job to run (and show on a card), or a sentence for the person. */
export type HostOutcome =
  | { type: "job"; host: string; summary: string; run: (signal: AbortSignal) => AsyncGenerator<JobEvent> }
  | {
      type: "reply";
      text: Message;
      visibility: "ephemeral" | "channel";
      refused: boolean;
      /** `host extend`: the expiry before and after, for its Undo (epoch ms). */
      previousExpiry?: number;
      expiresAt?: number;
    };

export type HostActionContext = {
  /** Absent when Azure is not configured on this berth. */
  cloud: ProvisionDeps | undefined;
  /** Names from the hosts manifest: berth neither creates nor removes those. */
  manifestHosts: readonly string[];
  jobId: string;
  /** Whether a job (of this replica or another) is still working on a host (its card has a Cancel button). */
  jobRunning: (jobId: string) => Promise<boolean>;
};

const refuse = (text: Message): HostOutcome => ({ type: "reply", text, visibility: "ephemeral", refused: true });
const when = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;

export const notConfigured: Message = [
  "berth is not set up to create hosts in Azure: the operator sets AZURE_SUBSCRIPTION_ID, AZURE_LOCATION and BERTH_AZURE_ALLOW_CIDR and gives berth's identity the role in manifests/azure-role.json (README: “Hosts in Azure”).",
];

/**
 * Why a host command cannot go ahead whatever anyone confirms (no such host, a manifest host); asked before a
 * confirmation card is shown, so nobody is asked to confirm something that cannot happen.
 */
export async function hostRefusal(
  action: CloudAction,
  ctx: Pick<HostActionContext, "cloud" | "manifestHosts">,
): Promise<Message | undefined> {
  if (!ctx.cloud) return notConfigured;
  if (action.kind !== "host.remove") return undefined;
  const live = (await ctx.cloud.store.cloudHosts.live()).find((r) => r.name === action.name);
  if (live) return undefined;
  return notRemovable(action.name, ctx.manifestHosts.includes(action.name));
}

const notRemovable = (name: string, manifest: boolean): Message =>
  manifest
    ? msg`${code(name)} comes from berth's hosts manifest; berth only removes hosts it created. The operator edits the manifest.`
    : msg`berth made no host ${code(name)} (or it is already removed). ${command("hosts")} lists the hosts.`;

/** Checks a host command against what exists and the policy's Azure limits; an allowed one becomes a job. */
export async function hostAction(action: CloudAction, actor: Actor, ctx: HostActionContext): Promise<HostOutcome> {
  const cloud = ctx.cloud;
  if (!cloud) return refuse(notConfigured);
  const now = cloud.clock();
  const policy = cloud.policy();
  const manifest = ctx.manifestHosts.includes(action.name);
  const existing = await cloud.store.cloudHosts.get(action.name);
  const live = existing && existing.status !== "removed" ? existing : undefined;
  switch (action.kind) {
    case "host.create": {
      const limits = hostLimits(policy, action, { region: cloud.settings.region });
      if (!limits.ok) return refuse(msg`${tone("denied")} ${limits.reason}`);
      if (manifest) return refuse(msg`${code(action.name)} is a host in berth's hosts manifest. Pick another name.`);
      if (live) {
        return refuse(
          msg`${code(action.name)} already exists (${live.status}, created by ${user(live.requester)} on ${when(live.createdAt)}). Use it with ${code(`-H ${action.name}`)}, or remove it first with ${command(`host rm ${action.name}`)}.`,
        );
      }
      if (!action.private && !cloud.settings.allowCidr) {
        return refuse([
          "berth does not know which address may reach the new host's Docker port: the operator sets BERTH_AZURE_ALLOW_CIDR (berth's own outbound address, e.g. 203.0.113.7/32). Or use --private if berth runs inside the virtual network.",
        ]);
      }
      const mine = (await cloud.store.cloudHosts.live()).filter((r) => r.requester === actor.userId);
      if (mine.length >= policy.azure.maxHostsPerUser) {
        return refuse(
          msg`You have ${mine.length} host${mine.length === 1 ? "" : "s"} already (${join(
            mine.map((r) => [code(r.name)]),
            ", ",
          )}); the policy allows ${policy.azure.maxHostsPerUser} per person. Remove one with ${command("host rm NAME")} first.`,
        );
      }
      const request = { ...action, size: limits.size, region: limits.region, ttlSeconds: limits.ttlSeconds };
      // Stored before anything is sent to Azure: from here on, a crash leaves a record to resume from.
      await cloud.store.cloudHosts.put(newHostRecord(request, actor, ctx.jobId, now));
      return {
        type: "job",
        host: action.name,
        summary: `host create ${action.name} (${action.os}${action.hyperv ? ", Hyper-V" : ""}, ${limits.size}, ${limits.region})`,
        run: (signal) => provisionHost(action.name, cloud, signal),
      };
    }
    case "host.remove": {
      if (!live) {
        return refuse(notRemovable(action.name, manifest));
      }
      if ((live.status === "provisioning" || live.status === "removing") && (await ctx.jobRunning(live.jobId))) {
        return refuse(
          live.status === "removing"
            ? msg`${code(action.name)} is being removed already (job ${code(live.jobId)}).`
            : msg`${code(action.name)} is still being created (job ${code(live.jobId)}). Press Cancel on its card, or ${command(`cancel ${live.jobId}`)}: that removes what was made.`,
        );
      }
      await cloud.store.cloudHosts.put({ ...live, jobId: ctx.jobId });
      return {
        type: "job",
        host: action.name,
        summary: `host rm ${action.name}`,
        run: (signal) => removeHost(action.name, msg`asked by ${user(actor.userId)}`, cloud, signal),
      };
    }
    case "host.extend": {
      if (!live) return refuse(msg`berth made no host ${code(action.name)}. ${command("hosts")} lists the hosts.`);
      const ext = action.until !== undefined ? setBackTo(live, policy, now, action.until) : extendTo(live, policy, now, action.ttlSeconds);
      if (!ext.ok) return refuse(msg`${ext.reason}`);
      await cloud.store.cloudHosts.put({ ...live, expiresAt: ext.expiresAt, remindedAt: null });
      const verb = action.until !== undefined ? "set the expiry of" : "extended";
      return {
        type: "reply",
        visibility: "channel",
        refused: false,
        text: msg`${tone("extended")} ${user(actor.userId)} ${verb} ${code(action.name)} ${action.until !== undefined ? "back to" : "until"} ${when(ext.expiresAt)}${ext.capped ? ` (the most the policy allows: ${policy.azure.maxTtl} from creation)` : ""}.`,
        previousExpiry: live.expiresAt,
        expiresAt: ext.expiresAt,
      };
    }
  }
}
