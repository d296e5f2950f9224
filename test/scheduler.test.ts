import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { newHostRecord, type ProvisionDeps } from "../src/cloud/provision.ts";
import type { JobPlan, SweepResult } from "../src/core/dispatch.ts";
import type { Message } from "../src/core/message.ts";
import { PolicySchema } from "../src/core/policy.ts";
import { createLogger } from "../src/logger.ts";
import { createScheduler } from "../src/scheduler.ts";
import { type CloudHostRecord, hostLease, type StorePort } from "../src/store/port.ts";
import { closeOpened, memoryStore, testJobs } from "./support/memory-store.ts";
import { mrkdwn } from "./support/text.ts";

afterEach(closeOpened);

const policy = PolicySchema.parse({ version: 1, roles: {}, azure: { defaultTtl: "2h", maxTtl: "1d", reminder: "30m" } });
const t0 = Date.parse("2026-11-28T10:00:00Z");
const min = 60_000;

/** A scheduler over an in-memory store with Azure configured; what it shows is recorded instead of sent to Slack. */
async function setup(records: CloudHostRecord[], shared?: { store: StorePort; owner: string }) {
  let now = t0;
  const clock = () => now;
  const store = shared?.store ?? (await memoryStore(clock));
  for (const r of records) await store.cloudHosts.put(r);
  const refuse = () => Promise.reject(new Error("no cloud in this test"));
  const cloud: ProvisionDeps = {
    cloud: { prepare: refuse, begin: refuse, beginDelete: refuse, find: refuse, sizeProblem: refuse },
    store,
    settings: {
      resourceGroup: "rg",
      region: "westeurope",
      dockerPort: 2376,
      adminUsername: "berth",
      network: { vnet: "v", addressPrefix: "10.0.0.0/16", subnet: "s", subnetPrefix: "10.0.0.0/20" },
      probeIntervalMs: 10,
    },
    policy: () => policy,
    connect: () => {
      throw new Error("no engines in this test");
    },
    clock,
    changed: () => {},
    suspended: () => false,
  };
  const shown = { jobs: [] as JobPlan[], swept: [] as SweepResult[], posts: [] as string[], reminders: [] as string[] };
  const scheduler = createScheduler({
    store,
    jobs: testJobs(store, shared && { owner: shared.owner }),
    hosts: { connections: [], channels: {} },
    engine: () => {
      throw new Error("no engines in this test");
    },
    clock,
    log: createLogger("error", () => {}),
    cloud,
    pendingActions: new Map(),
    policy: () => policy,
    output: {
      startJob: async (plan) => void shown.jobs.push(plan),
      swept: async (result) => void shown.swept.push(result),
      post: async (channel, text: Message) => {
        shown.posts.push(`${channel}: ${mrkdwn(text)}`);
        return "1.0";
      },
      remind: async (channel, threadTs, text, host) => {
        shown.reminders.push(`${channel}/${threadTs}: ${mrkdwn(text)} [Extend ${host.name} by ${host.extendBy}]`);
        return "1.0";
      },
    },
  });
  return {
    store,
    scheduler,
    shown,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const host = (name: string, status: CloudHostRecord["status"], ttlMinutes: number, patch: Partial<CloudHostRecord> = {}) => ({
  ...newHostRecord(
    { name, os: "linux" as const, size: "Standard_B2s", region: "westeurope", ttlSeconds: ttlMinutes * 60, hyperv: false, private: false },
    { userId: "U0OPER", channelId: "C0OPS" },
    "j-000001",
    t0,
  ),
  status,
  ...patch,
});

test("a host inside its reminder window is reminded once, with an Extend button; an expired one is removed by a job", async () => {
  const { store, scheduler, shown, advance } = await setup([host("soon", "ready", 40, { threadTs: "5.5" }), host("old", "ready", 15)]);
  advance(20 * min);
  await scheduler.sweepHosts();
  assert.deepEqual(shown.reminders, [
    "C0OPS/5.5: :alarm_clock: <@U0OPER> `soon` is removed in 20m 0s (2026-11-28 10:40 UTC). Extend it if you still need it. [Extend soon by 2h]",
  ]);
  assert.equal((await store.cloudHosts.get("soon"))?.remindedAt, t0 + 20 * min);
  assert.deepEqual(
    shown.jobs.map((p) => [p.summary, p.action.kind, p.stopLabel, p.actor.userId]),
    [["host rm old (expired)", "host.remove", null, "U0OPER"]],
  );
  assert.equal((await store.cloudHosts.get("old"))?.status, "removing");
  await scheduler.sweepHosts();
  assert.equal(shown.reminders.length, 1, "reminded once");
});

test("start resumes host jobs a restart interrupted, in their own card; stop clears the timers", async () => {
  const { scheduler, shown } = await setup([host("making", "provisioning", 60, { threadTs: "7.7" }), host("going", "removing", 60)]);
  await scheduler.start();
  scheduler.stop();
  assert.deepEqual(
    shown.jobs.map((p) => [p.summary, p.cardTs, p.stopLabel]),
    [
      ["host rm going (resumed after a restart)", undefined, null],
      ["host create making (resumed after a restart)", "7.7", "Cancel"],
    ],
  );
});

test("two replicas starting together: each interrupted host job is taken up by one of them, never both", async () => {
  const first = await setup([
    host("making", "provisioning", 60, { threadTs: "7.7" }),
    host("going", "removing", 60),
    host("soon", "ready", 40, { threadTs: "5.5" }),
  ]);
  const second = await setup([], { store: first.store, owner: "replica-b" });
  await Promise.all([first.scheduler.start(), second.scheduler.start()]);
  first.scheduler.stop();
  second.scheduler.stop();
  const taken = [...first.shown.jobs, ...second.shown.jobs].map((p) => p.summary).sort();
  assert.deepEqual(taken, ["host create making (resumed after a restart)", "host rm going (resumed after a restart)"], "each once");
  // The reminder sweep runs on one replica too: of two sweeping at the same moment, one reminds.
  first.advance(20 * min);
  second.advance(20 * min);
  await Promise.all([second.scheduler.sweepHosts(), first.scheduler.sweepHosts()]);
  assert.equal(first.shown.reminders.length + second.shown.reminders.length, 1, "reminded once across the replicas");
});

test("a host job being started elsewhere (its host lease held) is not taken over in the moment before it runs", async () => {
  const { store, scheduler, shown } = await setup([host("making", "provisioning", 60, { jobId: "j-starting" })]);
  assert.ok((await store.leases.acquire(hostLease("making"), "replica-b/start", 20_000)).ok);
  await scheduler.start();
  scheduler.stop();
  assert.deepEqual(shown.jobs, [], "left to the replica starting it");
});

test("the approval sweep hands what expired and which grants ended to the output", async () => {
  const { scheduler, shown } = await setup([]);
  await scheduler.sweepApprovals();
  assert.deepEqual(shown.swept, [{ expired: [], grantsEnded: [] }]);
});
