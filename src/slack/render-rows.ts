import type { types } from "@slack/bolt";
import { fit, slackLimits } from "./limits.ts";
import { choiceActionId, type RenderedChoice } from "./render-choices.ts";

type KnownBlock = types.KnownBlock;

/** A line of a list answer, mrkdwn already made safe, with its tap's face and value (see core/choices.ts). */
export type RenderedRow = { text: string; choice?: RenderedChoice | undefined };

/**
 * A heading and lines, each line a section with its own button beside it (`changes`: a Logs beside each container's
 * line). The buttons use the choice action ID, so a tap runs its action through the pipeline as the person who tapped.
 * One block for the heading, one per line: the caller keeps to fewer than Slack's 50 blocks; the total text stays
 * under Slack's limit for all blocks together, and lines past it are left out (the `text` fallback says how many).
 */
export function renderRows(heading: string, rows: readonly RenderedRow[]): { text: string; blocks: KnownBlock[] } {
  const blocks: KnownBlock[] = [{ type: "section", text: { type: "mrkdwn", text: fit(heading, slackLimits.sectionChars) } }];
  let used = heading.length;
  let shown = 0;
  for (const [i, row] of rows.slice(0, slackLimits.blocksPerMessage - 2).entries()) {
    const text = fit(row.text, slackLimits.sectionChars);
    if (used + text.length > slackLimits.blockTextChars / 2) break;
    used += text.length;
    shown++;
    blocks.push({
      type: "section",
      text: { type: "mrkdwn", text },
      ...(row.choice && {
        accessory: {
          type: "button" as const,
          action_id: `${choiceActionId}:${i}`,
          text: { type: "plain_text" as const, text: fit(row.choice.label, slackLimits.buttonTextChars, "…") },
          value: row.choice.value,
        },
      }),
    });
  }
  const left = rows.length - shown;
  if (left > 0) blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: `…and ${left} more line${left === 1 ? "" : "s"}` }] });
  // The notification and fallback text: the heading and as many lines as fit.
  const text = fit([heading, ...rows.map((r) => r.text)].join("\n"), slackLimits.textChars);
  return { text, blocks };
}
