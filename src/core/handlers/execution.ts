import { type ActionKind, type ActionOf, type ContainersAction, namesSeveral, targetsHost } from "../action.ts";
import { auditOutcome, errorCode } from "../audit.ts";
import { eachAuditOutcome, eachOutcome, eachReply } from "../container-batch.ts";
import { publicMessage } from "../errors.ts";
import type { Choice, JobEvent } from "../events.ts";
import { hostReports } from "../host-reports.ts";
import type { JobAction, JobContext } from "../job-context.ts";
import { msg, tone } from "../message.ts";
import { now, type Outcome, replyOutcome } from "../pipeline-types.ts";
import type { Answer, ReplyContext } from "../reply.ts";
import { undoChoice } from "../undo.ts";
import type { Handler, HandlerContext } from "./handler.ts";
import { shown } from "./handler.ts";

/** A failure berth reports to the requester: the error's public text, or a reference into berth's log. */
export function failure(error: unknown, c: Pick<HandlerContext, "requestId">): Outcome {
  return replyOutcome(c.requestId, msg`${tone("warning")} ${publicMessage(error, c.requestId.slice(0, 8))}`, "ephemeral", "failed");
}

/** How a reply handler executes: it answers, and an action on an engine has its outcome audited. */
export function answered<K extends ActionKind>(answer: Answer<K>): Handler<K>["execute"] {
  return async (action: ActionOf<K>, c: HandlerContext): Promise<Outcome> => {
    const { deps, actor, host, requestId } = c;
    const audited = targetsHost(action);
    try {
      const reply = await answer(action, replyContext(c), c.signal);
      if (audited) await auditOutcome(deps, { requestId, actor, action, host, outcome: "ok", approver: c.approval?.approver });
      return { type: "reply", reply, requestId };
    } catch (error) {
      await auditOutcome(deps, { requestId, actor, action, host, outcome: `error: ${errorCode(error)}`, approver: c.approval?.approver });
      deps.log?.("command failed", { requestId, err: error, kind: action.kind });
      return failure(error, c);
    }
  };
}

/**
 * How `stop|start|restart|rm` execute: one container answers as it always did; several (`stop a b c`) are each carried
 * out, one failing never holding up the rest, and answered in one message, with each one's outcome in the audit record.
 */
export function answeredEach<K extends ContainersAction["kind"]>(one: Answer<K>, undo?: UndoOffer<K>): Handler<K>["execute"] {
  const single = answered(one);
  return async (action: ActionOf<K>, c: HandlerContext): Promise<Outcome> => {
    if (!namesSeveral(action)) return offered(await single(action, c), () => undo?.(action, [action.container], c));
    const several: ContainersAction = action;
    const { deps, actor, host, requestId } = c;
    const outcomes = await eachOutcome(several, replyContext(c), c.signal);
    for (const o of outcomes)
      if (o.result === "failed") deps.log?.("command failed", { requestId, err: o.error, kind: several.kind, container: o.name });
    await auditOutcome(deps, { requestId, actor, action, host, outcome: eachAuditOutcome(outcomes), approver: c.approval?.approver });
    const reply = eachReply(several, outcomes, { actor, host });
    const failed = reply.visibility === "ephemeral" && outcomes.some((o) => o.result === "failed");
    const out: Outcome = { type: "reply", reply, requestId, ...(failed && { result: "failed" as const }) };
    // Only the containers this request changed are changed back: not one that failed, nor one already so.
    const changed = outcomes.filter((o) => o.result === "done").map((o) => o.name);
    return changed.length ? offered(out, () => undo?.(action, changed, c)) : out;
  };
}

/** The Undo a change of containers offers, for the containers it changed (handlers/undo.ts). */
export type UndoOffer<K extends ActionKind> = (action: ActionOf<K>, changed: readonly string[], c: HandlerContext) => Choice | undefined;

/** A change told to the channel, with its Undo added to the taps it offers; anything else as it is. */
function offered(out: Outcome, choice: () => Choice | undefined): Outcome {
  if (out.type !== "reply" || out.result || out.reply.visibility !== "channel") return out;
  const undo = choice();
  return undo ? { ...out, reply: { ...out.reply, choices: [...(out.reply.choices ?? []), undo] } } : out;
}

function replyContext(c: HandlerContext): ReplyContext {
  const { deps, host } = c;
  return {
    engine: () => deps.engine(host as string),
    host,
    registry: deps.registry,
    policy: c.policy,
    subject: c.subject,
    actor: c.actor,
    jobs: deps.jobs,
    clock: deps.clock,
    hosts: () => hostReports(deps, c.signal),
  };
}

type Run<A extends JobAction> = (action: A, ctx: JobContext, signal: AbortSignal) => AsyncGenerator<JobEvent>;

/** How a job on an engine executes: a plan with a card title, started by the transport once it can show it. */
export function engineJob<A extends JobAction>(
  run: Run<A>,
  summary: (action: A, host: string) => string,
  extra: Partial<Pick<JobContext, "rollbackImage">> = {},
) {
  return async (action: A, c: HandlerContext): Promise<Outcome> => {
    const { deps } = c;
    const host = c.host as string;
    const id = deps.jobs.newId();
    return {
      type: "job",
      plan: {
        id,
        requestId: c.requestId,
        action,
        host,
        summary: shown(summary(action, host), action, c.policy),
        actor: c.actor,
        approvedBy: c.approval?.approver,
        run: (signal) =>
          run(
            action,
            {
              engine: deps.engine(host),
              host,
              policy: c.policy,
              actor: c.actor,
              jobId: id,
              clock: deps.clock,
              isolation: deps.hosts.settings?.[host]?.isolation,
              reconnectMs: deps.engineReconnectMs,
              registries: deps.registries,
              undo: (inverse, expect) => undoChoice(c.requestId, inverse, expect, c.policy, now(deps)),
              ...extra,
            },
            signal,
          ),
      },
    };
  };
}
