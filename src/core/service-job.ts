import type { Convergence, ServiceChange, ServiceTask } from "../engines/ports.ts";
import { formatDuration } from "./duration.ts";
import type { Choice, JobEvent } from "./events.ts";
import { cancelledBy, type JobContext, type ServiceJobAction } from "./job-context.ts";
import { code, command, type Message, msg, user } from "./message.ts";

type ServiceChangeAction = Exclude<ServiceJobAction, { kind: "service.logs" }>;

/** Swarm service changes (scale, update, rollback): the card follows convergence. */
export async function* serviceChange(action: ServiceChangeAction, ctx: JobContext, signal: AbortSignal): AsyncGenerator<JobEvent> {
  const change: ServiceChange =
    action.kind === "service.scale"
      ? { kind: "scale", replicas: action.replicas }
      : action.kind === "service.update"
        ? { kind: "image", image: action.image }
        : { kind: "rollback", expect: ctx.rollbackImage };
  const verb = {
    scale: `Scaling to ${action.kind === "service.scale" ? action.replicas : 0}`,
    image: "Updating",
    rollback: "Rolling back",
  }[change.kind];
  const clock = ctx.clock ?? Date.now;
  const started = clock();
  yield { type: "status", text: msg`${verb} ${code(action.service)} on ${ctx.host}…` };
  const undo = await undoOffer(action, ctx, signal);
  const { warnings } = await ctx.engine.updateService(action.service, change, signal);
  for (const w of warnings) yield { type: "notice", text: msg`Docker: ${w}` };
  const seen = new Set<string>();
  let last: Convergence | undefined;
  for await (const c of ctx.engine.watchService(action.service, signal)) {
    last = c;
    // Each failed task once, in the thread, with its error: the card only has room for the latest.
    for (const t of [...c.failed].reverse()) {
      if (seen.has(t.id)) continue;
      seen.add(t.id);
      yield {
        type: "line",
        line: { stream: "stderr", text: `task ${t.id}${t.slot ? ` (slot ${t.slot})` : ""} ${t.state}: ${taskError(t)}` },
      };
    }
    yield { type: "status", text: progress(action.service, ctx.host, c) };
  }
  const took = formatDuration(clock() - started);
  if (signal.aborted) {
    yield {
      type: "end",
      outcome: "cancelled",
      text: msg`Stopped watching (by ${user(cancelledBy(signal))}) after ${took}; the change itself goes on in the swarm. ${command(`service ps ${action.service}`)} shows where it is.`,
    };
    return;
  }
  if (last?.ok) {
    yield {
      type: "end",
      outcome: "succeeded",
      text: [`Converged: ${last.running}/${last.desired} tasks running after ${took}.`],
      ...(undo && { choices: [undo] }),
    };
    return;
  }
  const why = last?.updateMessage ?? (last?.failed[0] ? taskError(last.failed[0]) : "the service did not converge");
  const next =
    action.kind === "service.rollback"
      ? msg`Look at ${command(`service ps ${action.service}`)} and the thread for the task errors.`
      : msg`Roll back with ${command(`service rollback ${action.service}`)}, or look at ${command(`service ps ${action.service}`)}.`;
  yield {
    type: "end",
    outcome: "failed",
    text: msg`Did not converge after ${took} (${last ? `${last.running}/${last.desired} running` : "no progress seen"}): ${why}. ${next}`,
  };
}

/**
 * The Undo a change will offer once it converged: a scale back to the replicas read before it (a global service, or
 * one that could not be read, offers none), an update's rollback. A rollback offers none (it would toggle the specs).
 */
async function undoOffer(action: ServiceChangeAction, ctx: JobContext, signal: AbortSignal): Promise<Choice | undefined> {
  if (!ctx.undo) return undefined;
  const on = { host: ctx.host, service: action.service };
  if (action.kind === "service.update") return ctx.undo({ kind: "service.rollback", ...on }, { what: "image", image: action.image });
  if (action.kind !== "service.scale") return undefined;
  const services = await ctx.engine.services(signal).catch(() => []);
  const before = services.find((s) => s.name === action.service || s.id === action.service)?.desired;
  if (before === undefined || before === action.replicas) return undefined;
  return ctx.undo({ kind: "service.scale", ...on, replicas: before }, { what: "replicas", replicas: action.replicas });
}

/** `service logs`: a service's output, followed or read once. */
export async function* serviceLogs(
  action: Extract<ServiceJobAction, { kind: "service.logs" }>,
  ctx: JobContext,
  signal: AbortSignal,
): AsyncGenerator<JobEvent> {
  // Its environment values are masked in its output, as a container's are in `logs`.
  yield { type: "mask", values: await ctx.engine.serviceSecretValues(action.service, signal) };
  yield {
    type: "status",
    text: msg`${action.follow ? "Following" : "Reading"} logs of service ${code(action.service)} on ${ctx.host}`,
  } as const;
  let count = 0;
  for await (const line of ctx.engine.serviceLogs(
    { service: action.service, follow: action.follow, tail: action.tail, sinceSeconds: action.sinceSeconds },
    signal,
  )) {
    count++;
    yield { type: "line", line } as const;
  }
  const lines = `${count.toLocaleString("en")} line${count === 1 ? "" : "s"}`;
  if (signal.aborted) {
    yield {
      type: "end",
      outcome: "cancelled",
      text: msg`Stopped following after ${lines} (by ${user(cancelledBy(signal))}).`,
    } as const;
  } else {
    yield { type: "end", outcome: "succeeded", text: [count ? `${lines}.` : "No output in that range."] } as const;
  }
}

function progress(service: string, host: string, c: Convergence): Message {
  const state = c.updateState ? ` · update ${c.updateState.replace(/_/g, " ")}` : "";
  const failed = c.failed.length
    ? ` · ${c.failed.length} failed task${c.failed.length === 1 ? "" : "s"}, latest: ${taskError(c.failed[0] as ServiceTask)}`
    : "";
  return msg`${code(service)} on ${host}: ${c.running}/${c.desired} running${state}${failed}`;
}

const taskError = (t: ServiceTask) => t.error || t.message || t.state;
