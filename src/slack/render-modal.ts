/**
 * The run modal's Block Kit (docs/reference/slack-platform.md §5.3): one input block per field of run-form.ts, sized to
 * Slack's modal limits (title, submit and close ≤ 24 characters, ≤ 100 options per select, option text ≤ 75).
 */
import type { types } from "@slack/bolt";
import type { RunChoices } from "../core/run-choices.ts";
import { fit } from "./limits.ts";
import { type RunFields, type RunMetadata, runBlocks, runModalIds, valueActionId } from "./run-form.ts";

export type RunModalInput = {
  choices: RunChoices;
  /** Where the form was opened; absent (a global shortcut), the form asks for the channel. */
  metadata: RunMetadata;
  prefill?: Partial<RunFields> | undefined;
  slash: string;
};

const plain = (text: string) => ({ type: "plain_text" as const, text });
const option = (value: string) => ({ text: plain(fit(value, 75)), value });
const maxOptions = 100;
/** Slack refuses an option value over 150 characters. */
const maxOptionValue = 150;

export function renderRunModal(input: RunModalInput): types.ModalView {
  const { choices, metadata, prefill = {} } = input;
  const blocks: types.KnownBlock[] = [];
  if (metadata.channelId === undefined) {
    blocks.push({
      type: "input",
      block_id: runBlocks.channel,
      label: plain("Channel"),
      hint: plain("The job's card and its output go there; berth must be a member."),
      element: {
        type: "conversations_select",
        action_id: valueActionId,
        default_to_current_conversation: true,
        // No response_url_enabled: answers to the submitter go by chat.postEphemeral in the chosen channel, where the
        // job's card goes too, so a channel berth cannot post in fails the same way for both.
        filter: { include: ["public", "private"], exclude_bot_users: true },
      },
    });
  }
  const images = choices.images.filter((i) => i.length <= maxOptionValue).slice(0, maxOptions);
  const picked = prefill.image !== undefined && images.includes(prefill.image) ? prefill.image : undefined;
  const typeable = choices.patterns.length > 0 || images.length === 0;
  if (images.length > 0) {
    blocks.push({
      type: "input",
      block_id: runBlocks.image,
      label: plain("Image"),
      optional: typeable,
      element: {
        type: "static_select",
        action_id: valueActionId,
        placeholder: plain("Pick an allowed image"),
        options: images.map(option),
        ...(picked !== undefined && { initial_option: option(picked) }),
      },
    });
  }
  if (typeable) {
    const allowed = choices.patterns.length > 0 ? `Allowed: ${choices.patterns.join(", ")}` : "berth's allow-list has no image yet.";
    blocks.push({
      type: "input",
      block_id: runBlocks.imageRef,
      label: plain(images.length > 0 ? "Or another image" : "Image"),
      optional: images.length > 0,
      hint: plain(fit(`${allowed}${images.length > 0 ? " (this wins over the list)" : ""}`, 2000)),
      element: {
        type: "plain_text_input",
        action_id: valueActionId,
        placeholder: plain("registry/name:tag"),
        ...(prefill.image !== undefined && picked === undefined && { initial_value: prefill.image }),
      },
    });
  }
  const hosts = choices.hosts.slice(0, maxOptions);
  const initialHost = prefill.host ?? choices.defaultHost;
  if (hosts.length > 0) {
    blocks.push({
      type: "input",
      block_id: runBlocks.host,
      label: plain("Host"),
      optional: true,
      hint: plain(metadata.channelId === undefined ? "Empty: the channel's host." : "Empty: this channel's host."),
      element: {
        type: "static_select",
        action_id: valueActionId,
        placeholder: plain("Pick a host"),
        options: hosts.map(option),
        ...(initialHost !== undefined && hosts.includes(initialHost) && { initial_option: option(initialHost) }),
      },
    });
  } else {
    blocks.push({
      type: "context",
      elements: [
        { type: "mrkdwn", text: `No host lets you run containers in this channel; \`${input.slash} whoami\` shows what you may do.` },
      ],
    });
  }
  blocks.push(
    {
      type: "input",
      block_id: runBlocks.command,
      label: plain("Command"),
      optional: true,
      hint: plain("Quoted like a shell line. Empty: the image's own command."),
      element: {
        type: "plain_text_input",
        action_id: valueActionId,
        placeholder: plain("echo hello"),
        ...(prefill.command && { initial_value: prefill.command }),
      },
    },
    {
      type: "input",
      block_id: runBlocks.env,
      label: plain("Environment"),
      optional: true,
      hint: plain("One NAME=value per line. Values stay out of berth's logs, the audit log and the card."),
      element: {
        type: "plain_text_input",
        action_id: valueActionId,
        multiline: true,
        placeholder: plain("LEVEL=debug"),
        ...(prefill.env?.length && { initial_value: prefill.env.join("\n") }),
      },
    },
    {
      type: "input",
      block_id: runBlocks.detach,
      label: plain("Detach"),
      optional: true,
      element: {
        type: "checkboxes",
        action_id: valueActionId,
        options: [{ text: plain("Start it and return; don't stream its output"), value: "detach" }],
        ...(prefill.detach && { initial_options: [{ text: plain("Start it and return; don't stream its output"), value: "detach" }] }),
      },
    },
    {
      type: "input",
      block_id: runBlocks.timeout,
      label: plain("Timeout"),
      optional: true,
      hint: plain("Stop it after this long, e.g. 30s, 10m, 1h30m."),
      element: {
        type: "plain_text_input",
        action_id: valueActionId,
        placeholder: plain("10m"),
        ...(prefill.timeout && { initial_value: prefill.timeout }),
      },
    },
  );
  return {
    type: "modal",
    callback_id: runModalIds.callbackId,
    title: plain("Run a container"),
    submit: plain("Run"),
    close: plain("Cancel"),
    private_metadata: JSON.stringify(metadata),
    blocks,
  };
}
