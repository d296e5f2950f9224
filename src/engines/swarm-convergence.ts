/**
 * Swarm services as plain data: the engine's service, task and node JSON parsed once at the boundary, and the pure
 * rules that turn them into summaries, task rows, an updated spec and a `Convergence`. No dockerode here, so every
 * rule is unit-tested with literal objects.
 */
import { z } from "zod";
import { BerthError } from "../core/errors.ts";
import type { Convergence, ServiceChange, ServiceSummary, ServiceTask } from "./ports.ts";

const ContainerSpec = z.object({ Image: z.string().default(""), TTY: z.boolean().optional(), Env: z.array(z.string()).optional() });

const Mode = z.object({
  Replicated: z.object({ Replicas: z.number().optional() }).optional(),
  Global: z.object({}).optional(),
  ReplicatedJob: z.object({ MaxConcurrent: z.number().optional(), TotalCompletions: z.number().optional() }).optional(),
  GlobalJob: z.object({}).optional(),
});

const UpdateStatus = z.object({
  State: z.string().optional(),
  Message: z.string().optional(),
  StartedAt: z.string().optional(),
});

export const RawService = z.object({
  ID: z.string(),
  Version: z.object({ Index: z.number() }),
  CreatedAt: z.string().optional(),
  UpdatedAt: z.string().optional(),
  Spec: z.object({
    Name: z.string(),
    Mode: Mode.default({}),
    TaskTemplate: z.object({ ContainerSpec: ContainerSpec.optional() }).default({}),
  }),
  /** What a rollback brings back. */
  PreviousSpec: z.object({ TaskTemplate: z.object({ ContainerSpec: ContainerSpec.optional() }).default({}) }).optional(),
  UpdateStatus: UpdateStatus.optional(),
});
export type RawService = z.infer<typeof RawService>;

export const RawTask = z.object({
  ID: z.string(),
  ServiceID: z.string().default(""),
  CreatedAt: z.string(),
  UpdatedAt: z.string().optional(),
  Slot: z.number().optional(),
  NodeID: z.string().optional(),
  DesiredState: z.string().default(""),
  Spec: z.object({ ContainerSpec: ContainerSpec.optional() }).default({}),
  Status: z.object({
    State: z.string().default(""),
    Message: z.string().default(""),
    Err: z.string().optional(),
    ContainerStatus: z.object({ ExitCode: z.number().optional() }).optional(),
  }),
});
export type RawTask = z.infer<typeof RawTask>;

export const RawNode = z.object({
  ID: z.string(),
  Spec: z.object({ Availability: z.string().optional() }).default({}),
  Description: z.object({ Hostname: z.string().optional() }).default({}),
  Status: z.object({ State: z.string().optional() }).default({}),
});
export type RawNode = z.infer<typeof RawNode>;

/** Parses an engine answer; a shape we do not understand is berth's bug to look at, not the user's. */
export function parseEngineJson<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new BerthError("INTERNAL", `The engine answered ${what} in a shape berth does not understand.`, { cause: parsed.error });
}

/** `registry/app:1.2@sha256:…` → `registry/app:1.2`: the engine pins digests that nobody wants to read in Slack. */
export function stripDigest(image: string): string {
  const at = image.indexOf("@");
  return at < 0 ? image : image.slice(0, at);
}

/** The image a rollback would bring back: the previous spec's, if the service has one. */
export const previousImage = (s: RawService): string | undefined => s.PreviousSpec?.TaskTemplate.ContainerSpec?.Image || undefined;

const isGlobal = (s: RawService) => s.Spec.Mode.Global !== undefined || s.Spec.Mode.GlobalJob !== undefined;

const replicas = (s: RawService) => s.Spec.Mode.Replicated?.Replicas ?? s.Spec.Mode.ReplicatedJob?.TotalCompletions ?? 0;

const isRunning = (t: RawTask) => t.DesiredState === "running" && t.Status.State === "running";

export function summarizeService(s: RawService, tasks: readonly RawTask[]): ServiceSummary {
  const global = isGlobal(s);
  return {
    id: s.ID.slice(0, 12),
    name: s.Spec.Name,
    image: stripDigest(s.Spec.TaskTemplate.ContainerSpec?.Image ?? ""),
    mode: global ? "global" : "replicated",
    desired: global ? undefined : replicas(s),
    running: tasks.filter((t) => t.ServiceID === s.ID && isRunning(t)).length,
    updateState: s.UpdateStatus?.State,
    updateMessage: s.UpdateStatus?.Message,
  };
}

const time = (t: RawTask) => Date.parse(t.CreatedAt) || 0;

const updated = (t: RawTask) => Date.parse(t.UpdatedAt ?? t.CreatedAt) || 0;
/** Newest first by the time shown (`updatedAt`): the task that changed last is the one the person is asking about. */
export const newestFirst = (a: RawTask, b: RawTask) => updated(b) - updated(a) || time(b) - time(a);

export function toServiceTask(t: RawTask, hostnames: ReadonlyMap<string, string>): ServiceTask {
  return {
    id: t.ID.slice(0, 12),
    slot: t.Slot,
    node: t.NodeID ? (hostnames.get(t.NodeID) ?? t.NodeID.slice(0, 12)) : undefined,
    image: stripDigest(t.Spec.ContainerSpec?.Image ?? ""),
    state: t.Status.State,
    desiredState: t.DesiredState,
    message: t.Status.Message,
    error: t.Status.Err || undefined,
    exitCode: t.Status.ContainerStatus?.ExitCode,
    updatedAt: new Date(t.UpdatedAt ?? t.CreatedAt),
  };
}

export function hostnames(nodes: readonly RawNode[]): Map<string, string> {
  return new Map(nodes.flatMap((n) => (n.Description.Hostname ? [[n.ID, n.Description.Hostname] as const] : [])));
}

/** Nodes that can take a task: up, and not drained or paused by the operator. */
export function readyNodeIds(nodes: readonly RawNode[]): Set<string> {
  return new Set(nodes.filter((n) => n.Status.State === "ready" && (n.Spec.Availability ?? "active") === "active").map((n) => n.ID));
}

/**
 * The spec to send for a scale or image change, from the service's inspect JSON as the engine sent it: the engine's
 * own spec with one field replaced, so every field berth does not know about survives. A rollback sends the current spec unchanged (the engine takes PreviousSpec itself).
 */
export function changedSpec(service: RawService, inspected: unknown, change: ServiceChange): Record<string, unknown> {
  const spec = structuredClone(record(record(inspected).Spec));
  if (change.kind === "scale") {
    if (service.Spec.Mode.Replicated === undefined)
      throw new BerthError(
        "CONFLICT",
        `Service ${service.Spec.Name} runs in ${isGlobal(service) ? "global" : "job"} mode, so it has no replica count to scale: the engine places its tasks itself. Only replicated services can be scaled.`,
      );
    const mode = record(spec.Mode);
    spec.Mode = { ...mode, Replicated: { ...record(mode.Replicated), Replicas: change.replicas } };
  } else if (change.kind === "image") {
    const template = record(spec.TaskTemplate);
    spec.TaskTemplate = { ...template, ContainerSpec: { ...record(template.ContainerSpec), Image: change.image } };
  }
  return spec;
}

const record = (v: unknown): Record<string, unknown> => (v && typeof v === "object" ? (v as Record<string, unknown>) : {});

/** The give-up rule for tasks that keep failing (see `convergence`). */
export const maxFailuresInARow = 5;

const failedStates = new Set(["failed", "rejected"]);
const rollbackStates = new Set(["rollback_started", "rollback_paused", "rollback_completed"]);
/** While the engine's updater works, its failure action (pause, rollback, continue) decides, not berth's count. */
const inFlight = new Set(["updating", "rollback_started"]);

export type ConvergenceInput = {
  service: RawService;
  /**
   * The service's tasks from `/tasks?filters={"_up-to-date":["true"]}`: only tasks of the current spec. The engine
   * decides that with swarmkit's own dirtiness rule (same spec version, or the same task spec; a scale or a placement
   * change alone does not make a task dirty). That is why berth asks the engine instead of comparing task and service
   * images itself: an env-only update or a `--force` restart keeps the image but replaces every task, and a
   * rollback makes the old tasks current again. Task `Version` is the task object's version, unrelated to the spec.
   */
  tasks: readonly RawTask[];
  nodes: readonly RawNode[];
  /** Failures before this instant (the engine's clock) belong to an earlier change and are not shown. */
  since: Date;
  /** UpdateStatus.State at the first observation: tells a requested rollback from an automatic one. */
  firstUpdateState: string | undefined;
};

/**
 * Where a service stands after a change, with the docker CLI's `service update --detach=false` rules:
 * - running = current-spec tasks both desired and actually running; desired = replicas, or for a global service the
 *   ready nodes that hold a current task (the orchestrator creates those for every eligible node at once, so this
 *   respects placement constraints), or all ready nodes while none does yet.
 * - ok + done: running == desired and no update in flight (UpdateStatus absent, completed or rollback_completed).
 * - failed + done: the update or rollback paused (the engine's default failure action is pause); or an update the
 *   engine rolled back on its own (first seen as an update, now a rollback); or `maxFailuresInARow` current tasks
 *   failed since the newest one that got running while no update is in flight. A scale whose tasks cannot start
 *   (missing image, no resources) never pauses anything, since there is no update; the orchestrator retries forever,
 *   so berth gives up after five failures without progress and shows the last error instead of watching until the
 *   caller's deadline. During an update the engine's failure action gets to decide first.
 */
export function convergence(input: ConvergenceInput): Convergence {
  const { service, tasks } = input;
  const names = hostnames(input.nodes);
  const ready = readyNodeIds(input.nodes);
  const running = tasks.filter(isRunning);
  let desired = replicas(service);
  if (isGlobal(service)) {
    const placed = new Set(tasks.filter((t) => t.DesiredState === "running" && t.NodeID && ready.has(t.NodeID)).map((t) => t.NodeID));
    desired = placed.size > 0 ? placed.size : ready.size;
  }
  const since = input.since.getTime();
  const failedRaw = tasks.filter((t) => failedStates.has(t.Status.State) && time(t) >= since).sort(newestFirst);
  const failed = failedRaw.map((t) => toServiceTask(t, names));
  const updateState = service.UpdateStatus?.State;
  let updateMessage = service.UpdateStatus?.Message;
  const runningCount = running.filter((t) => !t.NodeID || ready.has(t.NodeID) || ready.size === 0).length;

  const lastStart = Math.max(0, ...running.map(time));
  const inARow = failedRaw.filter((t) => time(t) > lastStart).length;
  const autoRollback = updateState !== undefined && rollbackStates.has(updateState) && !rollbackStates.has(input.firstUpdateState ?? "");

  let done = false;
  let ok = false;
  if (updateState === "paused" || updateState === "rollback_paused") {
    done = true;
  } else if (autoRollback) {
    done = updateState === "rollback_completed";
    updateMessage = `the update failed and the engine rolled it back${updateMessage ? ` (${updateMessage})` : ""}`;
  } else if (
    runningCount === desired &&
    (updateState === undefined || updateState === "completed" || updateState === "rollback_completed")
  ) {
    done = true;
    ok = true;
  } else if (inARow >= maxFailuresInARow && runningCount < desired && !inFlight.has(updateState ?? "")) {
    done = true;
    const last = failed[0]?.error ?? failed[0]?.message ?? "unknown error";
    updateMessage = `${inARow} tasks failed in a row without one getting to run; the last: ${last}`;
  }
  return { running: runningCount, desired, failed, updateState, updateMessage, done, ok };
}

export const parseService = (v: unknown, what: string) => parseEngineJson(RawService, v, what);
export const parseServices = (v: unknown) => parseEngineJson(z.array(RawService), v, "the service list");
export const parseTasks = (v: unknown) => parseEngineJson(z.array(RawTask), v, "the task list");
export const parseNodes = (v: unknown) => parseEngineJson(z.array(RawNode), v, "the node list");
