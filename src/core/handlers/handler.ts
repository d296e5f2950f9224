import type { ProvisionDeps } from "../../cloud/provision.ts";
import type { ContainerEngine, Isolation } from "../../engines/ports.ts";
import { type Action, type ActionKind, type ActionOf, type Actor, containersOf } from "../action.ts";
import type { Approved } from "../approvals.ts";
import type { Registry } from "../command.ts";
import type { Choice } from "../events.ts";
import { code, join, type Message, msg, type Part, strong } from "../message.ts";
import type { DispatchDeps, Outcome } from "../pipeline-types.ts";
import { type Policy, type Subject, safeRegExp } from "../policy.ts";
import { createRedactor } from "../redact.ts";

/** What a handler is given once the pipeline has resolved the host, authorized and audited the request. */
export type HandlerContext = {
  deps: DispatchDeps;
  actor: Actor;
  host: string | undefined;
  subject: Subject;
  policy: Policy;
  signal: AbortSignal;
  requestId: string;
  /** Set when the request waited on a card and was approved (or confirmed by the requester). */
  approval?: Approved | undefined;
  /** For `approval.decide`: hands an approved request back to the pipeline, which authorizes it again and runs it. */
  resume: (approved: Approved) => Promise<Outcome>;
  /**
   * For `undo`: sends its inverse through the whole pipeline as this request (host, authorize as the actor, audit,
   * gate), with `precondition` read after the allow is audited and before anything runs or waits on a card.
   */
  redispatch?: ((action: Action, checks: Checks) => Promise<Outcome>) | undefined;
};

/**
 * What an undo adds to its inverse's way through the pipeline: the state to read before anything runs, and the
 * change it undoes, whose gate (if stronger) holds for the inverse too.
 */
export type Checks = { precondition: Precondition; gatedAs?: Action | undefined };

/** A check made once a request is allowed, before it runs: a message refuses it (nothing runs), undefined goes on. */
export type Precondition = (host: string | undefined) => Promise<Message | undefined>;

/**
 * What an action acts on, where a person can be offered candidates instead of typing a name (core/target-picker.ts):
 * berth's containers (in the state the action needs) or Swarm services on the action's host, or the hosts berth made.
 */
export type Target = { of: "container"; state: "running" | "stopped" | "any" } | { of: "service" } | { of: "host" };

/** What a precheck may read: the host's engine, its manifest isolation, within a bounded time. */
export type PrecheckContext = { engine: ContainerEngine; host: string; isolation: Isolation | undefined; signal: AbortSignal };

/** A refusal found before any card: what is wrong, and the fixes it names as taps (each a whole action). */
export type Refusal = { text: Message; choices: readonly Choice[] };

/** What a handler may read to preview a gated request: the policy's limits, and the Azure hosts berth made. */
export type PreviewContext = {
  policy: Policy;
  cloud: ProvisionDeps | undefined;
  /** The commands, for a preview that reads command lines (a runbook's steps). */
  registry?: Registry | undefined;
};

/**
 * Everything berth knows about one kind of action, in one place. Method syntax on purpose: a handler of one kind is
 * used where a handler of any kind is expected, after the pipeline has looked it up by the action's own kind.
 */
export type Handler<K extends ActionKind> = {
  /**
   * How it runs: "reply" answers with one message; "job" posts a card and streams into its thread; "decision" decides
   * a waiting request, so the pipeline neither resolves a host nor asks the policy's bindings: the clicker is checked
   * against the request itself (approvals.ts). An `undo` runs so too: its inverse is what the pipeline decides on.
   */
  runs: "reply" | "job" | "decision";
  /** One line saying what will happen, for the gate card's title and the job card (`logs -f api on local`). */
  summary(action: ActionOf<K>, host: string | undefined): string;
  /** Exactly what will happen, below the gate card's host line: image, command, limits, environment names (never values). */
  preview(action: ActionOf<K>, c: PreviewContext): Message[] | Promise<Message[]>;
  /** Why it cannot go ahead whatever anyone confirms; asked before a card is shown, so nobody confirms the impossible. */
  refusal?(action: ActionOf<K>, c: Pick<DispatchDeps, "cloud" | "manifestHosts">): Promise<Message | undefined>;
  /**
   * Why it cannot go ahead, found with engine reads only (the host's OS, an image already there) after the allow was
   * audited and before any card or gate: one answer to the requester, nothing posted in the channel.
   */
  precheck?(action: ActionOf<K>, c: PrecheckContext): Promise<Refusal | undefined>;
  /** What it acts on, when candidates can be offered (a picker, or "did you mean" for a name that matches none). */
  target?: Target | undefined;
  /** Carries out the authorized, audited action. */
  execute(action: ActionOf<K>, c: HandlerContext): Promise<Outcome>;
  /**
   * The action that would undo this one, for a later `undo`; `undefined` (the field) where no action can (a removal, a
   * read, a change whose earlier state berth does not know). The function may still answer undefined for one action.
   */
  inverse: ((action: ActionOf<K>) => Action | undefined) | undefined;
};

/** The preview of an action on containers: each one's name, every one of them for `stop a b c`. */
export const containerPreview = (action: { container: string; more?: readonly string[] | undefined }): Message[] =>
  containersPreview(action, "");

/** The containers' names, then `note` (how it will be done: "forced, even if running"). */
export function containersPreview(action: { container: string; more?: readonly string[] | undefined }, note: string): Message[] {
  const names = containersOf(action);
  if (names.length === 1) return [msg`${strong("Container:")} ${code(action.container)}${note}`];
  return [
    msg`${strong(`Containers (${names.length}):`)} ${join(
      names.map((n) => [code(n)]),
      ", ",
    )}${note}`,
  ];
}

/** Nothing more to show than the summary. */
export const noPreview = (): Message[] => [];

/** The summary of an action without a summary of its own: its kind, its container, its host. */
export const plainSummary = (action: Action, host: string | undefined): string =>
  `${action.kind}${"container" in action ? ` ${containersOf(action).join(" ")}` : ""}${host ? ` on ${host}` : ""}`;

/** Text about an action as it may be shown (cards, job lists): its secrets masked like its output. */
export function shown(text: string, action: Action, policy: Policy): string {
  return redactorFor(action, policy)(text);
}

/** A message about an action as it may be shown: each part's text masked like the action's output. */
export function shownMessage(message: Message, action: Action, policy: Policy): Message {
  const redact = redactorFor(action, policy);
  return message.map((p): Part => {
    if (typeof p === "string") return redact(p);
    if ("code" in p) return { code: redact(p.code) };
    if ("strong" in p) return { strong: redact(p.strong) };
    if ("pre" in p) return { pre: redact(p.pre) };
    if ("command" in p) return { command: redact(p.command) };
    return p;
  });
}

function redactorFor(action: Action, policy: Policy): (text: string) => string {
  const values = action.kind === "container.run" ? action.env.map((e) => e.value) : [];
  return createRedactor(
    values,
    policy.redact.flatMap((p) => safeRegExp(p) ?? []),
  );
}
