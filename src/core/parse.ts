import type { Parsed, Registry } from "./command.ts";
import { code, command as commandLine, join, msg } from "./message.ts";
import { normalize } from "./normalize.ts";
import { tokenize } from "./tokenize.ts";

/** Longest command text berth accepts; anything longer is almost certainly a paste gone wrong. */
export const maxTextLength = 4000;

/** Text as Slack delivered it → a typed Action, or a message saying what was wrong and how to fix it. */
export function parse(text: string, registry: Registry): Parsed {
  if (text.length > maxTextLength) {
    return {
      ok: false,
      message: [
        `That command is ${text.length.toLocaleString("en")} characters long; berth accepts up to ${maxTextLength.toLocaleString("en")}. Shorten it, or put long scripts in an image.`,
      ],
    };
  }
  const tokens = tokenize(normalize(text));
  if (!tokens.ok) return { ok: false, message: [tokens.message] };
  return parseWords(tokens.words, registry);
}

/** Words already split (a command line as berth corrected it, say) → a typed Action, or why not. */
export function parseWords(words: readonly string[], registry: Registry): Parsed {
  const [first, ...rest] = words;
  if (first === undefined) {
    return { ok: false, message: msg`Tell berth what to do, for example ${commandLine("ps")} or ${commandLine("help")}.` };
  }
  // Phones capitalise the first word ("Logs -f api").
  const name = first.toLowerCase();
  const command = registry.find(name);
  if (!command) {
    const close = registry.suggest(name);
    const hint = close.length
      ? msg` Did you mean ${join(
          close.map((c) => [code(c)]),
          " or ",
        )}?`
      : [];
    return {
      ok: false,
      message: msg`berth has no command ${code(first)}.${hint} Commands: ${join(
        registry.commands.map((c) => [code(c.name)]),
        ", ",
      )}.`,
      usage: msg`Usage: ${commandLine("help [COMMAND]")}`,
      ...(close.length && { fixes: close.map((c) => [c, ...rest]) }),
    };
  }
  return command.parse(rest);
}
