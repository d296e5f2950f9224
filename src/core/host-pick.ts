import { randomBytes } from "node:crypto";
import { type Action, type Actor, targetsHost } from "./action.ts";
import type { Choice } from "./events.ts";
import { code, type Message, msg } from "./message.ts";
import { type DispatchDeps, now, type Outcome, replyOutcome } from "./pipeline-types.ts";
import { hostFor } from "./place.ts";
import { authorize, type Policy, type Subject } from "./policy.ts";

/**
 * Where an action runs: the host (undefined for actions that touch no engine), an action with the only host this
 * person may use filled in (the pipeline starts over with it), an answer (ask which host, or why none can be chosen),
 * or `unresolved`: no host could be chosen, and the pipeline's denial (or this message) says why.
 */
export type HostResolution =
  | { type: "host"; host: string | undefined }
  | { type: "retry"; action: Action }
  | { type: "answer"; outcome: Outcome }
  | { type: "unresolved"; message: Message };

export function resolveHostFor(
  action: Action,
  actor: Actor,
  subject: Subject,
  policy: Policy,
  deps: Pick<DispatchDeps, "hosts" | "pendingActions" | "clock">,
  requestId: string,
): HostResolution {
  const choice = hostFor(action, actor, deps);
  if (choice.ok) return { type: "host", host: choice.host };
  if (!choice.choices || !targetsHost(action)) return { type: "answer", outcome: replyOutcome(requestId, choice.message) };
  // Only the hosts this person may use for this action are offered; with just one, there is nothing to ask.
  const allowed = choice.choices.filter(
    (h) =>
      authorize(policy, subject, { ...action, host: h }, { channelId: actor.channelId, channelName: actor.channelName, host: h }, now(deps))
        .allow,
  );
  if (allowed.length === 1) return { type: "retry", action: { ...action, host: allowed[0] as string } };
  if (allowed.length > 1) {
    const id = `h-${randomBytes(4).toString("hex")}`;
    rememberPick(deps, id, action);
    const text = msg`${choice.message} (or add ${code("-H HOST")} to the command)`;
    return { type: "answer", outcome: { type: "pick", id, text, hosts: allowed, requestId } };
  }
  return { type: "unresolved", message: choice.message };
}

const maxPicks = 500;
/** An action waiting for its host to be picked; kept in memory only (it may hold environment values). */
function rememberPick(deps: Pick<DispatchDeps, "pendingActions">, id: string, action: Action): void {
  deps.pendingActions.set(id, action);
  const picks = [...deps.pendingActions.keys()].filter((k) => k.startsWith("h-"));
  for (const old of picks.slice(0, Math.max(0, picks.length - maxPicks))) deps.pendingActions.delete(old);
}

/** A host button was clicked: the remembered action, on that host (authorized again, as the clicker). */
export function pickedAction(deps: Pick<DispatchDeps, "pendingActions">, value: string): Action | undefined {
  const [id = "", host = ""] = value.split(" ");
  const action = id.startsWith("h-") ? deps.pendingActions.get(id) : undefined;
  if (!action || !targetsHost(action)) return undefined;
  deps.pendingActions.delete(id);
  return { ...action, host };
}

/** The same action on each other host this person may use for it here, as taps ("Try on HOST"). */
export function otherHosts(
  action: Action,
  host: string,
  actor: Actor,
  subject: Subject,
  deps: Pick<DispatchDeps, "hosts" | "policy" | "clock">,
): Choice[] {
  if (!targetsHost(action)) return [];
  const policy = deps.policy();
  return deps.hosts.connections.flatMap((c): Choice[] => {
    if (c.name === host) return [];
    const there = { ...action, host: c.name };
    const place = { channelId: actor.channelId, channelName: actor.channelName, host: c.name };
    return authorize(policy, subject, there, place, now(deps)).allow ? [{ label: `Try on ${c.name}`, action: there }] : [];
  });
}
