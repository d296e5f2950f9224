/**
 * Modals on the Slack fake, driven by the real clients: views.open / push / update with Slack's trigger and view rules,
 * and shortcuts, message shortcuts, view_submission and view_closed delivered to a Bolt App over signed HTTP and
 * Socket Mode.
 */
import assert from "node:assert/strict";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { messageAction, SEED, SlackFake, shortcut, viewClosed, viewSubmission } from "@berth/slack-emulator";
import { App, type Logger, LogLevel, SocketModeReceiver } from "@slack/bolt";
import { WebAPIPlatformError, WebClient } from "@slack/web-api";

const quietLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  setLevel: () => {},
  getLevel: () => LogLevel.ERROR,
  setName: () => {},
};

const text = (t: string) => ({ type: "plain_text" as const, text: t });
const modal = (extra: Record<string, unknown> = {}) => ({
  type: "modal" as const,
  callback_id: "run",
  title: text("Run a container"),
  submit: text("Run"),
  private_metadata: "C0INCIDENT",
  blocks: [
    {
      type: "input",
      block_id: "image",
      label: text("Image"),
      element: { type: "static_select", action_id: "v", options: [{ text: text("busybox"), value: "busybox:1" }] },
    },
    { type: "input", block_id: "command", label: text("Command"), element: { type: "plain_text_input", action_id: "v" } },
    {
      type: "input",
      block_id: "detach",
      optional: true,
      label: text("Detach"),
      element: { type: "checkboxes", action_id: "v", options: [{ text: text("Detach"), value: "detach" }] },
    },
    {
      type: "input",
      block_id: "channel",
      label: text("Channel"),
      element: { type: "conversations_select", action_id: "v", default_to_current_conversation: true, response_url_enabled: true },
    },
  ],
  ...extra,
});

async function slackError(call: Promise<unknown>): Promise<WebAPIPlatformError> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof WebAPIPlatformError, `expected a platform error, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the call to fail");
}

describe("views.open, views.push, views.update", () => {
  let now = 1_000_000;
  let fake: SlackFake;
  let client: WebClient;
  before(async () => {
    fake = await SlackFake.start({ limits: "off", now: () => now });
    client = new WebClient(fake.botToken, { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 }, logger: quietLogger });
  });
  after(() => fake.stop());

  test("a trigger opens one modal for the person who used it, once, within 3 s", async () => {
    const trigger = fake.buildSlashCommand({ command: "/berth", user: SEED.operator }).trigger_id;
    const opened = await client.views.open({ trigger_id: trigger, view: modal() });
    assert.equal(opened.view?.callback_id, "run");
    assert.equal(opened.view?.private_metadata, "C0INCIDENT");
    assert.deepEqual(
      fake.views(SEED.operator).map((v) => v.id),
      [opened.view?.id],
    );
    assert.equal((await slackError(client.views.open({ trigger_id: trigger, view: modal() }))).data.error, "exchanged_trigger_id");
    assert.equal((await slackError(client.views.open({ trigger_id: "1.2.nope", view: modal() }))).data.error, "invalid_trigger_id");
    const late = fake.buildSlashCommand({ command: "/berth" }).trigger_id;
    now += 3001;
    assert.equal((await slackError(client.views.open({ trigger_id: late, view: modal() }))).data.error, "expired_trigger_id");
  });

  test("a view past Slack's limits is invalid_arguments, with the messages Slack sends", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ title: text("x".repeat(25)) }, "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"],
      [{ submit: text("y".repeat(25)) }, "[ERROR] must be less than 25 characters [json-pointer:/view/submit/text]"],
      [{ private_metadata: "m".repeat(3001) }, "[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]"],
      [{ callback_id: "c".repeat(256) }, "[ERROR] must be less than 256 characters [json-pointer:/view/callback_id]"],
      [{ submit: undefined }, "[ERROR] missing required field: submit [json-pointer:/view]"],
      [
        { blocks: Array.from({ length: 101 }, () => ({ type: "divider" })) },
        "[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]",
      ],
      [{ blocks: [{ type: "input", label: text("x") }] }, "[ERROR] missing required field: element [json-pointer:/view/blocks/0]"],
    ];
    for (const [change, message] of cases) {
      const trigger = fake.buildSlashCommand({ command: "/berth" }).trigger_id;
      const error = await slackError(client.views.open({ trigger_id: trigger, view: { ...modal(), ...change } as never }));
      assert.equal(error.data.error, "invalid_arguments");
      assert.ok(error.data.response_metadata?.messages?.includes(message), `${JSON.stringify(error.data)} lacks ${message}`);
    }
    // A hundred blocks is still fine.
    const trigger = fake.buildSlashCommand({ command: "/berth" }).trigger_id;
    const blocks = Array.from({ length: 100 }, () => ({ type: "divider" }));
    assert.equal((await client.views.open({ trigger_id: trigger, view: { ...modal(), blocks } as never })).ok, true);
  });

  test("push stacks up to three views; update needs the current hash when given one", async () => {
    fake.reset();
    const user = SEED.approver;
    const trigger = () => fake.buildSlashCommand({ command: "/berth", user }).trigger_id;
    const root = await client.views.open({ trigger_id: trigger(), view: modal() });
    await client.views.push({ trigger_id: trigger(), view: modal({ title: text("Second") }) });
    await client.views.push({ trigger_id: trigger(), view: modal({ title: text("Third") }) });
    assert.equal((await slackError(client.views.push({ trigger_id: trigger(), view: modal() }))).data.error, "push_limit_reached");
    assert.equal(fake.views(user).at(-1)?.stack.length, 3);
    const id = root.view?.id ?? "";
    assert.equal((await slackError(client.views.update({ view_id: id, hash: "stale", view: modal() }))).data.error, "hash_conflict");
    const updated = await client.views.update({ view_id: id, hash: root.view?.hash ?? "", view: modal({ title: text("Renamed") }) });
    assert.equal(updated.view?.id, id);
    assert.deepEqual(updated.view?.title, text("Renamed"));
    assert.equal((await slackError(client.views.update({ view_id: "V404", view: modal() }))).data.error, "not_found");
  });
});

/** A Bolt App that opens the modal from a shortcut, and answers its submission with errors until `command` is "ok". */
function boltApp(app: InstanceType<typeof App>, seen: Record<string, unknown>[]) {
  app.shortcut("open_run", async ({ shortcut: s, ack, client }) => {
    await ack();
    seen.push(s as unknown as Record<string, unknown>);
    await client.views.open({ trigger_id: s.trigger_id, view: modal({ notify_on_close: true }) });
  });
  app.view("run", async ({ ack, body, view }) => {
    seen.push(body as unknown as Record<string, unknown>);
    const command = view.state.values.command?.v?.value;
    if (command !== "ok") await ack({ response_action: "errors", errors: { command: "Write ok" } });
    else await ack();
  });
  app.shortcut("on_message", async ({ ack }) => {
    await ack();
  });
  app.view({ callback_id: "run", type: "view_closed" }, async ({ ack, body }) => {
    seen.push(body as unknown as Record<string, unknown>);
    await ack();
  });
}

describe("shortcuts and modal submissions to Bolt over signed HTTP", () => {
  let fake: SlackFake;
  let app: InstanceType<typeof App>;
  let url: string;
  const seen: Record<string, unknown>[] = [];
  before(async () => {
    fake = await SlackFake.start({ limits: "off" });
    app = new App({
      token: fake.botToken,
      signingSecret: fake.signingSecret,
      clientOptions: { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } },
      logger: quietLogger,
    });
    boltApp(app, seen);
    const server: Server = await app.start({ port: 0, host: "127.0.0.1" });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
  });
  after(async () => {
    await app.stop();
    await fake.stop();
  });

  test("a global shortcut opens the modal; its submission carries Slack's value shapes; errors keep it open", async () => {
    const delivered = await shortcut(fake, { url, callbackId: "open_run", user: SEED.operator });
    assert.equal(delivered.status, 200);
    assert.equal(delivered.payload.type, "shortcut");
    // Bolt answers the ack before the listener goes on to views.open.
    await fake.waitFor("views.open", (c) => c.status === 200);
    const [open] = fake.views(SEED.operator);
    assert.ok(open, "the modal is open");
    const values = { image: "busybox:1", command: "nope", detach: ["detach"] };
    const first = await viewSubmission(fake, { url, viewId: open.id, values, currentChannel: SEED.incidentChannel });
    assert.equal(first.status, 200);
    const body = seen.at(-1) as {
      type: string;
      view: { state: { values: Record<string, Record<string, unknown>> } };
      response_urls: unknown[];
    };
    assert.equal(body.type, "view_submission");
    assert.deepEqual(body.view.state.values.image?.v, {
      type: "static_select",
      selected_option: { text: text("busybox"), value: "busybox:1" },
    });
    assert.deepEqual(body.view.state.values.command?.v, { type: "plain_text_input", value: "nope" });
    assert.deepEqual(body.view.state.values.detach?.v, {
      type: "checkboxes",
      selected_options: [{ text: text("Detach"), value: "detach" }],
    });
    assert.deepEqual(body.view.state.values.channel?.v, { type: "conversations_select", selected_conversation: SEED.incidentChannel });
    assert.equal(body.response_urls.length, 1, "a response_url for the response_url_enabled channel select");
    assert.deepEqual(fake.views(SEED.operator)[0]?.errors, { command: "Write ok" });

    await viewSubmission(fake, { url, viewId: open.id, values: { ...values, command: "ok" }, currentChannel: SEED.incidentChannel });
    assert.deepEqual(fake.views(SEED.operator), [], "an empty ack closes the modal");
  });

  test("a required input left empty is not submitted; closing sends view_closed when asked", async () => {
    await shortcut(fake, { url, callbackId: "open_run", user: SEED.approver });
    await fake.waitFor("views.open", () => fake.views(SEED.approver).length > 0);
    const [open] = fake.views(SEED.approver);
    assert.ok(open);
    assert.throws(() => fake.buildViewSubmission({ viewId: open.id, values: { image: "busybox:1" } }), /"command" is required/);
    assert.throws(() => fake.buildViewSubmission({ viewId: open.id, values: { image: "alpine" } }), /offers no option "alpine"/);
    const closed = await viewClosed(fake, { url, viewId: open.id });
    assert.equal(closed?.status, 200);
    assert.equal(seen.at(-1)?.type, "view_closed");
    assert.deepEqual(fake.views(SEED.approver), []);
  });

  test("a message shortcut carries the message, its channel and a response_url", async () => {
    const message = fake.postAsUser({ channel: SEED.incidentChannel, user: SEED.operator, text: "try `/berth ps`" });
    const delivered = await messageAction(fake, { url, callbackId: "on_message", messageTs: message.ts });
    const payload = delivered.payload as {
      type: string;
      message: { text: string };
      channel: { id: string };
      response_url: string;
      trigger_id: string;
    };
    assert.equal(payload.type, "message_action");
    assert.equal(payload.message.text, "try `/berth ps`");
    assert.equal(payload.channel.id, SEED.incidentChannel);
    assert.match(payload.response_url, /\/commands\//);
    assert.match(payload.trigger_id, /^\d+\.\d+\.[0-9a-f]+$/);
  });
});

describe("shortcuts and modal submissions over Socket Mode", () => {
  let fake: SlackFake;
  let app: InstanceType<typeof App>;
  const seen: Record<string, unknown>[] = [];
  before(async () => {
    fake = await SlackFake.start({ limits: "off" });
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
    boltApp(app, seen);
    await app.start();
  });
  after(async () => {
    await app.stop();
    await fake.stop();
  });

  test("the ack's response_action comes back in the envelope's ack and is applied to the view", async () => {
    await fake.socket.shortcut({ callbackId: "open_run" });
    await fake.waitFor("views.open", (c) => c.status === 200);
    const [open] = fake.views(SEED.operator);
    assert.ok(open);
    const values = { image: "busybox:1", command: "nope", channel: SEED.incidentChannel };
    const refused = await fake.socket.viewSubmission({ viewId: open.id, values });
    assert.deepEqual(refused.ack, { response_action: "errors", errors: { command: "Write ok" } });
    assert.deepEqual(fake.views(SEED.operator)[0]?.errors, { command: "Write ok" });
    await fake.socket.viewSubmission({ viewId: open.id, values: { ...values, command: "ok" } });
    assert.deepEqual(fake.views(SEED.operator), []);
  });
});
