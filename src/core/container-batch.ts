import type { ContainerEngine } from "../engines/ports.ts";
import { type ContainersAction, containersOf } from "./action.ts";
import { errorCode } from "./audit.ts";
import { publicMessage } from "./errors.ts";
import type { Reply } from "./events.ts";
import { code, join, type Message, msg, tone, user } from "./message.ts";
import type { ReplyContext } from "./reply.ts";

/**
 * `stop a b c` as `docker stop a b c` does it: each container on its own, one failing never holding up the others, and
 * one answer with a line per container in the order typed. (A single container keeps its one-sentence answer, reply.ts.)
 */

/** How one container fared: changed, already as asked (nothing to do), or the engine's refusal. */
export type ContainerOutcome =
  | { name: string; result: "done" }
  | { name: string; result: "unchanged" }
  | { name: string; result: "failed"; error: unknown };

type Verb = {
  /** The past tense for the answer: "stopped". */
  done: string;
  /** What a CONFLICT means for this call, when it only ever means "already so". */
  already?: string;
  /** "on" a host, or removed "from" it. */
  where: "on" | "from";
  call(engine: ContainerEngine, name: string, action: ContainersAction, signal: AbortSignal): Promise<void>;
};

// Docker answers stop and start with 304 when the container already is so, and has no other wrong-state answer for
// them (Engine API, POST /containers/{id}/stop and /start): the adapter's CONFLICT is exactly "already stopped/running".
const verbs = {
  "container.stop": { done: "stopped", already: "already stopped", where: "on", call: (e, n, _a, s) => e.stop(n, s) },
  "container.start": { done: "started", already: "already running", where: "on", call: (e, n, _a, s) => e.start(n, s) },
  "container.restart": { done: "restarted", where: "on", call: (e, n, _a, s) => e.restart(n, s) },
  "container.remove": {
    done: "removed",
    where: "from",
    call: (e, n, a, s) => e.remove(n, { force: a.kind === "container.remove" && a.force }, s),
  },
} as const satisfies Record<ContainersAction["kind"], Verb>;

/** At most this many engine calls at once: a long list finishes sooner without a burst against one engine. */
const parallel = 4;

/** Carries the action out on every container it names; the outcomes are in the order typed. */
export async function eachOutcome(action: ContainersAction, ctx: ReplyContext, signal: AbortSignal): Promise<ContainerOutcome[]> {
  const verb: Verb = verbs[action.kind];
  const names = containersOf(action);
  const outcomes: ContainerOutcome[] = new Array(names.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < names.length; i = next++) {
      const name = names[i] as string;
      try {
        await verb.call(ctx.engine(), name, action, signal);
        outcomes[i] = { name, result: "done" };
      } catch (error) {
        const already = verb.already !== undefined && errorCode(error) === "CONFLICT";
        outcomes[i] = already ? { name, result: "unchanged" } : { name, result: "failed", error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, names.length) }, worker));
  return outcomes;
}

/**
 * One answer for the whole request: in the channel when anything changed (others should see it), else to the
 * requester alone. Each line says what happened to that container and, for a failure, the engine's own words.
 */
export function eachReply(
  action: ContainersAction,
  outcomes: readonly ContainerOutcome[],
  ctx: Pick<ReplyContext, "actor" | "host">,
): Reply {
  const verb: Verb = verbs[action.kind];
  const changed = outcomes.filter((o) => o.result === "done").length;
  const host = ctx.host ?? "";
  const head =
    changed === 0
      ? msg`${user(ctx.actor.userId)}: none of the ${outcomes.length} containers was ${verb.done} ${verb.where} ${host}.`
      : msg`${user(ctx.actor.userId)} ${verb.done} ${changed === outcomes.length ? `${changed}` : `${changed} of ${outcomes.length}`} containers ${verb.where} ${host}:`;
  const lines = outcomes.map((o): Message => {
    if (o.result === "done") return msg`• ${tone("success")} ${code(o.name)} ${verb.done}`;
    if (o.result === "unchanged") return msg`• ${code(o.name)} ${verb.already ?? ""}, nothing changed`;
    if (errorCode(o.error) === "NOT_FOUND") return msg`• ${tone("failure")} ${code(o.name)}: no such berth container`;
    return msg`• ${tone("failure")} ${code(o.name)}: ${publicMessage(o.error)}`;
  });
  return { visibility: changed > 0 ? "channel" : "ephemeral", text: join([head, ...lines]) };
}

/** The audit record's outcome: each container's, in order (`a: ok; b: error: NOT_FOUND`), in the single form's words. */
export function eachAuditOutcome(outcomes: readonly ContainerOutcome[]): string {
  return outcomes
    .map((o) => `${o.name}: ${o.result === "done" ? "ok" : `error: ${o.result === "unchanged" ? "CONFLICT" : errorCode(o.error)}`}`)
    .join("; ");
}
