/**
 * Events API from the fake: a person's message that mentions the bot reaches a real Bolt App as Slack's `app_mention`
 * event_callback, signed JSON over HTTP and an `events_api` envelope over Socket Mode.
 */
import assert from "node:assert/strict";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { redeliver, SEED, SlackFake, userMessage } from "@berth/slack-emulator";
import { App, type Logger, LogLevel, SocketModeReceiver } from "@slack/bolt";

const C = SEED.incidentChannel;
const quietLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  setLevel: () => {},
  getLevel: () => LogLevel.ERROR,
  setName: () => {},
};

type Seen = { event: Record<string, unknown>; body: Record<string, unknown>; retryNum: unknown };

describe("app_mention over HTTP (Events API)", () => {
  let fake: SlackFake;
  let app: App;
  let url: string;
  const seen: Seen[] = [];

  before(async () => {
    fake = await SlackFake.start({ limits: "off" });
    app = new App({
      token: fake.botToken,
      signingSecret: fake.signingSecret,
      clientOptions: { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } },
      logger: quietLogger,
    });
    app.event("app_mention", async ({ event, body, context }) => {
      seen.push({
        event: event as unknown as Record<string, unknown>,
        body: body as unknown as Record<string, unknown>,
        retryNum: context.retryNum,
      });
    });
    const server: Server = await app.start({ port: 0, host: "127.0.0.1" });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
  });
  after(async () => {
    await app.stop();
    await fake.stop();
  });

  test("a reply mentioning the bot in a thread is delivered as Slack's event_callback, signed JSON", async () => {
    const parent = fake.postAsUser({ channel: C, user: SEED.botUserId, text: "job card" });
    const { message, delivery } = await userMessage(fake, { url, text: `<@${SEED.botUserId}> stop`, threadTs: parent.ts });
    assert.equal(delivery?.status, 200);
    const last = seen.at(-1);
    assert.deepEqual(last?.event, {
      type: "app_mention",
      user: SEED.operator,
      text: `<@${SEED.botUserId}> stop`,
      ts: message.ts,
      team: SEED.teamId,
      channel: C,
      event_ts: message.ts,
      thread_ts: parent.ts,
    });
    assert.equal(last?.body.type, "event_callback");
    assert.equal(last?.body.team_id, SEED.teamId);
    assert.equal(last?.body.api_app_id, SEED.appId);
    assert.match(String(last?.body.event_id), /^Ev[0-9A-Z]{10}$/);
    assert.equal(typeof last?.body.event_time, "number");
    assert.deepEqual(last?.body.authorizations, [
      { enterprise_id: null, team_id: SEED.teamId, user_id: SEED.botUserId, is_bot: true, is_enterprise_install: false },
    ]);
    // The message is in the thread, as the person wrote it.
    assert.equal(fake.ws.findMessage(C, message.ts)?.thread_ts, parent.ts);
  });

  test("a retry is the same event (same event_id), with Slack's retry headers", async () => {
    const first = await userMessage(fake, { url, text: `<@${SEED.botUserId}> ps` });
    assert.ok(first.delivery);
    const again = await redeliver(fake, first.delivery, { url, retryNum: 1 });
    assert.equal(again.status, 200);
    const [a, b] = seen.slice(-2);
    assert.equal(a?.body.event_id, b?.body.event_id);
    assert.deepEqual([a?.retryNum, b?.retryNum], [undefined, 1]);
    assert.equal(a?.event.thread_ts, undefined, "a top-level message has no thread_ts");
  });

  test("no event for a message without the mention, or in a channel the bot is not in", async () => {
    const before = seen.length;
    assert.equal((await userMessage(fake, { url, text: "just talking" })).delivery, undefined);
    const elsewhere = await userMessage(fake, { url, channel: SEED.randomChannel, text: `<@${SEED.botUserId}> ps` });
    assert.equal(elsewhere.delivery, undefined);
    assert.equal(seen.length, before);
  });

  test("a bad signature gets 401 and reaches no listener", async () => {
    const before = seen.length;
    const bad = await userMessage(fake, { url, text: `<@${SEED.botUserId}> ps`, badSignature: true });
    assert.equal(bad.delivery?.status, 401);
    assert.equal(seen.length, before);
  });

  test("a thread reply must go to a thread's parent, by a member of the channel", async () => {
    await assert.rejects(userMessage(fake, { url, text: "x", threadTs: "1.000001" }), /not a thread's parent/);
    await assert.rejects(userMessage(fake, { url, text: "x", user: "U0STRANGER" }), /not a member/);
  });
});

describe("app_mention over Socket Mode", () => {
  let fake: SlackFake;
  let app: App;
  const seen: Seen[] = [];

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
    app.event("app_mention", async ({ event, body, context }) => {
      seen.push({
        event: event as unknown as Record<string, unknown>,
        body: body as unknown as Record<string, unknown>,
        retryNum: context.retryNum,
      });
    });
    await app.start();
  });
  after(async () => {
    await app.stop();
    await fake.stop();
  });

  test("an events_api envelope carries the event_callback; it is acked", async () => {
    const { delivery } = await fake.socket.userMessage({ text: `<@${SEED.botUserId}> logs` });
    assert.equal(delivery?.type, "events_api");
    assert.deepEqual(delivery?.ack, {});
    assert.equal(seen.at(-1)?.body.event_id, delivery?.payload.event_id);
    assert.equal(seen.at(-1)?.event.text, `<@${SEED.botUserId}> logs`);
    const [envelope] = fake.socket.envelopes();
    assert.equal(envelope?.retryAttempt, 0);
  });
});
