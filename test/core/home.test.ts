// The Home tab's content (issue 14): what each role sees, decided by the policy for that person alone.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { registry } from "../../commands/index.ts";
import type { Actor } from "../../src/core/action.ts";
import { type DispatchDeps, dispatch } from "../../src/core/dispatch.ts";
import { containerOf, type HomeContent, homeFor } from "../../src/core/home.ts";
import { createJobRegistry } from "../../src/core/jobs.ts";
import { plainText } from "../../src/core/message.ts";
import { PolicySchema } from "../../src/core/policy.ts";
import { parseYaml } from "../../src/core/yaml-file.ts";
import type { StorePort } from "../../src/store/port.ts";
import { openSqliteStore } from "../../src/store/sqlite-store.ts";
import { FakeEngine } from "../fakes.ts";

const policy = parseYaml(
  `version: 1
roles:
  viewer: { actions: [host.list, container.logs] }
  operator: { actions: [container.*, host.list, approval.decide] }
  admin: { actions: ["*"] }
  breakglass: { actions: [container.*] }
bindings:
  - { role: operator, users: [U0OPER], channels: [C0INCIDENT] }
  - { role: operator, users: [U0SECOND], channels: [C0INCIDENT] }
  - { role: viewer, users: [U0VIEW] }
  - { role: admin, users: [U0ADMIN] }
  - { role: operator, users: [U0ELSE], channels: [C0ELSEWHERE] }
images: ["busybox:*"]
rules:
  - { id: prod-approval, actions: [container.stop], require: approval }
grants:
  - { role: breakglass, requesters: { users: [U0VIEW] }, approvers: [admin], maxDuration: 2h }
`,
  PolicySchema,
  "test policy",
);

const closing: (() => unknown)[] = [];
after(async () => {
  for (const c of closing.reverse()) await c();
});
const signal = () => AbortSignal.timeout(5000);
const home: Actor["teamId"] = "T0BERTH";

async function setup() {
  const store: StorePort = await openSqliteStore({ dataDir: ":memory:" });
  closing.push(() => store.close());
  const jobs = createJobRegistry(store, { owner: "test" });
  closing.push(() => jobs.close());
  // The store reads its own clock (real time): the pipeline's starts there too, and only moves on.
  let at = Date.now();
  const deps: DispatchDeps = {
    registry,
    policy: () => policy,
    hosts: { connections: [{ name: "local", url: "unix:///x", timeoutMs: 1000 }], channels: {}, default: "local" },
    engine: () => new FakeEngine(),
    store,
    jobs,
    pendingActions: new Map(),
    groupsOf: async () => new Set(),
    clock: () => at,
  };
  const view = (userId: string) => homeFor(deps, { userId, teamId: home, homeTeam: true }, signal());
  return { deps, store, view, tick: (ms: number) => (at += ms) };
}

const shown = (c: HomeContent) => {
  assert.equal(c.type, "home");
  return c.type === "home" ? c : assert.fail("no home");
};

test("someone with no role sees only a short explanation, nothing of berth's state", async () => {
  const { view, store } = await setup();
  await store.jobs.create({
    id: "j-1",
    kind: "container.run",
    userId: "U0OPER",
    channelId: "C0INCIDENT",
    host: "local",
    summary: "run",
    messageTs: "1.1",
  });
  const c = await view("U0NOBODY");
  assert.equal(c.type, "no-role");
  assert.match(c.type === "no-role" ? plainText(c.text) : "", /No role is bound to you.*\/berth whoami/);
});

test("an operator sees the hosts and their own running jobs, with Stop and Logs; not someone else's in another channel", async () => {
  const { view, store } = await setup();
  await store.jobs.create({
    id: "j-mine",
    kind: "container.run",
    userId: "U0OPER",
    channelId: "C0INCIDENT",
    host: "local",
    summary: "run busybox:1 sleep 60",
    messageTs: "1.1",
    resume: {
      requestId: "r",
      action: { kind: "container.run" },
      messages: 0,
      point: { kind: "container.run", container: "abc", name: "berth-j-mine" },
    },
  });
  await store.jobs.create({
    id: "j-other",
    kind: "container.run",
    userId: "U0ELSE",
    channelId: "C0ELSEWHERE",
    host: "local",
    summary: "x",
    messageTs: "1.2",
  });
  const c = shown(await view("U0OPER"));
  assert.deepEqual(
    c.hosts?.map((h) => [h.name, h.healthy]),
    [["local", true]],
  );
  assert.deepEqual(
    c.jobs.list.map((j) => j.id),
    ["j-mine"],
  );
  assert.equal(c.jobs.all, false);
  const [job] = c.jobs.list;
  assert.equal(job?.stoppable, true);
  assert.deepEqual(job?.logs, { kind: "container.logs", host: "local", container: "berth-j-mine", follow: true });
});

test("job.list.all shows everyone's jobs, and says so; Stop only where they may stop containers", async () => {
  const { view, store } = await setup();
  await store.jobs.create({
    id: "j-other",
    kind: "container.logs",
    userId: "U0ELSE",
    channelId: "C0ELSEWHERE",
    host: "local",
    summary: "logs -f x",
    messageTs: "1.2",
  });
  const c = shown(await view("U0ADMIN"));
  assert.equal(c.jobs.all, true);
  assert.deepEqual(
    c.jobs.list.map((j) => [j.id, j.stoppable]),
    [["j-other", true]],
  );
});

test("a viewer sees the hosts and the grant they hold with its expiry; its approver sees it as given", async () => {
  const { view, store, deps } = await setup();
  await store.grants.create({
    id: "g-1",
    userId: "U0VIEW",
    role: "breakglass",
    reason: "INC-1",
    channelId: "C0INCIDENT",
    approvedBy: "U0ADMIN",
    startsAt: 0,
    expiresAt: (deps.clock?.() ?? 0) + 3_600_000,
  });
  const c = shown(await view("U0VIEW"));
  assert.ok(c.hosts);
  assert.deepEqual(
    c.grants.held.map((g) => [g.id, g.role]),
    [["g-1", "breakglass"]],
  );
  const admin = shown(await view("U0ADMIN"));
  assert.deepEqual(
    admin.grants.given.map((g) => [g.id, g.userId]),
    [["g-1", "U0VIEW"]],
    "the approver sees the grant they gave",
  );
});

test("requests waiting for approval are shown to those who may approve them, never to the requester or outsiders", async () => {
  const { view, deps, tick } = await setup();
  const oper: Actor = { userId: "U0OPER", channelId: "C0INCIDENT", channelName: "incident", homeTeam: true };
  const gated = await dispatch({ text: "stop web -H local", actor: oper }, deps, signal());
  assert.equal(gated.type, "gate");
  const id = gated.type === "gate" ? gated.view.pending.id : "";
  const second = shown(await view("U0SECOND"));
  assert.deepEqual(
    second.approvals.map((r) => [r.id, r.requester, r.channelId]),
    [[id, "U0OPER", "C0INCIDENT"]],
  );
  assert.deepEqual(shown(await view("U0OPER")).approvals, [], "not their own");
  assert.deepEqual(shown(await view("U0ELSE")).approvals, [], "an operator bound in another channel may not approve it");
  assert.deepEqual(shown(await view("U0VIEW")).approvals, [], "a viewer may not stop containers");
  tick(3_600_000);
  assert.deepEqual(shown(await view("U0SECOND")).approvals, [], "an expired request is gone");
});

test("a job's container comes from what its runner stored", () => {
  assert.equal(containerOf({ resume: null }), undefined);
  assert.equal(containerOf({ resume: { action: { kind: "container.logs", container: "web" } } }), "web");
  assert.equal(containerOf({ resume: { action: { kind: "container.exec", container: "web" } } }), undefined);
});
