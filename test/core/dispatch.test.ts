import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { registry } from "../../commands/index.ts";
import type { Actor } from "../../src/core/action.ts";
import { type DispatchDeps, dispatch, type Outcome, pickedAction } from "../../src/core/dispatch.ts";
import type { JobEvent } from "../../src/core/events.ts";
import type { Hosts } from "../../src/core/hosts.ts";
import { PolicySchema } from "../../src/core/policy.ts";
import { parseYaml } from "../../src/core/yaml-file.ts";
import { toMrkdwn } from "../../src/slack/render.ts";
import { details, FakeEngine } from "../fakes.ts";
import { closeOpened, memoryStore, testJobs } from "../support/memory-store.ts";
import { mrkdwn } from "../support/text.ts";

const policy = parseYaml(
  `version: 1
roles:
  operator: { actions: [container.run, container.list, container.logs, container.stop, container.inspect, service.*] }
bindings:
  - { role: operator, users: [U0OPER], channels: [C0INCIDENT] }
  - { role: operator, usergroups: [S0ONCALL] }
images: ["busybox:*"]
`,
  PolicySchema,
  "test policy",
);

async function setup(
  hosts: Hosts = { connections: [{ name: "local", url: "unix:///x", timeoutMs: 1000 }], channels: {}, default: "local" },
) {
  const engine = new FakeEngine();
  const store = await memoryStore();
  const engines: string[] = [];
  const deps: DispatchDeps = {
    registry,
    policy: () => policy,
    hosts,
    engine: (host) => {
      engines.push(host);
      return engine;
    },
    store,
    jobs: testJobs(store),
    pendingActions: new Map(),
    groupsOf: async (u) => new Set(u === "U0GROUPIE" ? ["S0ONCALL"] : []),
  };
  return { engine, store, deps, engines };
}

afterEach(closeOpened);

const oper: Actor = { userId: "U0OPER", channelId: "C0INCIDENT", channelName: "incident-db" };
const nobody: Actor = { userId: "U0NOBODY", channelId: "C0INCIDENT", channelName: "incident-db" };
const signal = () => AbortSignal.timeout(5000);
const replyText = (o: Outcome) => (o.type === "reply" ? mrkdwn(o.reply.text) : o.type === "job" ? `job ${o.plan.summary}` : o.type);

async function collect(o: Outcome): Promise<JobEvent[]> {
  assert.equal(o.type, "job");
  const events: JobEvent[] = [];
  if (o.type === "job") for await (const e of o.plan.run(signal())) events.push(e);
  return events;
}

test("an operator's run becomes a job that creates a labelled, limited container", async () => {
  const { deps, engine, store } = await setup();
  engine.lines = [{ stream: "stdout", text: "hello" }];
  const outcome = await dispatch({ text: "run -e TOKEN=s3cr3t busybox:1 echo hello", actor: oper }, deps, signal());
  const events = await collect(outcome);
  assert.deepEqual(
    events.map((e) => e.type),
    // First what a later berth needs to carry the job on (issue 13), then the stream.
    ["resumable", "status", "line", "end"],
  );
  const spec = engine.calls.find((c) => c.method === "run")?.args[0] as {
    labels: Record<string, string>;
    memoryBytes: number;
    privileged: boolean;
    networkMode: string;
  };
  assert.equal(spec.labels["io.berth.user"], "U0OPER");
  assert.equal(spec.labels["io.berth.channel"], "C0INCIDENT");
  assert.match(spec.labels["io.berth.job"] ?? "", /^j-[0-9a-f]{6}$/);
  assert.equal(spec.memoryBytes, 256 * 1024 ** 2);
  assert.equal(spec.privileged, false);
  assert.equal(spec.networkMode, "none");
  const [decision] = await store.audit.all();
  assert.equal(decision?.decision, "allow");
  assert.equal(decision?.rule, "bindings[0] (role operator)");
  assert.ok(!JSON.stringify(await store.audit.all()).includes("s3cr3t"), "env values must not reach the audit log");
});

test("a user without a binding is denied, nothing reaches the engine, and the denial is audited", async () => {
  const { deps, engine, store, engines } = await setup();
  const outcome = await dispatch({ text: "run busybox:1 echo hi", actor: nobody }, deps, signal());
  assert.equal(outcome.type, "reply");
  assert.match(replyText(outcome), /You need permission `container\.run` in #incident-db on host local/);
  assert.equal(engine.calls.length, 0);
  assert.deepEqual(engines, []);
  const records = await store.audit.all();
  assert.equal(records.length, 1);
  assert.equal(records[0]?.decision, "deny");
  assert.equal(records[0]?.rule, "default:deny");
});

test("membership of a user group grants the bound role", async () => {
  const { deps } = await setup();
  const outcome = await dispatch({ text: "ps", actor: { ...nobody, userId: "U0GROUPIE" } }, deps, signal());
  assert.match(replyText(outcome), /No berth containers are running on local/);
});

test("an image outside the allow-list is refused before anything runs", async () => {
  const { deps, engine } = await setup();
  const outcome = await dispatch({ text: "run alpine:3 echo hi", actor: oper }, deps, signal());
  assert.match(replyText(outcome), /The image `alpine:3` is not on berth's image allow-list \(allowed: `busybox:\*`\)/);
  assert.equal(engine.calls.length, 0);
});

test("an unknown host is named, with the hosts that exist", async () => {
  const { deps, engine } = await setup();
  const outcome = await dispatch({ text: "ps -H prod-9", actor: oper }, deps, signal());
  assert.equal(replyText(outcome), "berth knows no host `prod-9`. Hosts: `local`.");
  assert.equal(engine.calls.length, 0);
});

test("an unknown container gets the engine's clear message", async () => {
  const { deps } = await setup();
  const outcome = await dispatch({ text: "stop ghost", actor: oper }, deps, signal());
  assert.match(replyText(outcome), /No berth container "ghost" on host local\. Run `\/berth ps -a`/);
});

test("an unreachable engine is a clear message, and the failure is audited", async () => {
  const { deps, engine, store } = await setup();
  engine.unreachable = true;
  const outcome = await dispatch({ text: "ps", actor: oper }, deps, signal());
  assert.match(replyText(outcome), /Docker engine "local" is unreachable/);
  assert.deepEqual(
    (await store.audit.all()).map((r) => r.outcome ?? r.decision),
    ["allow", "error: UNAVAILABLE"],
  );
});

test("usage errors never reach policy or the engine", async () => {
  const { deps, engine, store } = await setup();
  const outcome = await dispatch({ text: "lgos api", actor: oper }, deps, signal());
  assert.match(replyText(outcome), /Did you mean `logs`\?/);
  assert.equal(engine.calls.length, 0);
  assert.equal((await store.audit.all()).length, 0);
});

test("several hosts and no default: berth asks with the hosts this person may use", async () => {
  const { deps } = await setup({
    connections: [
      { name: "a", url: "unix:///a", timeoutMs: 1 },
      { name: "b", url: "unix:///b", timeoutMs: 1 },
    ],
    channels: {},
  });
  const outcome = await dispatch({ text: "ps", actor: oper }, deps, signal());
  assert.equal(outcome.type, "pick");
  assert.deepEqual(outcome.type === "pick" && outcome.hosts, ["a", "b"]);
  const picked = outcome.type === "pick" ? pickedAction(deps, `${outcome.id} b`) : undefined;
  assert.deepEqual(picked, { kind: "container.list", all: false, host: "b" });
  assert.equal(outcome.type === "pick" && pickedAction(deps, `${outcome.id} a`), undefined, "a choice is used once");
});

test("inspect shows environment names, never values", async () => {
  const { deps, engine } = await setup();
  engine.containers.push(details({ id: "abc123def456", name: "api", envNames: ["TOKEN", "LEVEL"] }));
  const outcome = await dispatch({ text: "inspect api", actor: oper }, deps, signal());
  assert.match(replyText(outcome), /env: `TOKEN`, `LEVEL` \(values are never shown\)/);
});

test("cancel: your own job yes, someone else's only with the right to stop containers there", async () => {
  const { deps } = await setup();
  const job = await deps.jobs.start({
    id: "j-000001",
    kind: "container.logs",
    userId: "U0OPER",
    channelId: "C0INCIDENT",
    host: "local",
    summary: "logs -f api",
  });
  assert.ok(job);
  const denied = await dispatch({ text: "cancel j-000001", actor: nobody }, deps, signal());
  assert.match(replyText(denied), /You need permission `container\.stop`/);
  assert.equal(job.controller.signal.aborted, false);
  const own = await dispatch({ text: "cancel j-000001", actor: oper }, deps, signal());
  assert.match(replyText(own), /Stopping job `j-000001`/);
  assert.deepEqual(job.controller.signal.reason, { by: "U0OPER" });
  const missing = await dispatch({ text: "cancel j-ffffff", actor: oper }, deps, signal());
  assert.match(replyText(missing), /No running job `j-ffffff`/);
});

test("a missing image is pulled first, with progress on the card", async () => {
  const { deps, engine } = await setup();
  engine.imagePresent = false;
  engine.pullSteps = [{ status: "Downloading", id: "layer1", current: 1024 * 1024, total: 4 * 1024 * 1024 }];
  const events = await collect(await dispatch({ text: "run busybox:1 true", actor: oper }, deps, signal()));
  const statuses = events.filter((e) => e.type === "status").map((e) => (e.type === "status" ? mrkdwn(e.text) : ""));
  assert.equal(statuses[0], "Pulling busybox:1 on local…");
  assert.equal(statuses[1], "Pulling busybox:1: Downloading 1 MiB/4 MiB");
  // The precheck before any card finds no image to check (a pull is a change: it is the job's), and the job pulls.
  const calls = engine.calls.map((c) => c.method);
  assert.deepEqual(calls.slice(0, 3), ["hasImage", "hasImage", "pull"]);
  assert.ok(
    calls.indexOf("imagePlatform") > 2 && calls.indexOf("imagePlatform") < calls.indexOf("run"),
    "the platform is checked before run",
  );
});

test("logs of a container mask its environment values before any line", async () => {
  const { deps, engine } = await setup();
  engine.containers.push(details({ id: "abc123def456", name: "api", envNames: ["DB_PASSWORD"] }));
  engine.lines = [{ stream: "stdout", text: "connecting with value-of-DB_PASSWORD" }];
  const events = await collect(await dispatch({ text: "logs api", actor: oper }, deps, signal()));
  assert.deepEqual(events[0], { type: "mask", values: ["value-of-DB_PASSWORD"] });
  assert.equal(events.findIndex((e) => e.type === "mask") < events.findIndex((e) => e.type === "line"), true);
});

test("cancelling someone else's job follows the bindings of the job's channel and is never gated", async () => {
  const namePolicy = parseYaml(
    `version: 1
roles:
  operator: { actions: [container.stop] }
bindings:
  - { role: operator, users: [U0A, U0B], channels: [C0INC] }
rules:
  - { id: stops-need-approval, actions: [container.stop], require: approval }
`,
    PolicySchema,
    "name policy",
  );
  const { deps } = await setup();
  deps.policy = () => namePolicy;
  const job = await deps.jobs.start({
    id: "j-00000a",
    kind: "container.logs",
    userId: "U0A",
    channelId: "C0INC",
    channelName: "incident-db",
    host: "local",
    summary: "logs -f api",
  });
  assert.ok(job);
  const outcome = await dispatch(
    { text: "cancel j-00000a", actor: { userId: "U0B", channelId: "C0INC", channelName: "incident-db" } },
    deps,
    signal(),
  );
  assert.match(replyText(outcome), /Stopping job `j-00000a`/);
  assert.deepEqual(job.controller.signal.reason, { by: "U0B" });
});

const task = (id: string, error: string) => ({
  id,
  slot: 2,
  node: "node-1",
  image: "busybox:9",
  state: "rejected",
  desiredState: "shutdown",
  message: "preparing",
  error,
  exitCode: undefined,
  updatedAt: new Date(0),
});

test("service scale: the card follows convergence and ends when the service has converged", async () => {
  const { deps, engine } = await setup();
  engine.convergence = [
    { running: 1, desired: 3, failed: [], updateState: undefined, updateMessage: undefined, done: false, ok: false },
    { running: 3, desired: 3, failed: [], updateState: undefined, updateMessage: undefined, done: true, ok: true },
  ];
  const events = await collect(await dispatch({ text: "service scale web=3", actor: oper }, deps, signal()));
  assert.deepEqual(engine.calls.find((c) => c.method === "updateService")?.args, ["web", { kind: "scale", replicas: 3 }]);
  const statuses = events.flatMap((e) => (e.type === "status" ? [mrkdwn(e.text)] : []));
  assert.deepEqual(statuses, ["Scaling to 3 `web` on local…", "`web` on local: 1/3 running", "`web` on local: 3/3 running"]);
  const end = events.at(-1);
  assert.equal(end?.type === "end" && end.outcome, "succeeded");
  assert.match(end?.type === "end" ? mrkdwn(end.text) : "", /^Converged: 3\/3 tasks running after /);
});

test("service update that fails: each failed task's error once in the thread, the pause reason and the way back on the card", async () => {
  const { deps, engine } = await setup();
  const a = task("aaaaaaaaaaaa", "No such image: busybox:9");
  const b = task("bbbbbbbbbbbb", "No such image: busybox:9");
  engine.convergence = [
    { running: 1, desired: 2, failed: [a], updateState: "updating", updateMessage: "update in progress", done: false, ok: false },
    {
      running: 1,
      desired: 2,
      failed: [b, a],
      updateState: "paused",
      updateMessage: "update paused due to failure or early termination of task bbbbbbbbbbbb",
      done: true,
      ok: false,
    },
  ];
  const events = await collect(await dispatch({ text: "service update --image busybox:9 web", actor: oper }, deps, signal()));
  const lines = events.flatMap((e) => (e.type === "line" ? [e.line.text] : []));
  assert.deepEqual(lines, [
    "task aaaaaaaaaaaa (slot 2) rejected: No such image: busybox:9",
    "task bbbbbbbbbbbb (slot 2) rejected: No such image: busybox:9",
  ]);
  const end = events.at(-1);
  assert.equal(end?.type === "end" && end.outcome, "failed");
  assert.match(
    end?.type === "end" ? mrkdwn(end.text) : "",
    /1\/2 running\): update paused due to failure.*Roll back with `\/berth service rollback web`/,
  );
});

test("service update to an image outside the allow-list is denied before the engine is asked", async () => {
  const { deps, engine } = await setup();
  const outcome = await dispatch({ text: "service update --image evil/miner:1 web", actor: oper }, deps, signal());
  assert.match(replyText(outcome), /not on berth's image allow-list/);
  assert.equal(engine.calls.length, 0);
});

test("with BERTH_COMMAND=/ops the answers name /ops, never /berth", async () => {
  const { deps } = await setup();
  const ops = { ...deps, slash: "/ops" };
  const say = async (text: string, actor: Actor = oper) => {
    const o = await dispatch({ text, actor }, ops, signal());
    return o.type === "reply" ? toMrkdwn(o.reply.text, "/ops") : o.type;
  };
  const answers = {
    empty: await say("ps"),
    usage: await say("lgos api"),
    denied: await say("run busybox:1 echo hi", nobody),
    failed: await say("stop ghost"),
    cancel: await say("cancel j-000000"),
  };
  assert.match(answers.empty, /`\/ops ps -a` includes stopped ones/);
  assert.match(answers.usage, /Usage: `\/ops help \[COMMAND\]`/);
  assert.match(answers.denied, /^:no_entry: You need permission `container\.run`.*see `\/ops whoami`/s);
  assert.match(answers.failed, /^:warning: No berth container "ghost" on host local\. Run `\/ops ps -a`/);
  assert.match(answers.cancel, /`\/ops jobs` lists the running ones/);
  for (const [name, text] of Object.entries(answers)) assert.doesNotMatch(text, /\/berth/, `${name}: ${text}`);
});

test("logs -t --until: each line (not each piece of a cut line) shows Docker's time; the engine is asked for lines before the time meant", async () => {
  const { deps, engine } = await setup();
  deps.clock = () => 1_800_000_000_000;
  engine.containers.push(details({ id: "abc123def456", name: "api" }));
  engine.lines = [
    { stream: "stdout", text: "one", at: "2027-01-15T08:00:00.000000001Z" },
    { stream: "stdout", text: "a long li", at: "2027-01-15T08:00:01.000000000Z", continued: true },
    { stream: "stdout", text: "ne, cut", at: "2027-01-15T08:00:01.000000000Z" },
    { stream: "stderr", text: "err", at: "2027-01-15T08:00:02.000000000Z" },
  ];
  const events = await collect(await dispatch({ text: "logs -t --until 30m api", actor: oper }, deps, signal()));
  assert.deepEqual(
    events.flatMap((e) => (e.type === "line" ? [e.line.text] : [])),
    ["2027-01-15T08:00:00.000000001Z one", "2027-01-15T08:00:01.000000000Z a long li", "ne, cut", "2027-01-15T08:00:02.000000000Z err"],
  );
  const query = engine.calls.find((c) => c.method === "logs")?.args[0] as { until?: number };
  assert.equal(query.until, 1_800_000_000 - 1800);
  const resumable = events.find((e) => e.type === "resumable");
  assert.ok(resumable?.type === "resumable" && resumable.resume.kind === "container.logs");
  assert.equal(resumable.resume.until, 1_800_000_000 - 1800, "a read carried on after a restart ends where it would have");
  assert.equal(resumable.resume.timestamps, true);
});
