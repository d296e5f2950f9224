/**
 * Drives a bot in HTTP mode the way Slack does: signed `application/x-www-form-urlencoded` POSTs of slash commands,
 * block_actions, shortcuts and modal submissions, and signed JSON POSTs of Events API payloads (a message mentioning
 * the bot), to the bot's Request URL (docs/reference/slack-platform.md §1.2, §2.1, §2.4). Payloads come from the fake's
 * workspace and carry a trigger_id and a response_url minted on the fake. `redeliver` sends one again as Slack does when
 * it did not see the ack in time: the same body, signed anew, with `X-Slack-Retry-Num` and `X-Slack-Retry-Reason`
 * (docs/reference/slack-platform.md §2.3).
 */
import { createHmac } from "node:crypto";
import type { SlackFake } from "./slack-fake.ts";
import type { UserMessageOptions } from "./slack-fake-events.ts";
import type { MessageActionOptions, ShortcutOptions, ViewSubmissionOptions } from "./slack-fake-interactions.ts";
import type { JsonObject } from "./slack-fake-json.ts";
import type { BlockActionOptions, SlashCommandOptions, SlashCommandPayload } from "./slack-fake-payloads.ts";
import type { FakeMessage } from "./slack-fake-store.ts";

export interface SignedHeaders {
  "content-type": "application/x-www-form-urlencoded";
  "x-slack-request-timestamp": string;
  "x-slack-signature": string;
}

/**
 * Slack's v0 signature: `v0=` + hex(HMAC-SHA256(secret, `v0:{ts}:{body}`)). The content type is exact, without a
 * charset: Bolt parses form bodies only for that exact string.
 */
export function signSlackRequest(secret: string, body: string, ts: number = Math.floor(Date.now() / 1000)): SignedHeaders {
  const signature = `v0=${createHmac("sha256", secret).update(`v0:${ts}:${body}`).digest("hex")}`;
  return {
    "content-type": "application/x-www-form-urlencoded",
    "x-slack-request-timestamp": String(ts),
    "x-slack-signature": signature,
  };
}

export interface DeliveryOptions {
  /** The bot's Request URL, e.g. `http://127.0.0.1:PORT/slack/events`. */
  url: string;
  /** Sign with a wrong secret (Bolt answers 401). */
  badSignature?: boolean;
  /** Shift the request timestamp, e.g. -360 for a stale request (Bolt answers 401 beyond 5 minutes). */
  timestampOffsetSec?: number;
  /** Defaults to the fake's signing secret. */
  signingSecret?: string;
}

export interface InboundResult {
  status: number;
  /** The response body as text (an ack body, or empty). */
  body: string;
  /** Wall-clock time from sending to the full response. */
  ms: number;
}

/** A delivery that can be sent again: the body exactly as it was posted (form-encoded, or JSON for an event). */
export interface Delivered {
  request: string;
  /** Set for an Events API delivery, which Slack posts as JSON. */
  contentType?: "application/json";
}

export interface SlashCommandResult extends InboundResult, Delivered {
  payload: SlashCommandPayload;
  responseUrl: string;
  triggerId: string;
}

export interface BlockActionResult extends InboundResult, Delivered {
  payload: JsonObject;
}

/**
 * POSTs a signed slash command to the bot. A 200 ack body with text or blocks is shown to the user through the
 * fake (as an ephemeral, or in the channel for `response_type: "in_channel"`), as Slack does.
 */
export async function slashCommand(fake: SlackFake, options: SlashCommandOptions & DeliveryOptions): Promise<SlashCommandResult> {
  const payload = fake.buildSlashCommand(options);
  const body = new URLSearchParams(Object.entries(payload)).toString();
  const result = await post(fake, options, body);
  if (result.status === 200) fake.applyAck(payload.response_url, result.body);
  return { ...result, request: body, payload, responseUrl: payload.response_url, triggerId: payload.trigger_id };
}

/** POSTs a signed block_actions payload (`payload=<json>`) for a click on a stored message's element. */
export async function blockAction(fake: SlackFake, options: BlockActionOptions & DeliveryOptions): Promise<BlockActionResult> {
  const payload = fake.buildBlockAction(options);
  const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  return { ...(await post(fake, options, body)), request: body, payload };
}

/** POSTs a signed global shortcut (`type: "shortcut"`). */
export async function shortcut(fake: SlackFake, options: ShortcutOptions & DeliveryOptions): Promise<BlockActionResult> {
  return interactive(fake, options, fake.buildShortcut(options));
}

/** POSTs a signed message shortcut (`type: "message_action"`) used on a stored message. */
export async function messageAction(fake: SlackFake, options: MessageActionOptions & DeliveryOptions): Promise<BlockActionResult> {
  return interactive(fake, options, fake.buildMessageAction(options));
}

/** POSTs a signed view_submission of an open modal and applies the ack's `response_action` to it, as Slack does. */
export async function viewSubmission(fake: SlackFake, options: ViewSubmissionOptions & DeliveryOptions): Promise<BlockActionResult> {
  const result = await interactive(fake, options, fake.buildViewSubmission(options));
  if (result.status === 200) fake.applyViewAck(options.viewId, result.body);
  return result;
}

/** Closes a modal as its person does; POSTs view_closed when the view asked for it (`notify_on_close`). */
export async function viewClosed(fake: SlackFake, options: { viewId: string } & DeliveryOptions): Promise<BlockActionResult | undefined> {
  const payload = fake.buildViewClosed(options.viewId);
  const view = payload.view as { notify_on_close?: boolean } | undefined;
  return view?.notify_on_close === true ? interactive(fake, options, payload) : undefined;
}

async function interactive(fake: SlackFake, options: DeliveryOptions, payload: JsonObject): Promise<BlockActionResult> {
  const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  return { ...(await post(fake, options, body)), request: body, payload };
}

export interface UserMessageResult {
  message: FakeMessage;
  /** The Events API delivery Slack made for the message (`app_mention`), if it made one. */
  delivery: (InboundResult & Delivered & { payload: JsonObject }) | undefined;
}

/**
 * A person writes a message in a channel or a thread; when it mentions the bot (in a channel the bot is in), Slack
 * posts the `app_mention` event_callback to the Request URL, signed, as JSON (Events API).
 */
export async function userMessage(fake: SlackFake, options: UserMessageOptions & DeliveryOptions): Promise<UserMessageResult> {
  const { message, event } = fake.userMessage(options);
  if (!event) return { message, delivery: undefined };
  const body = JSON.stringify(event);
  const result = await post(fake, options, body, { "content-type": "application/json" });
  return { message, delivery: { ...result, request: body, contentType: "application/json", payload: event } };
}

export interface RetryOptions extends DeliveryOptions {
  /** `X-Slack-Retry-Num`: 1 for the first retry, up to 3. */
  retryNum: number;
  /** `X-Slack-Retry-Reason`; Slack's for a late ack is `http_timeout`. */
  retryReason?: string;
}

/**
 * Sends an earlier slash command or click again, as Slack retries a delivery whose ack it did not see: the same body,
 * a fresh signature, and the retry headers. A slash command's ack body is shown like the first one's.
 */
export async function redeliver(fake: SlackFake, delivered: Delivered, options: RetryOptions): Promise<InboundResult> {
  const retry = { "x-slack-retry-num": String(options.retryNum), "x-slack-retry-reason": options.retryReason ?? "http_timeout" };
  const type: Record<string, string> = delivered.contentType ? { "content-type": delivered.contentType } : {};
  const result = await post(fake, options, delivered.request, { ...retry, ...type });
  const responseUrl = new URLSearchParams(delivered.request).get("response_url");
  if (result.status === 200 && responseUrl) fake.applyAck(responseUrl, result.body);
  return result;
}

async function post(fake: SlackFake, options: DeliveryOptions, body: string, extra: Record<string, string> = {}): Promise<InboundResult> {
  const ts = Math.floor(Date.now() / 1000) + (options.timestampOffsetSec ?? 0);
  const secret = options.signingSecret ?? fake.signingSecret;
  const headers = signSlackRequest(options.badSignature ? `${secret}-wrong` : secret, body, ts);
  const started = performance.now();
  const response = await fetch(options.url, { method: "POST", headers: { ...headers, ...extra }, body });
  const text = await response.text();
  return { status: response.status, body: text, ms: performance.now() - started };
}
