import { randomUUID } from "node:crypto";
import { type Action, type Actor, targetsHost } from "./action.ts";
import type { Registry } from "./command.ts";
import type { ContainerEngine } from "./engines/ports.ts";
import { BerthError, publicMessage } from "./errors.ts";
import type { JobEvent, Reply } from "./events.ts";
import { executeJob, isJobAction, type JobAction } from "./execute.ts";
import { type Hosts, resolveHost } from "./hosts.ts";
import type { JobRegistry } from "./jobs.ts";
import { parse } from "./parse.ts";
import { authorize, type Decision, type Place, type Policy, type Subject } from "./policy.ts";
import { redactAction } from "./redact.ts";
import { answer } from "./reply.ts";
import type { Store } from "./store.ts";

export type DispatchDeps = {
  registry: Registry;
  policy: () => Policy;
  hosts: Hosts;
  engine: (host: string) => ContainerEngine;
  store: Store;
  jobs: JobRegistry;
  /** The user groups (of those the policy names) that this user belongs to. */
  groupsOf: (userId: string) => Promise<ReadonlySet<string>>;
  slash: string;
  clock?: () => number;
  log?: (event: string, fields: Record<string, unknown>) => void;
};

export type Request = { text: string; actor: Actor; requestId?: string };

/** A job that passed policy and was audited; the transport starts it once it has somewhere to show it. */
export type JobPlan = {
  id: string;
  requestId: string;
  action: JobAction;
  host: string;
  summary: string;
  actor: Actor;
  run(signal: AbortSignal): AsyncGenerator<JobEvent>;
};

export type Outcome = { type: "reply"; reply: Reply; requestId: string } | { type: "job"; plan: JobPlan };

/** The whole pipeline for typed text: normalize + parse → Action, then `dispatchAction`. */
export async function dispatch(req: Request, deps: DispatchDeps, signal: AbortSignal): Promise<Outcome> {
  const requestId = req.requestId ?? randomUUID();
  const parsed = parse(req.text, deps.registry);
  if (!parsed.ok) {
    const text = parsed.usage ? `${parsed.message}\n${parsed.usage.replace("/berth", deps.slash)}` : parsed.message;
    return { type: "reply", reply: { visibility: "ephemeral", text }, requestId };
  }
  return dispatchAction(parsed.action, req.actor, deps, signal, requestId);
}

/**
 * authorize → audit → execute, for an Action from any source (text, a button). This is the only route to an engine:
 * `deps.engine` is called below, after the decision was made and written to the audit log.
 */
export async function dispatchAction(
  action: Action,
  actor: Actor,
  deps: DispatchDeps,
  signal: AbortSignal,
  requestId: string = randomUUID(),
): Promise<Outcome> {
  const reply = (text: string, visibility: Reply["visibility"] = "ephemeral"): Outcome => ({
    type: "reply",
    reply: { visibility, text },
    requestId,
  });
  let host: string | undefined;
  if (targetsHost(action)) {
    const choice = resolveHost(deps.hosts, action.host, { id: actor.channelId, name: actor.channelName });
    if (!choice.ok) return reply(choice.message);
    host = choice.host;
  }
  const subject: Subject = { userId: actor.userId, groups: await deps.groupsOf(actor.userId) };
  const policy = deps.policy();
  const place: Place = { channelId: actor.channelId, channelName: actor.channelName, host };
  let decision = authorize(policy, subject, action, place);
  let cancelTarget: ReturnType<JobRegistry["get"]>;
  if (action.kind === "job.cancel") {
    cancelTarget = deps.jobs.get(action.job);
    // Anyone may stop their own job; stopping someone else's needs the right to stop containers where it runs.
    if (cancelTarget && cancelTarget.record.userId !== actor.userId) {
      decision = authorize(
        policy,
        subject,
        { kind: "container.stop", container: "job", host: cancelTarget.record.host ?? undefined },
        {
          channelId: cancelTarget.record.channelId,
          host: cancelTarget.record.host ?? undefined,
        },
      );
    }
  }
  audit(deps, { requestId, actor, action, host, decision });
  if (!decision.allow) return reply(`:no_entry: ${decision.reason}`);

  if (action.kind === "job.cancel") {
    if (!cancelTarget) return reply(`No running job \`${action.job}\`. \`/berth jobs\` lists the running ones.`);
    deps.jobs.cancel(action.job, actor.userId);
    auditOutcome(deps, { requestId, actor, action, host, outcome: "cancel requested" });
    return reply(`Stopping job \`${action.job}\` (${cancelTarget.record.summary}).`);
  }
  if (isJobAction(action)) {
    const jobHost = host as string;
    const id = deps.jobs.newId();
    const summary = summarize(action, jobHost);
    return {
      type: "job",
      plan: {
        id,
        requestId,
        action,
        host: jobHost,
        summary,
        actor,
        run: (jobSignal) =>
          executeJob(action, { engine: deps.engine(jobHost), host: jobHost, policy, actor, jobId: id, clock: deps.clock }, jobSignal),
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
        policy,
        subject,
        actor,
        jobs: deps.jobs,
        slash: deps.slash,
        clock: deps.clock,
      },
      signal,
    );
    if (targetsHost(action)) auditOutcome(deps, { requestId, actor, action, host, outcome: "ok" });
    return { type: "reply", reply: answered, requestId };
  } catch (error) {
    auditOutcome(deps, { requestId, actor, action, host, outcome: `error: ${errorCode(error)}` });
    deps.log?.("command failed", { requestId, err: error, kind: action.kind });
    return reply(`:warning: ${publicMessage(error, requestId.slice(0, 8))}`);
  }
}

function errorCode(error: unknown): string {
  return error instanceof BerthError ? error.code : "INTERNAL";
}

type AuditContext = { requestId: string; actor: Actor; action: Action; host: string | undefined; messageTs?: string };

function audit(deps: DispatchDeps, c: AuditContext & { decision: Decision }): void {
  deps.store.audit.append({
    requestId: c.requestId,
    type: "decision",
    userId: c.actor.userId,
    channelId: c.actor.channelId,
    action: redactAction(c.action),
    host: c.host ?? null,
    decision: c.decision.allow ? "allow" : "deny",
    rule: c.decision.rule,
    outcome: null,
    messageTs: null,
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
  });
}

export { errorCode };

function summarize(action: JobAction, host: string): string {
  switch (action.kind) {
    case "container.run":
      return `run ${action.image}${action.cmd.length ? ` ${action.cmd.join(" ")}` : ""} on ${host}`;
    case "container.logs":
      return `logs${action.follow ? " -f" : ""} ${action.container} on ${host}`;
    case "container.exec":
      return `exec ${action.container} ${action.cmd.join(" ")} on ${host}`;
  }
}
