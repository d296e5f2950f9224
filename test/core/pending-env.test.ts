// Pending decisions survive (issue 13, item 6): a gated `run -e` confirmed on another replica (or after a restart)
// runs with its environment values when BERTH_SECRET_KEY seals them in the store; without a key it asks again.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { registry } from "../../commands/index.ts";
import type { Actor } from "../../src/core/action.ts";
import { type DispatchDeps, dispatch, type Outcome } from "../../src/core/dispatch.ts";
import { createJobRegistry } from "../../src/core/jobs.ts";
import { PolicySchema } from "../../src/core/policy.ts";
import { parseYaml } from "../../src/core/yaml-file.ts";
import type { StorePort } from "../../src/store/port.ts";
import { createSecretBox } from "../../src/store/secret-box.ts";
import { openSqliteStore } from "../../src/store/sqlite-store.ts";
import { FakeEngine } from "../fakes.ts";
import { mrkdwn } from "../support/text.ts";

const policy = parseYaml(
  `version: 1
roles:
  operator: { actions: [container.run, approval.decide] }
bindings:
  - { role: operator, users: [U0OPER], channels: [C0INCIDENT] }
images: ["busybox:*"]
rules:
  - { id: run-confirm, actions: [container.run], require: confirm }
`,
  PolicySchema,
  "test policy",
);
const oper: Actor = { userId: "U0OPER", channelId: "C0INCIDENT", channelName: "incident" };
const signal = () => AbortSignal.timeout(5000);
const closing: (() => unknown)[] = [];
after(async () => {
  for (const c of closing.reverse()) await c();
});

/** One replica's pipeline over the shared store: its own engine, job registry and in-memory pending actions. */
function replica(store: StorePort, owner: string) {
  const engine = new FakeEngine();
  const jobs = createJobRegistry(store, { owner });
  closing.push(() => jobs.close());
  const deps: DispatchDeps = {
    registry,
    policy: () => policy,
    hosts: { connections: [{ name: "local", url: "unix:///x", timeoutMs: 1000 }], channels: {}, default: "local" },
    engine: () => engine,
    store,
    jobs,
    pendingActions: new Map(),
    groupsOf: async () => new Set(),
  };
  return { deps, engine };
}

async function gatedThenConfirmedElsewhere(store: StorePort) {
  const a = replica(store, "replica-a");
  const b = replica(store, "replica-b");
  const gated = await dispatch({ text: "run -e TOKEN=s3cr3t busybox:1 env", actor: oper }, a.deps, signal());
  assert.equal(gated.type, "gate");
  const id = gated.type === "gate" ? gated.view.pending.id : "";
  assert.ok(!JSON.stringify(await store.pending.get(id)).includes("s3cr3t"), "the request's record keeps the value masked");
  const confirmed = await dispatch({ text: `approve ${id}`, actor: oper }, b.deps, signal());
  return { confirmed, b, id };
}

async function run(o: Outcome): Promise<void> {
  const next = o.type === "decided" ? o.next : o;
  assert.equal(next?.type, "job", `a job runs: ${JSON.stringify(o).slice(0, 300)}`);
  if (next?.type === "job") for await (const _ of next.plan.run(signal()));
}

test("with BERTH_SECRET_KEY, a gated run -e confirmed on another replica runs with its values, and the sealed copy is gone after", async () => {
  const store = await openSqliteStore({ dataDir: ":memory:", secretBox: createSecretBox("k".repeat(40)) });
  closing.push(() => store.close());
  const { confirmed, b, id } = await gatedThenConfirmedElsewhere(store);
  await run(confirmed);
  const spec = b.engine.calls.find((c) => c.method === "run")?.args[0] as { env: { name: string; value: string }[] };
  assert.deepEqual(spec.env, [{ name: "TOKEN", value: "s3cr3t" }], "the container gets the value the requester typed");
  assert.equal(await store.secrets.get(`pending-action:${id}`), undefined, "the sealed action is deleted once decided");
});

test("without BERTH_SECRET_KEY, the other replica asks the requester to run the command again", async () => {
  const store = await openSqliteStore({ dataDir: ":memory:" });
  closing.push(() => store.close());
  const { confirmed, b } = await gatedThenConfirmedElsewhere(store);
  assert.equal(confirmed.type, "decided");
  assert.match(
    confirmed.type === "decided" ? mrkdwn(confirmed.card) : "",
    /no longer holds its environment values\. <@U0OPER>, run the command again/,
  );
  assert.equal(
    b.engine.calls.find((c) => c.method === "run"),
    undefined,
    "nothing ran without the values",
  );
});
