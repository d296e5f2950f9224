/**
 * Counts the steps of a plain backtracking matcher (ECMAScript semantics) scanning a text for every match of a
 * pattern, as String.prototype.replace does. V8's engine does the same search with optimizations that only skip work,
 * so a step count that grows faster than the text means the pattern is super-linear in V8 too; it is a count, not a
 * timing, so it says the same on a busy machine. Covers the syntax berth's built-in patterns use: characters, escapes,
 * classes, `.`, groups (capturing, named, non-capturing), alternation, greedy and lazy quantifiers, `^`, `$`, `\b`,
 * lookahead and fixed-width lookbehind; the `i` flag. Anything else throws.
 */

type Test = (c: number) => boolean;
type Node =
  | { t: "char"; test: Test }
  | { t: "seq"; items: Node[] }
  | { t: "alt"; alts: Node[] }
  | { t: "rep"; body: Node; min: number; max: number; lazy: boolean }
  | { t: "bol" }
  | { t: "eol" }
  | { t: "word"; neg: boolean }
  | { t: "look"; body: Node; behind: boolean; neg: boolean };

const code = (s: string) => s.charCodeAt(0);
const isWord: Test = (c) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isDigit: Test = (c) => c >= 48 && c <= 57;
const isSpace: Test = (c) => /\s/.test(String.fromCharCode(c));
const isLineEnd: Test = (c) => c === 10 || c === 13 || c === 0x2028 || c === 0x2029;
const not =
  (t: Test): Test =>
  (c) =>
    !t(c);

function parse(source: string, ignoreCase: boolean): Node {
  let pos = 0;
  const peek = () => source[pos];
  const fold =
    (t: Test): Test =>
    (c) =>
      t(c) || (ignoreCase && (t(code(String.fromCharCode(c).toLowerCase())) || t(code(String.fromCharCode(c).toUpperCase()))));
  const hex = (digits: number) => {
    const value = Number.parseInt(source.slice(pos, pos + digits), 16);
    if (Number.isNaN(value)) throw new Error(`bad escape at ${pos} in ${source}`);
    pos += digits;
    return value;
  };
  /** After a backslash: a class test, or a single character. */
  const escaped = (inClass: boolean): Test | number => {
    const c = source[pos++];
    switch (c) {
      case "d":
        return isDigit;
      case "D":
        return not(isDigit);
      case "w":
        return isWord;
      case "W":
        return not(isWord);
      case "s":
        return isSpace;
      case "S":
        return not(isSpace);
      case "u":
        return hex(4);
      case "x":
        return hex(2);
      case "t":
        return 9;
      case "n":
        return 10;
      case "r":
        return 13;
      default:
        if (c === undefined || (!inClass && /[0-9kpP]/.test(c)) || /[a-zA-Z]/.test(c)) throw new Error(`unsupported \\${c} in ${source}`);
        return code(c);
    }
  };
  const charClass = (): Test => {
    const negated = peek() === "^";
    if (negated) pos++;
    const parts: Test[] = [];
    while (peek() !== "]") {
      if (pos >= source.length) throw new Error(`unclosed class in ${source}`);
      const one = (): Test | number => {
        if (source[pos] !== "\\") return code(source[pos++] as string);
        pos++;
        return escaped(true);
      };
      const from = one();
      if (typeof from === "number" && peek() === "-" && source[pos + 1] !== "]") {
        pos++;
        const to = one();
        if (typeof to !== "number") throw new Error(`bad range in ${source}`);
        parts.push((c) => c >= from && c <= to);
      } else parts.push(typeof from === "number" ? (c) => c === from : from);
    }
    pos++;
    const t = fold((c) => parts.some((p) => p(c)));
    return negated ? not(t) : t;
  };
  const atom = (): Node => {
    const c = source[pos++] as string;
    if (c === "(") {
      let look: { behind: boolean; neg: boolean } | undefined;
      if (source.startsWith("?:", pos)) pos += 2;
      else if (source.startsWith("?=", pos) || source.startsWith("?!", pos)) {
        look = { behind: false, neg: source[pos + 1] === "!" };
        pos += 2;
      } else if (source.startsWith("?<=", pos) || source.startsWith("?<!", pos)) {
        look = { behind: true, neg: source[pos + 2] === "!" };
        pos += 3;
      } else if (source.startsWith("?<", pos)) pos = source.indexOf(">", pos) + 1;
      else if (peek() === "?") throw new Error(`unsupported group in ${source}`);
      const body = alternation();
      if (source[pos++] !== ")") throw new Error(`unclosed group in ${source}`);
      return look ? { t: "look", body, ...look } : body;
    }
    if (c === "[") return { t: "char", test: charClass() };
    if (c === ".") return { t: "char", test: not(isLineEnd) };
    if (c === "^") return { t: "bol" };
    if (c === "$") return { t: "eol" };
    if (c === "\\") {
      if (peek() === "b" || peek() === "B") return { t: "word", neg: source[pos++] === "B" };
      const e = escaped(false);
      return { t: "char", test: typeof e === "number" ? fold((x) => x === e) : e };
    }
    if ("*+?{".includes(c)) throw new Error(`nothing to repeat at ${pos} in ${source}`);
    return { t: "char", test: fold((x) => x === code(c)) };
  };
  const quantified = (): Node => {
    const body = atom();
    let min: number;
    let max: number;
    const q = peek();
    if (q === "*") [min, max] = [0, Infinity];
    else if (q === "+") [min, max] = [1, Infinity];
    else if (q === "?") [min, max] = [0, 1];
    else if (q === "{" && /^\{\d+(,\d*)?\}/.test(source.slice(pos))) {
      const [, lo, comma, hi] = /^\{(\d+)(,)?(\d*)\}/.exec(source.slice(pos)) as RegExpExecArray;
      min = Number(lo);
      max = comma ? (hi ? Number(hi) : Infinity) : min;
      pos = source.indexOf("}", pos);
    } else return body;
    pos++;
    const lazy = peek() === "?";
    if (lazy) pos++;
    return { t: "rep", body, min, max, lazy };
  };
  const sequence = (): Node => {
    const items: Node[] = [];
    while (pos < source.length && peek() !== "|" && peek() !== ")") items.push(quantified());
    return { t: "seq", items };
  };
  const alternation = (): Node => {
    const alts = [sequence()];
    while (peek() === "|") {
      pos++;
      alts.push(sequence());
    }
    return alts.length === 1 ? (alts[0] as Node) : { t: "alt", alts };
  };
  const root = alternation();
  if (pos !== source.length) throw new Error(`unexpected ${peek()} at ${pos} in ${source}`);
  return root;
}

function width(node: Node): number {
  switch (node.t) {
    case "char":
      return 1;
    case "seq":
      return node.items.reduce((sum, n) => sum + width(n), 0);
    case "alt": {
      const widths = new Set(node.alts.map(width));
      if (widths.size !== 1) throw new Error("lookbehind of varying width");
      return [...widths][0] as number;
    }
    case "rep":
      if (node.min !== node.max) throw new Error("lookbehind of varying width");
      return node.min * width(node.body);
    default:
      return 0;
  }
}

/** Steps a backtracking matcher takes to find every match of `pattern` in `text`, scanning left to right. */
export function regexSteps(pattern: RegExp, text: string): number {
  const root = parse(pattern.source, pattern.flags.includes("i"));
  const n = text.length;
  const at = (i: number) => text.charCodeAt(i);
  let steps = 0;
  const match = (node: Node, i: number, k: (j: number) => boolean): boolean => {
    steps++;
    switch (node.t) {
      case "char":
        return i < n && node.test(at(i)) && k(i + 1);
      case "seq": {
        const next = (index: number, j: number): boolean =>
          index === node.items.length ? k(j) : match(node.items[index] as Node, j, (e) => next(index + 1, e));
        return next(0, i);
      }
      case "alt":
        return node.alts.some((alt) => match(alt, i, k));
      case "bol":
        return i === 0 && k(i);
      case "eol":
        return i === n && k(i);
      case "word":
        return ((i > 0 && isWord(at(i - 1))) !== (i < n && isWord(at(i)))) !== node.neg && k(i);
      case "look": {
        const w = node.behind ? width(node.body) : 0;
        const found = node.behind ? i - w >= 0 && match(node.body, i - w, (e) => e === i) : match(node.body, i, () => true);
        return found !== node.neg && k(i);
      }
      case "rep": {
        const { body, min, max, lazy } = node;
        if (body.t === "char") {
          // One character at a time, as engines loop over a class: no recursion, so long runs do not overflow the stack.
          if (lazy) {
            for (let e = i; e - i <= max; e++) {
              steps++;
              if (e - i >= min && k(e)) return true;
              if (e >= n || !body.test(at(e))) return false;
            }
            return false;
          }
          let end = i;
          while (end - i < max && end < n && body.test(at(end))) {
            end++;
            steps++;
          }
          for (let e = end; e - i >= min; e--) {
            steps++;
            if (k(e)) return true;
          }
          return false;
        }
        const loop = (count: number, j: number): boolean => {
          steps++;
          const more = () => count < max && match(body, j, (e) => e !== j && loop(count + 1, e));
          if (lazy) return (count >= min && k(j)) || more();
          return more() || (count >= min && k(j));
        };
        return loop(0, i);
      }
    }
  };
  for (let start = 0; start <= n; ) {
    let end = -1;
    steps++;
    if (
      match(root, start, (e) => {
        end = e;
        return true;
      })
    )
      start = end > start ? end : start + 1;
    else start++;
  }
  return steps;
}
