import { type Isolation, labels } from "../engines/ports.ts";
import type { ActionOf } from "./action.ts";
import { formatBytes, formatDuration } from "./duration.ts";
import { BerthError } from "./errors.ts";
import type { JobEvent } from "./events.ts";
import { cancelledBy, type JobContext } from "./job-context.ts";
import { code, command, type Message, msg, user } from "./message.ts";
import { containerLimits } from "./policy.ts";
import { checkPlatform } from "./windows.ts";

export type { CancelReason, JobAction, JobContext, ServiceJobAction } from "./job-context.ts";

/** Clean-up calls after a cancel must not inherit the aborted signal. */
const cleanupSignal = () => AbortSignal.timeout(30_000);

/** `run`: pulls the image if needed, starts a limited container, streams its output until it exits, is stopped or times out. */
export async function* runContainer(action: ActionOf<"container.run">, ctx: JobContext, signal: AbortSignal): AsyncGenerator<JobEvent> {
  const { engine } = ctx;
  const clock = ctx.clock ?? Date.now;
  if (!(await engine.hasImage(action.image, signal))) {
    yield { type: "status", text: [`Pulling ${action.image} on ${ctx.host}…`] };
    let last = 0;
    for await (const p of engine.pull(action.image, signal)) {
      if (clock() - last < 1000) continue;
      last = clock();
      const size = p.current !== undefined && p.total ? ` ${formatBytes(p.current)}/${formatBytes(p.total)}` : "";
      yield { type: "status", text: [`Pulling ${action.image}: ${p.status}${size}`] };
    }
  }
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
    };
    return;
  }
  yield { type: "status", text: msg`Running ${where} · limits ${formatBytes(limits.memoryBytes)}, ${limits.nanoCpus / 1e9} CPU` };
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), limits.timeoutSeconds * 1000);
  // Watch for the exit while reading: output is read at Slack's pace, and once the container is gone there is no
  // reason to keep the final card waiting for the backlog.
  const waitCtl = new AbortController();
  let exited = false;
  const waiting = engine.wait(id, waitCtl.signal);
  waiting.then(
    () => {
      exited = true;
    },
    () => undefined,
  );
  let drained = false;
  try {
    for await (const line of engine.logs({ container: id, follow: true }, AbortSignal.any([signal, timeout.signal]))) {
      if (exited && !drained) {
        drained = true;
        yield { type: "drain", text: ["The container has exited; the rest of its output went straight to the full log below."] };
      }
      yield { type: "line", line };
    }
  } finally {
    clearTimeout(timer);
  }
  let stoppedBy: Message | undefined;
  if (signal.aborted || timeout.signal.aborted) {
    stoppedBy = signal.aborted
      ? msg` by ${user(cancelledBy(signal))}`
      : msg`: timeout of ${formatDuration(limits.timeoutSeconds * 1000)} reached`;
    yield { type: "notice", text: msg`Container stopped${stoppedBy}.` };
    await engine.stop(id, cleanupSignal());
  }
  const exit = await Promise.race([
    waiting,
    new Promise<never>((_, reject) => {
      const limit = cleanupSignal();
      limit.addEventListener("abort", () => reject(limit.reason), { once: true });
    }),
  ]).finally(() => waitCtl.abort());
  if (action.autoRemove) {
    await engine.remove(id, { force: true }, cleanupSignal());
    yield { type: "notice", text: [`Removed ${name} (--rm).`] };
  }
  const took = formatDuration(clock() - started);
  const oom = exit.oomKilled ? " — killed for using more than its memory limit (raise --memory)" : "";
  yield {
    type: "end",
    outcome: stoppedBy && signal.aborted ? "cancelled" : exit.exitCode === 0 ? "succeeded" : "failed",
    exitCode: exit.exitCode,
    text: msg`${stoppedBy ? msg`Stopped${stoppedBy}; exited` : "Exited"} with code ${exit.exitCode} after ${took}${oom}.`,
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
  yield { type: "mask", values: await ctx.engine.secretValues(details.id, signal) };
  yield {
    type: "status",
    text: msg`${action.follow ? "Following" : "Reading"} logs of ${code(details.name)} (${details.id}, ${details.state}) on ${ctx.host}`,
  };
  let count = 0;
  for await (const line of ctx.engine.logs(
    { container: details.id, follow: action.follow, tail: action.tail, sinceSeconds: action.sinceSeconds },
    signal,
  )) {
    count++;
    yield { type: "line", line };
  }
  const lines = `${count.toLocaleString("en")} line${count === 1 ? "" : "s"}`;
  if (signal.aborted) {
    yield { type: "end", outcome: "cancelled", text: msg`Stopped following after ${lines} (by ${user(cancelledBy(signal))}).` };
  } else if (action.follow) {
    yield { type: "end", outcome: "succeeded", text: [`The container stopped; stream ended after ${lines}.`] };
  } else {
    yield { type: "end", outcome: "succeeded", text: [count ? `${lines}.` : "No output in that range."] };
  }
}

/** `exec`: a command in a running container, its output streamed. */
export async function* containerExec(action: ActionOf<"container.exec">, ctx: JobContext, signal: AbortSignal): AsyncGenerator<JobEvent> {
  yield { type: "mask", values: await ctx.engine.secretValues(action.container, signal) };
  const handle = await ctx.engine.exec(action.container, action.cmd, signal);
  yield { type: "status", text: msg`Running ${code(action.cmd.join(" "))} in ${code(action.container)} on ${ctx.host}` };
  for await (const line of handle.lines) yield { type: "line", line };
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
