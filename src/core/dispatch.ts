import { randomUUID } from "node:crypto";
import type { Action, Actor } from "./action.ts";
import { type Approved, approvedCard, gate } from "./approvals.ts";
import { auditDecision, auditOutcome } from "./audit.ts";
import { authorizeRequest } from "./authorize-request.ts";
import { denialChoices } from "./denial-fixes.ts";
import { correctionChoices } from "./did-you-mean.ts";
import { BerthError } from "./errors.ts";
import { type Checks, cardOf, type HandlerContext, handlerOf } from "./handlers.ts";
import { otherHosts, resolveHostFor } from "./host-pick.ts";
import { msg, plainText, tone } from "./message.ts";
import { parse } from "./parse.ts";
import { type DispatchDeps, now, type Outcome, type Request, replyOutcome } from "./pipeline-types.ts";
import { placeOf, subjectOf } from "./place.ts";
import { authorize, type Subject } from "./policy.ts";
import { authorizeRunbook, runbookInputAnswer } from "./runbook-dispatch.ts";
import { closeTargets, pickTarget } from "./target-picker.ts";
import { gatedAlsoAs } from "./undo.ts";

// The names the transports and tests import from the pipeline, wherever they live now.
export { type Approved, type SweepResult, sweep } from "./approvals.ts";
export { auditOutcome, errorCode } from "./audit.ts";
export { pickedAction } from "./host-pick.ts";
export { hostReports } from "./host-reports.ts";
export type { DispatchDeps, GateView, JobPlan, Outcome, ReplyResult, Request } from "./pipeline-types.ts";

/** The whole pipeline for typed text: the one parse, then `dispatchAction`. */
export async function dispatch(req: Request, deps: DispatchDeps, signal: AbortSignal): Promise<Outcome> {
  const requestId = req.requestId ?? randomUUID();
  const parsed = req.parsed ?? parse(req.text, deps.registry);
  if (!parsed.ok) {
    const picked = parsed.complete && (await pickTarget(parsed, req.actor, deps, signal, requestId));
    if (picked) return picked;
    const text = parsed.usage ? msg`${parsed.message}\n${parsed.usage}` : parsed.message;
    const choices = correctionChoices(parsed, deps.registry);
    return {
      type: "reply",
      reply: { visibility: "ephemeral", text, ...(choices.length && { choices }) },
      requestId,
      result: "usage_error",
    };
  }
  return dispatchAction(parsed.action, req.actor, deps, signal, requestId);
}

/**
 * resolve host → authorize once → audit once → gate? → handler, for an Action from any source (text, a button). This
 * is the only route to an engine: `deps.engine` is reached from a handler, which runs only after an allow decision was
 * audited, and, for a gated request, from its card's preview, which reads the host's OS and version (nothing else)
 * after the allow decision was audited and before anyone confirms.
 */
export async function dispatchAction(
  action: Action,
  actor: Actor,
  deps: DispatchDeps,
  signal: AbortSignal,
  requestId: string = randomUUID(),
  checks?: Checks,
): Promise<Outcome> {
  const handler = handlerOf(action);
  const subject = await subjectOf(deps, actor);
  const policy = deps.policy();
  const context = (host: string | undefined): HandlerContext => ({
    deps,
    actor,
    host,
    subject,
    policy,
    signal,
    requestId,
    resume: (approved) => resume(approved, deps, signal, requestId),
    redispatch: (inner, undoChecks) => dispatchAction(inner, actor, deps, signal, requestId, undoChecks),
  });
  // A decision on a waiting request is checked against that request (approvals.ts), not the policy's bindings.
  if (handler.runs === "decision") return handler.execute(action, context(undefined));

  const where = resolveHostFor(action, actor, subject, policy, deps, requestId);
  if (where.type === "answer") return where.outcome;
  if (where.type === "retry") return dispatchAction(where.action, actor, deps, signal, requestId, checks);
  const host = where.type === "host" ? where.host : undefined;
  const place = await placeOf(deps, action, actor, host);

  if (action.kind === "runbook.run") {
    const bad = await runbookInputAnswer(action, actor, subject, deps, signal, requestId);
    if (bad) return bad;
  }
  const authorized =
    action.kind === "runbook.run"
      ? { decision: await authorizeRunbook(action, actor, subject, deps), hidden: undefined }
      : await authorizeRequest(action, actor, subject, place, deps);
  const { hidden } = authorized;
  const decision = checks?.gatedAs ? gatedAlsoAs(authorized.decision, policy, checks.gatedAs, place) : authorized.decision;
  await auditDecision(deps, { requestId, actor, action, host: place.host, decision });
  if (!decision.allow) {
    const text = hidden ?? msg`${tone("denied")} ${decision.reason}`;
    const choices = hidden ? [] : denialChoices(policy, subject, action, decision, place, actor, now(deps));
    return { type: "reply", reply: { visibility: "ephemeral", text, ...(choices.length && { choices }) }, requestId, result: "denied" };
  }
  // No host could be chosen, yet the policy allows the action somewhere: say what is missing.
  if (where.type === "unresolved") return replyOutcome(requestId, msg`${where.message}`);
  const unmet = await checks?.precondition(host ?? place.host);
  if (unmet) {
    await auditOutcome(deps, { requestId, actor, action, host: place.host, outcome: `refused: ${plainText(unmet)}` });
    return replyOutcome(requestId, msg`${tone("warning")} ${unmet}`, "ephemeral", "refused");
  }
  // Answered before any card or engine change, from reads only: a name that matches nothing exactly (the close ones
  // instead), a run the host cannot run (its fixes), a host that cannot be reached (the other hosts).
  let early: Outcome | undefined | "" | false;
  try {
    early =
      (host && handler.target && (await closeTargets(action, host, { policy, subject, place }, deps, signal, requestId))) ||
      (host && (await precheck(action, host, actor, deps, signal, requestId)));
  } catch (error) {
    early = host && (await unreachable(error, action, host, actor, subject, deps, requestId));
  }
  if (early) return early;
  if (decision.gate === "none") return handler.execute(action, context(host));

  const refusal = await handler.refusal?.(action, { cloud: deps.cloud, manifestHosts: deps.manifestHosts ?? [] });
  if (refusal) return replyOutcome(requestId, refusal, "ephemeral", "refused");
  const card = await cardOf(action, place.host, policy, deps, signal);
  return gate(action, actor, place, decision, card, deps, requestId);
}

/** Reads can take a while on a slow host: past this, the request goes on and its own checks answer. */
const precheckTimeoutMs = 5000;

/** The handler's precheck (engine reads only), as a refusal with taps, audited as the request's outcome. */
async function precheck(
  action: Action,
  host: string,
  actor: Actor,
  deps: DispatchDeps,
  signal: AbortSignal,
  requestId: string,
): Promise<Outcome | undefined> {
  const handler = handlerOf(action);
  if (!handler.precheck) return undefined;
  let refusal: Awaited<ReturnType<NonNullable<typeof handler.precheck>>>;
  try {
    refusal = await handler.precheck(action, {
      engine: deps.engine(host),
      host,
      isolation: deps.hosts.settings?.[host]?.isolation,
      signal: AbortSignal.any([signal, AbortSignal.timeout(precheckTimeoutMs)]),
    });
  } catch (error) {
    if (error instanceof BerthError && error.code === "UNAVAILABLE") throw error; // the other hosts are offered
    return undefined; // an engine slow to answer now: the request goes on, and its own checks answer
  }
  if (!refusal) return undefined;
  await auditOutcome(deps, { requestId, actor, action, host, outcome: "refused before start" });
  const reply = { visibility: "ephemeral" as const, text: refusal.text, ...(refusal.choices.length && { choices: refusal.choices }) };
  return { type: "reply", reply, requestId, result: "refused" };
}

/** A host that cannot be reached, found before anything was done: said at once, with the other hosts as taps. */
async function unreachable(
  error: unknown,
  action: Action,
  host: string,
  actor: Actor,
  subject: Subject,
  deps: DispatchDeps,
  requestId: string,
): Promise<Outcome | undefined> {
  if (!(error instanceof BerthError) || error.code !== "UNAVAILABLE") return undefined;
  await auditOutcome(deps, { requestId, actor, action, host, outcome: "error: UNAVAILABLE" });
  const choices = otherHosts(action, host, actor, subject, deps);
  const text = choices.length ? msg`${tone("warning")} ${error.text} Or try it on another host:` : msg`${tone("warning")} ${error.text}`;
  return { type: "reply", reply: { visibility: "ephemeral", text, ...(choices.length && { choices }) }, requestId, result: "failed" };
}

/**
 * An approved (or confirmed) request, carried on: its requester is authorized again, since the policy may have
 * changed or a grant ended while it waited, and then its handler runs. The requester's team is not kept with the
 * request: re-authorized as someone `users: ["*"]` does not cover.
 */
async function resume(approved: Approved, deps: DispatchDeps, signal: AbortSignal, requestId: string): Promise<Outcome> {
  const { pending, action, requester } = approved;
  const subject: Subject = await subjectOf(deps, requester);
  const policy = deps.policy();
  const host = pending.host ?? undefined;
  // A grant was decided by its approver against the policy's grants (mayApprove): there is nothing to authorize again.
  if (action.kind !== "grant.request") {
    const again = authorize(policy, subject, action, approved.place, now(deps));
    if (!again.allow) {
      await auditDecision(deps, { requestId: pending.requestId, actor: requester, action, host, decision: again });
      return { type: "decided", pending, card: approvedCard(approved, again.reason), requestId };
    }
  }
  const then = await handlerOf(action).execute(action, {
    deps,
    actor: requester,
    host,
    subject,
    policy,
    signal,
    requestId: pending.requestId,
    approval: approved,
    resume: (next) => resume(next, deps, signal, requestId),
  });
  // A grant answers with its own decided card; anything else runs under the approved card.
  if (then.type === "decided") return { ...then, requestId };
  return { type: "decided", pending, card: approvedCard(approved), next: then, requestId };
}
