/**
 * The App Home side of the fake (docs.slack.dev/surfaces/app-home; docs/reference/slack-platform.md §5.1, §5.4):
 * `views.publish` stores one Home view per user with Slack's checks, `app_home_opened` is built in the Events API's
 * `event_callback` shape (delivered signed over HTTP, or in an `events_api` envelope over Socket Mode), and a click
 * on a Home view's button is a `block_actions` payload with `container.type = "view"`, the `view`, and no channel,
 * message or response_url, as Slack sends it.
 *
 * Kept apart from slack-fake-methods.ts (the message methods) so that other view surfaces (modals) can grow next to
 * it; views live per workspace in a WeakMap, so the Workspace class needs no field for them.
 */
import { randomBytes } from "node:crypto";
import { BLOCK_LIMITS, validateBlocks } from "./slack-fake-blocks.ts";
import { argString, isJsonObject, type Json, type JsonObject } from "./slack-fake-json.ts";
import { invalidArguments, type MethodContext, type MethodDefinition, SlackApiError } from "./slack-fake-methods.ts";
import type { PayloadContext } from "./slack-fake-payloads.ts";
import type { Workspace } from "./slack-fake-store.ts";

/** "Error returned if the provided view is greater than 250kb" (views.publish reference). */
export const VIEW_MAX_BYTES = 250 * 1024;
export const VIEW_LIMITS = { blocks: BLOCK_LIMITS.surfaceBlocks, privateMetadata: 3000, callbackId: 255, externalId: 255 } as const;

/** A published Home view as Slack returns it (`view` in the response and in later payloads). */
export type HomeViewRecord = JsonObject & { id: string; hash: string; type: "home"; blocks: Json[] };

const views = new WeakMap<Workspace, Map<string, HomeViewRecord>>();
const homeViews = (ws: Workspace) => {
  const map = views.get(ws) ?? new Map<string, HomeViewRecord>();
  views.set(ws, map);
  return map;
};

/** The Home view published for `userId`, if any (a copy). */
export function homeViewOf(ws: Workspace, userId: string): HomeViewRecord | undefined {
  const view = homeViews(ws).get(userId);
  return view && structuredClone(view);
}

/** Every user with a published Home view. */
export function homeViewUsers(ws: Workspace): string[] {
  return [...homeViews(ws).keys()];
}

const viewError = (detail: string, pointer: string) => invalidArguments(`${detail} [json-pointer:${pointer}]`);

/**
 * views.publish: `user_id` and `view` required (invalid_arguments with Slack's `[ERROR] … [json-pointer:/view…]`
 * messages for a missing or malformed view, over 100 blocks, or a bad block), `hash` must match the stored view's
 * (hash_conflict), and the view's JSON must fit 250 kB (view_too_large).
 */
function publish(args: JsonObject, ctx: MethodContext): JsonObject {
  const userId = argString(args, "user_id");
  if (userId === undefined || userId === "") throw invalidArguments("missing required field: user_id");
  if (ctx.badJson.has("view") || args.view === undefined) throw invalidArguments("missing required field: view");
  const view = args.view;
  if (!isJsonObject(view)) {
    throw new SlackApiError("invalid_arguments", {
      response_metadata: {
        messages: [
          "[ERROR] failed to match all allowed schemas [json-pointer:/view]",
          "[ERROR] must provide an object [json-pointer:/view]",
        ],
      },
    });
  }
  if (Buffer.byteLength(JSON.stringify(view), "utf8") > VIEW_MAX_BYTES) throw new SlackApiError("view_too_large");
  if (view.type === undefined) throw viewError("missing required field: type", "/view");
  if (view.type !== "home") throw viewError("must be one of the following: home", "/view/type");
  if (view.blocks === undefined) throw viewError("missing required field: blocks", "/view");
  const stringField = (key: string, max: number) => {
    const value = view[key];
    if (value === undefined) return;
    if (typeof value !== "string") throw viewError("must be a string", `/view/${key}`);
    if (value.length > max) throw viewError(`must be less than ${max + 1} characters`, `/view/${key}`);
  };
  stringField("private_metadata", VIEW_LIMITS.privateMetadata);
  stringField("callback_id", VIEW_LIMITS.callbackId);
  stringField("external_id", VIEW_LIMITS.externalId);
  const messages = validateBlocks(view.blocks, { pointer: "/view/blocks", maxBlocks: VIEW_LIMITS.blocks });
  if (messages.length) throw new SlackApiError("invalid_arguments", { response_metadata: { messages } });

  const stored = homeViews(ctx.ws);
  const previous = stored.get(userId);
  const hash = argString(args, "hash");
  if (hash !== undefined && hash !== "" && previous && hash !== previous.hash) throw new SlackApiError("hash_conflict");
  const { appId, teamId, botId } = ctx.ws.ids;
  const id = previous?.id ?? ctx.ws.nextId("V");
  const record: HomeViewRecord = {
    id,
    team_id: teamId,
    type: "home",
    blocks: view.blocks as Json[],
    private_metadata: typeof view.private_metadata === "string" ? view.private_metadata : "",
    callback_id: typeof view.callback_id === "string" ? view.callback_id : "",
    state: { values: {} },
    hash: `${Math.floor(Date.now() / 1000)}.${randomBytes(4).toString("hex")}`,
    title: { type: "plain_text", text: "View Title", emoji: true },
    clear_on_close: false,
    notify_on_close: false,
    close: null,
    submit: null,
    previous_view_id: null,
    root_view_id: id,
    app_id: appId,
    external_id: typeof view.external_id === "string" ? view.external_id : "",
    app_installed_team_id: teamId,
    bot_id: botId,
  };
  stored.set(userId, record);
  return { view: structuredClone(record) };
}

/** The App Home methods, merged into the fake's method table (slack-fake.ts). views.publish needs no scope. */
export const HOME_METHODS: Readonly<Record<string, MethodDefinition>> = {
  "views.publish": { token: "bot", handle: publish },
};

export interface AppHomeOpenedOptions {
  /** Defaults to the seeded operator. */
  user: string;
  /** "home" (the default) or "messages". */
  tab?: "home" | "messages";
}

/** The user's DM with the app, as `app_home_opened` names it (a stable id per user). */
export const appDmOf = (userId: string) => `D${userId.replace(/^[UW]/, "")}`;

/**
 * An `app_home_opened` event in its `event_callback` wrapper, as Slack sends it over HTTP and inside a Socket Mode
 * `events_api` envelope. `event.view` is the user's published Home view, present once there is one.
 */
export function buildAppHomeOpened(ctx: Pick<PayloadContext, "ws" | "verificationToken">, options: AppHomeOpenedOptions): JsonObject {
  const { ws } = ctx;
  const now = Date.now();
  const eventTs = `${Math.floor(now / 1000)}.${String((now % 1000) * 1000).padStart(6, "0")}`;
  const event: JsonObject = {
    type: "app_home_opened",
    user: options.user,
    channel: appDmOf(options.user),
    tab: options.tab ?? "home",
    event_ts: eventTs,
  };
  const view = homeViewOf(ws, options.user);
  if (view && (options.tab ?? "home") === "home") event.view = view;
  return {
    token: ctx.verificationToken,
    team_id: ws.ids.teamId,
    context_team_id: ws.ids.teamId,
    context_enterprise_id: null,
    api_app_id: ws.ids.appId,
    event,
    type: "event_callback",
    event_id: `Ev${randomBytes(5).toString("hex").toUpperCase()}`,
    event_time: Math.floor(now / 1000),
    authorizations: [
      { enterprise_id: null, team_id: ws.ids.teamId, user_id: ws.ids.botUserId, is_bot: true, is_enterprise_install: false },
    ],
    is_ext_shared_channel: false,
  };
}

export interface ViewActionOptions {
  /** Whose Home view is clicked. */
  user: string;
  actionId: string;
  /** Which of several elements with this action_id (in different blocks): the one in this block. */
  blockId?: string;
  /** Defaults to the element's own value in the published view. */
  value?: string;
}

/**
 * A block_actions payload for a click on a button of `user`'s Home view: `container: { type: "view", view_id }`, the
 * view itself, no `channel`, `message` or `response_url` (a view is not in a conversation).
 */
export function buildViewAction(ctx: Pick<PayloadContext, "ws" | "verificationToken">, options: ViewActionOptions): JsonObject {
  const { ws } = ctx;
  const view = homeViewOf(ws, options.user);
  if (!view) throw new Error(`viewAction: ${options.user} has no published Home view`);
  const found = findViewElement(view.blocks, options.actionId, options.blockId);
  if (!found)
    throw new Error(
      `viewAction: no element "${options.actionId}"${options.blockId ? ` in block ${options.blockId}` : ""} in ${options.user}'s Home view`,
    );
  const action: JsonObject = {
    type: typeof found.element.type === "string" ? found.element.type : "button",
    action_id: options.actionId,
    block_id: found.blockId,
    action_ts: `${Math.floor(Date.now() / 1000)}.${randomBytes(3).readUIntBE(0, 3) % 1_000_000}`,
  };
  if (found.element.text !== undefined) action.text = found.element.text;
  const value = options.value ?? found.element.value;
  if (value !== undefined) action.value = value;
  if (found.element.style !== undefined) action.style = found.element.style;
  const user = ws.users.get(options.user);
  return {
    type: "block_actions",
    user: { id: options.user, username: user?.name ?? options.user, name: user?.name ?? options.user, team_id: ws.ids.teamId },
    api_app_id: ws.ids.appId,
    token: ctx.verificationToken,
    container: { type: "view", view_id: view.id },
    trigger_id: ws.mintTrigger(),
    team: { id: ws.ids.teamId, domain: ws.ids.teamDomain },
    enterprise: null,
    is_enterprise_install: false,
    view,
    actions: [action],
  };
}

function findViewElement(
  blocks: Json[],
  actionId: string,
  blockId: string | undefined,
): { blockId: string; element: JsonObject } | undefined {
  for (const [i, block] of blocks.entries()) {
    if (!isJsonObject(block)) continue;
    const id = typeof block.block_id === "string" ? block.block_id : `block-${i}`;
    if (blockId !== undefined && id !== blockId) continue;
    const candidates: Json[] = [
      ...(Array.isArray(block.elements) ? block.elements : []),
      ...(block.accessory !== undefined ? [block.accessory] : []),
    ];
    for (const element of candidates) if (isJsonObject(element) && element.action_id === actionId) return { blockId: id, element };
  }
  return undefined;
}
