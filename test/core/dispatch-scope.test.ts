import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { registry } from "../../commands/index.ts";
import type { Actor } from "../../src/core/action.ts";
import { type DispatchDeps, dispatch, type Outcome } from "../../src/core/dispatch.ts";
import type { JobEvent } from "../../src/core/events.ts";
import { PolicySchema } from "../../src/core/policy.ts";
import { parseYaml } from "../../src/core/yaml-file.ts";
import { FakeEngine } from "../fakes.ts";
import { closeOpened, memoryStore, testJobs } from "../support/memory-store.ts";
import { mrkdwn } from "../support/text.ts";

// What a person may see and reach beyond their own: other people's jobs (jobs, cancel), and the image a service
// rollback brings back. The dispatch pipeline with hand-written fakes of the engine.

const policy = parseYaml(
  `version: 1
roles:
  operator: { actions: [container.stop, "service.*"] }
  admin: { actions: ["*"] }
bindings:
  - { role: operator, users: [U0A, U0B] }
  - { role: admin, users: [U0ADMIN] }
images: ["busybox:*"]
`,
  PolicySchema,
  "scope policy",
);

async function setup() {
  const engine = new FakeEngine();
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

const signal = () => AbortSignal.timeout(5000);
const text = (o: Outcome) => (o.type === "reply" ? mrkdwn(o.reply.text) : o.type);
const a = (channelId: string): Actor => ({ userId: "U0A", channelId, homeTeam: true });
const b = (channelId: string): Actor => ({ userId: "U0B", channelId, homeTeam: true });
const adminIn = (channelId: string): Actor => ({ userId: "U0ADMIN", channelId, homeTeam: true });

afterEach(closeOpened);

/** A's job in a private channel, B's job in #ops: running jobs of two people in two channels. */
async function twoJobs(deps: DispatchDeps) {
  const secret = await deps.jobs.start({
    id: "j-aaaaaa",
    kind: "container.logs",
    userId: "U0A",
    channelId: "G0PRIVATE",
    host: "local",
    summary: "logs -f payroll",
  });
  const ops = await deps.jobs.start({
    id: "j-bbbbbb",
    kind: "container.logs",
    userId: "U0B",
    channelId: "C0OPS",
    host: "local",
    summary: "logs -f api",
  });
  assert.ok(secret && ops);
  return { secret, ops };
}

test("jobs shows your own jobs and this channel's, not other people's elsewhere; job.list.all shows every one", async () => {
  const { deps } = await setup();
  await twoJobs(deps);
  const inOps = text(await dispatch({ text: "jobs", actor: a("C0OPS") }, deps, signal()));
  assert.match(inOps, /j-aaaaaa.*logs -f payroll/, "A's own job, from another channel");
  assert.match(inOps, /j-bbbbbb/, "this channel's job");
  const bElsewhere = text(await dispatch({ text: "jobs", actor: b("C0RANDOM") }, deps, signal()));
  assert.match(bElsewhere, /j-bbbbbb/);
  assert.doesNotMatch(bElsewhere, /j-aaaaaa|payroll|G0PRIVATE/, "nothing of A's private channel");
  const nobody = text(await dispatch({ text: "jobs", actor: { userId: "U0C", channelId: "D0C", homeTeam: true } }, deps, signal()));
  assert.equal(nobody, "None of your jobs, and no job in this channel, is running.");
  const admin = text(await dispatch({ text: "jobs", actor: adminIn("D0ADMIN") }, deps, signal()));
  assert.match(admin, /j-aaaaaa[\s\S]*j-bbbbbb/);
});

test("cancel: a job you cannot see answers like a missing one and keeps running; in its channel or with job.list.all you may", async () => {
  const { deps, store } = await setup();
  const { secret, ops } = await twoJobs(deps);
  const hidden = await dispatch({ text: "cancel j-aaaaaa", actor: b("C0RANDOM") }, deps, signal());
  assert.equal(text(hidden), "No running job `j-aaaaaa`. `/berth jobs` lists the running ones.");
  assert.equal(secret.controller.signal.aborted, false);
  assert.deepEqual(
    (await store.audit.all()).slice(-1).map((r) => [r.decision, r.rule]),
    [["deny", "job:not-visible"]],
  );
  const here = await dispatch({ text: "cancel j-bbbbbb", actor: a("C0OPS") }, deps, signal());
  assert.match(text(here), /Stopping job `j-bbbbbb`/, "a job of this channel, with the right to stop containers there");
  assert.deepEqual(ops.controller.signal.reason, { by: "U0A" });
  const admin = await dispatch({ text: "cancel j-aaaaaa", actor: adminIn("D0ADMIN") }, deps, signal());
  assert.match(text(admin), /Stopping job `j-aaaaaa`/);
});

async function collect(o: Outcome): Promise<JobEvent[]> {
  assert.equal(o.type, "job", text(o));
  const events: JobEvent[] = [];
  if (o.type === "job") for await (const e of o.plan.run(signal())) events.push(e);
  return events;
}

test("service rollback to a previous image outside the allow-list is refused, named, audited, and the swarm is not touched", async () => {
  const { deps, engine, store } = await setup();
  engine.previousImage = "evil/miner:1";
  const outcome = await dispatch({ text: "service rollback web", actor: a("C0OPS") }, deps, signal());
  assert.equal(outcome.type, "reply");
  assert.match(
    text(outcome),
    /A rollback of `web` would bring back its previous image\. The image `evil\/miner:1` is not on berth's image allow-list \(allowed: `busybox:\*`\)\..*`\/berth service update --image IMAGE web`/,
  );
  // The one read before: whether `web` is a service there at all (a name matching none is answered with close ones).
  assert.deepEqual(
    engine.calls.map((c) => c.method),
    ["services", "previousServiceImage"],
  );
  assert.deepEqual(
    (await store.audit.all()).map((r) => [r.decision, r.rule]),
    [
      ["allow", "bindings[0] (role operator)"],
      ["deny", "policy:images"],
    ],
  );
});

test("service rollback to an allowed previous image runs, and the engine is told which image was checked", async () => {
  const { deps, engine } = await setup();
  engine.previousImage = "busybox:1";
  engine.convergence = [
    { running: 1, desired: 1, failed: [], updateState: "rollback_completed", updateMessage: undefined, done: true, ok: true },
  ];
  await collect(await dispatch({ text: "service rollback web", actor: a("C0OPS") }, deps, signal()));
  assert.deepEqual(engine.calls.find((c) => c.method === "updateService")?.args, ["web", { kind: "rollback", expect: "busybox:1" }]);
});

test("a users: ['*'] binding does not cover a person the Slack adapter did not vouch for as of berth's workspace", async () => {
  const { deps } = await setup();
  deps.policy = () =>
    parseYaml(
      "version: 1\nroles: { viewer: { actions: [container.list] } }\nbindings: [{ role: viewer, users: ['*'] }]\n",
      PolicySchema,
      "star",
    );
  assert.match(text(await dispatch({ text: "ps", actor: { userId: "U0X", channelId: "C0OPS", homeTeam: true } }, deps, signal())), /local/);
  const guest = await dispatch(
    { text: "ps", actor: { userId: "U0X", channelId: "C0OPS", teamId: "T0PARTNER", homeTeam: false } },
    deps,
    signal(),
  );
  assert.match(text(guest), /You need permission `container\.list`/);
});
