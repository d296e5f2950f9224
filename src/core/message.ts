/**
 * What berth says, as structured parts. The core composes messages from these; only the Slack renderer
 * (`src/slack/render.ts`) turns them into mrkdwn, emoji, mentions and the configured slash command, so the same answer
 * can be shown in Slack, the playground, a log line or an audit export without a markup language leaking into the core.
 */

/** How an answer feels: the renderer shows it as an emoji (or a colour); the core never picks the glyph. */
export type Tone =
  | "success"
  | "failure"
  | "denied"
  | "warning"
  | "waiting"
  | "expired"
  | "removed"
  | "alert"
  | "locked"
  | "healthy"
  | "unreachable"
  | "idle"
  /** A host's lifetime was extended. */
  | "extended"
  /** A step not done yet (a runbook's checklist). */
  | "todo";

export type Part =
  /** Text exactly as written: whatever it contains is shown, never interpreted as markup. */
  | string
  /** Inline code: a name, an ID, an image, a value someone typed. */
  | { readonly code: string }
  /** Emphasised text (a heading, a warning word). */
  | { readonly strong: string }
  /** A Slack user by ID: a mention in Slack, the ID elsewhere. */
  | { readonly user: string }
  /** A Slack user group by ID (an approver list names them): a group mention in Slack. */
  | { readonly usergroup: string }
  /** A Slack channel by ID. */
  | { readonly channel: string }
  /** A berth command line without the slash command (`ps -a`): the renderer adds the configured one (`/berth`, `/ops`). */
  | { readonly command: string; readonly heading?: true }
  /** Preformatted lines shown as they are, in a fixed-width font (a table: `stats`, `top`); literal like a string. */
  | { readonly pre: string }
  /** A marker for the tone of a line (shown where it is placed, e.g. a host's health in a list). */
  | { readonly tone: Tone };

/** A message: parts in order; line breaks are "\n" inside string parts. */
export type Message = readonly Part[];

export const code = (text: string): Part => ({ code: text });
export const strong = (text: string): Part => ({ strong: text });
/** Lines as a preformatted block (a table whose columns line up); place it on lines of its own. */
export const pre = (lines: readonly string[]): Part => ({ pre: lines.join("\n") });
export const user = (id: string): Part => ({ user: id });
export const channel = (id: string): Part => ({ channel: id });
export const usergroup = (id: string): Part => ({ usergroup: id });

/** Whether a message is just a mention of this user (to leave a person out of a list of others). */
export const isUser = (m: Message, id: string): boolean => m.length === 1 && typeof m[0] === "object" && "user" in m[0] && m[0].user === id;
export const command = (line: string): Part => ({ command: line });
/** A command line shown as a heading (one command's help). */
export const commandHeading = (line: string): Part => ({ command: line, heading: true });
export const tone = (t: Tone): Part => ({ tone: t });

type Value = Part | Message | number;

/**
 * A message from a template: literal text and values in order. A string value is literal text (never markup); a part
 * or a message is inserted as it is; a number is written in full.
 *   msg`${user(id)} stopped ${code(name)} on ${host}.`
 */
export function msg(strings: TemplateStringsArray, ...values: readonly Value[]): Message {
  const out: Part[] = [];
  strings.forEach((s, i) => {
    if (s) out.push(s);
    if (i < values.length) push(out, values[i] as Value);
  });
  return out;
}

function push(out: Part[], v: Value): void {
  if (typeof v === "number") out.push(String(v));
  else if (Array.isArray(v)) out.push(...(v as Message));
  else out.push(v as Part);
}

/** Messages joined by a separator (a line break unless said otherwise). */
export function join(messages: readonly Message[], separator = "\n"): Message {
  const out: Part[] = [];
  messages.forEach((m, i) => {
    if (i > 0) out.push(separator);
    out.push(...m);
  });
  return out;
}

/** A message as plain text, without markup: for logs, audit records, the CLI and test assertions. */
export function plainText(message: Message, slash = "/berth"): string {
  return message
    .map((p) => {
      if (typeof p === "string") return p;
      if ("code" in p) return p.code;
      if ("strong" in p) return p.strong;
      if ("pre" in p) return p.pre;
      if ("user" in p) return `@${p.user}`;
      if ("channel" in p) return `#${p.channel}`;
      if ("usergroup" in p) return `@${p.usergroup}`;
      if ("command" in p) return `${slash} ${p.command}`;
      return "";
    })
    .join("");
}
