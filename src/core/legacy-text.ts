import { command, type Message, type Part, user } from "./message.ts";

/**
 * Text from modules that still write Slack text (parse.ts's and command.ts's usage errors, the engines' error
 * messages; issue 12 converts them next): their user mentions and `/berth …` commands become parts here, so the
 * renderer shows them and the configured slash command. Everything else is kept as the literal text it is.
 */
export function legacyText(reason: string): Message {
  const parts: Part[] = [];
  let rest = reason;
  const token = /<@([UW][A-Z0-9]+)>|`\/berth ([^`]+)`/;
  for (let m = token.exec(rest); m; m = token.exec(rest)) {
    if (m.index > 0) parts.push(rest.slice(0, m.index));
    parts.push(m[1] !== undefined ? user(m[1]) : command(m[2] as string));
    rest = rest.slice(m.index + m[0].length);
  }
  if (rest) parts.push(rest);
  return parts;
}
