/**
 * Builds the payloads Slack sends to an app — slash commands and block_actions — from the fake's workspace, minting
 * a trigger_id and a response_url that point back at the fake. The HTTP driver form-encodes them and signs them;
 * Socket Mode delivers the same objects inside an envelope.
 */
import { isJsonObject, type Json, type JsonObject } from "./slack-fake-json.ts";
import { messageJson } from "./slack-fake-methods.ts";
import { type ResponseUrlKind, SEED, type Workspace } from "./slack-fake-store.ts";

export interface SlashCommandOptions {
  /** e.g. "/berth" */
  command: string;
  text?: string;
  /** Defaults to the seeded operator, U0OPER. */
  user?: string;
  /** Defaults to C0INCIDENT (#incident-db). */
  channel?: string;
  /** Overrides the channel name Slack would send (e.g. "privategroup", "directmessage"). */
  channelName?: string;
}

/** The fields of a slash command, as Slack sends them (all strings, also in Socket Mode). */
export type SlashCommandPayload = {
  token: string;
  team_id: string;
  team_domain: string;
  channel_id: string;
  channel_name: string;
  user_id: string;
  user_name: string;
  command: string;
  text: string;
  api_app_id: string;
  is_enterprise_install: string;
  response_url: string;
  trigger_id: string;
};

export interface BlockActionOptions {
  /** The ts of the message (or ephemeral) whose button is clicked. */
  messageTs: string;
  actionId: string;
  /** Defaults to the element's own value in the stored message. For a select, the value of the option picked. */
  value?: string;
  /** Defaults to the element's block's block_id. */
  blockId?: string;
  user?: string;
  channel?: string;
}

export interface ResponseUrlSpec {
  kind: ResponseUrlKind;
  channel: string;
  user: string;
  messageTs?: string;
  isEphemeral?: boolean;
}

export interface PayloadContext {
  ws: Workspace;
  verificationToken: string;
  mintResponseUrl(spec: ResponseUrlSpec): string;
}

export function buildSlashCommand(ctx: PayloadContext, options: SlashCommandOptions): SlashCommandPayload {
  const { ws } = ctx;
  const userId = options.user ?? SEED.operator;
  const channelId = options.channel ?? SEED.incidentChannel;
  const channel = ws.channels.get(channelId);
  return {
    token: ctx.verificationToken,
    team_id: ws.ids.teamId,
    team_domain: ws.ids.teamDomain,
    channel_id: channelId,
    channel_name: options.channelName ?? (channel?.is_private ? "privategroup" : (channel?.name ?? "unknown")),
    user_id: userId,
    user_name: ws.users.get(userId)?.name ?? userId,
    command: options.command,
    text: options.text ?? "",
    api_app_id: ws.ids.appId,
    is_enterprise_install: "false",
    response_url: ctx.mintResponseUrl({ kind: "commands", channel: channelId, user: userId }),
    trigger_id: ws.mintTrigger(userId),
  };
}

/** A block_actions payload for a click on a button (or other element) of a message in the fake's store. */
export function buildBlockAction(ctx: PayloadContext, options: BlockActionOptions): JsonObject {
  const { ws } = ctx;
  const userId = options.user ?? SEED.operator;
  const channelId = options.channel ?? SEED.incidentChannel;
  const message = ws.findMessage(channelId, options.messageTs);
  const ephemeral = message ? undefined : ws.findEphemeral(channelId, options.messageTs);
  const source = message ?? ephemeral;
  if (!source) throw new Error(`blockAction: no message ${channelId}/${options.messageTs} in the fake`);

  const found = findElement(source.blocks ?? [], options.actionId);
  if (!found && options.value === undefined) {
    throw new Error(`blockAction: no element with action_id "${options.actionId}" in ${channelId}/${source.ts}`);
  }
  const action: JsonObject = {
    type: typeof found?.element.type === "string" ? found.element.type : "button",
    action_id: options.actionId,
    block_id: options.blockId ?? found?.blockId ?? "fake-block",
    action_ts: actionTs(),
  };
  if (found?.element.text !== undefined) action.text = found.element.text;
  if (action.type === "static_select") {
    // Slack sends the option picked (text and value) and no `value` of its own; only an offered option can be picked.
    const offered = Array.isArray(found?.element.options) ? found.element.options.filter(isJsonObject) : [];
    const picked = offered.find((o) => o.value === options.value);
    if (!picked)
      throw new Error(`blockAction: the select "${options.actionId}" offers no option with value ${JSON.stringify(options.value)}`);
    action.selected_option = picked;
    if (found?.element.placeholder !== undefined) action.placeholder = found.element.placeholder;
  } else {
    const value = options.value ?? found?.element.value;
    if (value !== undefined) action.value = value;
  }
  if (found?.element.style !== undefined) action.style = found.element.style;

  const user = ws.users.get(userId);
  const channel = ws.channels.get(channelId);
  const payload: JsonObject = {
    type: "block_actions",
    user: { id: userId, username: user?.name ?? userId, name: user?.name ?? userId, team_id: ws.ids.teamId },
    api_app_id: ws.ids.appId,
    token: ctx.verificationToken,
    container: { type: "message", message_ts: source.ts, channel_id: channelId, is_ephemeral: !message },
    trigger_id: ws.mintTrigger(userId),
    team: { id: ws.ids.teamId, domain: ws.ids.teamDomain },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: channelId, name: channel?.name ?? channelId },
    state: { values: {} },
    response_url: ctx.mintResponseUrl({
      kind: "actions",
      channel: channelId,
      user: userId,
      messageTs: source.ts,
      isEphemeral: !message,
    }),
    actions: [action],
  };
  // Slack includes the message for channel messages, not for ephemerals.
  if (message) payload.message = messageJson(ctx, message);
  return payload;
}

function findElement(blocks: Json[], actionId: string): { blockId: string; element: JsonObject } | undefined {
  for (const [i, block] of blocks.entries()) {
    if (!isJsonObject(block)) continue;
    const blockId = typeof block.block_id === "string" ? block.block_id : `block-${i}`;
    const candidates: Json[] = [];
    if (Array.isArray(block.elements)) candidates.push(...block.elements);
    if (block.accessory !== undefined) candidates.push(block.accessory);
    for (const element of candidates) {
      if (isJsonObject(element) && element.action_id === actionId) return { blockId, element };
    }
  }
  return undefined;
}

function actionTs(): string {
  const micros = Math.round(performance.timeOrigin * 1000 + performance.now() * 1000);
  return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, "0")}`;
}
