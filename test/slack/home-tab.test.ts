// The Home tab's publishing (issue 14): on open, once per burst of changes, only for recent viewers, a 429 waited out,
// and the answer to a tap shown atop the view. The views go to a hand-written publisher, not to Slack.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import type { HomeDeps } from "../../src/core/home.ts";
import { PolicySchema } from "../../src/core/policy.ts";
import { parseYaml } from "../../src/core/yaml-file.ts";
import { createHomeTab, type HomeTabDeps } from "../../src/slack/home-tab.ts";
import type { HomeView } from "../../src/slack/render-home.ts";
import { openSqliteStore } from "../../src/store/sqlite-store.ts";
import { FakeEngine } from "../fakes.ts";

const policy = parseYaml(
  `version: 1
roles:
  operator: { actions: [container.*, host.list] }
bindings:
  - { role: operator, users: [U1, U2, U3] }
images: ["busybox:*"]
`,
  PolicySchema,
  "test policy",
);
const closing: (() => unknown)[] = [];
after(async () => {
  for (const c of closing.reverse()) await c();
});

async function setup(options: Partial<HomeTabDeps> = {}) {
  const store = await openSqliteStore({ dataDir: ":memory:" });
  closing.push(() => store.close());
  const core: HomeDeps = {
    policy: () => policy,
    store,
    hosts: { connections: [{ name: "local", url: "unix:///x", timeoutMs: 1000 }], channels: {}, default: "local" },
    engine: () => new FakeEngine(),
    groupsOf: async () => new Set(),
  };
  const published: { user: string; view: HomeView }[] = [];
  const waiters: (() => void)[] = [];
  /** Resolves once `n` views have been published in all. */
  const publishedCount = (n: number) =>
    new Promise<void>((resolve) => {
      const check = () => (published.length >= n ? resolve() : waiters.push(check));
      check();
    });
  const tab = createHomeTab({
    core,
    slash: "/berth",
    log: () => {},
    debounceMs: 20,
    spacingMs: 1,
    publish: async (user, view) => {
      published.push({ user, view });
      for (const w of waiters.splice(0)) w();
    },
    ...options,
  });
  closing.push(() => tab.close());
  return { tab, published, publishedCount, store };
}

const viewer = (userId: string) => ({ userId, teamId: "T1", homeTeam: true });

test("opening Home publishes that person's view at once", async () => {
  const { tab, published } = await setup();
  await tab.opened(viewer("U1"));
  assert.deepEqual(
    published.map((p) => p.user),
    ["U1"],
  );
  assert.match(JSON.stringify(published[0]?.view.blocks), /Your running jobs/);
});

test("a burst of changes is one publish per recent viewer", async () => {
  const { tab, published, publishedCount } = await setup();
  await tab.opened(viewer("U1"));
  await tab.opened(viewer("U2"));
  for (let i = 0; i < 5; i++) tab.changed();
  await publishedCount(4);
  await tab.close();
  assert.deepEqual(published.map((p) => p.user).sort(), ["U1", "U1", "U2", "U2"]);
});

test("only the most recent viewers are kept up to date", async () => {
  const { tab, published, publishedCount } = await setup({ maxViewers: 2 });
  for (const u of ["U1", "U2", "U3"]) await tab.opened(viewer(u));
  tab.changed();
  await publishedCount(5);
  await tab.close();
  assert.deepEqual(
    published
      .slice(3)
      .map((p) => p.user)
      .sort(),
    ["U2", "U3"],
    "U1 opened Home first and was let go",
  );
});

test("the answer to a tap is shown atop the view until Home is opened again", async () => {
  const { tab, published } = await setup();
  await tab.opened(viewer("U1"));
  await tab.respond(viewer("U1"))({ response_type: "ephemeral", text: "Stopping job `j-1`." });
  assert.match(JSON.stringify(published.at(-1)?.view.blocks), /Stopping job `j-1`\./);
  await tab.opened(viewer("U1"));
  assert.doesNotMatch(JSON.stringify(published.at(-1)?.view.blocks), /Stopping job/);
  await tab.respond({ userId: "U9", teamId: "T9", homeTeam: false })({ response_type: "ephemeral", text: "refused" });
  assert.equal(published.filter((p) => p.user === "U9").length, 0, "nothing is published to someone from another workspace");
});

test("a rate-limited publish waits its Retry-After and is sent again", async () => {
  let calls = 0;
  const sent: string[] = [];
  const { tab } = await setup({
    publish: async (user) => {
      calls += 1;
      if (calls === 1) throw Object.assign(new Error("ratelimited"), { retryAfter: 0 });
      sent.push(user);
    },
  });
  await tab.opened(viewer("U1"));
  assert.equal(calls, 2);
  assert.deepEqual(sent, ["U1"]);
});

test("a tap in Home is placed in the channel of the job or request it concerns, or in none", async () => {
  const { tab, store } = await setup();
  await store.jobs.create({
    id: "j-1",
    kind: "container.run",
    userId: "U1",
    channelId: "C0JOB",
    host: "local",
    summary: "run",
    messageTs: "1.1",
  });
  await store.pending.create({
    id: "r-1",
    requestId: "req",
    gate: "approval",
    requester: "U2",
    channelId: "C0ASKED",
    channelName: "asked",
    host: "local",
    summary: "stop web on local",
    action: { kind: "container.stop", container: "web" },
    rule: "bindings[0]",
    gateRule: "rules.x",
    approvers: [],
    expiresAt: Date.now() + 60_000,
  });
  const logs = { kind: "container.logs", host: "local", container: "web", follow: true } as const;
  assert.deepEqual(await tab.channelOf({ kind: "job.cancel", job: "j-1" }, undefined, store), { channelId: "C0JOB" });
  assert.deepEqual(await tab.channelOf({ kind: "approval.decide", id: "r-1", verdict: "approve" }, undefined, store), {
    channelId: "C0ASKED",
    channelName: "asked",
  });
  assert.deepEqual(await tab.channelOf(logs, "home-job:j-1", store), { channelId: "C0JOB" });
  assert.equal(await tab.channelOf(logs, "notify:local:abc", store), undefined, "no job named: judged in no channel");
  assert.equal(await tab.channelOf({ kind: "job.cancel", job: "j-none" }, undefined, store), undefined);
});
