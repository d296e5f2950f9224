// Past 400 lines: the pipeline, approvals, grants and host reports still live here; issue 12 turns it into a
// handler table plus approvals.ts and audit.ts. Security fixes were kept local so that restructuring stays one step.
import { randomBytes, randomUUID } from "node:crypto";
import type { ProvisionDeps } from "../cloud/provision.ts";
import type { ContainerEngine } from "../engines/ports.ts";
import { escapeMrkdwn } from "../slack/mrkdwn-escape.ts";
import type { PendingRecord, Store } from "../store/store.ts";
import { type Action, type ActionOf, type Actor, hostOf, onAnotherPersonsHost, targetsHost } from "./action.ts";
import { auditReport } from "./audit-report.ts";
import type { Registry } from "./command.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { BerthError, publicMessage } from "./errors.ts";
import type { JobEvent, Reply } from "./events.ts";
import { executeJob, isJobAction, type JobAction } from "./execute.ts";
import { type HostJobAction, hostAction, hostRefusal } from "./host-actions.ts";
import { type Hosts, resolveHost } from "./hosts.ts";
import { type JobRegistry, jobVisible } from "./jobs.ts";
import { parse } from "./parse.ts";
import {
  type ActiveGrant,
  approversFor,
  authorize,
  containerLimits,
  type Decision,
  findPermission,
  imageRefusal,
  mayApprove,
  type Place,
  type Policy,
  type Subject,
  safeRegExp,
} from "./policy.ts";
import { createRedactor, redactAction } from "./redact.ts";
import { answer, type HostReport } from "./reply.ts";

export type DispatchDeps = {
  registry: Registry;
  policy: () => Policy;
  hosts: Hosts;
  engine: (host: string) => ContainerEngine;
  store: Store;
  jobs: JobRegistry;
  /** The user groups (of those the policy names) that this user belongs to. */
  groupsOf: (userId: string) => Promise<ReadonlySet<string>>;
  /** Full actions (with environment values) of requests waiting for a decision; never written to disk. */
  pendingActions: Map<string, Action>;
  slash: string;
  clock?: () => number;
  log?: (event: string, fields: Record<string, unknown>) => void;
  /** Azure provisioning; absent when the operator has not configured it. */
  cloud?: ProvisionDeps | undefined;
  /** The hosts manifest's names (berth neither creates nor removes those). */
  manifestHosts?: readonly string[];
};

export type Request = { text: string; actor: Actor; requestId?: string };

/** A job that passed policy and was audited; the transport starts it once it has somewhere to show it. */
export type JobPlan = {
  id: string;
  requestId: string;
  action: JobAction | HostJobAction;
  host: string;
  summary: string;
  actor: Actor;
  approvedBy?: string | undefined;
  /** Carry on in this existing card (and its thread) instead of posting a new one: a job resumed after a restart. */
  cardTs?: string | undefined;
  /** The card's button: Stop for streams, Cancel for work that is undone when stopped (host create), null for none. */
  stopLabel?: string | null | undefined;
  run(signal: AbortSignal): AsyncGenerator<JobEvent>;
};

/** What a gated request looks like on its preview (confirm) or approval card. */
export type GateView = {
  pending: PendingRecord;
  preview: readonly string[];
  approvers: readonly string[];
  dangerous: boolean;
};

export type ReplyResult = "denied" | "refused" | "usage_error" | "failed";

export type Outcome =
  /** `result` says when the reply is not an answer: a usage error, a denial, a refusal, a failure (for metrics). */
  | { type: "reply"; reply: Reply; requestId: string; result?: ReplyResult | undefined }
  | { type: "job"; plan: JobPlan }
  | { type: "gate"; view: GateView; requestId: string }
  /** Several hosts could take this action and none is the default here: ask with one button per host. */
  | { type: "pick"; id: string; text: string; hosts: readonly string[]; requestId: string }
  /** A gated request was decided (or expired): edit its card, tell the clicker, then deliver what follows. */
  | { type: "decided"; pending: PendingRecord; card: string; reply?: Reply; next?: Outcome; requestId: string };

const now = (deps: Pick<DispatchDeps, "clock">) => (deps.clock ?? Date.now)();

/** The whole pipeline for typed text: normalize + parse → Action, then `dispatchAction`. */
export async function dispatch(req: Request, deps: DispatchDeps, signal: AbortSignal): Promise<Outcome> {
  const requestId = req.requestId ?? randomUUID();
  const parsed = parse(req.text, deps.registry);
  if (!parsed.ok) {
    const text = parsed.usage ? `${parsed.message}\n${parsed.usage.replace("/berth", deps.slash)}` : parsed.message;
    return { type: "reply", reply: { visibility: "ephemeral", text }, requestId, result: "usage_error" };
  }
  return dispatchAction(parsed.action, req.actor, deps, signal, requestId);
}

/** `homeTeam` only when the Slack adapter vouched for it: a person of unknown team is not matched by `users: ["*"]`. */
async function subjectOf(deps: DispatchDeps, actor: Pick<Actor, "userId" | "teamId" | "homeTeam">): Promise<Subject> {
  const grants: ActiveGrant[] = deps.store.grants.active().filter((g) => g.userId === actor.userId);
  return {
    userId: actor.userId,
    groups: await deps.groupsOf(actor.userId),
    grants,
    teamId: actor.teamId,
    homeTeam: actor.homeTeam === true,
  };
}

/**
 * Where an action happens, for policy: the channel, the host it concerns (see `hostOf`), and, for removing or
 * extending a host berth made, who made it.
 */
function placeOf(
  deps: Pick<DispatchDeps, "cloud">,
  action: Action,
  channel: { channelId: string; channelName?: string | undefined },
  host: string | undefined,
): Place {
  const concerned = hostOf(action, host);
  const made = concerned !== undefined && action.kind in onAnotherPersonsHost ? deps.cloud?.store.cloudHosts.get(concerned) : undefined;
  return {
    channelId: channel.channelId,
    channelName: channel.channelName,
    host: concerned,
    hostOwner: made && made.status !== "removed" ? made.requester : undefined,
  };
}

const noSuchJob = (id: string) => `No running job \`${id}\`. \`/berth jobs\` lists the running ones.`;

const replyOutcome = (requestId: string, text: string, visibility: Reply["visibility"] = "ephemeral", result?: ReplyResult): Outcome => ({
  type: "reply",
  reply: { visibility, text },
  requestId,
  ...(result && { result }),
});

/**
 * authorize → audit → (confirm | approval) → execute, for an Action from any source (text, a button). This is the only
 * route to an engine: `deps.engine` is reached from `perform`, which runs only after an allow decision was audited,
 * and, for a gated request, from its preview, which reads the host's OS and version (nothing else) after the allow
 * decision was audited and before anyone confirms.
 */
export async function dispatchAction(
  action: Action,
  actor: Actor,
  deps: DispatchDeps,
  signal: AbortSignal,
  requestId: string = randomUUID(),
): Promise<Outcome> {
  const reply = (text: string, result?: ReplyResult) => replyOutcome(requestId, text, "ephemeral", result);
  if (action.kind === "approval.decide") return decide(action, actor, deps, signal, requestId);
  const choice = hostFor(action, actor, deps);
  const subject = await subjectOf(deps, actor);
  const policy = deps.policy();
  if (!choice.ok) {
    if (!choice.choices || !targetsHost(action)) return reply(choice.message);
    // Only the hosts this person may use for this action are offered; with just one, there is nothing to ask.
    const allowed = choice.choices.filter(
      (h) =>
        authorize(
          policy,
          subject,
          { ...action, host: h },
          { channelId: actor.channelId, channelName: actor.channelName, host: h },
          now(deps),
        ).allow,
    );
    if (allowed.length === 1) return dispatchAction({ ...action, host: allowed[0] as string }, actor, deps, signal, requestId);
    if (allowed.length > 1) {
      const id = `h-${randomBytes(4).toString("hex")}`;
      rememberPick(deps, id, action);
      return { type: "pick", id, text: `${choice.message} (or add \`-H HOST\` to the command)`, hosts: allowed, requestId };
    }
  }
  const host = choice.ok ? choice.host : undefined;
  if (!choice.ok && targetsHost(action)) {
    // No host it may use: the denial below names what is missing.
    const decision = authorize(policy, subject, action, placeOf(deps, action, actor, host), now(deps));
    audit(deps, { requestId, actor, action, host, decision });
    return decision.allow ? reply(choice.message) : reply(`:no_entry: ${decision.reason}`, "denied");
  }
  const place = placeOf(deps, action, actor, host);
  if (action.kind === "policy.explain" && action.question === "can-i") return explain(action.text ?? "", actor, subject, deps, requestId);
  let decision = authorize(policy, subject, action, place, now(deps));
  let cancelTarget: ReturnType<JobRegistry["get"]>;
  if (action.kind === "job.cancel") {
    cancelTarget = deps.jobs.get(action.job);
    // Someone else's job is only there for you if `jobs` shows it to you (this channel's, or job.list.all): a job
    // from a channel you cannot see answers exactly like one that does not exist.
    const seesAll = () => findPermission(policy, subject, "job.list.all", place, now(deps)) !== undefined;
    if (cancelTarget && !jobVisible(cancelTarget.record, actor, seesAll)) {
      const reason = noSuchJob(action.job);
      audit(deps, { requestId, actor, action, host: place.host, decision: { allow: false, rule: "job:not-visible", reason } });
      return reply(reason, "denied");
    }
    // Anyone may stop their own job; stopping someone else's needs the right to stop containers where it runs.
    if (cancelTarget && cancelTarget.record.userId !== actor.userId) {
      const jobHost = cancelTarget.record.host ?? undefined;
      const asStop = authorize(
        policy,
        subject,
        { kind: "container.stop", container: "job", host: jobHost },
        { channelId: cancelTarget.record.channelId, channelName: cancelTarget.channelName, host: jobHost },
        now(deps),
      );
      // Stopping a stream or a run only ever reduces what happens, so it is never held for a confirmation or approval.
      decision = asStop.allow ? { ...asStop, gate: "none", gateRule: undefined, approvers: undefined } : asStop;
    }
  }
  audit(deps, { requestId, actor, action, host: place.host, decision });
  if (!decision.allow) return reply(`:no_entry: ${decision.reason}`, "denied");
  if (decision.gate !== "none" && (action.kind === "host.create" || action.kind === "host.remove" || action.kind === "host.extend")) {
    const refusal = hostRefusal(action, { cloud: deps.cloud, manifestHosts: deps.manifestHosts ?? [] });
    if (refusal) return reply(refusal, "refused");
  }
  if (decision.gate !== "none") return gate(action, actor, place, decision, deps, signal, requestId);
  return perform(action, actor, { host, subject, policy, deps, signal, requestId });
}

type PerformContext = {
  host: string | undefined;
  subject: Subject;
  policy: Policy;
  deps: DispatchDeps;
  signal: AbortSignal;
  requestId: string;
  approvedBy?: string | undefined;
};

/** Carries out an authorized, audited action. Only dispatchAction and an approved decision call it. */
async function perform(action: Action, actor: Actor, c: PerformContext): Promise<Outcome> {
  const { deps, host, requestId } = c;
  const reply = (text: string, visibility: Reply["visibility"] = "ephemeral", result?: ReplyResult) =>
    replyOutcome(requestId, text, visibility, result);
  if (action.kind === "job.cancel") {
    const target = deps.jobs.get(action.job);
    if (!target) return reply(noSuchJob(action.job));
    deps.jobs.cancel(action.job, actor.userId);
    auditOutcome(deps, { requestId, actor, action, host, outcome: "cancel requested" });
    return reply(`Stopping job \`${action.job}\` (${target.record.summary}).`);
  }
  if (action.kind === "audit.query") return reply(auditReport(deps.store.audit.all(), action, now(deps)));
  if (action.kind === "grant.request" || action.kind === "approval.decide") {
    throw new Error(`${action.kind} is handled before perform`);
  }
  if (action.kind === "host.create" || action.kind === "host.remove" || action.kind === "host.extend") {
    const id = deps.jobs.newId();
    const out = hostAction(action, actor, {
      cloud: deps.cloud,
      manifestHosts: deps.manifestHosts ?? [],
      jobId: id,
      jobRunning: (job) => deps.jobs.get(job) !== undefined,
    });
    if (out.type === "reply") {
      auditOutcome(deps, { requestId, actor, action, host: action.name, outcome: out.refused ? `refused: ${out.text}` : "ok" });
      return reply(out.text, out.visibility, out.refused ? "refused" : undefined);
    }
    return {
      type: "job",
      plan: {
        id,
        requestId,
        action: action as HostJobAction,
        host: out.host,
        summary: out.summary,
        actor,
        approvedBy: c.approvedBy,
        // Removal cannot be stopped half-way (it would leave resources nobody tracks): no button.
        stopLabel: action.kind === "host.create" ? "Cancel" : null,
        run: out.run,
      },
    };
  }
  if (isJobAction(action)) {
    const jobHost = host as string;
    let rollbackImage: string | undefined;
    if (action.kind === "service.rollback") {
      // A rollback deploys the previous spec's image: it passes the same allow-list as `service update --image`.
      const checked = await checkRollback(action, actor, jobHost, c);
      if (!checked.ok) return checked.outcome;
      rollbackImage = checked.image;
    }
    const id = deps.jobs.newId();
    return {
      type: "job",
      plan: {
        id,
        requestId,
        action,
        host: jobHost,
        summary: shown(summarize(action, jobHost), action, c.policy),
        actor,
        approvedBy: c.approvedBy,
        run: (jobSignal) =>
          executeJob(
            action,
            {
              engine: deps.engine(jobHost),
              host: jobHost,
              policy: c.policy,
              actor,
              jobId: id,
              clock: deps.clock,
              isolation: deps.hosts.settings?.[jobHost]?.isolation,
              rollbackImage,
            },
            jobSignal,
          ),
      },
    };
  }
  try {
    const answered = await answer(
      action,
      {
        engine: () => deps.engine(host as string),
        host,
        registry: deps.registry,
        policy: c.policy,
        subject: c.subject,
        actor,
        jobs: deps.jobs,
        slash: deps.slash,
        clock: deps.clock,
        hosts: () => hostReports(deps, c.signal),
      },
      c.signal,
    );
    if (targetsHost(action)) auditOutcome(deps, { requestId, actor, action, host, outcome: "ok", approver: c.approvedBy });
    return { type: "reply", reply: answered, requestId };
  } catch (error) {
    auditOutcome(deps, { requestId, actor, action, host, outcome: `error: ${errorCode(error)}`, approver: c.approvedBy });
    deps.log?.("command failed", { requestId, err: error, kind: action.kind });
    return reply(`:warning: ${publicMessage(error, requestId.slice(0, 8))}`, "ephemeral", "failed");
  }
}

/**
 * Reads the image a rollback would bring back and holds it to the image allow-list. Runs after the rollback itself
 * was allowed and audited (it reads the engine); a refusal is audited as a denial by `policy:images`.
 */
async function checkRollback(
  action: ActionOf<"service.rollback">,
  actor: Actor,
  host: string,
  c: PerformContext,
): Promise<{ ok: true; image: string | undefined } | { ok: false; outcome: Outcome }> {
  const { deps, requestId } = c;
  let image: string | undefined;
  try {
    image = await deps.engine(host).previousServiceImage(action.service, c.signal);
  } catch (error) {
    auditOutcome(deps, { requestId, actor, action, host, outcome: `error: ${errorCode(error)}`, approver: c.approvedBy });
    return {
      ok: false,
      outcome: replyOutcome(requestId, `:warning: ${publicMessage(error, requestId.slice(0, 8))}`, "ephemeral", "failed"),
    };
  }
  // No previous spec: the engine refuses the rollback itself, with its own clear message.
  const refused = image === undefined ? undefined : imageRefusal(c.policy, image);
  if (!refused) return { ok: true, image };
  const reason = `A rollback of \`${action.service}\` would bring back its previous image. ${refused} Or deploy an allowed image with \`/berth service update --image IMAGE ${action.service}\`.`;
  audit(deps, { requestId, actor, action, host, decision: { allow: false, rule: "policy:images", reason } });
  return { ok: false, outcome: replyOutcome(requestId, `:no_entry: ${reason}`, "ephemeral", "denied") };
}

/** Records a request that needs a tap or a second person, and describes its card. */
async function gate(
  action: Action,
  actor: Actor,
  place: Place,
  decision: Extract<Decision, { allow: true }>,
  deps: DispatchDeps,
  signal: AbortSignal,
  requestId: string,
): Promise<Outcome> {
  const policy = deps.policy();
  const id = `r-${randomBytes(3).toString("hex")}`;
  const ttl = policy.approvals.ttl;
  const pending = deps.store.pending.create({
    id,
    requestId,
    gate: decision.gate === "approval" ? "approval" : "confirm",
    requester: actor.userId,
    channelId: actor.channelId,
    channelName: actor.channelName ?? null,
    host: place.host ?? null,
    summary: shown(describe(action, place.host), action, policy),
    action: redactAction(action),
    rule: decision.rule,
    gateRule: decision.gateRule ?? decision.rule,
    approvers: [...(decision.approvers ?? [])],
    expiresAt: now(deps) + (parseDuration(ttl) ?? 900) * 1000,
  });
  deps.pendingActions.set(id, action);
  const approvers = decision.gate === "approval" ? approversFor(policy, { action, place, approvers: decision.approvers }) : [];
  return {
    type: "gate",
    requestId,
    view: {
      pending,
      preview: (await preview(action, targetsHost(action) ? place.host : undefined, policy, deps, signal)).map((line) =>
        shown(line, action, policy),
      ),
      approvers: approvers.filter((a) => a !== `<@${actor.userId}>`),
      dangerous:
        action.kind === "container.remove" ||
        action.kind === "container.exec" ||
        action.kind === "grant.request" ||
        action.kind === "host.remove",
    },
  };
}

/** Exactly what will happen: resolved host and OS, image, command, limits, environment names (never values). */
async function preview(
  action: Action,
  host: string | undefined,
  policy: Policy,
  deps: DispatchDeps,
  signal: AbortSignal,
): Promise<string[]> {
  const lines: string[] = [];
  if (host) {
    const os = await deps
      .engine(host)
      .info(AbortSignal.any([signal, AbortSignal.timeout(3000)]))
      .then(
        (i) => `${i.osType}, ${i.osVersion}, Docker ${i.engineVersion}`,
        (e: unknown) => `unreachable now (${publicMessage(e)})`,
      );
    lines.push(`*Host:* ${host} (${os})`);
  }
  switch (action.kind) {
    case "container.run": {
      const l = containerLimits(policy, action);
      lines.push(`*Image:* \`${action.image}\``);
      lines.push(`*Command:* ${action.cmd.length ? `\`${escapeMrkdwn(action.cmd.join(" "))}\`` : "the image's default"}`);
      lines.push(
        `*Limits:* ${Math.round(l.memoryBytes / 1024 ** 2)} MiB, ${l.nanoCpus / 1e9} CPU, ${l.pidsLimit} pids, network ${l.networkMode}, ${action.detach ? "detached" : `stopped after ${formatDuration(l.timeoutSeconds * 1000)}`}${l.privileged ? ", *privileged*" : ""}`,
      );
      if (l.mounts.length)
        lines.push(`*Mounts:* ${l.mounts.map((m) => `${m.source} → ${m.target}${m.readOnly ? " (ro)" : ""}`).join(", ")}`);
      lines.push(`*Environment:* ${action.env.length ? action.env.map((e) => `\`${e.name}\``).join(", ") : "none"} (values hidden)`);
      break;
    }
    case "container.exec":
      lines.push(`*Container:* \`${action.container}\``, `*Command:* \`${escapeMrkdwn(action.cmd.join(" "))}\``);
      break;
    case "container.remove":
      lines.push(`*Container:* \`${action.container}\`${action.force ? " (forced, even if running)" : ""}`);
      break;
    case "grant.request":
      lines.push(`*Role:* ${action.role} for ${formatDuration(action.durationSeconds * 1000)}`, `*Reason:* ${escapeMrkdwn(action.reason)}`);
      break;
    case "service.scale":
      lines.push(`*Service:* \`${action.service}\` → ${action.replicas} replicas`);
      break;
    case "service.update":
      lines.push(`*Service:* \`${action.service}\``, `*New image:* \`${action.image}\``);
      break;
    case "service.rollback":
      lines.push(`*Service:* \`${action.service}\` → its previous spec`);
      break;
    case "host.create":
      lines.push(
        `*New Azure host:* \`${action.name}\` (${action.os}${action.hyperv ? ", Hyper-V" : ""}${action.private ? ", private" : ""})`,
        `*Size / region:* ${action.size ?? policy.azure.sizes[0]} / ${action.region ?? deps.cloud?.settings.region ?? "default"}`,
        `*Lifetime:* ${action.ttlSeconds ? formatDuration(action.ttlSeconds * 1000) : policy.azure.defaultTtl}`,
      );
      break;
    case "host.remove": {
      const r = deps.cloud?.store.cloudHosts.get(action.name);
      lines.push(
        `*Azure host:* \`${action.name}\`${r ? ` (${r.os}, ${r.size}, ${r.region}, created by <@${r.requester}>)` : ""}: its VM, disk, NIC, public IP and firewall are deleted`,
      );
      break;
    }
    default:
      if ("container" in action) lines.push(`*Container:* \`${action.container}\``);
  }
  return lines;
}

/** Approve or deny a gated request (button or `approve ID` / `deny ID`). Safe against double clicks and races. */
async function decide(
  action: ActionOf<"approval.decide">,
  clicker: Actor,
  deps: DispatchDeps,
  signal: AbortSignal,
  requestId: string,
): Promise<Outcome> {
  const reply = (text: string, result?: ReplyResult) => replyOutcome(requestId, text, "ephemeral", result);
  const p = deps.store.pending.get(action.id);
  if (!p) return reply(`No request \`${action.id}\` is waiting for a decision.`);
  if (p.state !== "pending") {
    return reply(`Request \`${p.id}\` was already ${p.state}${p.decidedBy ? ` by <@${p.decidedBy}>` : ""}; nothing more to do.`);
  }
  const requester: Actor = { userId: p.requester, channelId: p.channelId, channelName: p.channelName ?? undefined };
  const full = deps.pendingActions.get(p.id);
  if (now(deps) >= p.expiresAt) {
    if (deps.store.pending.expire(p.id)) expired(deps, p);
    return {
      type: "decided",
      pending: { ...p, state: "expired" },
      card: expiredText(p),
      reply: { visibility: "ephemeral", text: `Request \`${p.id}\` expired at ${new Date(p.expiresAt).toISOString()}; ask again.` },
      requestId,
    };
  }
  const policy = deps.policy();
  const place = placeOf(
    deps,
    full ?? (p.action as Action),
    { channelId: p.channelId, channelName: p.channelName ?? undefined },
    p.host ?? undefined,
  );
  const target = full ?? (p.action as Action);
  let rule = "requester";
  if (p.gate === "confirm" || (action.verdict === "deny" && clicker.userId === p.requester)) {
    if (clicker.userId !== p.requester) return reply(`Only <@${p.requester}> can confirm their own request.`, "denied");
  } else {
    const check = mayApprove(
      policy,
      await subjectOf(deps, clicker),
      { requester: p.requester, action: target, place, approvers: p.approvers },
      now(deps),
    );
    if (!check.ok) {
      audit(deps, {
        requestId: p.requestId,
        actor: clicker,
        action: target,
        host: p.host ?? undefined,
        decision: { allow: false, rule: "approval", reason: check.reason },
        type: "approval",
      });
      return reply(`:no_entry: ${check.reason}`, "denied");
    }
    rule = check.rule;
  }
  const state = action.verdict === "approve" ? "approved" : clicker.userId === p.requester ? "cancelled" : "denied";
  if (!deps.store.pending.decide(p.id, state, clicker.userId)) {
    const now2 = deps.store.pending.get(p.id);
    return reply(`Request \`${p.id}\` was already ${now2?.state ?? "decided"}${now2?.decidedBy ? ` by <@${now2.decidedBy}>` : ""}.`);
  }
  deps.pendingActions.delete(p.id);
  deps.store.audit.append({
    requestId: p.requestId,
    type: "approval",
    userId: p.requester,
    channelId: p.channelId,
    action: redactAction(target),
    host: p.host,
    decision: state === "approved" ? "allow" : "deny",
    rule: `${p.gateRule}; ${rule}`,
    outcome: state,
    messageTs: p.messageTs,
    approver: clicker.userId,
  });
  const decided = { ...p, state, decidedBy: clicker.userId } as PendingRecord;
  const by = `<@${clicker.userId}>`;
  if (state !== "approved") {
    return { type: "decided", pending: decided, card: `${state === "cancelled" ? "Cancelled" : "Denied"} by ${by}.`, requestId };
  }
  if (!full && target.kind === "container.run" && target.env.length) {
    return {
      type: "decided",
      pending: decided,
      card: `Approved by ${by}, but berth restarted since the request and no longer holds its environment values. <@${p.requester}>, run the command again.`,
      requestId,
    };
  }
  if (target.kind === "grant.request") return startGrant(target, decided, clicker, deps, requestId);
  // Policy may have changed, or a grant expired, while the request waited: the requester is authorized again.
  // The requester's team is not kept with the request: re-authorized as someone `users: ["*"]` does not cover.
  const subject = await subjectOf(deps, requester);
  const again = authorize(policy, subject, target, place, now(deps));
  if (!again.allow) {
    audit(deps, { requestId: p.requestId, actor: requester, action: target, host: p.host ?? undefined, decision: again });
    return { type: "decided", pending: decided, card: `Approved by ${by}, but no longer allowed: ${again.reason}`, requestId };
  }
  const then = await perform(target, requester, {
    host: p.host ?? undefined,
    subject,
    policy,
    deps,
    signal,
    requestId: p.requestId,
    approvedBy: clicker.userId,
  });
  const what = p.gate === "confirm" ? "Confirmed" : `Approved by ${by}`;
  return { type: "decided", pending: decided, card: `${what}; running it now.`, next: then, requestId };
}

function startGrant(action: ActionOf<"grant.request">, p: PendingRecord, approver: Actor, deps: DispatchDeps, requestId: string): Outcome {
  const id = `g-${randomBytes(3).toString("hex")}`;
  const startsAt = now(deps);
  const expiresAt = startsAt + action.durationSeconds * 1000;
  deps.store.grants.create({
    id,
    userId: p.requester,
    role: action.role,
    reason: action.reason,
    channelId: p.channelId,
    approvedBy: approver.userId,
    startsAt,
    expiresAt,
  });
  deps.store.audit.append({
    requestId: p.requestId,
    type: "grant",
    userId: p.requester,
    channelId: p.channelId,
    action,
    host: null,
    decision: "allow",
    rule: p.gateRule,
    outcome: `granted ${action.role} until ${new Date(expiresAt).toISOString()}`,
    messageTs: p.messageTs,
    approver: approver.userId,
    grant: id,
  });
  const text = `:rotating_light: Break-glass: <@${p.requester}> has role *${action.role}* for ${formatDuration(action.durationSeconds * 1000)} (grant \`${id}\`, until ${new Date(expiresAt).toISOString()}), approved by <@${approver.userId}>. Reason: ${escapeMrkdwn(action.reason)}`;
  return {
    type: "decided",
    pending: p,
    card: `Approved by <@${approver.userId}>; grant \`${id}\` is active.`,
    next: replyOutcome(requestId, text, "channel"),
    requestId,
  };
}

function expiredText(p: PendingRecord): string {
  return `Expired at ${new Date(p.expiresAt).toISOString()} without a decision. <@${p.requester}>, ask again if it is still needed.`;
}

function expired(deps: DispatchDeps, p: PendingRecord): void {
  deps.pendingActions.delete(p.id);
  deps.store.audit.append({
    requestId: p.requestId,
    type: "outcome",
    userId: p.requester,
    channelId: p.channelId,
    action: p.action,
    host: p.host,
    decision: null,
    rule: p.gateRule,
    outcome: "expired",
    messageTs: p.messageTs,
  });
}

export type SweepResult = { expired: { pending: PendingRecord; card: string }[]; grantsEnded: { channelId: string; text: string }[] };

/** Expires overdue requests and ends grants; the transport edits the cards and makes the announcements. */
export function sweep(deps: Pick<DispatchDeps, "store" | "pendingActions" | "clock">): SweepResult {
  const result: SweepResult = { expired: [], grantsEnded: [] };
  for (const p of deps.store.pending.overdue()) {
    if (!deps.store.pending.expire(p.id)) continue;
    expired(deps as DispatchDeps, p);
    result.expired.push({ pending: { ...p, state: "expired" }, card: expiredText(p) });
  }
  for (const g of deps.store.grants.ended()) {
    if (!deps.store.grants.markAnnounced(g.id)) continue;
    deps.store.audit.append({
      requestId: g.id,
      type: "grant",
      userId: g.userId,
      channelId: g.channelId,
      action: { kind: "grant.request", role: g.role },
      host: null,
      decision: null,
      rule: null,
      outcome: `grant ended (${g.role})`,
      messageTs: null,
      grant: g.id,
    });
    result.grantsEnded.push({
      channelId: g.channelId,
      text: `:lock: Grant \`${g.id}\` ended: <@${g.userId}> no longer has role *${g.role}*.`,
    });
  }
  return result;
}

/** `can-i COMMAND…`: the decision the policy would make, without running anything. */
async function explain(text: string, actor: Actor, subject: Subject, deps: DispatchDeps, requestId: string): Promise<Outcome> {
  const parsed = parse(text, deps.registry);
  if (!parsed.ok) return replyOutcome(requestId, `I can't tell: that command does not parse. ${parsed.message}`);
  const action = parsed.action;
  const choice = hostFor(action, actor, deps);
  if (!choice.ok) return replyOutcome(requestId, choice.message);
  const { host } = choice;
  const policy = deps.policy();
  const place = placeOf(deps, action, actor, host);
  const d = authorize(policy, subject, action, place, now(deps));
  const what = `\`${text}\``;
  if (!d.allow) return replyOutcome(requestId, `*Denied:* ${what}. ${d.reason} (rule \`${d.rule}\`)`);
  const via = `allowed by \`${d.rule}\``;
  if (d.gate === "none") return replyOutcome(requestId, `*Allowed:* ${what}, ${via}; it runs at once.`);
  if (d.gate === "confirm")
    return replyOutcome(requestId, `*Allowed after you confirm:* ${what}, ${via}; \`${d.gateRule}\` asks for a tap on Run first.`);
  const who = approversFor(policy, { action, place, approvers: d.approvers }).filter((a) => a !== `<@${actor.userId}>`);
  return replyOutcome(
    requestId,
    `*Needs approval:* ${what}, ${via}; \`${d.gateRule}\` needs a second person. Who could approve: ${who.join(", ") || "nobody is bound to approve it here"}.`,
  );
}

export function errorCode(error: unknown): string {
  return error instanceof BerthError ? error.code : "INTERNAL";
}

type AuditContext = {
  requestId: string;
  actor: Actor;
  action: Action;
  host: string | undefined;
  messageTs?: string;
  approver?: string | undefined;
};

function audit(deps: DispatchDeps, c: AuditContext & { decision: Decision; type?: "decision" | "approval" }): void {
  deps.store.audit.append({
    requestId: c.requestId,
    type: c.type ?? "decision",
    userId: c.actor.userId,
    channelId: c.actor.channelId,
    action: redactAction(c.action),
    host: c.host ?? null,
    decision: c.decision.allow ? "allow" : "deny",
    rule:
      c.decision.allow && c.decision.gate !== "none"
        ? `${c.decision.rule}; needs ${c.decision.gate} (${c.decision.gateRule})`
        : c.decision.rule,
    outcome: null,
    messageTs: null,
    grant: c.decision.allow ? (c.decision.grant ?? null) : null,
  });
}

/** Records how an authorized action ended (or that it could not start). */
export function auditOutcome(deps: Pick<DispatchDeps, "store">, c: AuditContext & { outcome: string }): void {
  deps.store.audit.append({
    requestId: c.requestId,
    type: "outcome",
    userId: c.actor.userId,
    channelId: c.actor.channelId,
    action: redactAction(c.action),
    host: c.host ?? null,
    decision: null,
    rule: null,
    outcome: c.outcome,
    messageTs: c.messageTs ?? null,
    approver: c.approver ?? null,
  });
}

function describe(action: Action, host: string | undefined): string {
  if (isJobAction(action)) return summarize(action, host ?? "?");
  switch (action.kind) {
    case "container.remove":
      return `rm${action.force ? " -f" : ""} ${action.container} on ${host}`;
    case "grant.request":
      return `grant ${action.role} for ${formatDuration(action.durationSeconds * 1000)}`;
    case "host.create":
      return `host create ${action.name} (${action.os})`;
    case "host.remove":
      return `host rm ${action.name}`;
    default:
      return `${action.kind}${"container" in action ? ` ${action.container}` : ""}${host ? ` on ${host}` : ""}`;
  }
}

function summarize(action: JobAction, host: string): string {
  switch (action.kind) {
    case "container.run":
      return `run ${action.image}${action.cmd.length ? ` ${action.cmd.join(" ")}` : ""} on ${host}`;
    case "container.logs":
      return `logs${action.follow ? " -f" : ""} ${action.container} on ${host}`;
    case "container.exec":
      return `exec ${action.container} ${action.cmd.join(" ")} on ${host}`;
    case "service.logs":
      return `service logs${action.follow ? " -f" : ""} ${action.service} on ${host}`;
    case "service.scale":
      return `service scale ${action.service}=${action.replicas} on ${host}`;
    case "service.update":
      return `service update --image ${action.image} ${action.service} on ${host}`;
    case "service.rollback":
      return `service rollback ${action.service} on ${host}`;
  }
}

/** Text about an action as it may be shown (cards, job lists): its secrets masked like its output. */
function shown(text: string, action: Action, policy: Policy): string {
  const values = action.kind === "container.run" ? action.env.map((e) => e.value) : [];
  return createRedactor(
    values,
    policy.redact.flatMap((p) => safeRegExp(p) ?? []),
  )(text);
}

const maxPicks = 500;
/** An action waiting for its host to be picked; kept in memory only (it may hold environment values). */
function rememberPick(deps: Pick<DispatchDeps, "pendingActions">, id: string, action: Action): void {
  deps.pendingActions.set(id, action);
  const picks = [...deps.pendingActions.keys()].filter((k) => k.startsWith("h-"));
  for (const old of picks.slice(0, Math.max(0, picks.length - maxPicks))) deps.pendingActions.delete(old);
}

/** A host button was clicked: the remembered action, on that host (authorized again, as the clicker). */
export function pickedAction(deps: Pick<DispatchDeps, "pendingActions">, value: string): Action | undefined {
  const [id = "", host = ""] = value.split(" ");
  const action = id.startsWith("h-") ? deps.pendingActions.get(id) : undefined;
  if (!action || !targetsHost(action)) return undefined;
  deps.pendingActions.delete(id);
  return { ...action, host };
}

/** Every host's capabilities, in parallel, each bounded by its own short timeout; then Azure hosts still in the making. */
export async function hostReports(deps: Pick<DispatchDeps, "hosts" | "engine" | "cloud">, signal: AbortSignal): Promise<HostReport[]> {
  const made = new Map((deps.cloud?.store.cloudHosts.live() ?? []).map((r) => [r.name, r]));
  const when = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;
  const note = (name: string) => {
    const r = made.get(name);
    return r && `Azure VM ${r.size}, ${r.region}${r.fqdn ? `, ${r.fqdn}` : ""} · made by <@${r.requester}> · expires ${when(r.expiresAt)}`;
  };
  const reports = await Promise.all(
    deps.hosts.connections.map(async (c): Promise<HostReport> => {
      const base = { name: c.name, url: c.url, isolation: deps.hosts.settings?.[c.name]?.isolation, note: note(c.name) };
      const bounded = AbortSignal.any([signal, AbortSignal.timeout(Math.min(c.timeoutMs, 5000))]);
      try {
        const engine = deps.engine(c.name);
        const [info, containers] = await Promise.all([engine.info(bounded), engine.list({ all: true }, bounded)]);
        return { ...base, reachable: true, info, containers: containers.length };
      } catch (error) {
        return { ...base, reachable: false, error: publicMessage(error) };
      }
    }),
  );
  const listed = new Set(reports.map((r) => r.name));
  for (const r of made.values()) {
    if (listed.has(r.name)) continue;
    const doing = r.status === "removing" ? "being removed" : "being created";
    reports.push({
      name: r.name,
      url: r.dockerUrl ?? "",
      reachable: false,
      error: `${doing} (job \`${r.jobId}\`)${r.detail ? `: ${r.detail}` : ""}`,
      note: note(r.name),
    });
  }
  return reports;
}

/** The host an action runs on (none for actions that touch no engine), or why it cannot be chosen. */
function hostFor(
  action: Action,
  actor: Actor,
  deps: Pick<DispatchDeps, "hosts">,
): { ok: true; host: string | undefined } | { ok: false; message: string; choices?: readonly string[] | undefined } {
  if (!targetsHost(action)) return { ok: true, host: undefined };
  return resolveHost(deps.hosts, action.host, { id: actor.channelId, name: actor.channelName });
}
