import type { ContainerEngine, Isolation } from "../engines/ports.ts";
import type { ActionOf, Actor, UndoExpectation, UndoInverse } from "./action.ts";
import type { Choice } from "./events.ts";
import type { Policy } from "./policy.ts";
import type { RegistryCredentials } from "./registries.ts";

export type ServiceJobAction =
  | ActionOf<"service.logs">
  | ActionOf<"service.scale">
  | ActionOf<"service.update">
  | ActionOf<"service.rollback">;
export type JobAction =
  | ActionOf<"container.run">
  | ActionOf<"container.logs">
  | ActionOf<"container.exec">
  | ActionOf<"container.stats">
  | ActionOf<"image.pull">
  | ServiceJobAction;

/** What a job needs while it runs: its engine and host, the policy's limits, who started it. */
export type JobContext = {
  engine: ContainerEngine;
  host: string;
  policy: Policy;
  actor: Actor;
  jobId: string;
  clock?: () => number;
  /** The manifest's default isolation for this host (Windows), over the engine's own default. */
  isolation?: Isolation | undefined;
  /** `service rollback`: the previous image berth checked against the allow-list; the rollback brings back no other. */
  rollbackImage?: string | undefined;
  /** The registry logins a pull sends (none: every pull is a public one). */
  registries?: RegistryCredentials | undefined;
  /** The Undo tap a change offers on its finished card (the request's id and the policy's window are filled in). */
  undo?: ((inverse: UndoInverse, expect: UndoExpectation) => Choice) | undefined;
  /** How long a lost engine connection is retried before a stream ends (ms, default 2 min): engines that blink. */
  reconnectMs?: number | undefined;
};

/**
 * Why a job's signal was aborted: a person (Stop button, `cancel`), or berth shutting down (`suspend`): then the job
 * only stops reading, its container keeps running and the next berth carries it on from the job's cursor.
 */
export type CancelReason = { by: string; suspend?: true; lost?: true };

/** berth is shutting down: stop reading, leave the container running. */
export const suspension: CancelReason = { by: "berth", suspend: true };

/**
 * Another replica took the job over (this one's lease ran out): stop reading, leave the container running, and write
 * nothing more about the job, neither to the store nor to Slack; its new owner carries it on.
 */
export const lost: CancelReason = { by: "berth", suspend: true, lost: true };

/** Whether the job was taken over by another replica (a suspension whose writes are no longer this replica's). */
export const takenOver = (signal: AbortSignal): boolean =>
  signal.aborted && (signal.reason as Partial<CancelReason> | undefined)?.lost === true;

/** Who stopped a job, from its aborted signal ("unknown" when berth itself did). */
export const cancelledBy = (signal: AbortSignal): string => (signal.reason as Partial<CancelReason> | undefined)?.by ?? "unknown";

/** Whether the signal was aborted because berth is shutting down (the job is to be carried on, not stopped). */
export const suspended = (signal: AbortSignal): boolean =>
  signal.aborted && (signal.reason as Partial<CancelReason> | undefined)?.suspend === true;
