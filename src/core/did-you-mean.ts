import type { Action } from "./action.ts";
import type { Parsed, Registry } from "./command.ts";
import type { Choice } from "./events.ts";
import { parseWords } from "./parse.ts";
import { quoteArgs } from "./shell-quote.ts";

/** A command line as berth guesses it was meant, and the action it parses to. */
export type Correction = { words: readonly string[]; action: Action };

/** How many typos in a row berth corrects (`lgos --folow api` is two). */
const maxDepth = 3;

/**
 * The corrections of a failed parse that parse as they stand, best first: each fix the parser named is tried, and a
 * fix that still fails on a further typo is corrected again, a few times at most. None when nothing close parses.
 */
export function corrections(parsed: Parsed, registry: Registry, depth = maxDepth): Correction[] {
  if (parsed.ok || !parsed.fixes || depth === 0) return [];
  const found = parsed.fixes.flatMap((words): Correction[] => {
    const again = parseWords(words, registry);
    return again.ok ? [{ words, action: again.action }] : corrections(again, registry, depth - 1);
  });
  const byLine = new Map(found.map((c) => [c.words.join("\u0000"), c]));
  return [...byLine.values()];
}

/** What a person is shown of a command line: shell-quoted, with `-e NAME=value` values hidden as they are on cards. */
export function shownLine(words: readonly string[]): string {
  return words
    .map((w, i) => {
      const prev = words[i - 1];
      // Shown as is, not quoted: it is not meant to be copied, and "…" would otherwise be quoted.
      if ((prev === "-e" || prev === "--env") && /^[A-Za-z_][A-Za-z0-9_]*=./s.test(w)) return w.replace(/=.*/s, "=…");
      const inline = /^(--env=|-e)([A-Za-z_][A-Za-z0-9_]*)=./s.exec(w);
      return inline ? `${inline[1]}${inline[2]}=…` : quoteArgs([w]);
    })
    .join(" ");
}

/** The corrections as taps: "Run: logs -f api". */
export function correctionChoices(parsed: Parsed, registry: Registry): Choice[] {
  return corrections(parsed, registry)
    .slice(0, 3)
    .map((c) => ({ label: `Run: ${shownLine(c.words)}`, action: c.action }));
}
