/**
 * A policy runbook made concrete: the arguments a person typed bound to its parameters, and each step's line turned
 * into a typed Action by the same parser as typed text. A step is split into words before any value goes in, and
 * a value only ever lands inside one word, so no value can add a word or an option; every value is checked against
 * its parameter's type first (and none may start with `-`). Nothing here runs a shell.
 */
import type { Action, ActionOf } from "./action.ts";
import type { Registry } from "./command.ts";
import { code, command, join, type Message, msg } from "./message.ts";
import { parseWords } from "./parse.ts";
import type { Policy } from "./policy-schema.ts";
import { placeholder, type RunbookParam, type RunbookSpec, valueProblem } from "./runbook-schema.ts";
import { quoteArgs } from "./shell-quote.ts";
import { tokenize } from "./tokenize.ts";

export type RunbookStep = { line: string; action: Action };
export type Expanded = { runbook: RunbookSpec; values: Record<string, string>; steps: RunbookStep[] };

/** Why a runbook cannot run as asked: the answer to show, and for missing parameters which ones. */
export type RunbookProblem = { message: Message; runbook?: RunbookSpec | undefined; missing?: readonly RunbookParam[] | undefined };

const named = /^([a-z][a-z0-9_]*)=(.*)$/s;

/** How a runbook is called, for help and answers: `runbook restart-api CONTAINER [tail=50]`. */
export function runbookUsage(r: RunbookSpec): string {
  const params = r.params.map((p) => (p.default === undefined ? p.name.toUpperCase() : `[${p.name}=${p.default}]`));
  return ["runbook", r.name, ...params].join(" ");
}

/** The policy's runbooks as a list, for help and for `runbook` alone. */
export function runbookList(policy: Pick<Policy, "runbooks">): Message {
  if (!policy.runbooks.length) return msg`This policy has no runbooks.`;
  return join(policy.runbooks.map((r) => msg`• ${code(runbookUsage(r))} — ${r.summary}`));
}

/** One runbook's parameters, each with its type and help. */
export function paramList(r: RunbookSpec): Message {
  return join(
    r.params.map((p) => {
      const type = p.type === "enum" ? `one of ${p.values?.join(", ")}` : p.type;
      const dflt = p.default === undefined ? "" : `, default ${p.default}`;
      return msg`• ${code(p.name)} (${type}${dflt})${p.help ? ` — ${p.help}` : ""}`;
    }),
  );
}

/** `args` as typed (`key=value`, or values in the parameters' order) → each parameter's value, checked by type. */
export function bindArgs(r: RunbookSpec, args: readonly string[]): { ok: true; values: Record<string, string> } | RunbookProblem {
  const given = new Map<string, string>();
  const positional: string[] = [];
  const usage = msg`Usage: ${command(runbookUsage(r))}`;
  for (const arg of args) {
    const m = named.exec(arg);
    const param = m && r.params.find((p) => p.name === m[1]);
    if (!m || !param) {
      positional.push(arg);
      continue;
    }
    if (given.has(param.name)) return { runbook: r, message: msg`${code(param.name)} is given twice.\n${usage}` };
    given.set(param.name, m[2] as string);
  }
  const open = r.params.filter((p) => !given.has(p.name));
  if (positional.length > open.length) {
    const extra = positional.slice(open.length);
    return {
      runbook: r,
      message: msg`${code(r.name)} takes ${r.params.length} parameter${r.params.length === 1 ? "" : "s"}; berth does not know what ${code(extra.join(" "))} is for.\n${usage}\n${paramList(r)}`,
    };
  }
  for (const [i, value] of positional.entries()) given.set((open[i] as RunbookParam).name, value);
  const values: Record<string, string> = {};
  const missing: RunbookParam[] = [];
  for (const p of r.params) {
    const value = given.get(p.name) ?? p.default;
    if (value === undefined) {
      missing.push(p);
      continue;
    }
    const problem = valueProblem(p, value);
    if (problem) return { runbook: r, message: msg`${code(p.name)}: ${code(value)} ${problem}.\n${usage}` };
    values[p.name] = value;
  }
  if (missing.length) {
    const names = join(
      missing.map((p) => [code(p.name)]),
      ", ",
    );
    return { runbook: r, missing, message: msg`${code(r.name)} needs ${names}.\n${usage}\n${paramList(r)}` };
  }
  return { ok: true, values };
}

/** A step's words with the values in place: each `{{name}}` replaced inside the word that holds it. */
export function substitute(step: string, values: Readonly<Record<string, string>>): string[] | undefined {
  const words = tokenize(step);
  if (!words.ok) return undefined;
  return words.words.map((w) => w.replace(placeholder, (_, name: string) => values[name] ?? ""));
}

/** Kinds a step may not be: a runbook (no nesting), a decision on someone's request, a break-glass grant. */
const notAStep = new Set<Action["kind"]>(["runbook.run", "approval.decide", "grant.request", "job.cancel"]);

/** Every step of `r` as an Action, with `values` in place; or which step does not parse, and why. */
export function stepsOf(
  r: RunbookSpec,
  values: Readonly<Record<string, string>>,
  registry: Registry,
): { ok: true; steps: RunbookStep[] } | { ok: false; index: number; message: Message } {
  const steps: RunbookStep[] = [];
  for (const [index, template] of r.steps.entries()) {
    const words = substitute(template, values);
    const parsed = words ? parseWords(words, registry) : undefined;
    if (!words || !parsed?.ok) return { ok: false, index, message: parsed && !parsed.ok ? parsed.message : msg`unbalanced quote` };
    if (notAStep.has(parsed.action.kind)) return { ok: false, index, message: msg`${code(parsed.action.kind)} cannot be a runbook step` };
    steps.push({ line: quoteArgs(words), action: parsed.action });
  }
  return { ok: true, steps };
}

/** `runbook NAME ARGS` against the policy: its steps as Actions, or the answer to give (nothing has run). */
export function expandRunbook(
  policy: Pick<Policy, "runbooks">,
  action: ActionOf<"runbook.run">,
  registry: Registry,
): ({ ok: true } & Expanded) | ({ ok: false } & RunbookProblem) {
  const r = policy.runbooks.find((x) => x.name === action.name);
  if (!r) {
    const what = action.name ? msg`No runbook ${code(action.name)} in the policy. ` : [];
    return { ok: false, message: msg`${what}Runbooks:\n${runbookList(policy)}` };
  }
  const bound = bindArgs(r, action.args);
  if (!("ok" in bound)) return { ok: false, ...bound };
  const steps = stepsOf(r, bound.values, registry);
  if (!steps.ok) {
    return {
      ok: false,
      runbook: r,
      message: msg`Step ${steps.index + 1} of ${code(r.name)} (${code(r.steps[steps.index] as string)}) is not a berth command berth can run: ${steps.message}. Ask the operator to fix the policy (${code("npx berth policy check")} finds this).`,
    };
  }
  return { ok: true, runbook: r, values: bound.values, steps: steps.steps };
}
