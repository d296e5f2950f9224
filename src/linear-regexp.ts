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
  try {
    return compile(pattern, "gl");
  } catch {
    return 'cannot be matched in linear time: redact patterns may not use backreferences (\\1, \\k<name>), lookahead or lookbehind ((?=…), (?!…), (?<=…), (?<!…)), or repetition counts in the thousands; write for example [A-Za-z0-9]{20,} or [^\\s"]+ instead';
  }
}

/** Through a function, so that the flags are never a literal: a regex literal with `l` would not even parse. */
function compile(pattern: string, flags: string): RegExp {
  return new RegExp(pattern, flags);
}
