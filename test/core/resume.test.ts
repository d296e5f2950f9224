import assert from "node:assert/strict";
import { test } from "node:test";
import type { JobPlan } from "../../src/core/dispatch.ts";
import type { JobEvent } from "../../src/core/events.ts";
import { createJobRegistry } from "../../src/core/jobs.ts";
import { PolicySchema } from "../../src/core/policy.ts";
import { createLogger } from "../../src/logger.ts";
import { createScheduler } from "../../src/scheduler.ts";
import { openStore } from "../../src/store/store.ts";
import { mrkdwn } from "../support/text.ts";

// What a starting berth does with the jobs a previous one left unfinished (src/core/resume.ts, scheduler.ts).

const policy = PolicySchema.parse({ version: 1, roles: {} });

test("at start, unfinished jobs are carried on in their cards, or closed honestly when they cannot be", async () => {
  const store = openStore(":memory:");
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
  job("j-exec", "container.exec", { resume: stored("container.exec") });
  job("j-host", "host.create", { resume: stored("host.create") });
  job("j-nocard", "container.logs", { messageTs: null, resume: stored("container.logs") });
  job("j-old", "container.logs"); // from a berth that stored no resume details
  job("j-gone", "container.logs", { host: "removed-host", resume: stored("container.logs") });
  store.jobs.advanceCursor("j-exec", { at: "2026-12-05T00:00:01.000000000Z", lines: 42 });
  const plans: JobPlan[] = [];
  const scheduler = createScheduler({
    store,
    jobs: createJobRegistry(store),
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
      startJob: (plan) => void plans.push(plan),
      swept: async () => undefined,
      post: async () => "1.0",
      remind: async () => "1.0",
    },
  });
  scheduler.start();
  scheduler.stop();
  assert.deepEqual(
    plans.map((p) => [p.id, p.cardTs, p.requestId, p.resumed]),
    [["j-exec", "1.j-exec", "req-container.exec", { lines: 42, messages: 4, startedAt: store.jobs.get("j-exec")?.createdAt }]],
    "carried on in the same card, from its cursor",
  );
  const events: JobEvent[] = [];
  for await (const e of (plans[0] as JobPlan).run(new AbortController().signal)) events.push(e);
  assert.equal(events.length, 1);
  assert.match(mrkdwn((events[0] as Extract<JobEvent, { type: "end" }>).text), /output of an exec cannot be read again/);
  const closed = (id: string) => [store.jobs.get(id)?.status, store.jobs.get(id)?.detail];
  assert.deepEqual(closed("j-host"), ["failed", "berth restarted while this job ran; its host's work resumes as a new job"]);
  assert.deepEqual(closed("j-nocard"), ["failed", "berth restarted while this job ran"]);
  assert.deepEqual(closed("j-old"), ["failed", "berth restarted while this job ran"]);
  assert.deepEqual(closed("j-gone"), ["failed", 'berth restarted and could not carry this job on: no host named "removed-host"']);
  assert.equal(store.jobs.get("j-exec")?.status, "running", "finished by its runner, not here");
  store.close();
});
