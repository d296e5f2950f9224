/**
 * A runbook a previous berth left running, carried on in its card and thread (core/runbook-job.ts does the steps):
 * the same runbook from the policy, the same person judged the same way, on the same approval.
 */
import type { ResumableJob } from "../store/records.ts";
import type { ActionOf, Actor } from "./action.ts";
import type { Approved } from "./approvals.ts";
import type { ContainerResume, JobEvent, JobResume, RunbookResume } from "./events.ts";
import { resumeLogs, resumeRun } from "./execute.ts";
import type { HandlerContext } from "./handlers/handler.ts";
import { handlerOf } from "./handlers.ts";
import type { JobContext } from "./job-context.ts";
import { code, msg } from "./message.ts";
import { type DispatchDeps, type JobPlan, replyOutcome } from "./pipeline-types.ts";
import { placeOf, subjectOf } from "./place.ts";
import { expandRunbook } from "./runbook.ts";
import { runRunbook, stepsHash } from "./runbook-job.ts";

type Stored = {
  requestId: string;
  action: ActionOf<"runbook.run">;
  channelName?: string | undefined;
  approvedBy?: string | undefined;
  messages: number;
};

/** The plan that carries the runbook `job` on from `point`. */
export function resumeRunbook(
  job: ResumableJob & { messageTs: string },
  stored: Stored,
  point: JobResume | undefined,
  core: DispatchDeps,
): JobPlan {
  const runbook = point?.kind === "runbook.run" ? point : undefined;
  const actor: Actor = {
    userId: job.userId,
    channelId: job.channelId,
    channelName: stored.channelName,
    teamId: runbook?.teamId,
    homeTeam: runbook?.homeTeam,
  };
  return {
    id: job.id,
    requestId: stored.requestId,
    action: stored.action,
    host: job.host ?? "-",
    summary: job.summary,
    actor,
    approvedBy: stored.approvedBy,
    cardTs: job.messageTs,
    resumed: { lines: job.cursor?.lines ?? 0, messages: stored.messages, startedAt: job.createdAt },
    run: (signal) => (runbook ? carryOn(job, stored, runbook, actor, core, signal) : unknownPoint()),
  };
}

/** A runbook stored before it said where it stood (a berth older than this one ran it): ended honestly. */
async function* unknownPoint(): AsyncGenerator<JobEvent> {
  yield {
    type: "end",
    outcome: "failed",
    text: msg`berth restarted while this runbook ran and does not know which steps were done; nothing more was run. Look at where it stood and go on by hand.`,
  };
}

async function* carryOn(
  job: ResumableJob,
  stored: Stored,
  point: RunbookResume,
  actor: Actor,
  core: DispatchDeps,
  signal: AbortSignal,
): AsyncGenerator<JobEvent> {
  const policy = core.policy();
  const expanded = expandRunbook(policy, stored.action, core.registry);
  if (!expanded.ok || stepsHash(expanded.steps) !== point.steps) {
    const done = point.states.filter((s) => s.status === "done").length;
    yield {
      type: "end",
      outcome: "failed",
      text: msg`berth restarted while ${code(stored.action.name ?? "the runbook")} ran, and the runbook is no longer the same in the policy (${expanded.ok ? "its steps changed" : "it is gone or its parameters no longer fit"}). ${done} of ${point.states.length} steps were done; nothing more was run. Look at where it stopped and go on by hand.`,
    };
    return;
  }
  const approval = point.pendingId ? await approvalOf(point.pendingId, stored.action, actor, core) : undefined;
  const c: HandlerContext = {
    deps: core,
    actor,
    host: undefined,
    subject: await subjectOf(core, actor),
    policy,
    signal,
    requestId: stored.requestId,
    approval,
    resume: async () => replyOutcome(stored.requestId, msg`This cannot be decided inside a runbook.`, "ephemeral", "refused"),
  };
  const cursor = job.cursor;
  const ctxFor = (host: string): JobContext => ({
    engine: core.engine(host),
    host,
    policy,
    actor,
    jobId: job.id,
    clock: core.clock,
    isolation: core.hosts.settings?.[host]?.isolation,
    reconnectMs: core.engineReconnectMs,
  });
  const carryOnStep = (inner: ContainerResume, host: string, showedLines: boolean, s: AbortSignal) =>
    inner.kind === "container.run"
      ? resumeRun(inner, showedLines ? cursor?.at : undefined, ctxFor(host), s)
      : resumeLogs(inner, showedLines ? cursor : null, ctxFor(host), s);
  yield* runRunbook(expanded, c, handlerOf, signal, { point, shown: cursor?.lines ?? 0, carryOn: carryOnStep });
}

/** The approval (or confirmation) the runbook ran on, read back from its decided request. */
async function approvalOf(
  pendingId: string,
  action: ActionOf<"runbook.run">,
  actor: Actor,
  core: DispatchDeps,
): Promise<Approved | undefined> {
  const pending = await core.store.pending.get(pendingId);
  if (!pending || pending.state !== "approved" || !pending.decidedBy) return undefined;
  return {
    pending,
    action,
    requester: actor,
    place: await placeOf(core, action, actor, undefined),
    approver: pending.decidedBy,
    confirmed: pending.gate === "confirm",
  };
}
