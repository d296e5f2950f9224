import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  cardText,
  eventually,
  findCard,
  isFinished,
  jobIdOf,
  removeOwnContainers,
  startBerth,
  testImage,
  threadLines,
} from "../support/berth-harness.ts";
import { appHomeOpenedOverSocket, SEED, SlackFake } from "../support/slack-fake.ts";

// The same app over Socket Mode: apps.connections.open on the fake, envelopes over a local WebSocket.
let fake: SlackFake;
let berth: Awaited<ReturnType<typeof startBerth>>;
const metricsToken = "socket-mode-metrics-token";

before(async () => {
  fake = await SlackFake.start();
  berth = await startBerth(fake, { socketMode: true, env: { BERTH_METRICS_TOKEN: metricsToken } });
  await fake.socket.waitForConnections(1);
});

after(async () => {
  if (berth) await removeOwnContainers(berth.berth.store);
  await berth?.stop();
  await fake?.stop();
});

test("a slash command over Socket Mode is acked and runs a container into a thread", async () => {
  const delivery = await fake.socket.slashCommand({ command: "/berth", text: `run ${testImage} echo over-the-socket` });
  assert.deepEqual(delivery.ack, {});
  const card = await eventually("the socket-mode run card", () => {
    const c = findCard(fake, SEED.incidentChannel, "over-the-socket");
    return c && isFinished(c) ? c : undefined;
  });
  assert.match(cardText(card), /Exited with code 0/);
  assert.deepEqual(threadLines(fake, SEED.incidentChannel, card.ts), ["over-the-socket"]);
});

test("the Stop button works over Socket Mode too", async () => {
  await fake.socket.slashCommand({ command: "/berth", text: `run ${testImage} sh -c 'while true; do echo sock-tick; sleep 0.2; done'` });
  const card = await eventually("a running card", () => {
    const c = findCard(fake, SEED.incidentChannel, "sock-tick");
    return c && cardText(c).includes("berth_stop") && cardText(c).includes("Running") ? c : undefined;
  });
  const jobId = jobIdOf(card) ?? "";
  const click = await fake.socket.blockAction({
    messageTs: card.ts,
    actionId: "berth_stop",
    value: jobId,
    user: SEED.operator,
    channel: SEED.incidentChannel,
  });
  assert.deepEqual(click.ack, {});
  const done = await eventually("the stopped run", () => {
    const c = fake.message(SEED.incidentChannel, card.ts);
    return c && isFinished(c) ? c : undefined;
  });
  assert.match(cardText(done), /Stopped by <@U0OPER>; exited with code \d+/);
});

test("a denied command over Socket Mode gets its ephemeral reply", async () => {
  await fake.socket.slashCommand({ command: "/berth", text: "ps", user: SEED.nobody });
  await eventually("the denial", () =>
    fake
      .responses()
      .find((r) => r.user === SEED.nobody && /You need permission `container\.list`/.test(String((r.body as { text?: string }).text))),
  );
});

test("healthz is served in Socket Mode as well; its details with the metrics token", async () => {
  const res = await fetch(`http://127.0.0.1:${berth.port}/healthz`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { ok: true });
  assert.equal((await fetch(`http://127.0.0.1:${berth.port}/healthz/details`)).status, 401);
  const details = await fetch(`http://127.0.0.1:${berth.port}/healthz/details`, {
    headers: { authorization: `Bearer ${metricsToken}` },
  });
  const body = (await details.json()) as { slack: string };
  assert.equal(body.slack, "connected (socket mode)");
});

test("a reconnect refused with 429 by apps.connections.open is waited out, and berth keeps serving", async () => {
  const opened = fake.calls("apps.connections.open").length;
  fake.setLimit("apps.connections.open", null); // the injected 429 below is the one under test
  fake.fail({ method: "apps.connections.open", status: 429, retryAfter: 1, times: 1 });
  fake.socket.disconnect("refresh_requested");
  // One refused (429) and one accepted call, then a live connection again.
  await eventually(
    "a new Socket Mode connection",
    () => (fake.calls("apps.connections.open").length >= opened + 2 && fake.socket.connections > 0 ? true : undefined),
    60_000,
  );
  assert.ok(fake.rateLimited.some((r) => r.method === "apps.connections.open" && r.injected));
  await fake.socket.slashCommand({ command: "/berth", text: `run ${testImage} echo after-reconnect` });
  await eventually("the run after the reconnect", () => {
    const c = findCard(fake, SEED.incidentChannel, "after-reconnect");
    return c && isFinished(c) ? c : undefined;
  });
});

test("the Home tab over Socket Mode: app_home_opened in an events_api envelope publishes the person's view", async () => {
  const since = Date.now();
  const delivery = await appHomeOpenedOverSocket(fake, { user: SEED.operator });
  assert.equal(delivery.type, "events_api");
  const call = await fake.waitFor("views.publish", (c) => c.args.user_id === SEED.operator && c.at >= since, 20_000);
  assert.match(JSON.stringify(call.args.view), /Your running jobs/);
});
