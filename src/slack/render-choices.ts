import type { types } from "@slack/bolt";
import { fit, slackLimits } from "./limits.ts";

type KnownBlock = types.KnownBlock;

/** The action ID of every choice berth offers (buttons carry `:N` so that the IDs in one block differ). */
export const choiceActionId = "berth_choice";

/** A choice ready for Slack: its face and the value that stands for its action (see core/choices.ts). */
export type RenderedChoice = { label: string; value: string };

/** Up to this many choices are buttons, one tap each; more become one menu, which stays usable on a phone. */
export const maxChoiceButtons = 5;

/**
 * An answer with the follow-ups it offers: buttons for a few, a static select for more. `text` is mrkdwn already made
 * safe by the caller; it is the notification text as well as the section.
 */
export function renderChoices(text: string, choices: readonly RenderedChoice[]): { text: string; blocks: KnownBlock[] } {
  const section: KnownBlock = { type: "section", text: { type: "mrkdwn", text: fit(text, slackLimits.sectionChars) } };
  const shown = { text: fit(text, slackLimits.textChars) };
  if (!choices.length) return { ...shown, blocks: [section] };
  if (choices.length <= maxChoiceButtons) return { ...shown, blocks: [section, choiceButtons(choices)] };
  const options = choices.slice(0, slackLimits.selectOptions);
  return {
    ...shown,
    blocks: [
      section,
      {
        type: "actions",
        block_id: "berth_choices",
        elements: [
          {
            type: "static_select",
            action_id: `${choiceActionId}:menu`,
            placeholder: { type: "plain_text", text: `Choose (${options.length})` },
            options: options.map((c) => ({
              text: { type: "plain_text" as const, text: fit(c.label, slackLimits.optionTextChars, "…") },
              value: c.value,
            })),
          },
        ],
      },
    ],
  };
}

/** Up to five choices as one row of buttons, the first primary (a job card's follow-ups, an answer's choices). */
export function choiceButtons(choices: readonly RenderedChoice[], blockId = "berth_choices"): KnownBlock {
  return {
    type: "actions",
    block_id: blockId,
    elements: choices.slice(0, maxChoiceButtons).map((c, i) => ({
      type: "button" as const,
      action_id: `${choiceActionId}:${i}`,
      text: { type: "plain_text" as const, text: fit(c.label, slackLimits.buttonTextChars, "…") },
      value: c.value,
      ...(i === 0 && { style: "primary" as const }),
    })),
  };
}
