/**
 * The Slack fake, driven by the real clients berth uses: @slack/web-api's WebClient, a @slack/bolt App in HTTP mode
 * (signed requests from slack-driver.ts) and a Bolt App in Socket Mode (envelopes from fake.socket).
 */
import assert from "node:assert/strict";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import { blockAction, redeliver, SEED, SlackFake, signSlackRequest, slashCommand, validateBlocks } from "@berth/slack-emulator";
import { App, SocketModeReceiver, verifySlackRequest } from "@slack/bolt";
import {
  ErrorCode,
  type Logger,
  LogLevel,
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebClient,
  type WebClientOptions,
} from "@slack/web-api";
import { WebSocket } from "ws";

const C = SEED.incidentChannel;

/** Bolt and WebClient log 401s, [ERROR] block messages and retries; keep test output clean. */
const quietLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  setLevel: () => {},
  getLevel: () => LogLevel.ERROR,
  setName: () => {},
};

/** A WebClient on the fake; `token: null` for none (a default parameter would turn undefined into the bot token). */
function clientFor(fake: SlackFake, options: WebClientOptions = {}, token: string | null = fake.botToken) {
  return new WebClient(token ?? undefined, {
    slackApiUrl: fake.apiUrl,
    retryConfig: { retries: 0 },
    logger: quietLogger,
    ...options,
  });
}

/** The Slack error code of a rejected Web API call. */
async function slackError(call: Promise<unknown>): Promise<WebAPIPlatformError> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof WebAPIPlatformError, `expected a platform error, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the call to fail");
}

const section = (text: string) => ({ type: "section", text: { type: "mrkdwn", text } });

describe("Web API through the real WebClient", () => {
  let fake: SlackFake;
  let client: WebClient;
  before(async () => {
    fake = await SlackFake.start();
  });
  after(() => fake.stop());
  beforeEach(() => {
    fake.reset();
    fake.setLimits("off");
    client = clientFor(fake);
  });

  test("auth.test answers like Slack for the bot token", async () => {
    const res = await client.auth.test();
    assert.equal(res.user_id, fake.botUserId);
    assert.equal(res.team_id, fake.teamId);
    assert.equal(res.bot_id, fake.botId);
  });

  test("authentication errors: not_authed, invalid_auth, not_allowed_token_type, unknown_method", async () => {
    assert.equal((await slackError(clientFor(fake, {}, null).auth.test())).data.error, "not_authed");
    assert.equal((await slackError(clientFor(fake, {}, "xoxb-wrong").auth.test())).data.error, "invalid_auth");
    const appClient = clientFor(fake, {}, fake.appToken);
    const appOnBot = await slackError(appClient.chat.postMessage({ channel: C, text: "hi" }));
    assert.equal(appOnBot.data.error, "not_allowed_token_type");
    assert.equal((await slackError(client.apps.connections.open({}))).data.error, "not_allowed_token_type");
    assert.match((await appClient.apps.connections.open({})).url ?? "", /^ws:\/\/127\.0\.0\.1:\d+\/link\/\?ticket=/);
    assert.equal((await slackError(client.apiCall("chat.doesNotExist"))).data.error, "unknown_method");
  });

  test("chat.postMessage into a thread, read back from the fake", async () => {
    const parent = await client.chat.postMessage({ channel: C, text: "job card" });
    assert.match(parent.ts ?? "", /^\d{10}\.\d{6}$/);
    const blocks = [section("```line 1\nline 2```")];
    const reply = await client.chat.postMessage({ channel: C, thread_ts: parent.ts, text: "lines 1-2", blocks });
    assert.ok((reply.ts ?? "") > (parent.ts ?? ""), "ts values increase");
    assert.equal(reply.message?.thread_ts, parent.ts);

    const thread = fake.thread(C, parent.ts ?? "");
    assert.equal(thread.length, 1);
    assert.equal(thread[0]?.text, "lines 1-2");
    assert.deepEqual(thread[0]?.blocks, blocks);
    assert.deepEqual(
      fake.messages(C).map((m) => m.text),
      ["job card"],
    );
    assert.equal(fake.message(C, parent.ts ?? "")?.reply_count, 1);
  });

  test("thread_ts must be a parent message", async () => {
    const parent = await client.chat.postMessage({ channel: C, text: "parent" });
    const reply = await client.chat.postMessage({ channel: C, thread_ts: parent.ts, text: "reply" });
    const onReply = await slackError(client.chat.postMessage({ channel: C, thread_ts: reply.ts, text: "x" }));
    assert.equal(onReply.data.error, "thread_not_found");
    const unknown = await slackError(client.chat.postMessage({ channel: C, thread_ts: "1.000001", text: "x" }));
    assert.equal(unknown.data.error, "thread_not_found");
  });

  test("channel membership: not_in_channel, channel_not_found", async () => {
    const notIn = await slackError(client.chat.postMessage({ channel: SEED.randomChannel, text: "hi" }));
    assert.equal(notIn.data.error, "not_in_channel");
    const priv = await slackError(client.chat.postMessage({ channel: SEED.privateChannel, text: "hi" }));
    assert.equal(priv.data.error, "channel_not_found");
    const none = await slackError(client.chat.postMessage({ channel: "C0NOPE", text: "hi" }));
    assert.equal(none.data.error, "channel_not_found");
    fake.addMember(SEED.randomChannel, fake.botUserId);
    assert.ok((await client.chat.postMessage({ channel: SEED.randomChannel, text: "hi" })).ok);
  });

  test("invalid_blocks with Slack's JSON-pointer messages: 51 blocks, a 3001-char section", async () => {
    const many = Array.from({ length: 51 }, (_, i) => section(`block ${i}`));
    const tooMany = await slackError(client.chat.postMessage({ channel: C, text: "x", blocks: many }));
    assert.equal(tooMany.data.error, "invalid_blocks");
    assert.deepEqual(tooMany.data.response_metadata?.messages, ["[ERROR] no more than 50 items allowed [json-pointer:/blocks]"]);

    const long = await slackError(client.chat.postMessage({ channel: C, text: "x", blocks: [section("a".repeat(3001))] }));
    assert.equal(long.data.error, "invalid_blocks");
    assert.deepEqual(long.data.response_metadata?.messages, [
      "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]",
    ]);
    assert.ok((await client.chat.postMessage({ channel: C, text: "x", blocks: [section("a".repeat(3000))] })).ok);
    assert.equal(fake.messages(C).length, 1, "rejected messages are not stored");
  });

  test("text over 4,000 chars is msg_too_long (strict mode); no text is no_text", async () => {
    assert.ok((await client.chat.postMessage({ channel: C, text: "a".repeat(4000) })).ok);
    const long = await slackError(client.chat.postMessage({ channel: C, text: "a".repeat(4001) }));
    assert.equal(long.data.error, "msg_too_long");
    const empty = await slackError(client.chat.postMessage({ channel: C, text: "" }));
    assert.equal(empty.data.error, "no_text");
  });

  test("form bodies with unparsable blocks get invalid_blocks_format; JSON bodies are accepted", async () => {
    const form = await fetch(`${fake.apiUrl}chat.postMessage`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${fake.botToken}` },
      body: new URLSearchParams({ channel: C, text: "x", blocks: "[{not json" }).toString(),
    });
    assert.deepEqual(await form.json(), { ok: false, error: "invalid_blocks_format" });

    const json = await fetch(`${fake.apiUrl}chat.postMessage`, {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8", authorization: `Bearer ${fake.botToken}` },
      body: JSON.stringify({ channel: C, text: "from json", blocks: [section("hello")] }),
    });
    const body: unknown = await json.json();
    assert.ok(typeof body === "object" && body !== null && "ok" in body && body.ok === true);
    assert.deepEqual(fake.messages(C)[0]?.blocks, [section("hello")]);
  });

  test("chat.update keeps an edit history and refuses what Slack refuses", async () => {
    const posted = await client.chat.postMessage({ channel: C, text: "running", blocks: [section("running")] });
    const ts = posted.ts ?? "";
    await client.chat.update({ channel: C, ts, text: "still running", blocks: [section("still running")] });
    await client.chat.update({ channel: C, ts, text: "exited 0" });
    const message = fake.message(C, ts);
    assert.equal(message?.text, "exited 0");
    assert.equal(message?.blocks, undefined, "text without blocks drops the old blocks");
    assert.deepEqual(
      message?.history.map((v) => [v.via, v.text]),
      [
        ["chat.postMessage", "running"],
        ["chat.update", "still running"],
        ["chat.update", "exited 0"],
      ],
    );

    const human = fake.postAsUser({ channel: C, user: SEED.operator, text: "mine" });
    const notMine = await slackError(client.chat.update({ channel: C, ts: human.ts, text: "x" }));
    assert.equal(notMine.data.error, "cant_update_message");
    const missing = await slackError(client.chat.update({ channel: C, ts: "1.000001", text: "x" }));
    assert.equal(missing.data.error, "message_not_found");
    const eph = await client.chat.postEphemeral({ channel: C, user: SEED.operator, text: "only you" });
    const onEphemeral = await slackError(client.chat.update({ channel: C, ts: eph.message_ts ?? "", text: "x" }));
    assert.equal(onEphemeral.data.error, "message_not_found");
    const tooLong = await slackError(client.chat.update({ channel: C, ts, text: "a".repeat(4001) }));
    assert.equal(tooLong.data.error, "msg_too_long");
  });

  test("chat.postEphemeral is stored apart, and the user must be in the channel", async () => {
    await client.chat.postEphemeral({ channel: C, user: SEED.nobody, text: "denied: rule viewers-only" });
    assert.deepEqual(
      fake.ephemerals(SEED.nobody).map((e) => e.text),
      ["denied: rule viewers-only"],
    );
    assert.equal(fake.messages(C).length, 0);
    fake.addUser({ id: "U0OUTSIDER", name: "outsider" });
    const outsider = await slackError(client.chat.postEphemeral({ channel: C, user: "U0OUTSIDER", text: "x" }));
    assert.equal(outsider.data.error, "user_not_in_channel");
  });

  test("conversations.info, users.info, usergroups.users.list", async () => {
    const info = await client.conversations.info({ channel: C });
    assert.equal(info.channel?.name, "incident-db");
    assert.equal(info.channel?.is_member, true);
    assert.equal((await client.conversations.info({ channel: SEED.randomChannel })).channel?.is_member, false);
    const priv = await slackError(client.conversations.info({ channel: SEED.privateChannel }));
    assert.equal(priv.data.error, "channel_not_found");

    assert.equal((await client.users.info({ user: SEED.approver })).user?.id, SEED.approver);
    assert.equal((await slackError(client.users.info({ user: "U0NOPE" }))).data.error, "user_not_found");

    assert.deepEqual((await client.usergroups.users.list({ usergroup: SEED.oncallGroup })).users, [SEED.operator]);
    const noGroup = await slackError(client.usergroups.users.list({ usergroup: "S0NOPE" }));
    assert.equal(noGroup.data.error, "no_such_subteam");
  });

  test("filesUploadV2 through the real client stores the bytes and shares the file in the thread", async () => {
    const parent = await client.chat.postMessage({ channel: C, text: "job card" });
    const log = "line 1\nline 2 ünïcödé\n";
    await client.filesUploadV2({
      channel_id: C,
      thread_ts: parent.ts ?? "",
      content: log,
      filename: "job-42.log",
      title: "Full log",
      initial_comment: "Full log attached",
    });
    const [file] = fake.files();
    assert.equal(file?.content, log);
    assert.equal(file?.title, "Full log");
    assert.equal(file?.thread_ts, parent.ts);
    const [shared] = fake.thread(C, parent.ts ?? "");
    assert.equal(shared?.text, "Full log attached");
    assert.deepEqual(
      shared?.files?.map((f) => f.id),
      [file?.id],
    );
    const upload = fake.calls("upload")[0];
    assert.match(String(upload?.args.content_type), /^multipart\/form-data/, "the client sends multipart");

    const again = await slackError(client.files.completeUploadExternal({ files: [{ id: file?.id ?? "" }] }));
    assert.equal(again.data.error, "file_not_found", "completeUploadExternal can only be called once");
  });

  test("files.getUploadURLExternal validates length and snippet size", async () => {
    const zero = await slackError(client.files.getUploadURLExternal({ filename: "a.txt", length: 0 }));
    assert.equal(zero.data.error, "missing_argument");
    const big = client.files.getUploadURLExternal({ filename: "a.txt", length: 2_000_000, snippet_type: "text" });
    assert.equal((await slackError(big)).data.error, "snippet_too_large");
    const ok = await client.files.getUploadURLExternal({ filename: "a.txt", length: 2_000_000 });
    assert.match(ok.upload_url ?? "", new RegExp(`^${fake.baseUrl}/upload/v1/`));
  });

  test("the upload URL also takes raw bytes, and checks the announced length", async () => {
    const bytes = Buffer.from([0x00, 0xff, 0x10, 0x80]);
    const { file_id, upload_url } = await client.files.getUploadURLExternal({ filename: "b.bin", length: 4 });
    const short = await fetch(upload_url ?? "", { method: "POST", body: new Uint8Array(bytes.subarray(0, 3)) });
    assert.equal(short.status, 400);
    const ok = await fetch(upload_url ?? "", { method: "POST", body: new Uint8Array(bytes) });
    assert.equal(ok.status, 200);
    await client.files.completeUploadExternal({ files: [{ id: file_id ?? "", title: "bin" }] });
    const file = fake.files().find((f) => f.id === file_id);
    assert.deepEqual(file?.bytes, bytes);
    assert.equal(file?.channel, undefined, "without channel_id the file stays private");
  });

  test("response_url: ephemeral by default, in_channel on request, a 6th use fails", async () => {
    const url = fake.mintResponseUrl({ kind: "commands", channel: C, user: SEED.operator });
    const post = (body: object) =>
      fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    assert.equal((await post({ text: "1 (ephemeral)" })).status, 200);
    assert.equal((await post({ text: "2 (public)", response_type: "in_channel" })).status, 200);
    for (const n of [3, 4, 5]) assert.equal((await post({ text: `${n}` })).status, 200);
    const sixth = await post({ text: "6" });
    assert.equal(sixth.status, 404);
    assert.deepEqual(await sixth.json(), { ok: false, error: "used_url" });

    assert.deepEqual(
      fake.ephemerals(SEED.operator).map((e) => e.text),
      ["1 (ephemeral)", "3", "4", "5"],
    );
    assert.deepEqual(
      fake.messages(C).map((m) => m.text),
      ["2 (public)"],
    );
    assert.deepEqual(
      fake.responses().map((r) => r.outcome),
      ["ephemeral", "in_channel", "ephemeral", "ephemeral", "ephemeral", "rejected"],
    );
  });

  test("response_url: replace_original / delete_original on a button's message; commands cannot delete", async () => {
    const card = await client.chat.postMessage({ channel: C, text: "card" });
    const actions = fake.mintResponseUrl({
      kind: "actions",
      channel: C,
      user: SEED.operator,
      messageTs: card.ts ?? "",
    });
    const post = (url: string, body: object) =>
      fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    assert.equal((await post(actions, { replace_original: true, text: "card v2" })).status, 200);
    assert.equal(fake.message(C, card.ts ?? "")?.text, "card v2");
    assert.equal((await post(actions, { delete_original: true })).status, 200);
    assert.equal(fake.message(C, card.ts ?? "")?.deleted, true);
    assert.equal(fake.messages(C).length, 0);

    const command = fake.mintResponseUrl({ kind: "commands", channel: C, user: SEED.operator });
    const refused = await post(command, { delete_original: true });
    assert.equal(refused.status, 400);
    assert.deepEqual(await refused.json(), { ok: false, error: "cannot_delete_original" });
  });

  test("response_url expires after 30 minutes (injectable clock)", async () => {
    let now = Date.now();
    const timed = await SlackFake.start({ now: () => now });
    try {
      const url = timed.mintResponseUrl({ kind: "commands", channel: C, user: SEED.operator });
      now += 31 * 60_000;
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ text: "too late" }),
      });
      assert.equal(res.status, 404);
      assert.deepEqual(await res.json(), { ok: false, error: "expired_url" });
    } finally {
      await timed.stop();
    }
  });

  test("fault injection: ok:false codes, 5xx with an HTML body, 429 with Retry-After, slow responses", async () => {
    fake.fail({ method: "chat.postMessage", error: "fatal_error" });
    assert.equal((await slackError(client.chat.postMessage({ channel: C, text: "x" }))).data.error, "fatal_error");

    fake.fail({ method: "chat.update", status: 503 });
    const parent = await client.chat.postMessage({ channel: C, text: "x" });
    const http = await client.chat.update({ channel: C, ts: parent.ts ?? "", text: "y" }).catch((e: unknown) => e);
    assert.ok(http instanceof WebAPIHTTPError);
    assert.equal(http.statusCode, 503);
    assert.match(String(http.body), /<html>/);

    const strictClient = clientFor(fake, { rejectRateLimitedCalls: true });
    fake.fail({ method: "users.info", status: 429, retryAfter: 7 });
    const limited = await strictClient.users.info({ user: SEED.operator }).catch((e: unknown) => e);
    assert.ok(limited instanceof WebAPIRateLimitedError);
    assert.equal(limited.retryAfter, 7);
    assert.equal(fake.rateLimited[0]?.injected, true);

    fake.fail({ method: "auth.test", delayMs: 50 });
    assert.ok((await client.auth.test()).ok, "a delay alone still answers normally");
    assert.ok((await client.chat.postMessage({ channel: C, text: "faults are used up" })).ok);
  });

  test("fault injection: a hung call never answers and has no effect; the client's timeout or releaseHung ends it", async () => {
    const before = fake.messages(C).length;
    fake.fail({ method: "chat.postMessage", hang: true, times: 2 });
    const impatient = clientFor(fake, { timeout: 200 });
    const timedOut = await impatient.chat.postMessage({ channel: C, text: "lost" }).catch((e: unknown) => e);
    assert.equal((timedOut as { code?: string }).code, ErrorCode.RequestError);
    assert.equal((await fake.waitFor("chat.postMessage", (c) => c.args.text === "lost")).status, 0);
    const held = client.chat.postMessage({ channel: C, text: "held" }).catch((e: unknown) => e);
    await fake.waitFor("chat.postMessage", (c) => c.args.text === "held" && c.status === 0);
    fake.releaseHung();
    assert.equal(((await held) as { code?: string }).code, ErrorCode.RequestError);
    assert.equal(fake.messages(C).length, before, "neither hung call posted anything");
    assert.ok((await client.chat.postMessage({ channel: C, text: "answered again" })).ok);
  });

  test("waitFor resolves on past and future calls, and rejects on timeout", async () => {
    const later = fake.waitFor("chat.postMessage", (c) => c.args.text === "second");
    await client.chat.postMessage({ channel: C, text: "first" });
    await client.chat.postMessage({ channel: C, text: "second" });
    assert.equal((await later).args.text, "second");
    assert.equal((await fake.waitFor("chat.postMessage", (c) => c.args.text === "first")).status, 200);
    await assert.rejects(
      fake.waitFor("chat.update", () => true, 50),
      /timed out/,
    );
  });
});

describe("rate limits (Slack's numbers, on by default)", () => {
  let fake: SlackFake;
  beforeEach(async () => {
    fake = await SlackFake.start();
  });
  afterEach(() => fake.stop());

  test("chat.update: the 51st update within a minute gets 429 with Retry-After", async () => {
    const client = clientFor(fake, { rejectRateLimitedCalls: true });
    const { ts } = await client.chat.postMessage({ channel: C, text: "live tail" });
    for (let i = 1; i <= 50; i++) await client.chat.update({ channel: C, ts: ts ?? "", text: `tail ${i}` });
    const error = await client.chat.update({ channel: C, ts: ts ?? "", text: "tail 51" }).catch((e: unknown) => e);
    assert.ok(error instanceof WebAPIRateLimitedError, `expected a rate-limit error, got ${String(error)}`);
    assert.equal(error.code, ErrorCode.RateLimitedError);
    assert.ok(error.retryAfter >= 1 && error.retryAfter <= 60, `Retry-After ${error.retryAfter}`);
    assert.deepEqual(
      fake.rateLimited.map((r) => [r.method, r.key, r.injected]),
      [["chat.update", "chat.update", false]],
    );
    const last = fake.calls("chat.update").at(-1);
    assert.equal(last?.status, 429);
    assert.deepEqual(last?.response, { ok: false, error: "ratelimited" });
    assert.equal(fake.message(C, ts ?? "")?.text, "tail 50");
  });

  test("chat.postMessage: a burst of 3 per channel, then 429; other channels are separate", async () => {
    const client = clientFor(fake, { rejectRateLimitedCalls: true });
    fake.addChannel({ id: "C0OTHER", name: "other", members: [fake.botUserId] });
    for (let i = 0; i < 3; i++) await client.chat.postMessage({ channel: C, text: `burst ${i}` });
    const error = await client.chat.postMessage({ channel: C, text: "one too many" }).catch((e: unknown) => e);
    assert.ok(error instanceof WebAPIRateLimitedError);
    assert.ok(error.retryAfter >= 1 && error.retryAfter <= 3, `Retry-After ${error.retryAfter}`);
    assert.ok((await client.chat.postMessage({ channel: "C0OTHER", text: "elsewhere" })).ok);
    assert.equal(fake.rateLimited[0]?.key, `chat.postMessage#${C}`);
  });

  test("setLimits('off') turns the limiter off", async () => {
    fake.setLimits("off");
    const client = clientFor(fake, { rejectRateLimitedCalls: true });
    for (let i = 0; i < 10; i++) await client.chat.postMessage({ channel: C, text: `line ${i}` });
    assert.equal(fake.rateLimited.length, 0);
  });
});

describe("validateBlocks (pure)", () => {
  const button = (text: string, value = "v") => ({
    type: "button",
    action_id: `a-${text.length}-${value.length}`,
    text: { type: "plain_text", text },
    value,
  });

  test("header, button text and value, actions element count", () => {
    assert.deepEqual(validateBlocks([{ type: "header", text: { type: "plain_text", text: "h".repeat(151) } }]), [
      "[ERROR] must be less than 151 characters [json-pointer:/blocks/0/text/text]",
    ]);
    assert.deepEqual(validateBlocks([{ type: "actions", elements: [button("b".repeat(76))] }]), [
      "[ERROR] must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]",
    ]);
    assert.deepEqual(validateBlocks([{ type: "actions", elements: [button("ok", "v".repeat(2001))] }]), [
      "[ERROR] must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]",
    ]);
    const elements = Array.from({ length: 26 }, (_, i) => ({ ...button("x"), action_id: `a${i}` }));
    assert.deepEqual(validateBlocks([{ type: "actions", elements }]), [
      "[ERROR] no more than 25 items allowed [json-pointer:/blocks/0/elements]",
    ]);
    assert.deepEqual(validateBlocks([section("ok"), { type: "divider" }, { type: "actions", elements: [button("ok")] }]), []);
  });
});

describe("a real Bolt App in HTTP mode", () => {
  let fake: SlackFake;
  let app: App;
  let url: string;
  const commands: string[] = [];
  const clicks: string[] = [];
  /** What Bolt read from each delivery: the trigger and the retry headers (context.retryNum / retryReason). */
  const deliveries: [string, unknown, unknown][] = [];

  before(async () => {
    fake = await SlackFake.start({ limits: "off" });
    app = new App({
      token: fake.botToken,
      signingSecret: fake.signingSecret,
      clientOptions: { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } },
      logger: quietLogger,
      port: 0,
    });
    app.command("/berth", async ({ command, ack, client, respond, context }) => {
      commands.push(command.text);
      deliveries.push([command.trigger_id, context.retryNum, context.retryReason]);
      await ack({ text: "Working on it…" });
      await client.chat.postMessage({ channel: command.channel_id, text: `job card: ${command.text}` });
      await respond({ text: "done" });
    });
    app.action("stop", async ({ ack, action, respond }) => {
      await ack();
      clicks.push(action.type === "button" ? (action.value ?? "") : action.type);
      await respond({ replace_original: true, text: "Stopped" });
    });
    // HTTPReceiver#start resolves with the node:http Server; listen options keep it on loopback.
    const server: Server = await app.start({ port: 0, host: "127.0.0.1" });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
  });
  after(async () => {
    await app.stop();
    await fake.stop();
  });

  test("the driver's signature verifies with Bolt's own verifier", () => {
    const body = "command=%2Fberth&text=ps";
    const headers = signSlackRequest(fake.signingSecret, body);
    assert.equal(headers["content-type"], "application/x-www-form-urlencoded");
    verifySlackRequest({
      signingSecret: fake.signingSecret,
      body,
      headers: {
        "x-slack-signature": headers["x-slack-signature"],
        "x-slack-request-timestamp": Number(headers["x-slack-request-timestamp"]),
      },
    });
  });

  test("a signed slash command is acked with 200; the ack text, the post and respond() reach the fake", async () => {
    const res = await slashCommand(fake, { url, command: "/berth", text: "ps -a", user: SEED.operator, channel: C });
    assert.equal(res.status, 200);
    assert.deepEqual(commands, ["ps -a"]);
    await fake.waitFor("chat.postMessage", (c) => c.args.text === "job card: ps -a");
    await fake.waitFor("response_url", (c) => c.args.text === "done");
    assert.deepEqual(
      fake.ephemerals(SEED.operator).map((e) => [e.text, e.via]),
      [
        ["Working on it…", "ack"],
        ["done", "response_url"],
      ],
    );
  });

  test("redeliver sends the same slash command again, signed anew, with Slack's retry headers", async () => {
    const first = await slashCommand(fake, { url, command: "/berth", text: "run retried", user: SEED.operator, channel: C });
    const again = await redeliver(fake, first, { url, retryNum: 1, retryReason: "http_timeout" });
    const third = await redeliver(fake, first, { url, retryNum: 2 });
    assert.deepEqual([again.status, third.status], [200, 200]);
    assert.deepEqual(commands.slice(-3), ["run retried", "run retried", "run retried"]);
    assert.deepEqual(deliveries.slice(-3), [
      [first.triggerId, undefined, undefined],
      [first.triggerId, 1, "http_timeout"],
      [first.triggerId, 2, "http_timeout"],
    ]);
  });

  test("a bad signature and a stale (6 min old) timestamp get 401 and reach no listener", async () => {
    const before = commands.length;
    const bad = await slashCommand(fake, { url, command: "/berth", text: "ps", badSignature: true });
    assert.equal(bad.status, 401);
    const stale = await slashCommand(fake, { url, command: "/berth", text: "ps", timestampOffsetSec: -360 });
    assert.equal(stale.status, 401);
    assert.equal(commands.length, before);
  });

  test("a block action from the fake's store: the payload carries the message, respond() replaces it", async () => {
    const client = clientFor(fake);
    const card = await client.chat.postMessage({
      channel: C,
      text: "job 42 running",
      blocks: [
        section("job 42 running"),
        {
          type: "actions",
          block_id: "job-42",
          elements: [{ type: "button", action_id: "stop", text: { type: "plain_text", text: "Stop" }, value: "job-42" }],
        },
      ],
    });
    const res = await blockAction(fake, {
      url,
      user: SEED.operator,
      channel: C,
      messageTs: card.ts ?? "",
      actionId: "stop",
    });
    assert.equal(res.status, 200);
    assert.deepEqual(res.payload.container, {
      type: "message",
      message_ts: card.ts,
      channel_id: C,
      is_ephemeral: false,
    });
    await fake.waitFor("response_url", (c) => c.args.text === "Stopped");
    assert.deepEqual(clicks, ["job-42"]);
    const message = fake.message(C, card.ts ?? "");
    assert.equal(message?.text, "Stopped");
    assert.deepEqual(
      message?.history.map((v) => v.via),
      ["chat.postMessage", "response_url"],
    );
  });
});

describe("a real Bolt App in Socket Mode", () => {
  let fake: SlackFake;
  let app: App;
  const received: string[] = [];
  /** Per slash command envelope: its id (through the receiver's customPropertiesExtractor) and its retry fields. */
  const envelopes: [unknown, unknown, unknown][] = [];

  before(async () => {
    fake = await SlackFake.start();
    app = new App({
      token: fake.botToken,
      socketMode: true,
      receiver: new SocketModeReceiver({
        appToken: fake.appToken,
        logger: quietLogger,
        installerOptions: { clientOptions: { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } } },
        customPropertiesExtractor: (event: { envelope_id?: unknown }) => ({ envelopeId: event.envelope_id }),
      }),
      clientOptions: { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } },
      logger: quietLogger,
    });
    app.command("/berth", async ({ command, ack, context }) => {
      envelopes.push([context.envelopeId, context.retryNum, context.retryReason]);
      received.push(`${command.user_id}:${command.text}`);
      await ack({ text: `Running ${command.text}` });
    });
    app.action("stop", async ({ ack }) => {
      received.push("stop");
      await ack();
    });
    await app.start();
  });
  after(async () => {
    await app.stop();
    await fake.stop();
  });

  test("connects to the ws:// URL from apps.connections.open and gets hello", () => {
    assert.equal(fake.socket.connections, 1);
    assert.equal(fake.calls("apps.connections.open")[0]?.token, "app");
  });

  test("a slash command through the hub is acked, and the ack text is shown to the user", async () => {
    const { ack, payload } = await fake.socket.slashCommand({ command: "/berth", text: "ps", user: SEED.operator });
    assert.deepEqual(ack, { text: "Running ps" });
    assert.equal(payload.channel_id, C);
    assert.deepEqual(received, [`${SEED.operator}:ps`]);
    assert.deepEqual(
      fake.ephemerals(SEED.operator).map((e) => e.text),
      ["Running ps"],
    );
  });

  test("redeliver sends an envelope again with its id and the next retry_attempt", async () => {
    const first = await fake.socket.slashCommand({ command: "/berth", text: "again", user: SEED.operator });
    const second = await fake.socket.redeliver(first.envelopeId);
    assert.equal(second.envelopeId, first.envelopeId);
    assert.deepEqual(second.payload, first.payload);
    assert.deepEqual(envelopes.slice(-2), [
      [first.envelopeId, undefined, undefined],
      [first.envelopeId, 1, "timeout"],
    ]);
    assert.deepEqual(
      fake.socket
        .envelopes()
        .filter((e) => e.envelopeId === first.envelopeId)
        .map((e) => [e.retryAttempt, e.ack]),
      [
        [0, { text: "Running again" }],
        [1, { text: "Running again" }],
      ],
    );
    await assert.rejects(fake.socket.redeliver("no-such-envelope"), /no envelope no-such-envelope was sent/);
  });

  test("a block action through the hub is acked", async () => {
    const client = clientFor(fake);
    const card = await client.chat.postMessage({
      channel: C,
      text: "card",
      blocks: [
        {
          type: "actions",
          elements: [{ type: "button", action_id: "stop", text: { type: "plain_text", text: "Stop" }, value: "j1" }],
        },
      ],
    });
    const { ack } = await fake.socket.blockAction({ messageTs: card.ts ?? "", actionId: "stop" });
    assert.deepEqual(ack, {});
    assert.equal(received.at(-1), "stop");
  });
});

describe("Socket Mode reconnect", () => {
  let fake: SlackFake;
  let app: App;
  before(async () => {
    fake = await SlackFake.start();
    // apps.connections.open is Tier 1 (1/min): a reconnect within a minute would get 429 (see the report).
    fake.setLimit("apps.connections.open", null);
    // Bolt's App does not forward clientPingTimeout; the reconnect delay is clientPingTimeout × attempts (5 s default).
    const receiver = new SocketModeReceiver({
      appToken: fake.appToken,
      clientPingTimeout: 300,
      logger: quietLogger,
      installerOptions: { clientOptions: { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } } },
    });
    app = new App({
      token: fake.botToken,
      receiver,
      clientOptions: { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } },
      logger: quietLogger,
    });
    app.command("/berth", async ({ ack }) => {
      await ack();
    });
    await app.start();
  });
  after(async () => {
    await app.stop();
    await fake.stop();
  });

  test("after disconnect(refresh_requested) the client fetches a fresh URL and keeps receiving", async () => {
    assert.equal(fake.socket.disconnect("refresh_requested"), 1);
    const deadline = Date.now() + 5000;
    while (fake.socket.totalConnections < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await fake.socket.waitForConnections(1);
    assert.equal(fake.calls("apps.connections.open").length, 2);
    const { ack } = await fake.socket.slashCommand({ command: "/berth", text: "ps" });
    assert.deepEqual(ack, {});
  });
});

describe("Socket Mode link", () => {
  let fake: SlackFake;
  before(async () => {
    fake = await SlackFake.start();
  });
  after(() => fake.stop());

  const open = (url: string) =>
    new Promise<{ ws: WebSocket; first: unknown }>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.once("message", (data) => resolve({ ws, first: JSON.parse(String(data)) }));
      ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once("error", reject);
    });

  test("tickets are one-time; hello on connect; disconnect(reason) reaches the client", async () => {
    const appClient = clientFor(fake, {}, fake.appToken);
    const { url } = await appClient.apps.connections.open({});
    const { ws, first } = await open(url ?? "");
    assert.ok(typeof first === "object" && first !== null && "type" in first && first.type === "hello");
    await assert.rejects(open(url ?? ""), /HTTP 401/);
    const goodbye = new Promise<unknown>((resolve) => ws.once("message", (d) => resolve(JSON.parse(String(d)))));
    assert.equal(fake.socket.disconnect("warning"), 1);
    const message = await goodbye;
    assert.ok(typeof message === "object" && message !== null && "reason" in message && message.reason === "warning");
    ws.close();
  });

  test("send() rejects when nobody acks within the deadline", async () => {
    const short = await SlackFake.start({ ackTimeoutMs: 100 });
    try {
      const { url } = await clientFor(short, {}, short.appToken).apps.connections.open({});
      const { ws } = await open(url ?? "");
      await assert.rejects(short.socket.send("slash_commands", { command: "/berth" }), /no ack/);
      ws.close();
    } finally {
      await short.stop();
    }
  });
});
