import type { LogLine } from "../engines/ports.ts";
import type { Action } from "./action.ts";

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escape sequences start with ESC by definition.
export const ansi = /\u001B(?:\[[0-?]*[ -/]*[@-~]|\][^\u0007\u001B]*(?:\u0007|\u001B\\)|[@-Z\\-_])/g;

/**
 * Secrets that look the same wherever they appear; policy `redact:` patterns extend this list. A named group `s` is
 * the part that is masked (the key or scheme before it stays readable), else the whole match is.
 *
 * They run on output a container controls, so each is linear-time by construction, as test/redact-linear.test.ts
 * checks by counting a backtracking matcher's steps: every unbounded run that can still fail after it starts where
 * no earlier attempt's run could have covered it (a lookbehind excludes the run's own characters). A start in the
 * middle of a run would otherwise rescan the rest of the run once per character: quadratic on a 16 KiB line.
 */
export const builtinPatterns: readonly RegExp[] = [
  /\bxox[abposr]-[A-Za-z0-9-]{10,}/g, // Slack tokens
  /\bxapp-\d-[A-Za-z0-9-]{10,}/g, // Slack app-level tokens
  /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, // AWS access key ids
  /\bgh[pousr]_[A-Za-z0-9]{30,}/g, // GitHub tokens
  /\bgithub_pat_[A-Za-z0-9_]{22,}/g, // GitHub fine-grained tokens
  /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, // JWTs
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g,
  // Authorization headers, in any form (curl -v, JSON, env): the scheme stays, the credentials go.
  /\bAuthorization["']?\s*[=:]\s*["']?(?:[A-Za-z][A-Za-z0-9-]*\s+)?(?<s>[^\s"']+)/dgi,
  /\b[Bb]earer\s+(?<s>[A-Za-z0-9._~+/-]{8,}=*)/dg, // bearer tokens anywhere (RFC 6750 syntax)
  /(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*:\/\/[^:/\s@]+:(?<s>[^@\s/]+)@/dgi, // credentials in connection strings
  /(?:AccountKey|SharedAccessKey|Password)=(?<s>[^;\s]+)/dgi, // Azure-style connection strings
];

/**
 * key=value, key: value, "key": "value" (JSON): the key, up to where its value starts. Where the value ends is found
 * by `valueEnd`, not by the pattern: a quoted value's closing quote may be far away or missing, and a pattern looking
 * for it from every key would rescan the rest of the line once per key.
 */
export const secretKey =
  /(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|secret[_-]?key)["']?\s*[=:]\s*/gi;
const unquoted = /[^\s,;&]+/y;

const mask = "••••";
const pemBegin = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
const pemEnd = /-----END [A-Z ]*PRIVATE KEY-----/;

/**
 * A piece cut from a longer line keeps back its last `holdChars` for the next piece, so a secret straddling the cut
 * is seen whole; a secret found across the hold point is held back whole unless it starts more than `maxHoldChars`
 * before the end (then its rest is masked in the next piece without being looked at again).
 */
const holdChars = 1024;
const maxHoldChars = 4096;

export type Redactor = ((text: string) => string) & {
  /** One output line, or one piece of a line cut for length (`continued`), of one stream. */
  line(line: LogLine): string;
};

type Range = readonly [start: number, end: number];

/** Strips ANSI codes and masks known secret shapes plus the given literal values (e.g. `-e` values of this run). */
export function createRedactor(values: readonly string[] = [], extra: readonly RegExp[] = []): Redactor {
  const all = [...builtinPatterns, ...extra];
  const literals = values.filter((v) => v.length >= 4);
  // Output arrives a line at a time, so a PEM key's body lines are masked until its END line.
  let inKey = false;
  const carry = { stdout: { text: "", masked: 0 }, stderr: { text: "", masked: 0 } };

  /** The ranges to mask, merged; `masked` leading characters are masked whatever they are. */
  const ranges = (text: string, masked = 0): Range[] => {
    const found: Range[] = masked > 0 ? [[0, masked]] : [];
    for (const v of literals) {
      for (let at = text.indexOf(v); at >= 0; at = text.indexOf(v, at + v.length)) found.push([at, at + v.length]);
    }
    const closing = quoteIndex(text);
    secretKey.lastIndex = 0;
    for (let m = secretKey.exec(text); m; m = secretKey.exec(text)) {
      const start = m.index + m[0].length;
      const end = valueEnd(text, start, closing);
      if (end > start) found.push([start, end]);
      // A value can hold something that looks like a key (password=token=x): it is masked already.
      secretKey.lastIndex = Math.max(secretKey.lastIndex, end);
    }
    // exec rather than matchAll, which copies the pattern on every call: this runs for every line of output.
    for (const pattern of all) {
      pattern.lastIndex = 0;
      for (let m = pattern.exec(text); m; m = pattern.exec(text)) {
        if (m[0].length === 0) pattern.lastIndex++;
        else found.push(m.indices?.groups?.s ?? [m.index, m.index + m[0].length]);
      }
    }
    return merge(found);
  };

  /** The text to show, with the state of a PEM key carried from line to line. */
  const whole = (raw: string, masked = 0): { text: string; ranges: Range[] } | undefined => {
    const text = raw.replace(ansi, "");
    if (inKey) {
      if (pemEnd.test(text)) inKey = false;
      return undefined;
    }
    if (pemBegin.test(text) && !pemEnd.test(text)) inKey = true;
    return { text, ranges: ranges(text, masked) };
  };

  const redact = (raw: string): string => {
    const r = whole(raw);
    return r ? apply(r.text, r.ranges, r.text.length) : mask;
  };

  return Object.assign(redact, {
    line(line: LogLine): string {
      const held = carry[line.stream];
      const forced = held.masked;
      const r = whole(held.text + line.text, forced);
      held.text = "";
      held.masked = 0;
      if (!r) return mask;
      if (!line.continued) return apply(r.text, r.ranges, r.text.length);
      const { text } = r;
      let cut = Math.max(0, text.length - holdChars);
      const across = r.ranges.find(([start, end]) => start < cut && end > cut);
      // Held back whole it is looked at again with what follows; cut, its rest is masked blind.
      let masked = 0;
      if (across && across[0] >= text.length - maxHoldChars) cut = across[0];
      else if (across) masked = across[1] - cut;
      if (cut > 0 && isHighSurrogate(text.charCodeAt(cut - 1))) {
        cut--;
        if (masked) masked++;
      }
      held.text = text.slice(cut);
      held.masked = Math.max(masked, forced - cut);
      return apply(text, r.ranges, cut);
    },
  });
}

type QuoteIndex = (quote: number, from: number) => number;

/**
 * Where the closing quote after `from` is (-1: none), from one backward pass over the text made on first use: linear
 * however many quoted values the line has. A `"` after an odd number of backslashes is escaped (JSON).
 */
function quoteIndex(text: string): QuoteIndex {
  const next = new Map<number, Int32Array>();
  return (quote, from) => {
    let index = next.get(quote);
    if (!index) {
      index = new Int32Array(text.length + 1).fill(-1);
      for (let i = text.length - 1, at = -1; i >= 0; i--) {
        if (text.charCodeAt(i) === quote && (quote !== 34 || !escaped(text, i))) at = i;
        index[i] = at;
      }
      next.set(quote, index);
    }
    return index[from] ?? -1;
  };
}

function escaped(text: string, at: number): boolean {
  let n = 0;
  while (at - n - 1 >= 0 && text.charCodeAt(at - n - 1) === 92) n++;
  return n % 2 === 1;
}

/** The end of the value starting at `at`: its closing quote, else the first whitespace, `,`, `;` or `&`. */
function valueEnd(text: string, at: number, closing: QuoteIndex): number {
  const first = text.charCodeAt(at);
  if (first === 34 || first === 39) {
    const end = closing(first, at + 1);
    if (end >= 0) return end + 1;
  }
  unquoted.lastIndex = at;
  return unquoted.test(text) ? unquoted.lastIndex : at;
}

/** Sorted, with overlapping and touching ranges joined (two masks side by side read as one). */
function merge(found: Range[]): Range[] {
  if (found.length < 2) return found;
  found.sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [start, end] of found) {
    const last = out[out.length - 1];
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else out.push([start, end]);
  }
  return out;
}

/** `text` up to `until`, each range masked. */
function apply(text: string, ranges: readonly Range[], until: number): string {
  if (!ranges.length) return until === text.length ? text : text.slice(0, until);
  let out = "";
  let at = 0;
  for (const [start, end] of ranges) {
    if (start >= until) break;
    out += `${text.slice(at, start)}${mask}`;
    at = Math.min(end, until);
  }
  return out + text.slice(at, until);
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;

/**
 * The action as it may be stored or shown: environment values never leave the request that carried them. A redactor
 * per action: one shared by all would carry an unended private key from one command line into the next actions'.
 */
export function redactAction(action: Action): Action {
  if (action.kind !== "container.exec" && action.kind !== "container.run") return action;
  const redact = createRedactor();
  const cmd = action.cmd.map((arg) => redact(arg));
  if (action.kind === "container.exec") return { ...action, cmd };
  return { ...action, cmd, env: action.env.map((e) => ({ name: e.name, value: mask })) };
}
