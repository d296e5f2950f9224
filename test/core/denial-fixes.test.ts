import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { registry } from "../../commands/index.ts";
import type { Actor } from "../../src/core/action.ts";
import { type DispatchDeps, dispatch, dispatchAction, type Outcome } from "../../src/core/dispatch.ts";
import { PolicySchema } from "../../src/core/policy.ts";
import { parseYaml } from "../../src/core/yaml-file.ts";
import { details, FakeEngine } from "../fakes.ts";
import { closeOpened, memoryStore, testJobs } from "../support/memory-store.ts";
import { mrkdwn } from "../support/text.ts";

// Every named fix is a tap (issue 14, item 3): a denial offers the break-glass grant that would allow exactly this, an
// image outside the allow-list offers the closest allowed ones, a host that cannot be reached offers the others. Each
// tap is a whole action, authorized again as whoever taps it. The pipeline with hand-written fake engines.

const policy = parseYaml(
  `version: 1
roles:
  viewer: { actions: [container.list, container.logs] }
  operator: { inherits: [viewer], actions: [container.run, "container.st*", container.restart] }
  admin: { actions: ["*"] }
bindings:
  - { role: viewer, users: [U0VIEW, U0STRANGER] }
  - { role: operator, users: [U0OPS] }
  - { role: admin, users: [U0LEAD] }
grants:
  - { role: operator, requesters: { users: [U0VIEW] }, approvers: [admin], maxDuration: 4h }
  - { role: admin, requesters: { users: [U0VIEW] }, approvers: [admin], maxDuration: 30m }
images: ["busybox:1.36", "busybox:1", "alpine:3.20", "registry.example.com/**"]
`,
  PolicySchema,
  "fixes policy",
);

async function setup() {
  // (The fake engine names itself "local" in its messages, whichever host it plays.)
  const engines = new Map([
    ["a", new FakeEngine()],
    ["b", new FakeEngine()],
    ["c", new FakeEngine()],
  ]);
  for (const e of engines.values()) e.containers.push(details({ id: "aaaaaaaaaaa1", name: "api" }));
  const store = await memoryStore();
  const deps: DispatchDeps = {
    registry,
    policy: () => policy,
    hosts: {
      connections: ["a", "b", "c"].map((name) => ({ name, url: `unix:///${name}`, timeoutMs: 1000 })),
      channels: {},
      default: "a",
    },
    engine: (h) => engines.get(h) as FakeEngine,
    store,
    jobs: testJobs(store),
    pendingActions: new Map(),
    groupsOf: async () => new Set(),
  };
  return { engines, store, deps };
}

const who = (userId: string): Actor => ({ userId, channelId: "C0INC", channelName: "incident", homeTeam: true });
const signal = () => AbortSignal.timeout(5000);
const reply = (o: Outcome) => (o.type === "reply" ? o.reply : assert.fail(`expected a reply, got ${o.type}`));

afterEach(closeOpened);

test("a denial offers each grant this person may ask for that would allow exactly this, an hour at most", async () => {
  const { deps, engines } = await setup();
  const denied = reply(await dispatch({ text: "stop api", actor: who("U0VIEW") }, deps, signal()));
  assert.match(mrkdwn(denied.text), /You need permission `container.stop` in #incident on host a/);
  assert.deepEqual(
    denied.choices?.map((c) => [c.label, c.action]),
    [
      [
        "Ask for operator (1h)",
        { kind: "grant.request", role: "operator", durationSeconds: 3600, reason: "to container.stop in #incident, which berth denied" },
      ],
      [
        "Ask for admin (30m)",
        { kind: "grant.request", role: "admin", durationSeconds: 1800, reason: "to container.stop in #incident, which berth denied" },
      ],
    ],
  );
  // Someone the policy lets ask for nothing is offered nothing; the engine was never asked.
  const stranger = reply(await dispatch({ text: "stop api", actor: who("U0STRANGER") }, deps, signal()));
  assert.equal(stranger.choices, undefined);
  assert.deepEqual(
    [...engines.values()].flatMap((e) => e.calls),
    [],
  );

  // The tap is a grant request like a typed one: it waits for an approver.
  const tapped = await dispatchAction(denied.choices?.[0]?.action ?? assert.fail(), who("U0VIEW"), deps, signal());
  assert.equal(tapped.type, "gate");
});

test("an image outside the allow-list offers the closest ones the list names, same repository first", async () => {
  const { deps } = await setup();
  const denied = reply(await dispatch({ text: "run busybox:latest echo hi", actor: who("U0OPS") }, deps, signal()));
  assert.match(mrkdwn(denied.text), /not on berth's image allow-list/);
  assert.deepEqual(
    denied.choices?.map((c) => c.label),
    ["Use busybox:1.36", "Use busybox:1"],
  );
  assert.deepEqual(denied.choices?.[0]?.action, { kind: "container.run", ...parsedRun("busybox:1.36") });
});

function parsedRun(image: string) {
  const { kind: _kind, ...rest } = (() => {
    const p = registry.find("run")?.parse([image, "echo", "hi"]);
    return p?.ok ? p.action : assert.fail();
  })();
  return rest;
}

test("a host that cannot be reached is said before any card, with the other hosts this person may use", async () => {
  const { deps, engines, store } = await setup();
  (engines.get("a") as FakeEngine).unreachable = true;
  const r = reply(await dispatch({ text: "restart api", actor: who("U0OPS") }, deps, signal()));
  assert.match(mrkdwn(r.text), /Docker engine "local" is unreachable.*Or try it on another host:/s);
  assert.deepEqual(
    r.choices?.map((c) => [c.label, c.action]),
    [
      ["Try on b", { kind: "container.restart", container: "api", host: "b" }],
      ["Try on c", { kind: "container.restart", container: "api", host: "c" }],
    ],
  );
  assert.deepEqual(
    (await store.audit.all()).map((x) => x.outcome ?? x.decision),
    ["allow", "error: UNAVAILABLE"],
  );
  // A run is checked the same way before its card.
  const run = await dispatch({ text: "run busybox:1 echo hi", actor: who("U0OPS") }, deps, signal());
  assert.equal(run.type, "reply");
  assert.deepEqual(
    reply(run).choices?.map((c) => c.label),
    ["Try on b", "Try on c"],
  );
});
