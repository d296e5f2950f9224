import type { Action, UndoAction, UndoExpectation, UndoInverse } from "./action.ts";
import { containersOf } from "./action.ts";
import { parseDuration } from "./duration.ts";
import { publicMessage } from "./errors.ts";
import type { Choice } from "./events.ts";
import { code, command, type Message, msg, strong, user } from "./message.ts";
import { type DispatchDeps, now } from "./pipeline-types.ts";
import { type Decision, gateFor, gateStrength, type Place, type Policy } from "./policy.ts";

/** How long a change offers its Undo (the policy's `undo.window`). */
export const undoWindowMs = (policy: Policy): number => (parseDuration(policy.undo.window) ?? 900) * 1000;

/** The Undo tap a change offers: its inverse, the state the change left, and until when (the window from `now`). */
export function undoChoice(of: string, inverse: UndoInverse, expect: UndoExpectation, policy: Policy, now: number): Choice {
  return { label: "Undo", action: { kind: "undo", of, action: inverse, notAfter: now + undoWindowMs(policy), expect } };
}

const when = (ms: number) => `${new Date(ms).toISOString().slice(11, 16)} UTC`;

/** The inverse as a command a person could type instead, once the Undo is refused. */
export function inverseCommand(inverse: UndoInverse): string {
  const on = "host" in inverse && inverse.host ? ` -H ${inverse.host}` : "";
  switch (inverse.kind) {
    case "container.stop":
      return `stop${on} ${containersOf(inverse).join(" ")}`;
    case "container.start":
      return `start${on} ${containersOf(inverse).join(" ")}`;
    case "service.scale":
      return `service scale${on} ${inverse.service}=${inverse.replicas}`;
    case "service.rollback":
      return `service rollback${on} ${inverse.service}`;
    case "host.extend":
      return `host extend ${inverse.name}`;
    case "grant.revoke":
      return `grant revoke ${inverse.grant}`;
  }
}

/** Why the window has passed: said before anything is read or run. */
export function windowPassed(undo: UndoAction, policy: Policy): Message {
  return msg`This Undo expired at ${when(undo.notAfter)} (undo.window is ${policy.undo.window}); nothing was run. If it is still what you want, type ${command(inverseCommand(undo.action))}.`;
}

/**
 * Whether the state the original change left still holds, read from the engine or berth's store. A message says what
 * moved on (or could not be read); undefined means the undo may go ahead.
 */
export async function movedOn(
  undo: UndoAction,
  host: string | undefined,
  deps: Pick<DispatchDeps, "engine" | "cloud" | "store" | "clock">,
  signal: AbortSignal,
): Promise<Message | undefined> {
  const inverse = undo.action;
  const expect = undo.expect;
  const nothing = msg` Nothing was run; look at it and type ${command(inverseCommand(inverse))} if it is still what you want.`;
  try {
    if (expect.what === "containers" && (inverse.kind === "container.start" || inverse.kind === "container.stop")) {
      const engine = deps.engine(host as string);
      for (const name of containersOf(inverse)) {
        const state = (await engine.inspect(name, signal)).state;
        const still = expect.state === "running" ? state === "running" : state !== "running";
        if (!still) return msg`${code(name)} is ${state} now, not ${expect.state} as the change left it: someone moved on since.${nothing}`;
      }
      return undefined;
    }
    if ((expect.what === "replicas" || expect.what === "image") && "service" in inverse) {
      const services = await deps.engine(host as string).services(signal);
      const s = services.find((x) => x.name === inverse.service || x.id === inverse.service);
      if (!s) return msg`Service ${code(inverse.service)} is gone.${nothing}`;
      if (expect.what === "replicas" && s.desired !== expect.replicas)
        return msg`${code(inverse.service)} wants ${s.desired ?? "global"} replicas now, not ${expect.replicas} as the change left it: it was scaled again since.${nothing}`;
      if (expect.what === "image" && !sameImage(s.image, expect.image))
        return msg`${code(inverse.service)} runs ${code(s.image)} now, not ${code(expect.image)} as the change left it: it was updated again since.${nothing}`;
      return undefined;
    }
    if (expect.what === "expiry" && inverse.kind === "host.extend") {
      const record = await deps.cloud?.store.cloudHosts.get(inverse.name);
      if (!record || record.status === "removed") return msg`Host ${code(inverse.name)} is gone.${nothing}`;
      if (record.expiresAt !== expect.expiresAt)
        return msg`${code(inverse.name)}'s expiry was changed again since (now ${when(record.expiresAt)}).${nothing}`;
      return undefined;
    }
    if (expect.what === "grant" && inverse.kind === "grant.revoke") {
      // Ended means revoked or run out: either way the access is gone, and there is nothing to type instead.
      const g = await deps.store.grants.get(inverse.grant);
      if (!g) return msg`berth knows no grant ${code(inverse.grant)}: nothing to undo.`;
      if (g.expiresAt <= now(deps))
        return msg`Grant ${code(g.id)} already ended at ${when(g.expiresAt)}: ${user(g.userId)} no longer has role ${strong(g.role)}, so there is nothing to undo.`;
      return undefined;
    }
  } catch (error) {
    return msg`berth could not read what the change left (${publicMessage(error)}).${nothing}`;
  }
  return msg`This Undo does not fit its change.${nothing}`;
}

/** Docker reports a service's image as its spec names it, sometimes with the registry spelled out. */
const sameImage = (now: string, set: string) => now === set || now.endsWith(`/${set}`) || set.endsWith(`/${now}`);

/** Whether an action is one an undo can carry. */
export const isUndoInverse = (action: Action | undefined): action is UndoInverse =>
  action !== undefined &&
  ["container.stop", "container.start", "service.scale", "service.rollback", "host.extend", "grant.revoke"].includes(action.kind);

/**
 * The change an undo takes back, as far as its gate goes (the same kind, on the same things); undefined when the undo
 * is gated as itself alone.
 */
export function undone(undo: UndoAction): Action | undefined {
  const a = undo.action;
  switch (a.kind) {
    case "container.start":
      return { ...a, kind: "container.stop" };
    case "container.stop":
      return { ...a, kind: "container.start" };
    case "service.scale":
      return undo.expect.what === "replicas" ? { ...a, replicas: undo.expect.replicas } : a;
    case "service.rollback":
      return {
        kind: "service.update",
        host: a.host,
        service: a.service,
        image: undo.expect.what === "image" ? undo.expect.image : "unknown",
      };
    case "host.extend":
      return { kind: "host.extend", name: a.name };
    // Undoing a grant only takes access away. Gated like the grant, it would wait for a second person's approval and
    // keep the access open meanwhile, mid-incident: so it is not. It is still authorized as the tapper (the grant's
    // holder, its approver, or someone the policy allows `grant.revoke`), like a typed `grant revoke`.
    case "grant.revoke":
      return undefined;
  }
}

/**
 * An allowed inverse waits behind the stronger of its own gate and the one of the change it undoes: undoing a stop
 * that needed an approval needs one too, even where a plain start would not.
 */
export function gatedAlsoAs(decision: Decision, policy: Policy, original: Action, place: Place): Decision {
  if (!decision.allow) return decision;
  const theirs = gateFor(policy, original, place);
  if (gateStrength[theirs.gate] <= gateStrength[decision.gate]) return decision;
  return { ...decision, gate: theirs.gate, gateRule: theirs.gateRule, approvers: theirs.approvers };
}
