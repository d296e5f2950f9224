import { hostLease, jobCarried } from "../../store/port.ts";
import type { ActionOf } from "../action.ts";
import { auditOutcome } from "../audit.ts";
import { formatDuration } from "../duration.ts";
import { type CloudAction, hostAction, hostRefusal } from "../host-actions.ts";
import { code, command, msg, plainText, strong, user } from "../message.ts";
import { now, type Outcome, replyOutcome } from "../pipeline-types.ts";
import { hostList } from "../reply.ts";
import { undoChoice } from "../undo.ts";
import { answered } from "./execution.ts";
import { type Handler, type HandlerContext, noPreview, plainSummary } from "./handler.ts";

export const list: Handler<"host.list"> = {
  runs: "reply",
  summary: plainSummary,
  preview: noPreview,
  execute: answered(hostList),
  inverse: undefined,
};

export const create: Handler<"host.create"> = {
  runs: "job",
  summary: (a) => `host create ${a.name} (${a.os})`,
  preview: (a, { policy, cloud }) => [
    msg`${strong("New Azure host:")} ${code(a.name)} (${a.os}${a.hyperv ? ", Hyper-V" : ""}${a.private ? ", private" : ""})`,
    msg`${strong("Size / region:")} ${a.size ?? policy.azure.sizes[0] ?? ""} / ${a.region ?? cloud?.settings.region ?? "default"}`,
    msg`${strong("Lifetime:")} ${a.ttlSeconds ? formatDuration(a.ttlSeconds * 1000) : policy.azure.defaultTtl}`,
  ],
  refusal: hostRefusal,
  execute: async (a, c) => cloudJob(a, c),
  inverse: (a) => ({ kind: "host.remove", name: a.name }),
};

export const remove: Handler<"host.remove"> = {
  runs: "job",
  target: { of: "host" },
  summary: (a) => `host rm ${a.name}`,
  async preview(a, { cloud }) {
    const r = await cloud?.store.cloudHosts.get(a.name);
    const made = r ? msg` (${r.os}, ${r.size}, ${r.region}, created by ${user(r.requester)})` : [];
    return [msg`${strong("Azure host:")} ${code(a.name)}${made}: its VM, disk, NIC, public IP and firewall are deleted`];
  },
  refusal: hostRefusal,
  execute: async (a, c) => cloudJob(a, c),
  inverse: undefined,
};

export const extend: Handler<"host.extend"> = {
  runs: "reply",
  target: { of: "host" },
  summary: plainSummary,
  preview: noPreview,
  refusal: hostRefusal,
  execute: async (a, c) => cloudJob(a, c),
  // The lifetime before the extension is not kept.
  inverse: undefined,
};

/** `host create|rm|extend`: checked against what exists and the policy's Azure limits, then a job (or an answer). */
async function cloudJob(action: CloudAction, c: HandlerContext): Promise<Outcome> {
  const { deps, actor, requestId } = c;
  const id = deps.jobs.newId();
  if (action.kind !== "host.extend" && deps.cloud) {
    const claim = await deps.store.leases.acquire(hostLease(action.name), `${deps.jobs.owner}/start`, deps.jobs.leaseTtlMs * 2);
    if (!claim.ok) {
      const busy = msg`${code(action.name)} is being worked on by berth right now (another request, or a job being carried on). Try again in a minute; ${command("hosts")} shows its state.`;
      await auditOutcome(deps, { requestId, actor, action, host: action.name, outcome: `refused: ${plainText(busy)}` });
      return replyOutcome(requestId, busy, "ephemeral", "refused");
    }
  }
  const out = await hostAction(action, actor, {
    cloud: deps.cloud,
    manifestHosts: deps.manifestHosts ?? [],
    jobId: id,
    jobRunning: async (job) => deps.jobs.get(job) !== undefined || (await jobCarried(deps.store, job, now(deps))),
  });
  if (out.type === "reply") {
    const outcome = out.refused ? `refused: ${plainText(out.text)}` : "ok";
    await auditOutcome(deps, { requestId, actor, action, host: action.name, outcome });
    const reply = replyOutcome(requestId, out.text, out.visibility, out.refused ? "refused" : undefined);
    // An extension offers setting the expiry back to what it was, while that is still ahead.
    if (reply.type !== "reply" || out.previousExpiry === undefined || out.expiresAt === undefined || out.previousExpiry <= now(deps))
      return reply;
    const back = { kind: "host.extend" as const, name: action.name, until: out.previousExpiry };
    const undo = undoChoice(requestId, back, { what: "expiry", expiresAt: out.expiresAt }, c.policy, now(deps));
    return { ...reply, reply: { ...reply.reply, choices: [undo] } };
  }
  return {
    type: "job",
    plan: {
      id,
      requestId,
      action: action as ActionOf<"host.create" | "host.remove">,
      host: out.host,
      summary: out.summary,
      actor,
      approvedBy: c.approval?.approver,
      // Removal cannot be stopped half-way (it would leave resources nobody tracks): no button.
      stopLabel: action.kind === "host.create" ? "Cancel" : null,
      run: out.run,
    },
  };
}
