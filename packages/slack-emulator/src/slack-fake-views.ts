/**
 * Modals: views.open, views.push and views.update as Slack answers them (docs/reference/slack-platform.md §1.5, §5.3,
 * §7.4). A trigger_id works once and for 3 s (`invalid_trigger_id`, `expired_trigger_id`, `exchanged_trigger_id`); a
 * view has ≤100 blocks, a title, submit and close of ≤24 characters, a callback_id and external_id of ≤255, a
 * private_metadata of ≤3000, and needs `submit` when it has an input block; a stack holds 3 views
 * (`push_limit_reached`). Field problems are `invalid_arguments` with `response_metadata.messages`, as Slack sends them.
 */
import { blockErrors, validateBlocks } from "./slack-fake-blocks.ts";
import { argString, isJsonObject, type Json, type JsonObject } from "./slack-fake-json.ts";
import { type MethodContext, type MethodDefinition, SlackApiError } from "./slack-fake-methods.ts";
import type { ViewRecord, Workspace } from "./slack-fake-store.ts";

export const TRIGGER_TTL_MS = 3000;
export const VIEW_LIMITS = {
  blocks: 100,
  title: 24,
  button: 24,
  callbackId: 255,
  externalId: 255,
  privateMetadata: 3000,
  stack: 3,
  bytes: 250_000,
} as const;

function viewsOpen(args: JsonObject, ctx: MethodContext): JsonObject {
  const view = checkedView(args, ctx);
  const user = useTrigger(ctx, args);
  const record = store(ctx.ws, user, view, undefined);
  return { view: viewJson(ctx.ws, record) };
}

function viewsPush(args: JsonObject, ctx: MethodContext): JsonObject {
  const view = checkedView(args, ctx);
  const user = useTrigger(ctx, args);
  const top = openStack(ctx.ws, user).at(-1);
  // Pushing needs a modal already open for this person (from the interaction that minted the trigger).
  if (!top) throw new SlackApiError("not_found");
  if (openStack(ctx.ws, user).length >= VIEW_LIMITS.stack) throw new SlackApiError("push_limit_reached");
  const record = store(ctx.ws, user, view, top);
  return { view: viewJson(ctx.ws, record) };
}

function viewsUpdate(args: JsonObject, ctx: MethodContext): JsonObject {
  const view = checkedView(args, ctx);
  const id = argString(args, "view_id");
  const external = argString(args, "external_id");
  if (id === undefined && external === undefined)
    throw new SlackApiError("invalid_arguments", messages(["missing required field: view_id"]));
  const record = [...ctx.ws.views.values()].find((r) => (id !== undefined ? r.id === id : r.view.external_id === external));
  if (!record?.open) throw new SlackApiError("not_found");
  const hash = argString(args, "hash");
  if (hash !== undefined && hash !== record.view.hash) throw new SlackApiError("hash_conflict");
  replace(record, view);
  return { view: viewJson(ctx.ws, record) };
}

export const VIEW_METHODS: Readonly<Record<string, MethodDefinition>> = {
  "views.open": { token: "bot", handle: viewsOpen },
  "views.push": { token: "bot", handle: viewsPush },
  "views.update": { token: "bot", handle: viewsUpdate },
};

const messages = (list: string[]): JsonObject => ({
  response_metadata: { messages: list.map((m) => (m.startsWith("[") ? m : `[ERROR] ${m}`)) },
});

/** The trigger's user; throws Slack's error for an unknown, used or expired trigger. */
function useTrigger(ctx: MethodContext, args: JsonObject): string {
  const id = argString(args, "trigger_id");
  if (id === undefined) throw new SlackApiError("invalid_arguments", messages(["missing required field: trigger_id"]));
  const trigger = ctx.ws.triggers.get(id);
  if (!trigger) throw new SlackApiError("invalid_trigger_id");
  if (trigger.used) throw new SlackApiError("exchanged_trigger_id");
  if (ctx.ws.clock() - trigger.issuedAt > TRIGGER_TTL_MS) throw new SlackApiError("expired_trigger_id");
  trigger.used = true;
  return trigger.user ?? ctx.ws.ids.botUserId;
}

/** Validates `view` like Slack; returns it, or throws invalid_arguments / view_too_large. */
function checkedView(args: JsonObject, ctx: MethodContext): JsonObject {
  if (ctx.badJson.has("view")) throw new SlackApiError("invalid_arguments", messages(["invalid json in view"]));
  const view = args.view;
  if (!isJsonObject(view)) throw new SlackApiError("invalid_arguments", messages(["missing required field: view"]));
  if (JSON.stringify(view).length > VIEW_LIMITS.bytes) throw new SlackApiError("view_too_large");
  const errors: string[] = [];
  const { tooLong, missing, noSchema } = blockErrors;
  if (view.type !== "modal") errors.push(view.type === undefined ? missing("/view", "type") : noSchema("/view/type"));
  const text = (key: string, max: number, required: boolean) => {
    const value = view[key];
    if (value === undefined) {
      if (required) errors.push(missing("/view", key));
      return;
    }
    if (!isJsonObject(value) || value.type !== "plain_text" || typeof value.text !== "string") errors.push(noSchema(`/view/${key}`));
    else if (value.text.length === 0) errors.push(blockErrors.empty(`/view/${key}/text`));
    else if (value.text.length > max) errors.push(tooLong(`/view/${key}/text`, max));
  };
  text("title", VIEW_LIMITS.title, true);
  text("submit", VIEW_LIMITS.button, false);
  text("close", VIEW_LIMITS.button, false);
  const string = (key: string, max: number) => {
    const value = view[key];
    if (value === undefined) return;
    if (typeof value !== "string") errors.push(noSchema(`/view/${key}`));
    else if (value.length > max) errors.push(tooLong(`/view/${key}`, max));
  };
  string("callback_id", VIEW_LIMITS.callbackId);
  string("external_id", VIEW_LIMITS.externalId);
  string("private_metadata", VIEW_LIMITS.privateMetadata);
  errors.push(...validateBlocks(view.blocks, { pointer: "/view/blocks", maxBlocks: VIEW_LIMITS.blocks }));
  const hasInput = Array.isArray(view.blocks) && view.blocks.some((b) => isJsonObject(b) && b.type === "input");
  if (hasInput && view.submit === undefined) errors.push(missing("/view", "submit"));
  if (errors.length > 0) throw new SlackApiError("invalid_arguments", messages(errors));
  return view;
}

let viewCounter = 0;
function store(ws: Workspace, user: string, view: JsonObject, below: ViewRecord | undefined): ViewRecord {
  viewCounter += 1;
  const id = `V${String(viewCounter).padStart(10, "0")}`;
  const record: ViewRecord = { id, user, view: {}, rootId: below?.rootId ?? id, open: true, errors: {} };
  record.view.previous_view_id = below?.id ?? null;
  replace(record, view);
  ws.views.set(id, record);
  return record;
}

/** Puts a new view in the record's place: Slack keeps the id, the stack and the values typed into unchanged blocks. */
function replace(record: ViewRecord, view: JsonObject): void {
  record.view = {
    ...structuredClone(view),
    previous_view_id: record.view.previous_view_id ?? null,
    hash: `${Date.now()}.${Math.random().toString(36).slice(2, 10)}`,
  };
  record.errors = {};
}

/** This person's open modal stack, root first. */
export function openStack(ws: Workspace, user: string): ViewRecord[] {
  const open = [...ws.views.values()].filter((r) => r.open && r.user === user);
  const top = open.at(-1);
  return top ? open.filter((r) => r.rootId === top.rootId) : [];
}

/** A stored view as Slack shows it in API answers and interactivity payloads. */
export function viewJson(ws: Workspace, record: ViewRecord, state: JsonObject = { values: {} }): JsonObject {
  const v = record.view;
  return {
    id: record.id,
    team_id: ws.ids.teamId,
    type: "modal",
    blocks: v.blocks ?? [],
    private_metadata: v.private_metadata ?? "",
    callback_id: v.callback_id ?? "",
    state,
    hash: v.hash ?? "",
    title: v.title ?? null,
    clear_on_close: v.clear_on_close ?? false,
    notify_on_close: v.notify_on_close ?? false,
    close: v.close ?? null,
    submit: v.submit ?? null,
    previous_view_id: v.previous_view_id ?? null,
    root_view_id: record.rootId,
    app_id: ws.ids.appId,
    external_id: v.external_id ?? "",
    app_installed_team_id: ws.ids.teamId,
    bot_id: ws.ids.botId,
  };
}

/**
 * What Slack does with the ack of a view_submission: `errors` keeps the view open with the messages under their
 * blocks, `update` replaces it, `push` adds one, `clear` closes the stack, and anything else closes the view.
 */
export function applyViewAck(ws: Workspace, viewId: string, ack: Json | undefined): void {
  const record = ws.views.get(viewId);
  if (!record) return;
  const action = isJsonObject(ack) ? ack.response_action : undefined;
  if (isJsonObject(ack) && action === "errors" && isJsonObject(ack.errors)) {
    record.errors = Object.fromEntries(Object.entries(ack.errors).map(([k, m]) => [k, String(m)]));
    return;
  }
  if (isJsonObject(ack) && action === "update" && isJsonObject(ack.view)) {
    replace(record, ack.view);
    return;
  }
  if (isJsonObject(ack) && action === "push" && isJsonObject(ack.view)) {
    store(ws, record.user, ack.view, record);
    return;
  }
  if (action === "clear") {
    for (const r of ws.views.values()) if (r.rootId === record.rootId) r.open = false;
    return;
  }
  record.open = false;
}
