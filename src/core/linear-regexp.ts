import { setFlagsFromString } from "node:v8";

/**
 * Policy `redact:` patterns are written by the operator but run on output a container controls, so a pattern that
 * backtracks (`(a+)+b`, or just `\S+x` on a long run without an x) would let a container stall berth. They are
 * compiled for V8's linear-time regular expression engine (the `l` flag), which matches in time proportional to the
 * line whatever the pattern. The engine is behind a V8 flag; set here rather than on the command line, so every way of
 * starting berth (npm start, the image, the tests) gets it. Without backtracking it cannot do backreferences,
 * lookahead or lookbehind, nor the `i` flag, and it refuses counted repetition that would make its automaton huge.
 */
setFlagsFromString("--enable-experimental-regexp-engine");

/** Whether this Node has the linear engine (Node 24 has; a later one may drop the flag: then redact patterns fail). */
export const linearEngine = (() => {
  try {
    return compile("a", "l").flags.includes("l");
  } catch {
    return false;
  }
})();

/** The pattern compiled for the linear engine (global), or why it cannot be, in words for the operator. */
export function linearRegExp(pattern: string): RegExp | string {
  try {
    compile(pattern, "g");
  } catch (error) {
    return `not a valid regular expression (${(error as Error).message.replace(/^Invalid regular expression: /, "")})`;
  }
  if (!linearEngine) {
    return "this Node.js has no linear-time regular expression engine (berth needs Node 24's --enable-experimental-regexp-engine)";
  }
  const split = splitCounts(pattern);
  if (typeof split !== "string") {
    try {
      return compile(split.source, "gl");
    } catch {
      // described below
    }
  }
  return `cannot be matched in linear time: redact patterns may not use backreferences (\\1, \\k<name>), lookahead or lookbehind ((?=…), (?!…), (?<=…), (?<!…)), repetition counts above ${maxCount}, or counts above ${engineCount} on a group; write for example [A-Za-z0-9]{20,} or [^\\s"]+ instead`;
}

/** The most copies the linear engine makes for one counted repetition (V8's kMaxReplicationFactor). */
const engineCount = 16;
/** Counts above this make the automaton, and so the time per character, too big: `{20,}` says the same as `{20,5000}`. */
const maxCount = 256;
const count = /^\{(\d+)(?:(,)(\d*))?\}(\??)/;

/**
 * `[A-Za-z0-9]{24}` as `[A-Za-z0-9]{16}[A-Za-z0-9]{8}`: the engine refuses a count above 16, and for a single character
 * (a class, an escape, `.` or a literal) the split matches exactly the same. Counts on groups are left as written.
 */
function splitCounts(pattern: string): { source: string } | string {
  let out = "";
  for (let i = 0; i < pattern.length; ) {
    const start = i;
    const c = pattern[i];
    if (c === "\\") i += escapeLength(pattern, i);
    else if (c === "[") {
      // The first ] closes the class, even right after [ or [^ (`[]` matches nothing, `[^]` anything).
      for (i += pattern[i + 1] === "^" ? 2 : 1; i < pattern.length && pattern[i] !== "]"; i += pattern[i] === "\\" ? 2 : 1);
      i++;
    } else i++;
    const atom = pattern.slice(start, i);
    const q = "()|".includes(c ?? "") ? null : count.exec(pattern.slice(i));
    if (!q) {
      out += atom;
      continue;
    }
    const min = Number(q[1]);
    const max = q[2] ? (q[3] ? Number(q[3]) : Number.POSITIVE_INFINITY) : min;
    if (min > maxCount || (Number.isFinite(max) && max > maxCount)) return `count above ${maxCount}`;
    out += Number.isFinite(max) && max <= engineCount ? atom + q[0] : repeat(atom, min, max, q[4] ?? "");
    i += q[0].length;
  }
  return { source: out };
}

/** `\\x41`, `\\u0041`, `\\cM` and `\\12` are one character each, like `\\d` or `\\.`. */
function escapeLength(pattern: string, at: number): number {
  const rest = pattern.slice(at + 1);
  const long = /^(?:x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|c[A-Za-z]|\d+)/.exec(rest);
  return 1 + (long ? long[0].length : 1);
}

function repeat(atom: string, min: number, max: number, lazy: string): string {
  const chunks = (n: number, q: (k: number) => string) => {
    let s = "";
    for (let left = n; left > 0; left -= engineCount) s += `${atom}${q(Math.min(left, engineCount))}${lazy}`;
    return s;
  };
  const fixed = chunks(min, (k) => `{${k}}`);
  return fixed + (Number.isFinite(max) ? chunks(max - min, (k) => `{0,${k}}`) : `${atom}*${lazy}`);
}

/** Through a function, so that the flags are never a literal: a regex literal with `l` would not even parse. */
function compile(pattern: string, flags: string): RegExp {
  return new RegExp(pattern, flags);
}
