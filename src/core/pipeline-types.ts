import type { ProvisionDeps } from "../cloud/provision.ts";
import type { ContainerEngine } from "../engines/ports.ts";
import type { PendingRecord, StorePort } from "../store/port.ts";
import type { Action, ActionOf, Actor } from "./action.ts";
import type { Parsed, Registry } from "./command.ts";
import type { JobEvent, Reply } from "./events.ts";
import type { HostJobAction } from "./host-actions.ts";
import type { Hosts } from "./hosts.ts";
import type { JobAction } from "./job-context.ts";
import type { JobRegistry } from "./jobs.ts";
import type { Message } from "./message.ts";
import type { Policy } from "./policy.ts";
import type { RegistryCredentials } from "./registries.ts";
import type { Timeline } from "./timeline.ts";

/** What the pipeline is given: the ports it reaches (engines, store, cloud) and the settings it reads. */
export type DispatchDeps = {
  registry: Registry;
  policy: () => Policy;
  hosts: Hosts;
  engine: (host: string) => ContainerEngine;
  store: StorePort;
  jobs: JobRegistry;
  /** The user groups (of those the policy names) that this user belongs to. */
  groupsOf: (userId: string) => Promise<ReadonlySet<string>>;
  /** Full actions (with environment values) of requests waiting for a decision; never written to disk. */
  pendingActions: Map<string, Action>;
  clock?: () => number;
  log?: (event: string, fields: Record<string, unknown>) => void;
  /** Azure provisioning; absent when the operator has not configured it. */
  cloud?: ProvisionDeps | undefined;
  /** The hosts manifest's names (berth neither creates nor removes those). */
  manifestHosts?: readonly string[];
  /** The hosts manifest's registry logins, sent with pulls (absent: every pull is a public one). */
  registries?: RegistryCredentials | undefined;
  /** How long a stream retries a lost engine connection (ms, BERTH_ENGINE_RECONNECT; default 2 min). */
  engineReconnectMs?: number | undefined;
};

/** Typed text from a person; `parsed` when the transport already parsed it (to label its ack), so it is parsed once. */
export type Request = { text: string; actor: Actor; requestId?: string; parsed?: Parsed };

/** A job that passed policy and was audited; the transport starts it once it has somewhere to show it. */
export type JobPlan = {
  id: string;
  requestId: string;
  action: JobAction | HostJobAction | ActionOf<"runbook.run">;
  host: string;
  summary: string;
  actor: Actor;
  approvedBy?: string | undefined;
  /** Carry on in this existing card (and its thread) instead of posting a new one: a job resumed after a restart. */
  cardTs?: string | undefined;
  /**
   * A stored job carried on after berth restarted (same id, card and thread): how far its output had been handed on
   * (the spool keeps `lines` lines), how many thread replies it had posted, and when it started.
   */
  resumed?: { lines: number; messages: number; startedAt: number } | undefined;
  /**
   * A resumed run's output from its start up to its cursor, masked, read again from the engine: what rebuilds the
   * full log on a replica that does not have the spool the previous owner wrote.
   */
  backfill?: ((signal: AbortSignal) => AsyncIterable<string>) | undefined;
  /** The card's button: Stop for streams, Cancel for work that is undone when stopped (host create), null for none. */
  stopLabel?: string | null | undefined;
  run(signal: AbortSignal): AsyncGenerator<JobEvent>;
};

/** What a gated request looks like on its preview (confirm) or approval card. */
export type GateView = {
  pending: PendingRecord;
  preview: readonly Message[];
  /** Who could approve, as Slack mentions (users and user groups). */
  approvers: readonly Message[];
  dangerous: boolean;
};

export type ReplyResult = "denied" | "refused" | "usage_error" | "failed";

export type Outcome =
  /** `result` says when the reply is not an answer: a usage error, a denial, a refusal, a failure (for metrics). */
  | { type: "reply"; reply: Reply; requestId: string; result?: ReplyResult | undefined }
  | { type: "job"; plan: JobPlan }
  | { type: "gate"; view: GateView; requestId: string }
  /** Several hosts could take this action and none is the default here: ask with one button per host. */
  | { type: "pick"; id: string; text: Message; hosts: readonly string[]; requestId: string }
  /** A gated request was decided (or expired): edit its card, tell the clicker, then deliver what follows. */
  | { type: "decided"; pending: PendingRecord; card: Message; reply?: Reply; next?: Outcome; requestId: string }
  /** A channel's timeline: posted in the channel as a summary, with the whole of it as a Markdown file in its thread. */
  | { type: "timeline"; timeline: Timeline; requestId: string };

/** A one-message answer (shown to the requester alone unless `visibility` says channel). */
export const replyOutcome = (
  requestId: string,
  text: Reply["text"],
  visibility: Reply["visibility"] = "ephemeral",
  result?: ReplyResult,
): Outcome => ({
  type: "reply",
  reply: { visibility, text },
  requestId,
  ...(result && { result }),
});

export const now = (deps: Pick<DispatchDeps, "clock">): number => (deps.clock ?? Date.now)();
