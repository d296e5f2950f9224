/** A runbook's steps decided as the person, each where it would run: shared by the pipeline and the running job. */
import type { ActionOf, Actor } from "./action.ts";
import { code, type Message, msg } from "./message.ts";
import { type DispatchDeps, now } from "./pipeline-types.ts";
import { hostFor, placeOf } from "./place.ts";
import { authorize, type Decision, mayApprove, type Subject } from "./policy.ts";
import { expandRunbook, type RunbookStep } from "./runbook.ts";

const gateStrength = { none: 0, confirm: 1, approval: 2 } as const;

/** Each step decided as its own command would be; one refused step refuses the runbook, naming it and why. */
export async function authorizeSteps(steps: readonly RunbookStep[], actor: Actor, subject: Subject, deps: DispatchDeps): Promise<Decision> {
  let strongest: Extract<Decision, { allow: true }> | undefined;
  for (const [i, step] of steps.entries()) {
    const decided = await authorizeStep(step, actor, subject, deps);
    if (!decided.decision.allow) {
      return {
        allow: false,
        rule: decided.decision.rule,
        reason: msg`Nothing was run: step ${i + 1} of the runbook, ${code(step.line)}, is not allowed. ${decided.decision.reason}`,
      };
    }
    if (!strongest || gateStrength[decided.decision.gate] > gateStrength[strongest.gate]) strongest = decided.decision;
  }
  return strongest ?? { allow: true, rule: "builtin:self-service", gate: "none" };
}

/** One step's decision where it would run (its -H, the channel's host, the default), and that host. */
export async function authorizeStep(
  step: RunbookStep,
  actor: Actor,
  subject: Subject,
  deps: DispatchDeps,
): Promise<{ decision: Decision; host: string | undefined }> {
  const where = hostFor(step.action, actor, deps);
  if (!where.ok) {
    const reason = msg`${where.message} (a step runs on the host its ${code("-H")} names, else this channel's or the default one).`;
    return { decision: { allow: false, rule: "runbook:host", reason }, host: undefined };
  }
  const place = await placeOf(deps, step.action, actor, where.host);
  return { decision: authorize(deps.policy(), subject, step.action, place, now(deps)), host: where.host };
}

/**
 * Whether `approver` may approve a runbook waiting for approval: as for each of its steps, where each would run (the
 * strongest step's approver roles, and every permission the requester needs for each step).
 */
export async function mayApproveRunbook(
  action: ActionOf<"runbook.run">,
  approver: Subject,
  request: { requester: string; channel: Pick<Actor, "channelId" | "channelName">; approvers?: readonly string[] | undefined },
  deps: DispatchDeps,
): Promise<{ ok: true; rule: string } | { ok: false; reason: Message }> {
  const expanded = expandRunbook(deps.policy(), action, deps.registry);
  if (!expanded.ok) return { ok: false, reason: expanded.message };
  let rule = "";
  for (const step of expanded.steps) {
    const where = hostFor(step.action, { userId: request.requester, ...request.channel }, deps);
    const host = where.ok ? where.host : undefined;
    const place = await placeOf(deps, step.action, request.channel, host);
    const check = mayApprove(
      deps.policy(),
      approver,
      { requester: request.requester, action: step.action, place, approvers: request.approvers },
      now(deps),
    );
    if (!check.ok) return { ok: false, reason: msg`Step ${code(step.line)}: ${check.reason}` };
    rule ||= check.rule;
  }
  return { ok: true, rule };
}
