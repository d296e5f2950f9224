import { type ContainerDetails, type Isolation, type LogQuery, labels } from "../engines/ports.ts";
import type { ActionOf } from "./action.ts";
import { formatBytes, formatDuration } from "./duration.ts";
import { BerthError } from "./errors.ts";
import type { Choice, JobEvent, JobResume } from "./events.ts";
import { followLogs, reconnecting, watchExit } from "./follow.ts";
import { cancelledBy, type JobContext, suspended } from "./job-context.ts";
import { lineStamper } from "./line-stamps.ts";
import { code, command, type Message, msg, user } from "./message.ts";
import { containerLimits } from "./policy.ts";
import { pullWithProgress } from "./pull-job.ts";
import { quoteArgs } from "./shell-quote.ts";
import { checkPlatform } from "./windows.ts";

export type { CancelReason, JobAction, JobContext, ServiceJobAction } from "./job-context.ts";

/** Clean-up calls after a cancel must not inherit the aborted signal. */
const cleanupSignal = () => AbortSignal.timeout(30_000);

/** `run`: pulls the image if needed, starts a limited container, streams its output until it exits, is stopped or times out. */
export async function* runContainer(action: ActionOf<"container.run">, ctx: JobContext, signal: AbortSignal): AsyncGenerator<JobEvent> {
  const { engine } = ctx;
  const clock = ctx.clock ?? Date.now;
  if (!(await engine.hasImage(action.image, signal))) yield* pullWithProgress(action.image, ctx, signal);
  const isolation = await platformCheck(action, ctx, signal);
  const limits = containerLimits(ctx.policy, action);
  // On the container itself, so the limit holds for a detached run, and after berth restarts (container-deadlines.ts).
  const deadline = clock() + limits.timeoutSeconds * 1000;
  const { id, name } = await engine.run(
    {
      image: action.image,
      cmd: action.cmd,
      name: action.name,
      env: action.env,
      labels: {
        [labels.user]: ctx.actor.userId,
        [labels.channel]: ctx.actor.channelId,
        [labels.job]: ctx.jobId,
        [labels.host]: ctx.host,
        [labels.deadline]: String(deadline),
        ...(action.detach && { [labels.detached]: "true" }),
      },
      memoryBytes: limits.memoryBytes,
      nanoCpus: limits.nanoCpus,
      pidsLimit: limits.pidsLimit,
      networkMode: limits.networkMode,
      privileged: limits.privileged,
      mounts: limits.mounts,
      // berth removes the container itself after reading its last lines and exit code (see below).
      autoRemove: false,
      tty: false,
      platform: action.platform,
      isolation,
    },
    signal,
  );
  const started = clock();
  const where = msg`${code(name)} (${id}) on ${ctx.host}`;
  if (action.detach) {
    yield {
      type: "end",
      outcome: "succeeded",
      text: msg`Started ${where}; berth stops it after ${formatDuration(limits.timeoutSeconds * 1000)}. Follow it with ${command(`logs -f ${name}`)}; stop it with ${command(`stop ${name}`)}.`,
      choices: followUps(name, ctx.host, ["logs", "stop", "remove"]),
    };
    return;
  }
  const run: RunResume = {
    kind: "container.run",
    container: id,
    name,
    autoRemove: action.autoRemove,
    deadline,
    timeoutSeconds: limits.timeoutSeconds,
    startedAt: started,
  };
  yield { type: "resumable", resume: run };
  const running = msg`Running ${where} · limits ${formatBytes(limits.memoryBytes)}, ${limits.nanoCpus / 1e9} CPU`;
  yield { type: "status", text: running };
  yield* followRun(run, running, undefined, ctx, signal);
}

type RunResume = Extract<JobResume, { kind: "container.run" }>;

/**
 * A run carried on after berth restarted: its container's output after the job's cursor, then its exit. A container
 * that ended while berth was away is finished with its exit code and the rest of its output.
 */
export async function* resumeRun(
  run: RunResume,
  after: string | undefined,
  ctx: JobContext,
  signal: AbortSignal,
): AsyncGenerator<JobEvent> {
  let details: ContainerDetails;
  try {
    details = await reconnecting(ctx, signal, () => ctx.engine.inspect(run.container, signal));
  } catch (error) {
    if (!(error instanceof BerthError) || error.code !== "NOT_FOUND") throw error;
    yield {
      type: "end",
      outcome: "failed",
      text: msg`${code(run.name)} was removed while berth was restarting; its exit code and any output after the last line shown are unknown.`,
    };
    return;
  }
  yield { type: "mask", values: await reconnecting(ctx, signal, () => ctx.engine.secretValues(details.id, signal)) };
  yield { type: "resumable", resume: run }; // kept for a further restart
  const where = msg`${code(run.name)} (${run.container}) on ${ctx.host}`;
  const running = msg`Running ${where} · carried on after berth restarted`;
  yield { type: "status", text: running };
  yield* followRun(run, running, after, ctx, signal);
}

/** Follows a run's output until its container exits, is stopped, reaches its deadline, or berth shuts down. */
async function* followRun(
  run: RunResume,
  running: Message,
  after: string | undefined,
  ctx: JobContext,
  signal: AbortSignal,
): AsyncGenerator<JobEvent> {
  const { engine } = ctx;
  const clock = ctx.clock ?? Date.now;
  const timeout = new AbortController();
  // The deadline is the container's own (its label): a run carried on after a restart keeps the limit it started with.
  const timer = setTimeout(() => timeout.abort(), Math.max(0, run.deadline - clock()));
  // Watch for the exit while reading: output is read at Slack's pace, and once the container is gone there is no
  // reason to keep the final card waiting for the backlog.
  const exit = watchExit(ctx, run.container);
  let drained = false;
  try {
    for await (const event of followLogs(
      ctx,
      { container: run.container, follow: true, after },
      running,
      AbortSignal.any([signal, timeout.signal]),
    )) {
      if (event.type === "line" && exit.exited() && !drained) {
        drained = true;
        yield { type: "drain", text: ["The container has exited; the rest of its output went straight to the full log below."] };
      }
      yield event;
    }
  } finally {
    clearTimeout(timer);
  }
  if (suspended(signal)) {
    // berth is shutting down: the container runs on, and the next berth carries the job on from its cursor.
    exit.cancel();
    return;
  }
  let stoppedBy: Message | undefined;
  if (signal.aborted || timeout.signal.aborted) {
    stoppedBy = signal.aborted
      ? msg` by ${user(cancelledBy(signal))}`
      : msg`: timeout of ${formatDuration(run.timeoutSeconds * 1000)} reached`;
    yield { type: "notice", text: msg`Container stopped${stoppedBy}.` };
    await engine.stop(run.container, cleanupSignal()).catch((error: unknown) => {
      // Stopped already (it exited meanwhile): its exit status below says how it ended.
      if (!(error instanceof BerthError && error.code === "CONFLICT")) throw error;
    });
  }
  const status = await Promise.race([
    exit.result,
    new Promise<never>((_, reject) => {
      const limit = cleanupSignal();
      limit.addEventListener("abort", () => reject(limit.reason), { once: true });
    }),
  ]).finally(() => exit.cancel());
  if (run.autoRemove) {
    await engine.remove(run.container, { force: true }, cleanupSignal());
    yield { type: "notice", text: [`Removed ${run.name} (--rm).`] };
  }
  const took = formatDuration(clock() - run.startedAt);
  const oom = status.oomKilled ? " — killed for using more than its memory limit (raise --memory)" : "";
  yield {
    type: "end",
    outcome: stoppedBy && signal.aborted ? "cancelled" : status.exitCode === 0 ? "succeeded" : "failed",
    exitCode: status.exitCode,
    text: msg`${stoppedBy ? msg`Stopped${stoppedBy}; exited` : "Exited"} with code ${status.exitCode} after ${took}${oom}.`,
  };
}

/**
 * Before anything is created: the image must suit the host's OS, and on Windows a process-isolated container needs an
 * image of a compatible build. The engine would only say so when starting the container, in HCS's words.
 */
async function platformCheck(action: ActionOf<"container.run">, ctx: JobContext, signal: AbortSignal): Promise<Isolation | undefined> {
  const [host, image] = await Promise.all([ctx.engine.info(signal), ctx.engine.imagePlatform(action.image, signal)]);
  if (!image) throw new BerthError("NOT_FOUND", `Image "${action.image}" is not on ${ctx.host}. Ask the operator to load it on that host.`);
  const requested = action.isolation === "default" ? undefined : action.isolation;
  const checked = checkPlatform(
    { ...host, defaultIsolation: ctx.isolation ?? host.defaultIsolation },
    image,
    requested ?? (host.osType === "windows" ? ctx.isolation : undefined),
    action.image,
  );
  if (!checked.ok) throw new BerthError(checked.code, `${checked.message}`);
  return checked.isolation;
}

/** `logs`: a container's output, followed or read once; its environment values are masked. */
export async function* containerLogs(action: ActionOf<"container.logs">, ctx: JobContext, signal: AbortSignal): AsyncGenerator<JobEvent> {
  const details = await ctx.engine.inspect(action.container, signal);
  const until = action.untilSeconds === undefined ? undefined : Math.floor((ctx.clock ?? Date.now)() / 1000) - action.untilSeconds;
  yield { type: "mask", values: await ctx.engine.secretValues(details.id, signal) };
  yield {
    type: "resumable",
    resume: {
      kind: "container.logs",
      container: details.id,
      name: details.name,
      follow: action.follow,
      tail: action.tail,
      sinceSeconds: action.sinceSeconds,
      until,
      timestamps: action.timestamps,
    },
  };
  const status = msg`${action.follow ? "Following" : "Reading"} logs of ${code(details.name)} (${details.id}, ${details.state}) on ${ctx.host}`;
  yield { type: "status", text: status };
  const query = { container: details.id, follow: action.follow, tail: action.tail, sinceSeconds: action.sinceSeconds, until };
  yield* streamLogs(query, status, 0, ctx, signal, action.timestamps, followUps(details.name, ctx.host));
}

/** What an on-call engineer does next with a container whose logs they read, or that they started detached. */
function followUps(
  container: string,
  host: string,
  kinds: readonly ("logs" | "restart" | "stop" | "remove")[] = ["logs", "restart", "stop", "remove"],
): Choice[] {
  const all: Record<(typeof kinds)[number], Choice> = {
    logs: { label: "Logs -f", action: { kind: "container.logs", container, follow: true, tail: 50, host } },
    restart: { label: "Restart", action: { kind: "container.restart", container, host } },
    stop: { label: "Stop container", action: { kind: "container.stop", container, host } },
    remove: { label: "Remove", action: { kind: "container.remove", container, force: true, host } },
  };
  return kinds.map((k) => all[k]);
}

/** `logs` carried on after berth restarted: the lines after the job's cursor (`after`), `lines` of them shown already. */
export async function* resumeLogs(
  logs: Extract<JobResume, { kind: "container.logs" }>,
  cursor: { at: string; lines: number } | null,
  ctx: JobContext,
  signal: AbortSignal,
): AsyncGenerator<JobEvent> {
  yield { type: "mask", values: await reconnecting(ctx, signal, () => ctx.engine.secretValues(logs.container, signal)) };
  yield { type: "resumable", resume: logs }; // kept for a further restart
  const status = msg`${logs.follow ? "Following" : "Reading"} logs of ${code(logs.name)} (${logs.container}) on ${ctx.host} · carried on after berth restarted`;
  yield { type: "status", text: status };
  const query = cursor
    ? { container: logs.container, follow: logs.follow, after: cursor.at, until: logs.until }
    : { container: logs.container, follow: logs.follow, tail: logs.tail, sinceSeconds: logs.sinceSeconds, until: logs.until };
  yield* streamLogs(query, status, cursor?.lines ?? 0, ctx, signal, logs.timestamps, followUps(logs.name, ctx.host));
}

async function* streamLogs(
  query: LogQuery,
  status: Message,
  shown: number,
  ctx: JobContext,
  signal: AbortSignal,
  timestamps = false,
  choices: readonly Choice[] = [],
): AsyncGenerator<JobEvent> {
  let count = shown;
  const stamp = timestamps ? lineStamper() : undefined;
  for await (const event of followLogs(ctx, query, status, signal)) {
    if (event.type === "line") count++;
    yield stamp && event.type === "line" ? { ...event, line: stamp(event.line) } : event;
  }
  if (suspended(signal)) return; // the next berth carries it on
  const lines = `${count.toLocaleString("en")} line${count === 1 ? "" : "s"}`;
  if (signal.aborted) {
    yield { type: "end", outcome: "cancelled", text: msg`Stopped following after ${lines} (by ${user(cancelledBy(signal))}).`, choices };
  } else if (query.follow) {
    yield { type: "end", outcome: "succeeded", text: [`The container stopped; stream ended after ${lines}.`], choices };
  } else {
    yield { type: "end", outcome: "succeeded", text: [count ? `${lines}.` : "No output in that range."], choices };
  }
}

/** `exec`: a command in a running container, its output streamed. */
export async function* containerExec(action: ActionOf<"container.exec">, ctx: JobContext, signal: AbortSignal): AsyncGenerator<JobEvent> {
  yield { type: "mask", values: await ctx.engine.secretValues(action.container, signal) };
  const handle = await ctx.engine.exec(action.container, action.cmd, signal);
  yield { type: "status", text: msg`Running ${code(quoteArgs(action.cmd))} in ${code(action.container)} on ${ctx.host}` };
  for await (const line of handle.lines) yield { type: "line", line };
  if (suspended(signal)) {
    // An exec's output cannot be read again: the next berth cannot carry this on, so the card says so now.
    yield {
      type: "end",
      outcome: "cancelled",
      text: [
        "berth restarted while this ran. The output of an exec cannot be read again, so nothing after this point is shown; the process may still run in the container.",
      ],
    };
    return;
  }
  if (signal.aborted) {
    yield {
      type: "end",
      outcome: "cancelled",
      text: msg`Stopped reading (by ${user(cancelledBy(signal))}); the process may still run in the container.`,
    };
    return;
  }
  const exitCode = await handle.exitCode();
  yield { type: "end", outcome: exitCode === 0 ? "succeeded" : "failed", exitCode, text: [`Exited with code ${exitCode}.`] };
}
