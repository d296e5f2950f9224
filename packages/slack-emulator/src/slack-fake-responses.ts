/**
 * response_url semantics (docs.slack.dev/interactivity/handling-user-interaction; docs/reference/slack-platform.md §1.4):
 *   - up to 5 uses within 30 minutes of the payload; then 404 `used_url` / `expired_url` (Slack's exact bodies
 *     are undocumented; these codes are the fake's);
 *   - `response_type: "ephemeral"` (default) shows the message to the invoking user only; `"in_channel"` posts it
 *     in the channel (bypassing channel membership), in a thread when `thread_ts` is given;
 *   - `replace_original: true` replaces the message the button was on (actions), or the previous response through
 *     the same URL (commands; never the user's own command); `delete_original: true` deletes the source message
 *     and is refused for slash commands ("not supported for use with slash commands").
 * Only explicit `replace_original: true` replaces; any other value posts a new message.
 *
 * A slash command's ack body (HTTP response or Socket Mode ack payload) is applied the same way, without counting
 * as a use, since Slack shows it to the user just like a response_url message.
 */
import { isJsonObject, type Json, type JsonObject, tryParseJson } from "./slack-fake-json.ts";
import { type MethodSettings, readContent, resolveThread, SlackApiError } from "./slack-fake-methods.ts";
import type { FakeEphemeral, FakeMessage, FakeResponse, ResponseUrlRecord, Workspace } from "./slack-fake-store.ts";

export const RESPONSE_URL_MAX_USES = 5;
export const RESPONSE_URL_TTL_MS = 30 * 60_000;

export interface ResponseContext {
  ws: Workspace;
  settings: MethodSettings;
  now: number;
}

/** Applies one response_url POST (or ack) and records it; returns the HTTP status and JSON body to send. */
export function applyResponse(
  ctx: ResponseContext,
  record: ResponseUrlRecord,
  body: Json | undefined,
  via: "response_url" | "ack",
): { status: number; body: JsonObject; response: FakeResponse } {
  const base = { url: record.url, kind: record.kind, channel: record.channel, user: record.user, via, at: ctx.now };
  const reject = (status: number, error: string) => {
    const response: FakeResponse = { ...base, body: body ?? null, status, outcome: "rejected", error };
    ctx.ws.responses.push(response);
    return { status, body: { ok: false, error }, response };
  };

  if (via === "response_url") {
    if (ctx.now - record.issuedAt > RESPONSE_URL_TTL_MS) return reject(404, "expired_url");
    if (record.uses >= RESPONSE_URL_MAX_USES) return reject(404, "used_url");
  }
  if (!isJsonObject(body)) return reject(400, "invalid_payload");

  let outcome: FakeResponse["outcome"];
  let ts: string | undefined;
  try {
    ({ outcome, ts } = apply(ctx, record, body, via));
  } catch (error) {
    if (error instanceof SlackApiError) return reject(400, error.code);
    throw error;
  }
  if (via === "response_url") record.uses += 1;
  const response: FakeResponse = { ...base, body, status: 200, outcome, ...(ts !== undefined && { ts }) };
  ctx.ws.responses.push(response);
  return { status: 200, body: { ok: true }, response };
}

/** An ack body as Slack reads it: JSON, or plain text meaning `{ text }`; undefined when there is nothing to show. */
export function ackBodyToMessage(body: string | Json | undefined): JsonObject | undefined {
  if (body === undefined || body === null || body === "") return undefined;
  const parsed = typeof body === "string" ? (tryParseJson(body) ?? { text: body }) : body;
  const message = isJsonObject(parsed) ? parsed : { text: typeof body === "string" ? body : JSON.stringify(body) };
  const shows = message.text !== undefined || message.blocks !== undefined || message.response_type !== undefined;
  return shows ? message : undefined;
}

function apply(
  ctx: ResponseContext,
  record: ResponseUrlRecord,
  body: JsonObject,
  via: "response_url" | "ack",
): { outcome: FakeResponse["outcome"]; ts?: string } {
  const { ws } = ctx;
  if (body.delete_original === true || body.delete_original === "true") {
    if (record.kind === "commands") throw new SlackApiError("cannot_delete_original");
    const original = originalOf(ws, record);
    if (!original) throw new SlackApiError("message_not_found");
    original.deleted = true;
    return { outcome: "deleted", ts: original.ts };
  }

  // Echoing the command only (`{"response_type":"in_channel"}`) is allowed without text.
  const echoOnly = body.text === undefined && body.blocks === undefined && body.response_type === "in_channel";
  const content = echoOnly ? { text: "" } : readContent({ badJson: new Set() }, body, "reject");

  if (body.replace_original === true || body.replace_original === "true") {
    const target = record.kind === "actions" ? originalOf(ws, record) : previousResponse(ws, record);
    if (target) {
      ws.edit(target, content, via); // a replacement without blocks drops the old ones
      return { outcome: "replaced", ts: target.ts };
    }
  }

  const channel = ws.channels.get(record.channel);
  if (body.response_type === "in_channel" && channel) {
    const threadTs = resolveThread(
      { ws, settings: { ...ctx.settings, threadTsError: null } },
      channel,
      typeof body.thread_ts === "string" ? body.thread_ts : undefined,
    );
    const message = ws.addMessage({
      channel: channel.id,
      ...(threadTs !== undefined && { thread_ts: threadTs }),
      user: ws.ids.botUserId,
      bot_id: ws.ids.botId,
      ...content,
      via,
    });
    remember(record, message.ts, false);
    return { outcome: "in_channel", ts: message.ts };
  }
  const ephemeral = ws.addEphemeral({
    channel: record.channel,
    user: record.user,
    ...(typeof body.thread_ts === "string" && { thread_ts: body.thread_ts }),
    ...content,
    via,
  });
  remember(record, ephemeral.ts, true);
  return { outcome: "ephemeral", ts: ephemeral.ts };
}

/** The message an action's button was on (a channel message or an ephemeral). */
function originalOf(ws: Workspace, record: ResponseUrlRecord): FakeMessage | FakeEphemeral | undefined {
  if (record.messageTs === undefined) return undefined;
  const original = record.isEphemeral
    ? ws.findEphemeral(record.channel, record.messageTs)
    : ws.findMessage(record.channel, record.messageTs);
  return original && !original.deleted ? original : undefined;
}

function previousResponse(ws: Workspace, record: ResponseUrlRecord): FakeMessage | FakeEphemeral | undefined {
  if (record.lastTs === undefined) return undefined;
  return record.lastEphemeral ? ws.findEphemeral(record.channel, record.lastTs) : ws.findMessage(record.channel, record.lastTs);
}

function remember(record: ResponseUrlRecord, ts: string, ephemeral: boolean): void {
  record.lastTs = ts;
  record.lastEphemeral = ephemeral;
}
