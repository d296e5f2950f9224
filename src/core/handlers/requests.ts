import { decide, startGrant } from "../approvals.ts";
import { auditGrantRevoked, auditOutcome } from "../audit.ts";
import { auditReport } from "../audit-report.ts";
import { noSuchJob } from "../authorize-request.ts";
import { formatDuration } from "../duration.ts";
import { explain } from "../explain.ts";
import { code, command, msg, strong, tone, user } from "../message.ts";
import { now, replyOutcome } from "../pipeline-types.ts";
import { help as helpAnswer, jobList, whoami } from "../reply.ts";
import { answered } from "./execution.ts";
import { type Handler, noPreview, plainSummary } from "./handler.ts";

/** Handlers of berth's own actions: help, whoami and can-i, jobs, approvals and grants, the audit log. */

export const help: Handler<"help"> = {
  runs: "reply",
  summary: plainSummary,
  preview: noPreview,
  execute: answered(helpAnswer),
  inverse: undefined,
};

export const policyExplain: Handler<"policy.explain"> = {
  runs: "reply",
  summary: plainSummary,
  preview: noPreview,
  execute: async (a, c) => (a.question === "can-i" ? explain(a, c) : answered(whoami)(a, c)),
  inverse: undefined,
};

export const jobs: Handler<"job.list"> = {
  runs: "reply",
  summary: plainSummary,
  preview: noPreview,
  execute: answered(jobList),
  inverse: undefined,
};

export const cancel: Handler<"job.cancel"> = {
  runs: "reply",
  summary: plainSummary,
  preview: noPreview,
  async execute(a, c) {
    const { deps, actor, requestId } = c;
    // Here, or on whichever replica carries it (the store asks that one to stop it at its next heartbeat).
    const target = deps.jobs.get(a.job)?.record ?? (await deps.store.jobs.get(a.job));
    if (target?.status !== "running" || !(await deps.jobs.cancel(a.job, actor.userId))) return replyOutcome(requestId, noSuchJob(a.job));
    await auditOutcome(deps, { requestId, actor, action: a, host: c.host, outcome: "cancel requested" });
    return replyOutcome(requestId, msg`Stopping job ${code(a.job)} (${target.summary}).`);
  },
  inverse: undefined,
};

export const decision: Handler<"approval.decide"> = {
  runs: "decision",
  summary: plainSummary,
  preview: noPreview,
  async execute(a, c) {
    const decided = await decide(a, c.actor, c.deps, c.requestId);
    return decided.type === "approved" ? c.resume(decided.approved) : decided.outcome;
  },
  inverse: undefined,
};

export const grant: Handler<"grant.request"> = {
  runs: "reply",
  summary: (a) => `grant ${a.role} for ${formatDuration(a.durationSeconds * 1000)}`,
  preview: (a) => [
    msg`${strong("Role:")} ${a.role} for ${formatDuration(a.durationSeconds * 1000)}`,
    msg`${strong("Reason:")} ${a.reason}`,
  ],
  // A grant starts only on its approved card (the policy always asks a second person for one).
  execute: async (a, c) =>
    c.approval
      ? startGrant(a, c.approval, c.deps, c.requestId)
      : replyOutcome(c.requestId, msg`A grant needs a second person's approval first.`, "ephemeral", "refused"),
  inverse: undefined,
};

/**
 * `grant revoke g-…` (or the Undo on a grant's announcement): the grant ends now, for every authorization from here
 * on (the policy reads only active grants). Who may revoke is decided by the policy (policy.ts, authorizeRevoke).
 */
export const revokeGrant: Handler<"grant.revoke"> = {
  runs: "reply",
  summary: (a) => `grant revoke ${a.grant}`,
  preview: noPreview,
  async execute(a, c) {
    const { deps, actor, requestId } = c;
    const was = await deps.store.grants.revoke(a.grant, now(deps));
    if (was) {
      await auditGrantRevoked(deps, { requestId, actor, grant: was });
      return replyOutcome(
        requestId,
        msg`${tone("locked")} Grant ${code(was.id)} revoked by ${user(actor.userId)}: ${user(was.userId)} no longer has role ${strong(was.role)}.`,
        "channel",
      );
    }
    // Unknown, run out, or revoked a moment ago by someone else: nothing changed.
    const g = await deps.store.grants.get(a.grant);
    await auditOutcome(deps, {
      requestId,
      actor,
      action: a,
      host: undefined,
      outcome: g ? "refused: grant already ended" : "refused: no such grant",
    });
    const text = g
      ? msg`Grant ${code(g.id)} already ended at ${new Date(g.expiresAt).toISOString()}: ${user(g.userId)} no longer has role ${strong(g.role)}, so there is nothing to revoke.`
      : msg`berth knows no grant ${code(a.grant)}. Check the id in the grant's announcement; ${command("whoami")} lists the grants you hold, and ${command("audit --since 1d")} the grants that started and ended.`;
    return replyOutcome(requestId, text, "ephemeral", "refused");
  },
  // Taking a revoke back would be granting the role again: that is a new `grant` request, for a second person to approve.
  inverse: undefined,
};

export const audit: Handler<"audit.query"> = {
  runs: "reply",
  summary: plainSummary,
  preview: noPreview,
  execute: async (a, c) => replyOutcome(c.requestId, auditReport(await c.deps.store.audit.all(), a, now(c.deps))),
  inverse: undefined,
};
