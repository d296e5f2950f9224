/**
 * The pipeline's part for `runbook NAME ARGS`: bad input answered before anything is decided (no such runbook, a
 * missing or invalid parameter, with a picker for a missing container), and the one decision for the whole runbook:
 * every step authorized as the person where it would run, denied if any one is (nothing runs), else allowed behind
 * the strongest gate any step needs, asked once for the whole runbook before it starts.
 */
import type { ActionOf, Actor } from "./action.ts";
import type { Choice } from "./events.ts";
import { code, type Message, msg } from "./message.ts";
import type { DispatchDeps, Outcome } from "./pipeline-types.ts";
import { hostFor } from "./place.ts";
import type { Decision, Subject } from "./policy.ts";
import { expandRunbook } from "./runbook.ts";
import { authorizeSteps } from "./runbook-authorize.ts";
import { containerCandidates, listedAsPs } from "./target-picker.ts";

/** The answer to a runbook request that cannot run as asked (nothing is decided or run), or undefined to go on. */
export async function runbookInputAnswer(
  action: ActionOf<"runbook.run">,
  actor: Actor,
  subject: Subject,
  deps: DispatchDeps,
  signal: AbortSignal,
  requestId: string,
): Promise<Outcome | undefined> {
  const policy = deps.policy();
  const expanded = expandRunbook(policy, action, deps.registry);
  if (expanded.ok) return undefined;
  const only = expanded.missing?.length === 1 ? expanded.missing[0] : undefined;
  const choices =
    only?.type === "container" && expanded.runbook
      ? await pickContainer(action, only.name, actor, subject, deps, signal, requestId).catch(() => [])
      : [];
  const text: Message = choices.length ? msg`${expanded.message}\nOr tap the ${code(only?.name ?? "")}:` : expanded.message;
  return {
    type: "reply",
    reply: { visibility: "ephemeral", text, ...(choices.length && { choices }) },
    requestId,
    result: action.name ? "usage_error" : undefined,
  };
}

/** berth's containers (newest first) as taps running the runbook with `param` filled, where this person may run it. */
async function pickContainer(
  action: ActionOf<"runbook.run">,
  param: string,
  actor: Actor,
  subject: Subject,
  deps: DispatchDeps,
  signal: AbortSignal,
  requestId: string,
): Promise<Choice[]> {
  const listing = { kind: "container.list" as const, all: true };
  const where = hostFor(listing, actor, deps);
  if (!where.ok || !where.host) return [];
  const host = where.host;
  if (!(await listedAsPs({ ...listing, host }, actor, subject, deps, requestId))) return [];
  const found = await containerCandidates(deps, host, signal);
  const choices: Choice[] = [];
  for (const c of found.slice(0, 20)) {
    const filled: ActionOf<"runbook.run"> = { ...action, args: [...action.args, `${param}=${c.name}`] };
    const expanded = expandRunbook(deps.policy(), filled, deps.registry);
    if (!expanded.ok) continue;
    if (!(await authorizeSteps(expanded.steps, actor, subject, deps)).allow) continue;
    choices.push({ label: `${c.name} · ${c.note}`, action: filled });
  }
  return choices;
}

/** The decision for a runbook: every step as the person where it runs; denied if one is, else the strongest gate. */
export async function authorizeRunbook(
  action: ActionOf<"runbook.run">,
  actor: Actor,
  subject: Subject,
  deps: DispatchDeps,
): Promise<Decision> {
  const expanded = expandRunbook(deps.policy(), action, deps.registry);
  if (!expanded.ok) return { allow: false, rule: "runbook:invalid", reason: expanded.message };
  return authorizeSteps(expanded.steps, actor, subject, deps);
}
