// Which Slack deliveries are the same request (src/slack/deliveries.ts), over the real embedded store's dedupe table.
// The end-to-end behaviour (retries over HTTP, redelivered envelopes and clicks against a real berth and the real
// engine) is in test/deliveries.e2e.test.ts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createDeliveryGate, type Delivery, deliveryKeyTtlMs, deliveryOf } from "../../src/slack/deliveries.ts";
import { openSqliteStore } from "../../src/store/sqlite-store.ts";
import { manualClock } from "../store/store-contract.ts";

const slash = (trigger: string | undefined, text = "run berth-test/busybox:1 echo hi") => ({
  token: "t",
  team_id: "T0BERTH",
  channel_id: "C0INCIDENT",
  user_id: "U0OPER",
  command: "/berth",
  text,
  response_url: "https://fake/commands/1",
  ...(trigger && { trigger_id: trigger }),
});

const click = (over: { trigger?: string; actionTs?: string; messageTs?: string } = {}) => ({
  type: "block_actions",
  team: { id: "T0BERTH" },
  user: { id: "U0OPER" },
  trigger_id: over.trigger ?? "trig-click-1",
  container: { type: "message", message_ts: over.messageTs ?? "1700000000.000100", channel_id: "C0INCIDENT" },
  actions: [{ type: "button", action_id: "berth_stop", value: "j-abc123", action_ts: over.actionTs ?? "1700000001.000200" }],
});

async function gate(clock = manualClock()) {
  const store = await openSqliteStore({ dataDir: ":memory:", clock });
  const logs: [string, Record<string, unknown>][] = [];
  const duplicates: string[] = [];
  const g = createDeliveryGate({
    claim: (key, ttl) => store.dedupe.claim(key, ttl),
    log: (event, fields) => logs.push([event, fields]),
    duplicate: (kind) => duplicates.push(kind),
  });
  return { g, store, logs, duplicates, clock };
}

test("a slash command's key is its trigger id, scoped by workspace; the text plays no part", () => {
  assert.deepEqual(deliveryOf("command", slash("trig-1"), {}).keys, ["command:T0BERTH:trig-1"]);
  assert.notDeepEqual(deliveryOf("command", slash("trig-1"), {}).keys, deliveryOf("command", slash("trig-2"), {}).keys);
  assert.deepEqual(deliveryOf("command", slash("trig-1", "ps"), {}).keys, deliveryOf("command", slash("trig-1", "logs x"), {}).keys);
});

test("over Socket Mode the envelope id is a key as well, and the retry fields are kept for the log", () => {
  const delivery = deliveryOf("command", slash("trig-1"), { envelopeId: "env-1", retryNum: 1, retryReason: "timeout" });
  assert.deepEqual(delivery, {
    kind: "command",
    keys: ["command:T0BERTH:trig-1", "envelope:env-1"],
    retryNum: 1,
    retryReason: "timeout",
    envelopeId: "env-1",
  });
});

test("a click's key is its trigger id, the action's action_ts and the message it was on", () => {
  assert.deepEqual(deliveryOf("click", click(), {}).keys, ["click:T0BERTH:trig-click-1:1700000001.000200:1700000000.000100"]);
  const keys = [click(), click({ trigger: "t2" }), click({ actionTs: "1700000009.000000" }), click({ messageTs: "9.9" })].map(
    (b) => deliveryOf("click", b, {}).keys[0],
  );
  assert.equal(new Set(keys).size, 4, "a new click differs in each of them");
});

test("an Events API event's key is its outer event_id, scoped by workspace: the same event sent again is one", () => {
  const event = (id: string, text = "<@U0BOT> stop") => ({
    type: "event_callback",
    team_id: "T0BERTH",
    event_id: id,
    event: { type: "app_mention", text },
  });
  assert.deepEqual(deliveryOf("event", event("Ev0A1B2C3D4E"), {}).keys, ["event:T0BERTH:Ev0A1B2C3D4E"]);
  assert.deepEqual(deliveryOf("event", event("Ev0A1B2C3D4E", "<@U0BOT> logs"), {}).keys, ["event:T0BERTH:Ev0A1B2C3D4E"]);
  assert.notDeepEqual(deliveryOf("event", event("Ev0A1B2C3D4F"), {}).keys, deliveryOf("event", event("Ev0A1B2C3D4E"), {}).keys);
});

test("a body that names nothing is keyed by its hash: the same bytes again are the same delivery", () => {
  const a = deliveryOf("command", slash(undefined), {});
  assert.equal(a.keys.length, 1);
  assert.match(a.keys[0] ?? "", /^body:command:[0-9a-f]{64}$/);
  assert.deepEqual(deliveryOf("command", slash(undefined), {}).keys, a.keys);
  assert.notDeepEqual(deliveryOf("command", slash(undefined, "ps"), {}).keys, a.keys);
});

test("the first delivery passes; the same delivery again is a duplicate, logged with its retry and counted", async () => {
  const { g, store, logs, duplicates } = await gate();
  try {
    assert.equal(await g.first(deliveryOf("command", slash("trig-1"), {})), true);
    assert.equal(await g.first(deliveryOf("command", slash("trig-1"), { retryNum: 1, retryReason: "http_timeout" })), false);
    assert.equal(await g.first(deliveryOf("command", slash("trig-2"), {})), true, "another command with the same text runs");
    assert.deepEqual(duplicates, ["command"]);
    assert.deepEqual(logs, [
      [
        "duplicate delivery ignored",
        { kind: "command", delivery: "command:T0BERTH:trig-1", retryNum: 1, retryReason: "http_timeout", envelopeId: undefined },
      ],
    ]);
  } finally {
    await store.close();
  }
});

test("a redelivered envelope is a duplicate by its id even when its payload names no trigger", async () => {
  const { g, store, duplicates } = await gate();
  try {
    const body = { ...slash(undefined), response_url: "https://fake/commands/2" };
    assert.equal(await g.first(deliveryOf("command", body, { envelopeId: "env-9" })), true);
    // Slack sends the same envelope again; the body is the same, so its hash would match too: a new payload shows the
    // envelope id alone is enough.
    assert.equal(
      await g.first(deliveryOf("command", { ...body, response_url: "https://fake/commands/3" }, { envelopeId: "env-9" })),
      false,
    );
    assert.equal(await g.first(deliveryOf("click", click(), { envelopeId: "env-10" })), true);
    assert.equal(await g.first(deliveryOf("click", click(), { envelopeId: "env-11" })), false, "the same click in another envelope");
    assert.deepEqual(duplicates, ["command", "click"]);
  } finally {
    await store.close();
  }
});

test("keys are kept for an hour: a retry within it is a duplicate, the same key after it is new", async () => {
  const { g, store, clock } = await gate();
  try {
    const delivery = deliveryOf("command", slash("trig-late"), {});
    assert.equal(await g.first(delivery), true);
    clock.now += 5 * 60_000 + 1; // Slack's last retry comes about 6 minutes after the first delivery
    assert.equal(await g.first(delivery), false);
    clock.now += deliveryKeyTtlMs;
    assert.equal(await g.first(delivery), true);
  } finally {
    await store.close();
  }
});

test("when the store cannot say, the delivery is handled (and the failure logged) rather than dropped", async () => {
  const logs: string[] = [];
  const g = createDeliveryGate({
    claim: async () => {
      throw new Error("database is locked");
    },
    log: (event) => logs.push(event),
  });
  const delivery: Delivery = deliveryOf("command", slash("trig-1"), {});
  assert.equal(await g.first(delivery), true);
  assert.deepEqual(logs, ["delivery not de-duplicated: the store failed"]);
});
