import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { registry } from "../../commands/index.ts";
import { type DispatchDeps, dispatch, type Outcome } from "../../src/core/dispatch.ts";
import { BerthError } from "../../src/core/errors.ts";
import { PolicySchema } from "../../src/core/policy.ts";
import { details, FakeEngine } from "../fakes.ts";
import { closeOpened, memoryStore, testJobs } from "../support/memory-store.ts";
import { mrkdwn } from "../support/text.ts";

afterEach(closeOpened);

/** A fake engine whose containers can be already stopped (Docker's 304, which the adapter reports as CONFLICT). */
class StatefulEngine extends FakeEngine {
  stopped = new Set<string>();
  override async stop(container: string): Promise<void> {
    await super.stop(container);
    if (this.stopped.has(container))
      throw new BerthError("CONFLICT", `Container "${container}" is already stopped on host local; nothing changed.`);
    this.stopped.add(container);
  }
}

const actor = { userId: "U0OPER", channelId: "C0INCIDENT" };

async function setup(policy: unknown) {
  const engine = new StatefulEngine();
  engine.containers = ["api", "web", "db"].map((name, i) => details({ id: `${i}bc123def456`, name }));
  const store = await memoryStore();
  const deps: DispatchDeps = {
    registry,
    policy: () => PolicySchema.parse(policy),
    hosts: { connections: [{ name: "local", url: "unix:///x", timeoutMs: 1000 }], channels: {}, default: "local" },
    engine: () => engine,
    store,
    jobs: testJobs(store),
    pendingActions: new Map(),
    groupsOf: async () => new Set(),
  };
  const send = (text: string) => dispatch({ text, actor }, deps, AbortSignal.timeout(5000));
  return { engine, store, send };
}

const operator = (extra: Record<string, unknown> = {}) => ({
  version: 1,
  roles: { operator: { actions: ["container.stop", "container.start", "container.restart"] } },
  bindings: [{ role: "operator", users: ["U0OPER"] }],
  ...extra,
});

function replyText(o: Outcome): { visibility: string; text: string } {
  assert.equal(o.type, "reply", JSON.stringify(o));
  return o.type === "reply" ? { visibility: o.reply.visibility, text: mrkdwn(o.reply.text) } : { visibility: "", text: "" };
}

test("stop with several containers: one channel message, a line per container in the order typed, a failure stops none of the others", async () => {
  const { engine, store, send } = await setup(operator());
  engine.stopped.add("db");
  const { visibility, text } = replyText(await send("stop web nope db api"));
  assert.equal(visibility, "channel");
  const lines = text.split("\n");
  assert.equal(lines[0], "<@U0OPER> stopped 2 of 4 containers on local:");
  assert.deepEqual(lines.slice(1), [
    "• :white_check_mark: `web` stopped",
    "• :x: `nope`: no such berth container",
    "• `db` already stopped, nothing changed",
    "• :white_check_mark: `api` stopped",
  ]);
  assert.deepEqual(
    engine.calls.filter((c) => c.method === "stop").map((c) => c.args[0]),
    ["web", "nope", "db", "api"],
  );
  const records = await store.audit.all();
  const outcome = records.find((r) => r.type === "outcome");
  assert.deepEqual(outcome?.action, { kind: "container.stop", container: "web", more: ["nope", "db", "api"] });
  assert.equal(outcome?.outcome, "web: ok; nope: error: NOT_FOUND; db: error: CONFLICT; api: ok");
  assert.equal(await store.audit.verify(), undefined, "the audit chain still verifies");
});

test("when no container changed, the answer goes to the requester alone", async () => {
  const { send } = await setup(operator());
  const { visibility, text } = replyText(await send("restart ghost phantom"));
  assert.equal(visibility, "ephemeral");
  assert.match(
    text,
    /^<@U0OPER>: none of the 2 containers was restarted on local\.\n• :x: `ghost`: no such berth container\n• :x: `phantom`/,
  );
});

test("one container keeps today's one-sentence answer", async () => {
  const { send } = await setup(operator());
  assert.equal(replyText(await send("stop web")).text, "<@U0OPER> stopped `web` on local.");
  assert.equal(replyText(await send("restart web web")).text, "<@U0OPER> restarted `web` on local.");
});

test("denied for several containers: nothing runs, and the answer names them and says why", async () => {
  const { engine, store, send } = await setup(operator());
  const o = await send("rm -f web api");
  assert.equal(o.type === "reply" && o.result, "denied");
  const { text } = replyText(o);
  assert.match(text, /Nothing was done: none of the 2 containers is allowed, and berth runs all of a request or none of it\./);
  assert.match(text, /• `web`, `api`: You need permission `container.remove`/);
  assert.equal(engine.calls.filter((c) => c.method === "remove").length, 0);
  const decision = (await store.audit.all()).find((r) => r.type === "decision");
  assert.equal(decision?.decision, "deny");
  assert.deepEqual(decision?.action, { kind: "container.remove", container: "web", more: ["api"], force: true });
});

test("a gate asks once for the whole request, and its preview lists every container", async () => {
  const policy = operator({ rules: [{ id: "careful", actions: ["container.stop"], require: "confirm" }] });
  const { engine, send } = await setup(policy);
  const o = await send("stop web api db");
  assert.equal(o.type, "gate");
  if (o.type !== "gate") return;
  assert.deepEqual(o.view.preview.map(mrkdwn).slice(1), ["*Containers (3):* `web`, `api`, `db`"]);
  assert.equal(o.view.pending.summary, "container.stop web api db on local");
  assert.deepEqual(
    engine.calls.map((c) => c.method),
    ["info"],
    "only the host line is read before the confirmation",
  );
});
