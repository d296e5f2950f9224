import { z } from "zod";
import { targetProblem } from "./mounts.ts";

/**
 * What berth can do, independent of how it was asked. Commands turn text into one of these; policy, audit and the
 * engines only ever see this typed form, never the raw text.
 *
 * Longer than most files on purpose: every kind's schema and its rows in the risk and repeat tables sit together, so a new kind
 * is added (and reviewed) in one place.
 */
const containerRef = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/, "a container name or id (letters, digits, _ . -)");
const hostName = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/, "a host name that the hosts command lists");
/** Also the VM's computer name: Windows allows 15 characters, Azure DNS labels lower-case letters, digits and -. */
const newHostName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,13}[a-z0-9]$/, "a new host name: 2–15 lower-case letters, digits or -, starting with a letter");
const serviceRef = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/, "a service name or id that service ls lists");
const imageRef = z
  .string()
  .max(255)
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9._/:@-]*$/, "IMAGE is not an image reference; write e.g. busybox:1 or registry.example.com/team/app:2.3");
const envVar = z.object({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/),
  value: z.string(),
});

/** Docker's smallest memory limit; 0 would mean none at all. */
export const minMemoryBytes = 6 * 1024 ** 2;
/** The fewest CPUs a container may be limited to: less rounds to NanoCpus 0, which Docker reads as "no limit". */
export const minCpus = 0.01;

/**
 * `-v NAME:/target[:ro|rw]`: the name of an operator-defined mount. Only the policy turns a name into a host path, and
 * it refuses anything else it is given (a host path included), so the refusal is audited and lists the mounts offered.
 */
const mountRequest = z.object({
  name: z
    .string()
    .min(1)
    .max(255)
    .regex(/^[^:]+$/, "a mount name from the policy"),
  target: z.string().superRefine((t, ctx) => {
    const problem = targetProblem(t);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  }),
  readOnly: z.boolean().optional(),
});

/** The most containers one `stop|start|restart|rm` names (`docker stop a b c`): one card, one line each. */
export const maxContainers = 20;
/**
 * The containers named after the first (`stop a b c`: b and c), in the order typed. Beside `container` rather than
 * replacing it, so a one-container request is the same JSON as before: a Restart button posted by an older berth, a
 * request waiting for approval across an upgrade and the audit chain's records all read as they did.
 */
const moreContainers = z
  .array(containerRef)
  .min(1)
  .max(maxContainers - 1, `at most ${maxContainers} containers in one command`)
  .optional();

/**
 * How far back `changes` looks at most. Docker keeps only its last 256 events in memory (and none from before it
 * started), so a day is already more than a busy engine still holds; the answer says where its record begins.
 */
export const maxChangesSeconds = 24 * 3600;

const stopAction = z.object({
  kind: z.literal("container.stop"),
  host: hostName.optional(),
  container: containerRef,
  more: moreContainers,
});
const startAction = z.object({
  kind: z.literal("container.start"),
  host: hostName.optional(),
  container: containerRef,
  more: moreContainers,
});
const scaleAction = z.object({
  kind: z.literal("service.scale"),
  host: hostName.optional(),
  service: serviceRef,
  replicas: z.number().int().min(0).max(1000),
});
const rollbackAction = z.object({ kind: z.literal("service.rollback"), host: hostName.optional(), service: serviceRef });
const extendAction = z.object({
  kind: z.literal("host.extend"),
  name: hostName,
  ttlSeconds: z.number().int().positive().optional(),
  /** An absolute expiry (epoch ms) instead of a lifetime from now: what an undo sets back. No command writes it. */
  until: z.number().int().positive().optional(),
});

/** A break-glass grant as its announcement names it (`g-` and six hex digits). */
const grantId = z.string().regex(/^g-[0-9a-f]{6,32}$/, "a grant id like g-1a2b3c, as the grant's announcement names it");
/** Ends a break-glass grant before its time (`grant revoke g-…`, or the Undo on its announcement). */
const revokeAction = z.object({ kind: z.literal("grant.revoke"), grant: grantId });

/**
 * What must still hold for an undo to make sense: the state the original change left. Read again when Undo is
 * tapped; anything else means someone moved on since, and the undo refuses.
 */
const undoExpectation = z.discriminatedUnion("what", [
  z.object({ what: z.literal("containers"), state: z.enum(["running", "stopped"]) }),
  z.object({ what: z.literal("replicas"), replicas: z.number().int().min(0) }),
  z.object({ what: z.literal("image"), image: imageRef }),
  z.object({ what: z.literal("expiry"), expiresAt: z.number().int().positive() }),
  z.object({ what: z.literal("grant"), grant: grantId }),
]);

/**
 * `undo`: an inverse action offered as a button for a while after a change. Only the inverses berth can offer are
 * accepted, so a crafted button value cannot smuggle any other action in as an "undo".
 */
const undoAction = z.object({
  kind: z.literal("undo"),
  /** The request it undoes (its audit records carry this id). */
  of: z.string().min(1).max(64),
  action: z.discriminatedUnion("kind", [stopAction, startAction, scaleAction, rollbackAction, extendAction, revokeAction]),
  /** Epoch ms: past this (the policy's `undo.window` after the change), the undo refuses. */
  notAfter: z.number().int().positive(),
  expect: undoExpectation,
});

export const ActionSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("help"), topic: z.string().optional() }),
  z.object({
    kind: z.literal("container.run"),
    host: hostName.optional(),
    image: imageRef,
    cmd: z.array(z.string()),
    name: containerRef.optional(),
    env: z.array(envVar),
    memoryBytes: z.number().int().min(minMemoryBytes, "at least 6m (Docker's minimum)").optional(),
    cpus: z.number().min(minCpus, `at least ${minCpus} CPU`).optional(),
    isolation: z.enum(["process", "hyperv", "default"]).optional(),
    platform: z.string().optional(),
    detach: z.boolean(),
    timeoutSeconds: z.number().int().positive().optional(),
    autoRemove: z.boolean(),
    privileged: z.boolean(),
    network: z
      .string()
      .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, "a network name")
      .optional(),
    mounts: z.array(mountRequest),
  }),
  z.object({ kind: z.literal("container.list"), host: hostName.optional(), all: z.boolean() }),
  z.object({ kind: z.literal("image.pull"), host: hostName.optional(), image: imageRef }),
  z.object({
    kind: z.literal("container.logs"),
    host: hostName.optional(),
    container: containerRef,
    follow: z.boolean(),
    tail: z.number().int().nonnegative().optional(),
    sinceSeconds: z.number().int().positive().optional(),
    /** Only lines older than this many seconds before the command (`--until`). */
    untilSeconds: z.number().int().positive().optional(),
    /** Each line shown with Docker's time in front (`-t`). */
    timestamps: z.boolean().optional(),
  }),
  stopAction,
  startAction,
  z.object({ kind: z.literal("container.restart"), host: hostName.optional(), container: containerRef, more: moreContainers }),
  z.object({
    kind: z.literal("container.remove"),
    host: hostName.optional(),
    container: containerRef,
    more: moreContainers,
    force: z.boolean(),
  }),
  z.object({ kind: z.literal("container.inspect"), host: hostName.optional(), container: containerRef }),
  /** `docker stats --no-stream`: the named containers, or (none named) every running berth container on the host. */
  z.object({
    kind: z.literal("container.stats"),
    host: hostName.optional(),
    containers: z.array(containerRef).max(maxContainers, `at most ${maxContainers} containers in one command`),
  }),
  z.object({ kind: z.literal("container.top"), host: hostName.optional(), container: containerRef }),
  z.object({
    kind: z.literal("container.exec"),
    host: hostName.optional(),
    container: containerRef,
    cmd: z.array(z.string()).min(1),
  }),
  z.object({ kind: z.literal("host.list") }),
  z.object({
    kind: z.literal("host.create"),
    name: newHostName,
    os: z.enum(["linux", "windows"]),
    size: z
      .string()
      .regex(/^[A-Za-z0-9_]+$/, "an Azure VM size such as Standard_D2s_v5")
      .optional(),
    region: z
      .string()
      .regex(/^[a-z0-9]+$/, "an Azure region such as westeurope")
      .optional(),
    ttlSeconds: z.number().int().positive().optional(),
    hyperv: z.boolean(),
    private: z.boolean(),
  }),
  z.object({ kind: z.literal("host.remove"), name: hostName }),
  extendAction,
  z.object({ kind: z.literal("service.list"), host: hostName.optional() }),
  z.object({ kind: z.literal("service.ps"), host: hostName.optional(), service: serviceRef }),
  z.object({
    kind: z.literal("service.logs"),
    host: hostName.optional(),
    service: serviceRef,
    follow: z.boolean(),
    tail: z.number().int().nonnegative().optional(),
    sinceSeconds: z.number().int().positive().optional(),
  }),
  scaleAction,
  z.object({ kind: z.literal("service.update"), host: hostName.optional(), service: serviceRef, image: imageRef }),
  rollbackAction,
  z.object({ kind: z.literal("job.list") }),
  z.object({ kind: z.literal("job.cancel"), job: z.string().regex(/^[a-z0-9-]{1,40}$/, "a job id that the jobs command lists") }),
  // For can-i, `text` is the command being asked about; it is parsed (never run) when the question is answered.
  z.object({
    kind: z.literal("policy.explain"),
    question: z.enum(["whoami", "can-i"]),
    text: z.string().min(1, "missing COMMAND").optional(),
  }),
  z.object({
    kind: z.literal("approval.decide"),
    id: z.string().regex(/^[a-z0-9-]{1,40}$/, "a request id from an approval card"),
    verdict: z.enum(["approve", "deny"]),
  }),
  z.object({
    kind: z.literal("grant.request"),
    role: z.string().regex(/^[a-z][a-z0-9_-]*$/, "a role name from the policy"),
    durationSeconds: z.number().int().positive(),
    reason: z.string().min(3, 'say why, e.g. --reason "INC-123 db failover"').max(500),
  }),
  revokeAction,
  // A policy runbook by name, with its arguments as typed (`key=value` or in order); read against the policy when run.
  z.object({
    kind: z.literal("runbook.run"),
    name: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,39}$/, "a runbook name that help lists")
      .optional(),
    args: z.array(z.string().max(500)).max(20, "at most 20 arguments"),
  }),
  z.object({
    kind: z.literal("events.changes"),
    host: hostName.optional(),
    sinceSeconds: z
      .number()
      .int()
      .positive()
      .max(maxChangesSeconds, `at most ${maxChangesSeconds / 3600}h`),
  }),
  z.object({
    kind: z.literal("audit.query"),
    sinceSeconds: z.number().int().positive().optional(),
    user: z
      .string()
      .regex(/^[UW][A-Z0-9]+$/, "a Slack user, e.g. @alice")
      .optional(),
    host: hostName.optional(),
  }),
  z.object({
    kind: z.literal("audit.timeline"),
    /** How far back (default 24 h; at most 7 days): the channel is the incident, this is how long it has run. */
    sinceSeconds: z
      .number()
      .int()
      .positive()
      .max(7 * 24 * 3600, "at most 7d")
      .optional(),
  }),
  undoAction,
]);

export type Action = z.infer<typeof ActionSchema>;
export type ActionKind = Action["kind"];
export type ActionOf<K extends ActionKind> = Extract<Action, { kind: K }>;
/** Actions that run on a Docker engine (audit's `-H` only filters records: it is not one). */
export type UndoAction = ActionOf<"undo">;
export type UndoExpectation = UndoAction["expect"];
/** The actions an undo may carry (no other is accepted inside an `undo`). */
export type UndoInverse = UndoAction["action"];
export type HostAction = Extract<Action, { kind: `container.${string}` | `service.${string}` | `image.${string}` | `events.${string}` }>;

/**
 * How much harm an action can do. Declared for every kind; adding a kind without a risk fails to compile.
 * `self` actions touch no engine (help, whoami, the caller's own jobs) and are open to everyone.
 */
export type Risk = "self" | "read" | "change" | "dangerous";
/** What an allowed action needs before it runs: nothing, the requester's tap on a preview, or another person. */
export type Gate = "none" | "confirm" | "approval";
export const defaultGate = { self: "none", read: "none", change: "none", dangerous: "confirm" } as const satisfies Record<Risk, Gate>;
export const risk = {
  help: "self",
  "policy.explain": "self",
  "job.list": "self",
  "job.cancel": "self",
  "approval.decide": "self", // the decider is checked against the request itself, see approvals.ts
  undo: "self", // never authorized as "undo": its inverse is, as the tapper, like the command it stands for (undo.ts)
  "audit.query": "read",
  "audit.timeline": "read",
  "events.changes": "read",
  // Needs no permission of its own: every step is authorized as the person, and it waits behind its strongest gate.
  "runbook.run": "self",
  "grant.request": "dangerous",
  // Takes access away, yet it changes who may do what: decided on who holds and approved the grant (policy.ts).
  "grant.revoke": "change",
  "container.list": "read",
  "container.logs": "read",
  "container.inspect": "read",
  "container.stats": "read",
  "container.top": "read",
  "container.run": "change",
  "container.stop": "change",
  "container.start": "change",
  "container.restart": "change",
  "container.remove": "dangerous",
  "container.exec": "dangerous",
  // Runs nothing, but changes the host: disk space, and which image a tag names for the next run.
  "image.pull": "change",
  "host.list": "read",
  "host.create": "change",
  "host.remove": "dangerous",
  "host.extend": "change",
  "service.list": "read",
  "service.ps": "read",
  "service.logs": "read",
  "service.scale": "change",
  "service.update": "change",
  "service.rollback": "change",
} as const satisfies Record<ActionKind, Risk>;

export const actionKinds = Object.keys(risk) as ActionKind[];

/**
 * Whether doing an action a second time changes nothing the first did: what a runbook step interrupted by a berth
 * restart may be run again for (core/runbook-job.ts). Reads, and changes to a state (stopped, started, N replicas, an
 * image) are; a restart, a new container, a removal (a second one fails), an exec, a rollback (a second one flips
 * back), a host made or extended are not: such a step stops the runbook and says to look first.
 */
export const repeatable = {
  help: true,
  "policy.explain": true,
  "job.list": true,
  "job.cancel": true,
  "approval.decide": false,
  undo: false,
  "audit.query": true,
  "audit.timeline": true,
  "events.changes": true,
  "runbook.run": false,
  "grant.request": false,
  "grant.revoke": false, // a second one finds the grant already ended
  "container.list": true,
  "container.logs": true,
  "container.inspect": true,
  "container.stats": true,
  "container.top": true,
  "container.run": false,
  "container.stop": true,
  "container.start": true,
  "container.restart": false,
  "container.remove": false,
  "container.exec": false,
  "image.pull": true,
  "host.list": true,
  "host.create": false,
  "host.remove": false,
  "host.extend": false,
  "service.list": true,
  "service.ps": true,
  "service.logs": true,
  "service.scale": true,
  "service.update": true,
  "service.rollback": false,
} as const satisfies Record<ActionKind, boolean>;

/**
 * Permissions that are not actions of their own: checked on top of an action's own permission when it reaches past
 * the person's own things (a host someone else made, other people's jobs elsewhere). Roles name them like actions;
 * `*` and globs such as `host.*` cover them.
 */
export const widerPermissions = ["host.remove.any", "host.extend.any", "job.list.all"] as const;
export type Permission = ActionKind | (typeof widerPermissions)[number];
export const permissions: readonly Permission[] = [...actionKinds, ...widerPermissions];

/** The permission an action on a host someone else made needs besides its own. */
export const onAnotherPersonsHost = { "host.remove": "host.remove.any", "host.extend": "host.extend.any" } as const satisfies Partial<
  Record<ActionKind, Permission>
>;

/** Actions that run on a Docker engine: the host is resolved (-H, the channel's, the default) before authorizing. */
export function targetsHost(action: Action): action is HostAction {
  return (
    action.kind.startsWith("container.") ||
    action.kind.startsWith("service.") ||
    action.kind.startsWith("image.") ||
    action.kind.startsWith("events.")
  );
}

/**
 * The host an action concerns, for the policy's `hosts:` (bindings, rules, approvers): the resolved engine host for
 * container and service actions, the named host for `host create|extend|rm`, `-H` for `audit`. Undefined for actions
 * that concern no host; a binding or rule that names hosts never matches those.
 */
export function hostOf(action: Action, resolvedHost: string | undefined): string | undefined {
  if (targetsHost(action)) return resolvedHost;
  switch (action.kind) {
    case "host.create":
    case "host.remove":
    case "host.extend":
      return action.name;
    case "audit.query":
      return action.host;
    default:
      return undefined;
  }
}

/** The actions that name one or more containers (`stop a b c`), each container handled on its own. */
export type ContainersAction = ActionOf<"container.stop" | "container.start" | "container.restart" | "container.remove">;

/** Whether the action names more than one container. */
export function namesSeveral(action: Action): action is ContainersAction & { more: string[] } {
  return "more" in action && action.more !== undefined && containersOf(action).length > 1;
}

/** Every container the action names, in the order typed, each once. */
export function containersOf(action: { container: string; more?: readonly string[] | undefined }): string[] {
  return [...new Set([action.container, ...(action.more ?? [])])];
}

/** The same action once per container it names, in order: each one-container action is what a single command makes. */
export function eachContainer<A extends ContainersAction>(action: A): A[] {
  const { more: _more, ...one } = action;
  return containersOf(action).map((container) => ({ ...one, container }) as A);
}

/** Who is asking, and from where. `groups` is filled lazily from Slack user groups by the caller. */
export type Actor = {
  userId: string;
  userName?: string | undefined;
  channelId: string;
  channelName?: string | undefined;
  /** The person's Slack team (workspace), as the request reported it. */
  teamId?: string | undefined;
  /**
   * Whether the person belongs to the workspace berth serves. Set by the Slack adapter; unset counts as not (a
   * Slack Connect guest from another organization): `users: ["*"]` then does not match them.
   */
  homeTeam?: boolean | undefined;
  /**
   * The message whose button or menu this request came from (a tap in a channel): what an Undo's audit record links
   * to, since a channel reply's own record cannot know its message (a response_url post returns no ts).
   */
  tappedOn?: { channelId: string; ts: string } | undefined;
};
