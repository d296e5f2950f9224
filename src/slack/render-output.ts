import type { types } from "@slack/bolt";
import { codeBlock, fit, slackLimits } from "./limits.ts";

/** One thread reply of a job's output, as chat.postMessage takes it. */
export type OutputReply = { text: string; blocks: types.KnownBlock[] };

/**
 * Lines of output as one thread reply: a `rich_text_preformatted` block, which Slack's iOS and Android apps show as
 * a code block (a ``` fence in mrkdwn is cut off or garbled there: docs/reference/slack-platform.md §5.2), and the
 * same lines as a code fence in `text`, which notifications and clients without blocks show.
 *
 * The fence is mrkdwn, so its lines are escaped (`&`, `<`, `>`: no mention or link can come out of output). Inside a
 * rich_text `text` element nothing is parsed: mentions and links exist only as elements of their own (`user`,
 * `broadcast`, `link`), so `<!channel>` or `&amp;` there is shown exactly as written and the lines go in unescaped;
 * escaping them would show `&lt;` to the reader. Redaction happened before, on the line itself.
 */
export function renderOutput(lines: readonly string[], maxChars: number = slackLimits.outputReplyChars): OutputReply {
  // The lines are cut as the fence cuts them; an empty reply would be an empty `text` element, which says nothing.
  const body = fit(lines.join("\n"), Math.min(maxChars, slackLimits.blockTextChars), "\n…") || " ";
  return {
    text: codeBlock(lines, maxChars + 8),
    blocks: [{ type: "rich_text", elements: [{ type: "rich_text_preformatted", elements: [{ type: "text", text: body }] }] }],
  };
}
