import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { registry } from "../../commands/index.ts";
import type { Actor } from "../../src/core/action.ts";
import { type DispatchDeps, dispatch, type Outcome } from "../../src/core/dispatch.ts";
import { BerthError } from "../../src/core/errors.ts";
import type { JobEvent } from "../../src/core/events.ts";
import { PolicySchema } from "../../src/core/policy.ts";
import { acrTokenUser, createRegistryCredentials } from "../../src/core/registries.ts";
import { parseYaml } from "../../src/core/yaml-file.ts";
import { FakeEngine } from "../fakes.ts";
import { closeOpened, memoryStore, testJobs } from "../support/memory-store.ts";
import { mrkdwn } from "../support/text.ts";

const policy = parseYaml(
  `version: 1
roles:
  puller: { actions: [image.pull, container.run] }
  runner: { actions: [container.run] }
bindings:
  - { role: puller, users: [U0OPER] }
  - { role: runner, users: [U0RUNNER] }
images: ["busybox:*", "ghcr.io/acme/**", "myreg.azurecr.io/**"]
`,
  PolicySchema,
  "test policy",
);

const acrCalls: string[] = [];
const credentials = createRegistryCredentials(
  [
    { server: "ghcr.io", username: "acme-bot", password: "ghp_pa55word" },
    { server: "myreg.azurecr.io", azure: true },
  ],
  async (server) => {
    acrCalls.push(server);
    return "acr-refresh-token";
  },
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
    registries: credentials,
  };
  return { engine, deps };
}

afterEach(closeOpened);

const oper: Actor = { userId: "U0OPER", channelId: "C0OPS", channelName: "ops" };
const runner: Actor = { userId: "U0RUNNER", channelId: "C0OPS", channelName: "ops" };
const signal = () => AbortSignal.timeout(5000);
const replyText = (o: Outcome) => (o.type === "reply" ? mrkdwn(o.reply.text) : o.type);

async function collect(o: Outcome): Promise<JobEvent[]> {
  assert.equal(o.type, "job", o.type === "reply" ? mrkdwn(o.reply.text) : o.type);
  const events: JobEvent[] = [];
  if (o.type === "job") for await (const e of o.plan.run(signal())) events.push(e);
  return events;
}

const pullCall = (engine: FakeEngine) => engine.calls.find((c) => c.method === "pull")?.args;

test("pull is a job: progress on the card, the engine's last status at its end, the registry's login sent", async () => {
  const { deps, engine } = await setup();
  engine.pullSteps = [
    { status: "Downloading", id: "layer1", current: 1024 * 1024, total: 4 * 1024 * 1024 },
    { status: "Status: Downloaded newer image for ghcr.io/acme/api:2" },
  ];
  const outcome = await dispatch({ text: "pull ghcr.io/acme/api:2", actor: oper }, deps, signal());
  assert.equal(outcome.type === "job" && outcome.plan.summary, "pull ghcr.io/acme/api:2 on local");
  const events = await collect(outcome);
  const statuses = events.flatMap((e) => (e.type === "status" ? [mrkdwn(e.text)] : []));
  assert.deepEqual(statuses.slice(0, 2), ["Pulling ghcr.io/acme/api:2 on local…", "Pulling ghcr.io/acme/api:2: Downloading 1 MiB/4 MiB"]);
  const end = events.at(-1);
  assert.equal(end?.type, "end");
  if (end?.type === "end") {
    assert.equal(end.outcome, "succeeded");
    assert.match(mrkdwn(end.text), /^Downloaded newer image for ghcr\.io\/acme\/api:2 on local \(/);
  }
  assert.deepEqual(pullCall(engine), ["ghcr.io/acme/api:2", { username: "acme-bot", password: "ghp_pa55word", serveraddress: "ghcr.io" }]);
  // The password goes to the engine and nowhere else: not into any event of the job.
  assert.doesNotMatch(JSON.stringify(events), /ghp_pa55word/);
});

test("a registry without a login gets no X-Registry-Auth: a public pull", async () => {
  const { deps, engine } = await setup();
  await collect(await dispatch({ text: "pull busybox:1", actor: oper }, deps, signal()));
  assert.deepEqual(pullCall(engine), ["busybox:1", undefined]);
});

test("ACR: the login is the ACR refresh token from berth's Azure identity, with ACR's fixed user name", async () => {
  const { deps, engine } = await setup();
  await collect(await dispatch({ text: "pull -H local myreg.azurecr.io/team/api:7", actor: oper }, deps, signal()));
  assert.deepEqual(pullCall(engine), [
    "myreg.azurecr.io/team/api:7",
    { username: acrTokenUser, password: "acr-refresh-token", serveraddress: "myreg.azurecr.io" },
  ]);
  assert.deepEqual(acrCalls, ["myreg.azurecr.io"]);
});

test("run of a missing private image pulls it with the registry's login", async () => {
  const { deps, engine } = await setup();
  engine.imagePresent = false;
  await collect(await dispatch({ text: "run ghcr.io/acme/api:2 true", actor: oper }, deps, signal()));
  assert.deepEqual(pullCall(engine), ["ghcr.io/acme/api:2", { username: "acme-bot", password: "ghp_pa55word", serveraddress: "ghcr.io" }]);
});

test("pull is held to the image allow-list and to its own permission", async () => {
  const { deps, engine } = await setup();
  const offList = await dispatch({ text: "pull alpine:3", actor: oper }, deps, signal());
  assert.match(replyText(offList), /The image `alpine:3` is not on berth's image allow-list/);
  const noPermission = await dispatch({ text: "pull busybox:1", actor: runner }, deps, signal());
  assert.match(replyText(noPermission), /You need permission `image\.pull`/);
  assert.equal(pullCall(engine), undefined);
});

test("Stop during a pull ends the card as cancelled, by whom", async () => {
  const { deps, engine } = await setup();
  const started = Promise.withResolvers<void>();
  // As the Docker adapter does: the pull waits on the registry until the job's signal is aborted, then throws CANCELLED.
  engine.pull = async function* (_image: string, signal?: AbortSignal) {
    yield { status: "Pulling fs layer", id: "layer1" };
    started.resolve();
    await new Promise((_, reject) =>
      signal?.addEventListener("abort", () => reject(new BerthError("CANCELLED", "Cancelled while pulling image.")), { once: true }),
    );
  };
  const outcome = await dispatch({ text: "pull busybox:1", actor: oper }, deps, signal());
  assert.equal(outcome.type, "job");
  if (outcome.type !== "job") return;
  const stop = new AbortController();
  const events: JobEvent[] = [];
  const done = (async () => {
    for await (const e of outcome.plan.run(stop.signal)) events.push(e);
  })();
  await started.promise;
  stop.abort({ by: "U0OPER" });
  await done;
  const end = events.at(-1);
  assert.equal(end?.type === "end" && end.outcome, "cancelled");
  assert.equal(end?.type === "end" && mrkdwn(end.text), "Pull of `busybox:1` stopped by <@U0OPER>.");
});
