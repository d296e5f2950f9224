/**
 * Drives a bot's App Home the way Slack does: `app_home_opened` as a signed JSON POST (the Events API's content type)
 * or in a Socket Mode `events_api` envelope, and a click on a Home view's button as a signed `block_actions` payload
 * or an `interactive` envelope. The payloads come from slack-fake-home.ts.
 */
import type { InboundResult } from "./slack-driver.ts";
import { type DeliveryOptions, signSlackRequest } from "./slack-driver.ts";
import type { SlackFake } from "./slack-fake.ts";
import {
  type AppHomeOpenedOptions,
  buildAppHomeOpened,
  buildViewAction,
  type HomeViewRecord,
  homeViewOf,
  type ViewActionOptions,
} from "./slack-fake-home.ts";
import type { JsonObject } from "./slack-fake-json.ts";
import type { SocketDelivery } from "./slack-socket-hub.ts";

export type { AppHomeOpenedOptions, HomeViewRecord, ViewActionOptions } from "./slack-fake-home.ts";
export { VIEW_LIMITS, VIEW_MAX_BYTES } from "./slack-fake-home.ts";

/** The Home view `user` sees now (what views.publish stored last), if any. */
export function homeView(fake: SlackFake, user: string): HomeViewRecord | undefined {
  return homeViewOf(fake.ws, user);
}

/** POSTs a signed `app_home_opened` event (JSON, as the Events API sends it) to the bot. */
export async function appHomeOpened(
  fake: SlackFake,
  options: AppHomeOpenedOptions & DeliveryOptions,
): Promise<InboundResult & { payload: JsonObject }> {
  const payload = buildAppHomeOpened(fake, options);
  const body = JSON.stringify(payload);
  return { ...(await post(fake, options, body, "application/json")), payload };
}

/** POSTs a signed block_actions payload for a click on a button of a user's Home view. */
export async function viewAction(
  fake: SlackFake,
  options: ViewActionOptions & DeliveryOptions,
): Promise<InboundResult & { payload: JsonObject }> {
  const payload = buildViewAction(fake, options);
  const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  return { ...(await post(fake, options, body, "application/x-www-form-urlencoded")), payload };
}

/** The same over Socket Mode: `app_home_opened` in an `events_api` envelope. */
export function appHomeOpenedOverSocket(fake: SlackFake, options: AppHomeOpenedOptions): Promise<SocketDelivery<JsonObject>> {
  return fake.socket.send("events_api", buildAppHomeOpened(fake, options));
}

/** A Home view click in an `interactive` envelope. */
export function viewActionOverSocket(fake: SlackFake, options: ViewActionOptions): Promise<SocketDelivery<JsonObject>> {
  return fake.socket.send("interactive", buildViewAction(fake, options));
}

async function post(fake: SlackFake, options: DeliveryOptions, body: string, contentType: string): Promise<InboundResult> {
  const ts = Math.floor(Date.now() / 1000) + (options.timestampOffsetSec ?? 0);
  const secret = options.signingSecret ?? fake.signingSecret;
  const headers = { ...signSlackRequest(options.badSignature ? `${secret}-wrong` : secret, body, ts), "content-type": contentType };
  const started = performance.now();
  const response = await fetch(options.url, { method: "POST", headers, body });
  const text = await response.text();
  return { status: response.status, body: text, ms: performance.now() - started };
}
