import type { UndoInverse } from "../action.ts";
import { auditOutcome } from "../audit.ts";
import { code, msg, strong, tone } from "../message.ts";
import { now, replyOutcome } from "../pipeline-types.ts";
import { inverseCommand, movedOn, undoChoice, undone, windowPassed } from "../undo.ts";
import type { UndoOffer } from "./execution.ts";
import type { Handler } from "./handler.ts";

/**
 * `undo`: the Undo button a change offers for the policy's `undo.window`. Nobody is allowed "undo" as such: it
 * "runs" like a decision (the pipeline asks no binding about it), and its inverse goes through the whole pipeline as
 * the tapper, authorized and gated as the command it stands for (`start api` for the Undo of `stop api`; see `undone`
 * for the one undo that is not gated like its change, a grant's). Its own
 * audit record names the request it undoes; the inverse's records follow under the same request id.
 */
export const undo: Handler<"undo"> = {
  runs: "decision",
  summary: (a) => `undo ${a.of.slice(0, 8)}: ${inverseCommand(a.action)}`,
  preview: (a) => [msg`${strong("Undoes:")} request ${code(a.of)} with ${code(inverseCommand(a.action))}`],
  async execute(a, c) {
    const { deps, actor, requestId } = c;
    const host = a.action.kind === "host.extend" ? a.action.name : "host" in a.action ? a.action.host : undefined;
    if (now(deps) > a.notAfter) {
      await auditOutcome(deps, { requestId, actor, action: a, host, outcome: `refused: undo of ${a.of} after its window` });
      return replyOutcome(requestId, msg`${tone("warning")} ${windowPassed(a, c.policy)}`, "ephemeral", "refused");
    }
    // Linked to the message whose Undo was tapped (the change's own answer), and to its request by id.
    await auditOutcome(deps, { requestId, actor, action: a, host, outcome: `undoes ${a.of}`, messageTs: actor.tappedOn?.ts });
    if (!c.redispatch) return replyOutcome(requestId, msg`This Undo cannot run here.`, "ephemeral", "refused");
    return c.redispatch(a.action, { precondition: (resolved) => movedOn(a, resolved, deps, c.signal), gatedAs: undone(a) });
  },
  // Undoing an undo is the original command again: typed, or the Undo its own answer offers.
  inverse: undefined,
};

/**
 * The Undo of a stop or start told to the channel (anyone allowed there may tap it): the opposite command on the same
 * host for the containers it changed, which it left `state`.
 */
export function undoToggle<K extends "container.stop" | "container.start">(
  inverse: "container.start" | "container.stop",
  state: "running" | "stopped",
): UndoOffer<K> {
  return (_action, changed, c) => {
    const [container, ...more] = changed;
    if (container === undefined) return undefined;
    const back: UndoInverse = { kind: inverse, host: c.host, container, ...(more.length && { more }) };
    return undoChoice(c.requestId, back, { what: "containers", state }, c.policy, now(c.deps));
  };
}
