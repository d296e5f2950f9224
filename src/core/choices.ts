import { randomBytes } from "node:crypto";
import { type Action, ActionSchema } from "./action.ts";
import type { DispatchDeps } from "./pipeline-types.ts";

const memoryPrefix = "c-";
const maxRemembered = 500;

/** Whether an action holds values that must not leave berth's memory (a run's environment values). */
const holdsSecrets = (action: Action): boolean => action.kind === "container.run" && action.env.length > 0;

/**
 * A choice's action as a button or option value. Its JSON when that carries no secret and fits `maxChars` (any
 * replica, and berth after a restart, can read it back); else an id for the action kept in this process's memory, so
 * a tap on another replica or after a restart is answered "type it again" rather than run wrongly.
 */
export function choiceValue(deps: Pick<DispatchDeps, "pendingActions">, action: Action, maxChars: number): string {
  const json = JSON.stringify(action);
  if (!holdsSecrets(action) && json.length <= maxChars) return json;
  const id = `${memoryPrefix}${randomBytes(6).toString("hex")}`;
  deps.pendingActions.set(id, action);
  const kept = [...deps.pendingActions.keys()].filter((k) => k.startsWith(memoryPrefix));
  for (const old of kept.slice(0, Math.max(0, kept.length - maxRemembered))) deps.pendingActions.delete(old);
  return id;
}

/**
 * A tapped choice back as an action: validated like any input (a value is whatever the click payload says), and then
 * authorized as the person who tapped it. undefined when it no longer stands for anything.
 */
export function chosenAction(deps: Pick<DispatchDeps, "pendingActions">, value: string): Action | undefined {
  if (value.startsWith(memoryPrefix)) return deps.pendingActions.get(value);
  try {
    const parsed = ActionSchema.safeParse(JSON.parse(value));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
