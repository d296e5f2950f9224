import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { registry } from "../../commands/index.ts";
import type { Actor } from "../../src/core/action.ts";
import { type DispatchDeps, dispatch, type Outcome } from "../../src/core/dispatch.ts";
import { PolicySchema } from "../../src/core/policy.ts";
import { parseYaml } from "../../src/core/yaml-file.ts";
import { details, FakeEngine } from "../fakes.ts";
import { closeOpened, memoryStore, testJobs } from "../support/memory-store.ts";
import { mrkdwn } from "../support/text.ts";

// Pickers instead of typed names: a command that left out its container, or named one that matches none exactly,
// is answered with the candidates this person may act on here, each a typed action. The pipeline with a fake engine.

const policy = parseYaml(
  `version: 1
roles:
  viewer: { actions: [container.list, container.logs, container.inspect] }
  operator: { inherits: [viewer], actions: ["container.st*", container.restart] }
  blind: { actions: [container.logs] }
bindings:
  - { role: operator, users: [U0OPS] }
  - { role: viewer, users: [U0VIEW] }
  - { role: blind, users: [U0BLIND] }
images: ["busybox:*"]
`,
  PolicySchema,
  "picker policy",
);

async function setup() {
  const engine = new FakeEngine();
  const at = (m: number) => new Date(Date.UTC(2026, 11, 6, 3, m));
  engine.containers.push(
    details({ id: "aaaaaaaaaaa1", name: "api-1", createdAt: at(1), status: "Up 9 minutes" }),
    details({ id: "aaaaaaaaaaa2", name: "api-2", createdAt: at(3), status: "Up 7 minutes" }),
    details({ id: "aaaaaaaaaaa3", name: "worker", createdAt: at(2), state: "exited", status: "Exited (1) 2 minutes ago" }),
  );
  const store = await memoryStore();
  const deps: DispatchDeps = {
    registry,
    policy: () => policy,
    hosts: { connections: [{ name: "local", url: "unix:///x", timeoutMs: 1000 }], channels: {}, default: "local" },
    engine: () => engine,
    store,
    jobs: testJobs(store),
    pendingActions: new Map(),
    groupsOf: async () => new Set(),
  };
  return { engine, store, deps };
}

const who = (userId: string): Actor => ({ userId, channelId: "C0INC", channelName: "incident", homeTeam: true });
const signal = () => AbortSignal.timeout(5000);
const reply = (o: Outcome) => {
  assert.equal(o.type, "reply", `expected a reply, got ${o.type}`);
  return o.type === "reply" ? o.reply : assert.fail();
};

afterEach(closeOpened);

test("a command without its container offers the ones in the state it needs, newest first, each a whole action", async () => {
  const { deps, store } = await setup();
  const stop = reply(await dispatch({ text: "stop", actor: who("U0OPS") }, deps, signal()));
  assert.match(mrkdwn(stop.text), /Which container on local\? Newest first/);
  // Running ones only, newest first; the host is filled in so the tap does not ask again.
  assert.deepEqual(
    stop.choices?.map((c) => [c.label, c.action]),
    [
      ["api-2 · Up 7 minutes", { kind: "container.stop", container: "api-2", host: "local" }],
      ["api-1 · Up 9 minutes", { kind: "container.stop", container: "api-1", host: "local" }],
    ],
  );
  const start = reply(await dispatch({ text: "start", actor: who("U0OPS") }, deps, signal()));
  assert.deepEqual(
    start.choices?.map((c) => c.action),
    [{ kind: "container.start", container: "worker", host: "local" }],
  );
  // Options typed before are kept in every candidate.
  const logs = reply(await dispatch({ text: "logs -f --tail 20", actor: who("U0OPS") }, deps, signal()));
  assert.deepEqual(logs.choices?.[0]?.action, { kind: "container.logs", container: "api-2", follow: true, tail: 20, host: "local" });
  assert.equal(logs.choices?.length, 3);
  // The listing is a `ps` by this person: audited as one.
  const audit = await store.audit.all();
  assert.deepEqual(
    audit.map((r) => [(r.action as { kind: string }).kind, r.decision]),
    [
      ["container.list", "allow"],
      ["container.list", "allow"],
      ["container.list", "allow"],
    ],
  );
});

test("only candidates this person may act on are offered; without the right to list, the usage error stands", async () => {
  const { deps, engine, store } = await setup();
  // A viewer may list and read logs, not stop: no candidate, and the answer says so.
  const viewer = reply(await dispatch({ text: "stop", actor: who("U0VIEW") }, deps, signal()));
  assert.equal(viewer.choices, undefined);
  assert.match(mrkdwn(viewer.text), /missing CONTAINER.*found no container on local that you may act on/s);
  // Someone who may not list containers is not shown them: the plain usage error, nothing read, nothing audited.
  engine.calls.length = 0;
  const before = (await store.audit.all()).length;
  const blind = reply(await dispatch({ text: "logs", actor: who("U0BLIND") }, deps, signal()));
  assert.equal(blind.choices, undefined);
  assert.match(mrkdwn(blind.text), /missing CONTAINER/);
  assert.deepEqual(engine.calls, []);
  assert.equal((await store.audit.all()).length, before);
});

test("a name that matches none exactly offers the close ones; an exact name goes ahead", async () => {
  const { deps } = await setup();
  const ambiguous = reply(await dispatch({ text: "restart api", actor: who("U0OPS") }, deps, signal()));
  assert.match(mrkdwn(ambiguous.text), /No berth container is called `api` on local; 2 have a close name/);
  assert.deepEqual(
    ambiguous.choices?.map((c) => c.action).sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y))),
    [
      { kind: "container.restart", container: "api-1", host: "local" },
      { kind: "container.restart", container: "api-2", host: "local" },
    ],
  );
  const typo = reply(await dispatch({ text: "inspect wroker", actor: who("U0OPS") }, deps, signal()));
  assert.deepEqual(
    typo.choices?.map((c) => c.action),
    [{ kind: "container.inspect", container: "worker", host: "local" }],
  );
  const exact = reply(await dispatch({ text: "restart api-1", actor: who("U0OPS") }, deps, signal()));
  assert.equal(exact.choices, undefined);
  assert.match(mrkdwn(exact.text), /restarted `api-1`/);
  // Nothing close: the engine's own answer, as before.
  const none = reply(await dispatch({ text: "restart zzz", actor: who("U0OPS") }, deps, signal()));
  assert.equal(none.choices, undefined);
  assert.match(mrkdwn(none.text), /No berth container "zzz"/);
});

test("a mistyped command is answered with its correction as a tap, plus the usage", async () => {
  const { deps, engine } = await setup();
  const r = reply(await dispatch({ text: "lgos -f api-1", actor: who("U0OPS") }, deps, signal()));
  assert.match(mrkdwn(r.text), /berth has no command `lgos`\. Did you mean `logs`/);
  assert.deepEqual(
    r.choices?.map((c) => [c.label, c.action]),
    [["Run: logs -f api-1", { kind: "container.logs", container: "api-1", follow: true }]],
  );
  assert.deepEqual(engine.calls, []);
});

test("host extend without a name offers the hosts berth made that this person may extend, newest first", async () => {
  const { deps, store } = await setup();
  const made = (name: string, requester: string, createdAt: number, status: "ready" | "removed" = "ready") =>
    store.cloudHosts.put({
      name,
      os: "linux",
      size: "Standard_B2s",
      region: "westeurope",
      hyperv: false,
      private: false,
      requester,
      channelId: "C0INC",
      threadTs: null,
      jobId: `j-${name}`,
      createdAt,
      expiresAt: Date.now() + 90 * 60_000,
      remindedAt: null,
      status,
      steps: {},
      removal: {},
      address: null,
      fqdn: null,
      dockerUrl: null,
      bootstrap: null,
      detail: null,
    });
  await made("ci-old", "U0OPS", 1);
  await made("ci-new", "U0OPS", 2);
  await made("ci-theirs", "U0VIEW", 3);
  await made("ci-gone", "U0OPS", 4, "removed");
  const extendPolicy = parseYaml(
    `version: 1
roles:
  maker: { actions: [host.extend] }
bindings:
  - { role: maker, users: [U0OPS] }
`,
    PolicySchema,
    "host policy",
  );
  const withCloud: DispatchDeps = {
    ...deps,
    policy: () => extendPolicy,
    // Only the cloud's records are read for this: a hand-written stand-in for the provisioning ports.
    cloud: { store } as unknown as NonNullable<DispatchDeps["cloud"]>,
  };
  const r = reply(await dispatch({ text: "host extend", actor: who("U0OPS") }, withCloud, signal()));
  assert.match(mrkdwn(r.text), /Which host\? Newest first/);
  // Someone else's host needs host.extend.any; a removed one is gone.
  assert.deepEqual(
    r.choices?.map((c) => c.action),
    [
      { kind: "host.extend", name: "ci-new" },
      { kind: "host.extend", name: "ci-old" },
    ],
  );
  assert.match(r.choices?.[0]?.label ?? "", /^ci-new · linux, \d+ min left$/);
});
