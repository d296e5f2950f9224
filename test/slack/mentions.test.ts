import assert from "node:assert/strict";
import { test } from "node:test";
import { registry } from "../../commands/index.ts";
import type { Actor } from "../../src/core/action.ts";
import { createDeliveryGate } from "../../src/slack/deliveries.ts";
import { mentionListener, stripMention } from "../../src/slack/mentions.ts";
import type { StorePort } from "../../src/store/port.ts";

test("the mention of berth is taken out of the text, wherever it is", () => {
  assert.equal(stripMention("<@U0BERTH> stop", "U0BERTH"), "stop");
  assert.equal(stripMention("<@U0BERTH|berth> logs -f", "U0BERTH"), "logs -f");
  assert.equal(stripMention("please <@U0BERTH> restart", "U0BERTH"), "please   restart");
  assert.equal(stripMention("<@U0OTHER> stop", "U0BERTH"), "<@U0OTHER> stop", "someone else's mention stays");
  assert.equal(stripMention("<@U0BERTH> stop", undefined), "stop", "without berth's id, the leading mention");
});

type Ran = { text: string; actor: Actor; kind: string };

/** The listener with hand-written fakes of berth's own interfaces: a store holding one job card, a gate, a client. */
function harness(options: { foreign?: boolean } = {}) {
  const ran: Ran[] = [];
  const ephemerals: { channel: string; user: string; text: string; thread_ts?: string }[] = [];
  const claimed = new Set<string>();
  const job = {
    id: "j-7f3a2c",
    kind: "container.run",
    status: "running",
    host: "local",
    resume: {
      requestId: "r",
      action: { kind: "container.run" },
      channelName: "incident-db",
      point: { container: "0123", name: "berth-api-1" },
    },
  };
  const pending: Promise<unknown>[] = [];
  const listener = mentionListener({
    store: {
      jobs: {
        byCard: async (channel: string, ts: string) => (channel === "C1" && ts === "1700000000.000100" ? job : undefined),
      } as unknown as StorePort["jobs"],
    },
    registry,
    client: { chat: { postEphemeral: async (args) => void ephemerals.push(args) } },
    deliveries: createDeliveryGate({
      claim: async (key) => (claimed.has(key) ? false : Boolean(claimed.add(key))),
      log: () => {},
    }),
    slash: "/berth",
    home: () => ({ teamId: "T1" }),
    log: () => {},
    refusedForeign: () => options.foreign === true,
    run: (request, kind) => void ran.push({ text: request.text, actor: request.actor, kind }),
    later: (task) => void pending.push(task()),
  });
  const deliver = (event: Record<string, unknown>, eventId = `Ev${Math.random().toString(36).slice(2, 12)}`) =>
    listener({
      event: { type: "app_mention", user: "U1", channel: "C1", ts: "1700000000.000200", team: "T1", ...event },
      body: { type: "event_callback", team_id: "T1", event_id: eventId },
      context: { botUserId: "U0BOT" },
    });
  return { ran, ephemerals, deliver, settled: () => Promise.all(pending) };
}

test("a mention in a job card's thread runs the completed command as its writer, in that channel", async () => {
  const h = harness();
  await h.deliver({ text: "<@U0BOT> logs -f", thread_ts: "1700000000.000100" });
  assert.deepEqual(
    h.ran.map((r) => [r.text, r.kind, r.actor.userId, r.actor.channelId, r.actor.channelName, r.actor.homeTeam]),
    [["logs -f berth-api-1 -H local", "container.logs", "U1", "C1", "incident-db", true]],
  );
});

test("the same event delivered twice runs once; a bot's message mentioning berth runs nothing", async () => {
  const h = harness();
  await h.deliver({ text: "<@U0BOT> stop", thread_ts: "1700000000.000100" }, "Ev0SAME0001");
  await h.deliver({ text: "<@U0BOT> stop", thread_ts: "1700000000.000100" }, "Ev0SAME0001");
  await h.deliver({ text: "<@U0BOT> stop", thread_ts: "1700000000.000100", bot_id: "B9" });
  assert.deepEqual(
    h.ran.map((r) => r.text),
    ["cancel j-7f3a2c"],
  );
});

test("outside a job card's thread the writer alone gets the help, in the thread when there is one", async () => {
  const h = harness();
  await h.deliver({ text: "<@U0BOT> stop" });
  await h.deliver({ text: "<@U0BOT> stop", thread_ts: "1700000000.000999" });
  await h.settled();
  assert.equal(h.ran.length, 0);
  assert.deepEqual(
    h.ephemerals.map((e) => [e.channel, e.user, e.thread_ts]),
    [
      ["C1", "U1", undefined],
      ["C1", "U1", "1700000000.000999"],
    ],
  );
  assert.match(h.ephemerals[0]?.text ?? "", /`@berth stop`.*in the thread of a job's card.*`\/berth help`/);
});

test("a mention from another workspace is refused before anything is read or run", async () => {
  const h = harness({ foreign: true });
  await h.deliver({ text: "<@U0BOT> stop", thread_ts: "1700000000.000100" });
  assert.equal(h.ran.length, 0);
});
