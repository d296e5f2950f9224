import type { Action } from "./action.ts";

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escape sequences start with ESC by definition.
const ansi = /\u001B(?:\[[0-?]*[ -/]*[@-~]|\][^\u0007\u001B]*(?:\u0007|\u001B\\)|[@-Z\\-_])/g;

/** Secrets that look the same wherever they appear. Issue-level policy patterns extend this list. */
const mask = "••••";
const patterns: readonly (readonly [RegExp, string])[] = [
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}/g, mask], // Slack tokens
  [/\bxapp-\d-[A-Za-z0-9-]{10,}/g, mask], // Slack app-level tokens
  [/\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, mask], // AWS access key ids
  [/\bgh[pousr]_[A-Za-z0-9]{30,}\b/g, mask], // GitHub tokens
  [/\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, mask], // JWTs
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g, mask],
  [/((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key)\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&]+)/gi, `$1${mask}`],
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^:/\s@]+:)[^@\s/]+@/gi, `$1${mask}@`], // credentials in connection strings
  [/((?:AccountKey|SharedAccessKey|Password)=)[^;\s]+/gi, `$1${mask}`], // Azure-style connection strings
];

export type Redactor = (text: string) => string;

/** Strips ANSI codes and masks known secret shapes plus the given literal values (e.g. `-e` values of this run). */
export function createRedactor(values: readonly string[] = [], extra: readonly RegExp[] = []): Redactor {
  const all = [...patterns, ...extra.map((p) => [p, mask] as const)];
  const literals = values.filter((v) => v.length >= 4).sort((a, b) => b.length - a.length);
  // Output arrives a line at a time, so a PEM key's body lines are masked until its END line.
  let inKey = false;
  return (text) => {
    let out = text.replace(ansi, "");
    if (inKey) {
      if (/-----END [A-Z ]*PRIVATE KEY-----/.test(out)) inKey = false;
      return mask;
    }
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(out) && !/-----END [A-Z ]*PRIVATE KEY-----/.test(out)) inKey = true;
    for (const v of literals) out = out.split(v).join(mask);
    for (const [pattern, replacement] of all) out = out.replace(pattern, replacement);
    return out;
  };
}

/** The action as it may be stored or shown: environment values never leave the request that carried them. */
export function redactAction(action: Action): Action {
  if (action.kind === "container.exec") return { ...action, cmd: action.cmd.map(builtin) };
  if (action.kind !== "container.run") return action;
  return { ...action, cmd: action.cmd.map(builtin), env: action.env.map((e) => ({ name: e.name, value: mask })) };
}

const builtin = createRedactor();
