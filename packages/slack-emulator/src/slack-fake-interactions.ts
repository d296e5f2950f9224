/**
 * Interactivity payloads beyond slash commands and buttons, in Slack's shapes (docs/reference/slack-platform.md §1.5,
 * §5.3): a global shortcut (`shortcut`), a message shortcut (`message_action`), a modal submitted (`view_submission`,
 * with `view.state.values[block_id][action_id]` shaped per element type) and a modal closed (`view_closed`).
 */
import { isJsonObject, type Json, type JsonObject } from "./slack-fake-json.ts";
import { messageJson } from "./slack-fake-methods.ts";
import type { PayloadContext } from "./slack-fake-payloads.ts";
import { SEED } from "./slack-fake-store.ts";
import { viewJson } from "./slack-fake-views.ts";

export interface ShortcutOptions {
  callbackId: string;
  user?: string;
}

export interface MessageActionOptions extends ShortcutOptions {
  /** The ts of the stored message the shortcut is used on. */
  messageTs: string;
  channel?: string;
}

/** What a person put in a modal, by block_id: text, an option's value, checked options' values, or a channel id. */
export type ViewInput = Record<string, string | readonly string[] | undefined>;

export interface ViewSubmissionOptions {
  viewId: string;
  values?: ViewInput;
  /** The conversation the modal was opened in, for a `default_to_current_conversation` select left as it was. */
  currentChannel?: string;
}

const team = (ctx: PayloadContext) => ({ id: ctx.ws.ids.teamId, domain: ctx.ws.ids.teamDomain });
const userJson = (ctx: PayloadContext, id: string) => {
  const name = ctx.ws.users.get(id)?.name ?? id;
  return { id, username: name, name, team_id: ctx.ws.ids.teamId };
};

export function buildShortcut(ctx: PayloadContext, options: ShortcutOptions): JsonObject {
  const user = options.user ?? SEED.operator;
  return {
    type: "shortcut",
    token: ctx.verificationToken,
    action_ts: actionTs(),
    team: team(ctx),
    user: userJson(ctx, user),
    is_enterprise_install: false,
    enterprise: null,
    callback_id: options.callbackId,
    trigger_id: ctx.ws.mintTrigger(user),
  };
}

export function buildMessageAction(ctx: PayloadContext, options: MessageActionOptions): JsonObject {
  const user = options.user ?? SEED.operator;
  const channelId = options.channel ?? SEED.incidentChannel;
  const message = ctx.ws.findMessage(channelId, options.messageTs);
  if (!message || message.deleted) throw new Error(`messageAction: no message ${channelId}/${options.messageTs} in the fake`);
  return {
    type: "message_action",
    token: ctx.verificationToken,
    action_ts: actionTs(),
    team: team(ctx),
    user: userJson(ctx, user),
    channel: { id: channelId, name: ctx.ws.channels.get(channelId)?.name ?? channelId },
    is_enterprise_install: false,
    enterprise: null,
    callback_id: options.callbackId,
    trigger_id: ctx.ws.mintTrigger(user),
    response_url: ctx.mintResponseUrl({ kind: "commands", channel: channelId, user }),
    message_ts: message.ts,
    message: messageJson(ctx, message),
  };
}

/**
 * A submission of an open modal. Values not given keep the elements' initial values, as in Slack's client; a required
 * input left empty, or a value a select does not offer, throws: Slack's client would not submit it.
 */
export function buildViewSubmission(ctx: PayloadContext, options: ViewSubmissionOptions): JsonObject {
  const record = ctx.ws.views.get(options.viewId);
  if (!record?.open) throw new Error(`viewSubmission: no open view ${options.viewId}`);
  const values: JsonObject = {};
  const responseUrls: Json[] = [];
  const blocks = Array.isArray(record.view.blocks) ? record.view.blocks : [];
  for (const block of blocks) {
    if (!isJsonObject(block) || block.type !== "input" || !isJsonObject(block.element)) continue;
    const blockId = String(block.block_id ?? "");
    const element = block.element;
    const actionId = String(element.action_id ?? "");
    const state = elementState(element, options.values?.[blockId], options.currentChannel);
    if (isEmpty(state) && block.optional !== true) {
      throw new Error(`viewSubmission: "${blockId}" is required; Slack's client would not submit the modal`);
    }
    values[blockId] = { [actionId]: state };
    if (element.type === "conversations_select" && element.response_url_enabled === true && state.selected_conversation) {
      const channel = String(state.selected_conversation);
      const url = ctx.mintResponseUrl({ kind: "commands", channel, user: record.user });
      responseUrls.push({ block_id: blockId, action_id: actionId, channel_id: channel, response_url: url });
    }
  }
  return {
    type: "view_submission",
    team: team(ctx),
    user: userJson(ctx, record.user),
    api_app_id: ctx.ws.ids.appId,
    token: ctx.verificationToken,
    trigger_id: ctx.ws.mintTrigger(record.user),
    view: viewJson(ctx.ws, record, { values }),
    response_urls: responseUrls,
    is_enterprise_install: false,
    enterprise: null,
  };
}

/** The person closed the modal: it is gone at once; the payload is what Slack sends when `notify_on_close` is set. */
export function buildViewClosed(ctx: PayloadContext, viewId: string): JsonObject {
  const record = ctx.ws.views.get(viewId);
  if (!record?.open) throw new Error(`viewClosed: no open view ${viewId}`);
  record.open = false;
  return {
    type: "view_closed",
    team: team(ctx),
    user: userJson(ctx, record.user),
    api_app_id: ctx.ws.ids.appId,
    token: ctx.verificationToken,
    view: viewJson(ctx.ws, record),
    is_cleared: false,
    is_enterprise_install: false,
    enterprise: null,
  };
}

function elementState(element: JsonObject, input: string | readonly string[] | undefined, currentChannel: string | undefined): JsonObject {
  const type = String(element.type);
  const one = typeof input === "string" ? input : undefined;
  switch (type) {
    case "plain_text_input":
    case "number_input":
    case "email_text_input":
    case "url_text_input": {
      const value = input === undefined ? element.initial_value : one;
      return { type, value: typeof value === "string" && value !== "" ? value : null };
    }
    case "static_select":
    case "radio_buttons": {
      // An empty value is the select left without a choice.
      const picked = input === undefined ? element.initial_option : one ? optionOf(element, one) : null;
      return { type, selected_option: picked ?? null };
    }
    case "checkboxes": {
      const given = input === undefined ? undefined : typeof input === "string" ? [input] : input;
      const picked = given === undefined ? (element.initial_options ?? []) : given.map((v) => optionOf(element, v));
      return { type, selected_options: picked };
    }
    case "conversations_select": {
      const initial = element.initial_conversation ?? (element.default_to_current_conversation === true ? currentChannel : undefined);
      return { type, selected_conversation: (input === undefined ? initial : one || undefined) ?? null };
    }
    case "users_select":
      return { type, selected_user: (input === undefined ? element.initial_user : one) ?? null };
    default:
      throw new Error(`viewSubmission: the fake does not model ${type} inputs`);
  }
}

function optionOf(element: JsonObject, value: string): Json {
  const groups = Array.isArray(element.option_groups) ? element.option_groups : [];
  const all = [
    ...(Array.isArray(element.options) ? element.options : []),
    ...groups.flatMap((g) => (isJsonObject(g) && Array.isArray(g.options) ? g.options : [])),
  ];
  const found = all.find((o) => isJsonObject(o) && o.value === value);
  if (!found) throw new Error(`viewSubmission: ${String(element.action_id)} offers no option "${value}"`);
  return found;
}

function isEmpty(state: JsonObject): boolean {
  const value = state.value ?? state.selected_option ?? state.selected_conversation ?? state.selected_user;
  if (Array.isArray(state.selected_options)) return state.selected_options.length === 0;
  return value === null || value === undefined;
}

function actionTs(): string {
  const micros = Math.round(performance.timeOrigin * 1000 + performance.now() * 1000);
  return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, "0")}`;
}
