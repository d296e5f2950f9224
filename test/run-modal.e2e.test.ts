import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { blockAction, messageAction, shortcut, viewSubmission } from "@berth/slack-emulator";
import {
  cardText,
  eventually,
  findCard,
  isFinished,
  removeOwnContainers,
  startBerth,
  testImage,
  testPolicy,
  threadLines,
} from "./support/berth-harness.ts";
import { SEED, SlackFake } from "./support/slack-fake.ts";

// The run modal end to end: real berth (Bolt over signed HTTP), the Slack fake, the real Docker engine.

const C = SEED.incidentChannel;
const policy = testPolicy.replace('images: ["berth-test/**"]', `images: ["${testImage}", "berth-test/**"]`);
let fake: SlackFake;
let berth: Awaited<ReturnType<typeof startBerth>>;

before(async () => {
  fake = await SlackFake.start();
  berth = await startBerth(fake, { policy });
});

after(async () => {
  if (berth) await removeOwnContainers(berth.berth.store);
  await berth?.stop();
  await fake?.stop();
});

/** Waits for the modal berth opens next (or opened since `since` views.open calls) and returns it. */
async function opened(since = seenOpens) {
  const call = await eventually("a modal opened", () =>
    fake
      .calls("views.open")
      .slice(since)
      .find((c) => c.status === 200),
  );
  seenOpens = fake.calls("views.open").length;
  const id = (call.response as { view?: { id?: string } }).view?.id;
  return eventually("the open modal", () => fake.views().find((v) => v.id === id));
}
let seenOpens = 0;

const input = (view: { blocks?: unknown }, blockId: string) =>
  (view.blocks as { block_id?: string; element?: Record<string, unknown> }[]).find((b) => b.block_id === blockId)?.element;

test("/berth run with no arguments opens the form; submitting it runs the job with a card in the channel", async () => {
  const ack = await berth.command("run");
  assert.equal(ack.status, 200);
  const modal = await opened();
  assert.equal(modal.view.callback_id, "berth_run_modal");
  assert.deepEqual(JSON.parse(String(modal.view.private_metadata)), { channelId: C, channelName: "incident-db" });
  assert.deepEqual(
    ((input(modal.view, "image")?.options ?? []) as { value: string }[]).map((o) => o.value),
    [testImage],
  );
  assert.deepEqual(input(modal.view, "host")?.initial_option, { text: { type: "plain_text", text: "local" }, value: "local" });
  assert.equal(fake.ephemerals(SEED.operator).length, 0, "no usage error");

  const submitted = await viewSubmission(fake, {
    url: berth.url,
    viewId: modal.id,
    values: { image: testImage, command: "echo hi-from-the-form", env: "SECRET_TOKEN=hunter2-swordfish\nLEVEL=debug" },
  });
  assert.equal(submitted.status, 200);
  assert.equal(submitted.body, "", "an empty ack closes the modal");
  assert.deepEqual(fake.views(SEED.operator), []);
  const card = await eventually("the finished job card", () => {
    const c = findCard(fake, C, "hi-from-the-form");
    return c && isFinished(c) ? c : undefined;
  });
  assert.match(cardText(card), /Exited with code 0/);
  assert.ok(threadLines(fake, C, card.ts).includes("hi-from-the-form"));
  // The env value is a secret: not on the card, not in berth's log, not in the audit log.
  assert.ok(!cardText(card).includes("hunter2-swordfish"), cardText(card));
  assert.ok(!berth.logs.join("\n").includes("hunter2-swordfish"));
  const audit = JSON.stringify(await berth.berth.store.audit.all());
  assert.ok(audit.includes("hi-from-the-form") && !audit.includes("hunter2-swordfish"));
});

test("a bad timeout and a malformed env line come back under their fields, and nothing runs", async () => {
  await berth.command("Run");
  const modal = await opened();
  const audited = (await berth.berth.store.audit.all()).length;
  const cards = fake.messages(C).length;
  const refused = await viewSubmission(fake, {
    url: berth.url,
    viewId: modal.id,
    values: { image: testImage, command: "echo never", timeout: "soon", env: "LEVEL=debug\nnot a variable" },
  });
  assert.equal(refused.status, 200);
  const errors = fake.views(SEED.operator)[0]?.errors ?? {};
  assert.match(errors.timeout ?? "", /"soon" is not a duration/);
  assert.match(errors.env ?? "", /Line 2 is not NAME=value/);
  assert.ok(!JSON.stringify(errors).includes("not a variable"), "the env line itself is not echoed");
  assert.equal(fake.views(SEED.operator).length, 1, "the modal stays open");
  await berth.berth.slack.idle();
  assert.equal((await berth.berth.store.audit.all()).length, audited, "nothing was decided");
  assert.equal(fake.messages(C).length, cards, "no card");

  // Fixed, the same modal runs.
  await viewSubmission(fake, {
    url: berth.url,
    viewId: modal.id,
    values: { image: testImage, command: "echo fixed", timeout: "1m", env: "" },
  });
  await eventually("the card of the fixed form", () => findCard(fake, C, "echo fixed"));
});

test("an image outside the allow-list is refused under its field", async () => {
  await berth.command("run");
  const modal = await opened();
  await viewSubmission(fake, { url: berth.url, viewId: modal.id, values: { image_ref: "alpine:3", command: "true" } });
  assert.match(fake.views(SEED.operator)[0]?.errors.image_ref ?? "", /not on berth's image allow-list/);
  fake.buildViewClosed(modal.id);
});

test("an expired trigger: the usage error instead of a form", async () => {
  fake.fail({ method: "views.open", error: "expired_trigger_id" });
  await berth.command("run");
  await eventually("the usage answer", () => fake.ephemerals(SEED.operator).find((e) => /Usage/.test(e.text)));
  assert.deepEqual(fake.calls("views.open").at(-1)?.response, { ok: false, error: "expired_trigger_id" });
  seenOpens = fake.calls("views.open").length;
});

test("the global shortcut asks for the channel; the Home tab's Run… button opens the form too", async () => {
  await shortcut(fake, { url: berth.url, callbackId: "berth_run", user: SEED.operator });
  const modal = await opened();
  assert.equal(input(modal.view, "channel")?.type, "conversations_select");
  assert.equal(input(modal.view, "channel")?.default_to_current_conversation, true);
  await viewSubmission(fake, {
    url: berth.url,
    viewId: modal.id,
    values: { channel: C, image: testImage, command: "echo via-shortcut" },
  });
  await eventually("the shortcut's card", () => findCard(fake, C, "via-shortcut"));

  const home = fake.postAsUser({
    channel: C,
    user: SEED.operator,
    text: "Run…",
    blocks: [
      { type: "actions", elements: [{ type: "button", action_id: "berth_open_run_modal", text: { type: "plain_text", text: "Run…" } }] },
    ],
  });
  await blockAction(fake, { url: berth.url, messageTs: home.ts, actionId: "berth_open_run_modal", value: "" });
  const fromButton = await opened();
  assert.equal(fromButton.view.callback_id, "berth_run_modal");
  fake.buildViewClosed(fromButton.id);
});

test("Run with berth on a message: a run line pre-fills the form, another command runs, no command says what it looks for", async () => {
  const message = fake.postAsUser({
    channel: C,
    user: SEED.operator,
    text: "can someone try\n/berth run -e LEVEL=debug busybox:1 echo hi",
  });
  await messageAction(fake, { url: berth.url, callbackId: "berth_run_message", messageTs: message.ts });
  const modal = await opened();
  assert.equal(input(modal.view, "image_ref")?.initial_value, "busybox:1");
  assert.equal(input(modal.view, "command")?.initial_value, "echo hi");
  assert.equal(input(modal.view, "env")?.initial_value, "LEVEL=debug");
  fake.buildViewClosed(modal.id);

  const ps = fake.postAsUser({ channel: C, user: SEED.operator, text: "what runs? `/berth ps`" });
  const used = await messageAction(fake, { url: berth.url, callbackId: "berth_run_message", messageTs: ps.ts });
  const answer = await eventually("the ps answer on the shortcut's response_url", () =>
    fake.responses().find((r) => r.url === used.payload.response_url),
  );
  assert.equal(answer.outcome, "ephemeral");
  assert.ok(berth.logs.some((l) => l.includes('"kind":"container.list"') && l.includes('"via":"message shortcut"')));

  const none = fake.postAsUser({ channel: C, user: SEED.operator, text: "lunch?" });
  await messageAction(fake, { url: berth.url, callbackId: "berth_run_message", messageTs: none.ts });
  await eventually("the explanation", () => fake.ephemerals(SEED.operator).find((e) => e.text.includes("has no berth command")));
});

test("over Socket Mode: /berth run opens the form and its submission runs the job", async () => {
  const socketFake = await SlackFake.start();
  const socketBerth = await startBerth(socketFake, { socketMode: true, policy });
  try {
    await socketFake.socket.waitForConnections(1);
    await socketFake.socket.slashCommand({ command: "/berth", text: "run" });
    const call = await socketFake.waitFor("views.open", (c) => c.status === 200, 10_000);
    const id = (call.response as { view?: { id?: string } }).view?.id ?? "";
    const refused = await socketFake.socket.viewSubmission({
      viewId: id,
      values: { image: testImage, command: "echo x", timeout: "later" },
    });
    assert.equal((refused.ack as { response_action?: string }).response_action, "errors");
    await socketFake.socket.viewSubmission({ viewId: id, values: { image: testImage, command: "echo over-the-socket", timeout: "" } });
    assert.deepEqual(socketFake.views(), []);
    const card = await eventually("the socket run's finished card", () => {
      const c = findCard(socketFake, C, "over-the-socket");
      return c && isFinished(c) ? c : undefined;
    });
    assert.ok(threadLines(socketFake, C, card.ts).includes("over-the-socket"));
  } finally {
    await removeOwnContainers(socketBerth.berth.store);
    await socketBerth.stop();
    await socketFake.stop();
  }
});
