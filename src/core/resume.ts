/**
 * Jobs outlive the process: what a starting berth does with each job a previous one left unfinished. A `run` or a
 * `logs` is carried on in the same card and thread from the job's cursor (its container kept running, or ended while
 * berth was away: then it is finished with its exit code and the rest of its output). What cannot be carried on (an
 * exec's output, a service watch) is ended honestly on its card. Host jobs have their own resume (scheduler.ts).
 */
import { type ContainerSummary, type LogLine, labels } from "../engines/ports.ts";
import type { ResumableJob } from "../store/records.ts";
import type { ActionOf, Actor } from "./action.ts";
import type { JobEvent, JobResume } from "./events.ts";
import { resumeLogs, resumeRun } from "./execute.ts";
import type { JobAction, JobContext } from "./job-context.ts";
import { lineStamper } from "./line-stamps.ts";
import { code, msg } from "./message.ts";
import type { DispatchDeps, JobPlan } from "./pipeline-types.ts";
import { safeRegExp } from "./policy.ts";
import { createRedactor } from "./redact.ts";
import { resumeRunbook } from "./runbook-resume.ts";

/** What a job's runner stores with it (store.jobs.setResume), so that the next berth can carry it on. */
export type StoredResume = {
  requestId: string;
  /** The action as audited: environment values masked (the container itself holds them; the redactor asks it). */
  action: JobAction | ActionOf<"runbook.run">;
  channelName?: string | undefined;
  approvedBy?: string | undefined;
  /** Thread replies posted so far: the thread's cap counts them. */
  messages: number;
  /** Where the job is carried on from; absent until its container exists. */
  point?: JobResume | undefined;
  /**
   * The job's end, once known while its full log is still being uploaded (the job stays unfinished until it lands):
   * a berth that stops meanwhile leaves the next one the outcome to show again and the upload to finish, even when
   * the container is gone by then (`--rm`).
   */
  ended?: EndEvent | undefined;
};

type EndEvent = Omit<Extract<JobEvent, { type: "end" }>, "type">;

export type Resumed =
  | { type: "plan"; plan: JobPlan }
  /** Nothing to show any more (no card, or a host job that resumes as a job of its own): only the record is closed. */
  | { type: "close"; detail: string };

type Deps = Pick<DispatchDeps, "engine" | "policy" | "hosts" | "clock" | "engineReconnectMs"> & {
  /** The whole pipeline's dependencies: a runbook's steps are authorized and run through it (absent: not carried on). */
  core?: DispatchDeps | undefined;
};

const isStored = (value: unknown): value is StoredResume =>
  typeof value === "object" && value !== null && typeof (value as StoredResume).requestId === "string" && "action" in value;

/** How the unfinished job `job` goes on in this berth. */
export function resumeJob(job: ResumableJob, deps: Deps): Resumed {
  if (job.kind.startsWith("host."))
    return { type: "close", detail: "berth restarted while this job ran; its host's work resumes as a new job" };
  const stored = job.resume;
  if (!job.messageTs || !job.host || !isStored(stored)) return { type: "close", detail: "berth restarted while this job ran" };
  if (stored.action.kind === "runbook.run") {
    if (!deps.core) return { type: "close", detail: "berth restarted while this runbook ran" };
    const plan = resumeRunbook({ ...job, messageTs: job.messageTs }, { ...stored, action: stored.action }, stored.point, deps.core);
    const ended = stored.ended;
    return { type: "plan", plan: ended ? { ...plan, run: () => alreadyEnded(ended) } : plan };
  }
  const host = job.host;
  const actor: Actor = { userId: job.userId, channelId: job.channelId, channelName: stored.channelName };
  const ctx: JobContext = {
    engine: deps.engine(host),
    host,
    policy: deps.policy(),
    actor,
    jobId: job.id,
    clock: deps.clock,
    isolation: deps.hosts.settings?.[host]?.isolation,
    reconnectMs: deps.engineReconnectMs,
  };
  const after = job.cursor?.at;
  return {
    type: "plan",
    plan: {
      id: job.id,
      requestId: stored.requestId,
      action: stored.action,
      host,
      summary: job.summary,
      actor,
      approvedBy: stored.approvedBy,
      cardTs: job.messageTs,
      resumed: { lines: job.cursor?.lines ?? 0, messages: stored.messages, startedAt: job.createdAt },
      backfill: backfillOf(stored.point, job.cursor, ctx, deps),
      run: (signal) => {
        if (stored.ended) return alreadyEnded(stored.ended);
        const point = stored.point;
        if (point?.kind === "container.run") return resumeRun(point, after, ctx, signal);
        if (point?.kind === "container.logs") return resumeLogs(point, job.cursor, ctx, signal);
        if (stored.action.kind === "container.run") return unstartedRun(job, stored.action.autoRemove, ctx, signal);
        return notCarriedOn(stored.action.kind);
      },
    },
  };
}

/** A job whose end was known before berth stopped: the same end again, with no engine call. */
async function* alreadyEnded(ended: EndEvent): AsyncGenerator<JobEvent> {
  yield { type: "end", ...ended };
}

/**
 * How a job's spool is read again up to its cursor: a run's from its container's start, a stream's from its first
 * line (a stream that showed no line yet has nothing to read again); nothing for the jobs whose output cannot be.
 */
function backfillOf(point: JobResume | undefined, cursor: ResumableJob["cursor"], ctx: JobContext, deps: Deps): JobPlan["backfill"] {
  if (!cursor) return undefined;
  if (point?.kind === "container.run") return backfill(point.container, cursor, ctx, deps);
  if (point?.kind === "container.logs" && point.firstAt)
    return backfill(point.container, cursor, ctx, deps, { from: point.firstAt, timestamps: point.timestamps === true });
  return undefined;
}

/**
 * The job's lines up to its cursor, as the thread spooled them (one LogLine, one spool line), masked with the
 * container's environment values and the policy's patterns. A run's job shows its container's whole output, so its
 * logs from the start are exactly what the previous owner handed on; a stream's are its logs from its first line
 * (`from`, which Docker includes), stamped as it was shown (`-t`).
 */
function backfill(
  container: string,
  cursor: { at: string; lines: number },
  ctx: JobContext,
  deps: Deps,
  stream: { from?: string; timestamps?: boolean } = {},
): (signal: AbortSignal) => AsyncIterable<string> {
  return async function* (signal) {
    const values = await ctx.engine.secretValues(container, signal);
    const redact = createRedactor(
      values,
      deps.policy().redact.flatMap((p) => safeRegExp(p) ?? []),
    );
    let n = 0;
    const stamp = stream.timestamps ? lineStamper() : (line: LogLine) => line;
    for await (const line of ctx.engine.logs({ container, follow: false, from: stream.from }, signal)) {
      // Lines of the same nanosecond as the cursor's are still before it; the count says where the spool ended.
      if (n >= cursor.lines || (line.at !== undefined && line.at > cursor.at)) return;
      n++;
      yield redact.line(stamp(line));
    }
  };
}

/**
 * A run berth stopped tracking before it stored its container: the container may exist all the same (made just
 * before berth went away), found by its job label. Then it is carried on; otherwise nothing ran, and the card says so.
 */
async function* unstartedRun(job: ResumableJob, autoRemove: boolean, ctx: JobContext, signal: AbortSignal): AsyncGenerator<JobEvent> {
  const all = await ctx.engine.list({ all: true }, signal);
  const found: ContainerSummary | undefined = all.find((c) => c.labels[labels.job] === job.id);
  if (!found) {
    yield {
      type: "end",
      outcome: "failed",
      text: ["berth restarted before this run's container was made; nothing ran. Run the command again."],
    };
    return;
  }
  const deadline = Number(found.labels[labels.deadline]);
  const point = {
    kind: "container.run" as const,
    container: found.id,
    name: found.name,
    autoRemove,
    deadline: Number.isFinite(deadline) ? deadline : job.createdAt,
    timeoutSeconds: Number.isFinite(deadline) ? Math.round((deadline - job.createdAt) / 1000) : 0,
    startedAt: job.createdAt,
  };
  yield* resumeRun(point, job.cursor?.at, ctx, signal);
}

async function* notCarriedOn(kind: string): AsyncGenerator<JobEvent> {
  yield {
    type: "end",
    outcome: "failed",
    text:
      kind === "container.exec"
        ? ["berth restarted while this ran. The output of an exec cannot be read again; the process may still run in the container."]
        : msg`berth restarted while this ran, and a ${code(kind)} job cannot be carried on. Run the command again to see where it stands.`,
  };
}
