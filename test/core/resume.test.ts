import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import type { JobPlan } from "../../src/core/dispatch.ts";
import type { JobEvent } from "../../src/core/events.ts";
import { PolicySchema } from "../../src/core/policy.ts";
import { createLogger } from "../../src/logger.ts";
import { createScheduler } from "../../src/scheduler.ts";
import { closeOpened, memoryStore, testJobs } from "../support/memory-store.ts";
import { mrkdwn } from "../support/text.ts";

// What a starting berth does with the jobs a previous one left unfinished (src/core/resume.ts, scheduler.ts).

afterEach(closeOpened);

const policy = PolicySchema.parse({ version: 1, roles: {} });

test("at start, unfinished jobs are carried on in their cards, or closed honestly when they cannot be", async () => {
  const store = await memoryStore();
  const job = (id: string, kind: string, over: { host?: string; messageTs?: string | null; resume?: unknown } = {}) =>
    store.jobs.create({
      id,
      kind,
      userId: "U1",
      channelId: "C1",
      host: over.host ?? "local",
      summary: `${kind} ${id}`,
      messageTs: over.messageTs === undefined ? `1.${id}` : over.messageTs,
      resume: over.resume,
    });
  const stored = (kind: string) => ({ requestId: `req-${kind}`, action: { kind }, messages: 4 });
  await job("j-exec", "container.exec", { resume: stored("container.exec") });
  await job("j-host", "host.create", { resume: stored("host.create") });
  await job("j-nocard", "container.logs", { messageTs: null, resume: stored("container.logs") });
  await job("j-old", "container.logs"); // from a berth that stored no resume details
  await job("j-gone", "container.logs", { host: "removed-host", resume: stored("container.logs") });
  await store.jobs.advanceCursor("j-exec", { at: "2026-12-05T00:00:01.000000000Z", lines: 42 });
  const plans: JobPlan[] = [];
  const scheduler = createScheduler({
    store,
    jobs: testJobs(store),
    hosts: { connections: [], channels: {} },
    engine: (host) => {
      if (host !== "local") throw new Error(`no host named "${host}"`);
      return {} as never;
    },
    clock: Date.now,
    log: createLogger("error", () => {}),
    cloud: undefined,
    pendingActions: new Map(),
    policy: () => policy,
    output: {
      startJob: async (plan) => void plans.push(plan),
      swept: async () => undefined,
      post: async () => "1.0",
      remind: async () => "1.0",
    },
  });
  await scheduler.start();
  scheduler.stop();
  assert.deepEqual(
    plans.map((p) => [p.id, p.cardTs, p.requestId, p.resumed]),
    [["j-exec", "1.j-exec", "req-container.exec", { lines: 42, messages: 4, startedAt: (await store.jobs.get("j-exec"))?.createdAt }]],
    "carried on in the same card, from its cursor",
  );
  const events: JobEvent[] = [];
  for await (const e of (plans[0] as JobPlan).run(new AbortController().signal)) events.push(e);
  assert.equal(events.length, 1);
  assert.match(mrkdwn((events[0] as Extract<JobEvent, { type: "end" }>).text), /output of an exec cannot be read again/);
  const closed = async (id: string) => {
    const job = await store.jobs.get(id);
    return [job?.status, job?.detail];
  };
  assert.deepEqual(await closed("j-host"), ["failed", "berth restarted while this job ran; its host's work resumes as a new job"]);
  assert.deepEqual(await closed("j-nocard"), ["failed", "berth restarted while this job ran"]);
  assert.deepEqual(await closed("j-old"), ["failed", "berth restarted while this job ran"]);
  assert.deepEqual(await closed("j-gone"), ["failed", 'berth restarted and could not carry this job on: no host named "removed-host"']);
  assert.equal((await store.jobs.get("j-exec"))?.status, "running", "finished by its runner, not here");
});
