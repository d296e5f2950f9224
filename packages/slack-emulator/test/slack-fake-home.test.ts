/**
 * App Home on the Slack fake: views.publish with Slack's limits and error shapes (through @slack/web-api), and
 * app_home_opened plus Home-view clicks delivered to a real Bolt App, over signed HTTP and over Socket Mode.
 */
import assert from "node:assert/strict";
import { EventEmitter, once } from "node:events";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import {
  appHomeOpened,
  appHomeOpenedOverSocket,
  homeView,
  SEED,
  SlackFake,
  VIEW_MAX_BYTES,
  viewAction,
  viewActionOverSocket,
} from "@berth/slack-emulator";
import { App, type BlockAction, type Logger, LogLevel, SocketModeReceiver } from "@slack/bolt";
import { WebAPIPlatformError, WebAPIRateLimitedError, WebClient } from "@slack/web-api";

const quietLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  setLevel: () => {},
  getLevel: () => LogLevel.ERROR,
  setName: () => {},
};
const U = SEED.operator;
const section = (text: string) => ({ type: "section", text: { type: "mrkdwn", text } });
const stopButtons = (job: string) => ({
  type: "actions",
  block_id: `home-job:${job}`,
  elements: [{ type: "button", action_id: "stop", text: { type: "plain_text", text: "Stop" }, value: job }],
});

async function refused(call: Promise<unknown>): Promise<WebAPIPlatformError["data"]> {
  try {
    await call;
  } catch (error) {
    if (error instanceof WebAPIPlatformError) return error.data;
    throw error;
  }
  assert.fail("the call succeeded");
}

describe("views.publish", () => {
  let fake: SlackFake;
  let client: WebClient;
  before(async () => {
    fake = await SlackFake.start();
    client = new WebClient(fake.botToken, {
      slackApiUrl: fake.apiUrl,
      retryConfig: { retries: 0 },
      logger: quietLogger,
      rejectRateLimitedCalls: true,
    });
  });
  after(() => fake.stop());

  test("stores one Home view per user and answers with it; a later publish replaces it under the same id", async () => {
    const first = await client.views.publish({ user_id: U, view: { type: "home", blocks: [section("hello")] } });
    assert.equal(first.ok, true);
    assert.equal(first.view?.type, "home");
    assert.match(first.view?.id ?? "", /^V/);
    assert.deepEqual(homeView(fake, U)?.blocks, [section("hello")]);
    const second = await client.views.publish({
      user_id: U,
      view: { type: "home", blocks: [section("again")] },
      hash: first.view?.hash ?? "",
    });
    assert.equal(second.view?.id, first.view?.id);
    assert.deepEqual(homeView(fake, U)?.blocks, [section("again")]);
    assert.equal(homeView(fake, "U0SOMEONE"), undefined, "another user's Home is their own");
  });

  test("a stale hash is a hash_conflict", async () => {
    await client.views.publish({ user_id: U, view: { type: "home", blocks: [section("x")] } });
    assert.equal(
      (await refused(client.views.publish({ user_id: U, view: { type: "home", blocks: [] }, hash: "1.stale" }))).error,
      "hash_conflict",
    );
  });

  test("100 blocks fit a Home view; 101 are invalid_arguments with Slack's JSON-pointer message", async () => {
    const blocks = (n: number) => Array.from({ length: n }, (_, i) => section(`line ${i}`));
    assert.equal((await client.views.publish({ user_id: U, view: { type: "home", blocks: blocks(100) } })).ok, true);
    const data = await refused(client.views.publish({ user_id: U, view: { type: "home", blocks: blocks(101) } }));
    assert.equal(data.error, "invalid_arguments");
    assert.deepEqual(data.response_metadata?.messages, ["[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]"]);
  });

  test("a bad block, a missing view or user, a modal type and an oversized view are refused as Slack refuses them", async () => {
    const bad = await refused(
      client.views.publish({
        user_id: U,
        view: { type: "home", blocks: [{ type: "section", text: { type: "mrkdwn", text: "x".repeat(3001) } }] },
      }),
    );
    assert.equal(bad.error, "invalid_arguments");
    assert.deepEqual(bad.response_metadata?.messages, [
      "[ERROR] must be less than 3001 characters [json-pointer:/view/blocks/0/text/text]",
    ]);
    // @slack/web-api would refuse to send these itself: a raw call, as another client could make it.
    const raw = async (body: Record<string, string>) =>
      (await (
        await fetch(`${fake.apiUrl}views.publish`, {
          method: "POST",
          headers: { authorization: `Bearer ${fake.botToken}` },
          body: new URLSearchParams(body),
        })
      ).json()) as {
        error?: string;
        response_metadata?: { messages?: string[] };
      };
    assert.equal((await raw({ view: JSON.stringify({ type: "home", blocks: [] }) })).error, "invalid_arguments");
    assert.equal((await raw({ user_id: U })).error, "invalid_arguments");
    const notObject = await raw({ user_id: U, view: "[1]" });
    assert.deepEqual(notObject.response_metadata?.messages, [
      "[ERROR] failed to match all allowed schemas [json-pointer:/view]",
      "[ERROR] must provide an object [json-pointer:/view]",
    ]);
    const modal = await refused(
      client.views.publish({ user_id: U, view: { type: "modal", title: { type: "plain_text", text: "x" }, blocks: [] } }),
    );
    assert.deepEqual(modal.response_metadata?.messages, ["[ERROR] must be one of the following: home [json-pointer:/view/type]"]);
    const huge = Array.from({ length: 90 }, () => section("y".repeat(2900)));
    assert.ok(JSON.stringify(huge).length > VIEW_MAX_BYTES);
    assert.equal((await refused(client.views.publish({ user_id: U, view: { type: "home", blocks: huge } }))).error, "view_too_large");
  });

  test("views.publish is Tier 4: the 101st call in a minute gets a 429", async () => {
    const limited = await SlackFake.start();
    try {
      const c = new WebClient(limited.botToken, {
        slackApiUrl: limited.apiUrl,
        retryConfig: { retries: 0 },
        logger: quietLogger,
        rejectRateLimitedCalls: true,
      });
      for (let i = 0; i < 100; i++) await c.views.publish({ user_id: U, view: { type: "home", blocks: [] } });
      await assert.rejects(c.views.publish({ user_id: U, view: { type: "home", blocks: [] } }), WebAPIRateLimitedError);
    } finally {
      await limited.stop();
    }
  });
});

/** A Bolt app that publishes a Home with a Stop button on app_home_opened and records what it was sent. */
function homeApp(app: App, seen: { opened: unknown[]; clicks: EventEmitter }) {
  app.event("app_home_opened", async ({ event, client }) => {
    seen.opened.push(event);
    if (event.tab === "home")
      await client.views.publish({ user_id: event.user, view: { type: "home", blocks: [section("jobs"), stopButtons("j-1")] } });
  });
  app.action("stop", async ({ ack, body }) => {
    await ack();
    seen.clicks.emit("click", body);
  });
}

function assertViewClick(click: BlockAction | undefined, viewId: string | undefined) {
  assert.equal(click?.container.type, "view");
  assert.equal(click?.container.view_id, viewId);
  assert.equal(click?.view?.id, viewId);
  assert.equal(click?.channel, undefined, "a view is not in a conversation");
  assert.equal((click as { response_url?: string } | undefined)?.response_url, undefined);
  assert.equal(click?.actions[0]?.block_id, "home-job:j-1");
  assert.equal((click?.actions[0] as { value?: string } | undefined)?.value, "j-1");
}

describe("app_home_opened and Home clicks over signed HTTP", () => {
  let fake: SlackFake;
  let app: App;
  let url: string;
  const seen = { opened: [] as unknown[], clicks: new EventEmitter() };
  before(async () => {
    fake = await SlackFake.start();
    app = new App({
      token: fake.botToken,
      signingSecret: fake.signingSecret,
      clientOptions: { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } },
      logger: quietLogger,
    });
    homeApp(app, seen);
    const server: Server = await app.start({ port: 0, host: "127.0.0.1" });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
  });
  after(async () => {
    await app.stop();
    await fake.stop();
  });

  test("the event reaches Bolt in Slack's shape; the app publishes; a tap on the view's button comes back as a view click", async () => {
    const sent = await appHomeOpened(fake, { url, user: U });
    assert.equal(sent.status, 200);
    assert.equal((sent.payload.event as { view?: unknown }).view, undefined, "no view yet: none was published");
    await fake.waitFor("views.publish");
    assert.deepEqual(seen.opened[0], {
      type: "app_home_opened",
      user: U,
      channel: `D${U.slice(1)}`,
      tab: "home",
      event_ts: (sent.payload.event as { event_ts: string }).event_ts,
    });
    const again = await appHomeOpened(fake, { url, user: U });
    assert.equal(
      (again.payload.event as { view?: { id: string } }).view?.id,
      homeView(fake, U)?.id,
      "once published, the event carries the view",
    );
    assert.equal((await appHomeOpened(fake, { url, user: U, badSignature: true })).status, 401);
    const click = once(seen.clicks, "click", { signal: AbortSignal.timeout(5000) });
    await viewAction(fake, { url, user: U, actionId: "stop" });
    assertViewClick((await click)[0] as BlockAction, homeView(fake, U)?.id);
  });
});

describe("app_home_opened and Home clicks over Socket Mode", () => {
  let fake: SlackFake;
  let app: App;
  const seen = { opened: [] as unknown[], clicks: new EventEmitter() };
  before(async () => {
    fake = await SlackFake.start();
    app = new App({
      token: fake.botToken,
      socketMode: true,
      receiver: new SocketModeReceiver({
        appToken: fake.appToken,
        logger: quietLogger,
        installerOptions: { clientOptions: { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } } },
      }),
      clientOptions: { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } },
      logger: quietLogger,
    });
    homeApp(app, seen);
    await app.start();
  });
  after(async () => {
    await app.stop();
    await fake.stop();
  });

  test("the event comes in an events_api envelope and the click in an interactive one", async () => {
    const delivered = await appHomeOpenedOverSocket(fake, { user: U });
    assert.equal(delivered.type, "events_api");
    await fake.waitFor("views.publish");
    assert.equal((seen.opened[0] as { tab?: string }).tab, "home");
    const click = once(seen.clicks, "click", { signal: AbortSignal.timeout(5000) });
    await viewActionOverSocket(fake, { user: U, actionId: "stop", blockId: "home-job:j-1" });
    assertViewClick((await click)[0] as BlockAction, homeView(fake, U)?.id);
  });
});
