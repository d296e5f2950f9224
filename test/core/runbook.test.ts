import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { commands, registry } from "../../commands/index.ts";
import runbookCommand from "../../commands/runbook.ts";
import type { Actor } from "../../src/core/action.ts";
import { type DispatchDeps, dispatch, type Outcome } from "../../src/core/dispatch.ts";
import type { JobEvent, RunbookResume } from "../../src/core/events.ts";
import { suspension } from "../../src/core/job-context.ts";
import { plainText } from "../../src/core/message.ts";
import { parse } from "../../src/core/parse.ts";
import { type Policy, PolicySchema } from "../../src/core/policy.ts";
import { diffPolicies } from "../../src/core/policy-diff.ts";
import { loadPolicyFile } from "../../src/core/policy-file.ts";
import { resumeJob } from "../../src/core/resume.ts";
import { bindArgs, expandRunbook, stepsOf, substitute } from "../../src/core/runbook.ts";
import { runbookProblems } from "../../src/core/runbook-check.ts";
import { stepsHash } from "../../src/core/runbook-job.ts";
import { parseYaml } from "../../src/core/yaml-file.ts";
import type { ResumableJob } from "../../src/store/records.ts";
import { details, FakeEngine } from "../fakes.ts";
import { closeOpened, memoryStore, testJobs } from "../support/memory-store.ts";
import { mrkdwn } from "../support/text.ts";

afterEach(closeOpened);

const policyText = (
  runbooks: string,
  roles = "operator: { actions: [container.*] }\n  reader: { actions: [container.logs, container.list, container.inspect] }",
) => `version: 1
roles:
  ${roles}
bindings:
  - { role: operator, users: [U0OPER] }
  - { role: reader, users: [U0READER] }
runbooks:
${runbooks}`;

const restartApi = `  - name: restart-api
    summary: logs, restart, logs
    params:
      - { name: container, type: container }
      - { name: tail, type: enum, values: ["5", "50"], default: "5" }
    steps:
      - logs --tail {{tail}} {{container}}
      - restart {{container}}
      - logs --tail 2 {{container}}
`;
const load = (text: string): Policy => parseYaml(text, PolicySchema, "test policy");
const loadError = (text: string): string => {
  try {
    load(text);
  } catch (error) {
    return (error as Error).message;
  }
  return "";
};

test("the policy's runbooks load, and mistakes in them are load errors that say what is wrong", () => {
  assert.equal(load(policyText(restartApi)).runbooks[0]?.steps.length, 3);
  const one = (params: string, steps: string) => `  - name: rb\n    summary: s\n    params: ${params}\n    steps: ${steps}\n`;
  assert.match(loadError(policyText(one("[]", `["restart {{container}}"]`))), /\{\{container\}\} names no parameter; parameters: none/);
  assert.match(loadError(policyText(one("[{ name: c, type: container }]", "[ps]"))), /parameter "c" is used by no step/);
  assert.match(loadError(policyText(one("[{ name: c, type: enum }]", `["logs {{c}}"]`))), /an enum parameter lists its values/);
  assert.match(
    loadError(policyText(one("[{ name: c, type: duration, default: soon }]", `["logs --since {{c}} x"]`))),
    /the default is not a duration/,
  );
  assert.match(loadError(policyText(one("[{ name: c, type: string, default: -f }]", `["logs {{c}}"]`))), /cannot start with -/);
  assert.match(loadError(policyText(one("[{ name: c, type: number }]", `["logs {{c}}"]`))), /type/);
  assert.match(loadError(policyText(one("[]", "[]"))), /a runbook has at least one step/);
  assert.match(loadError(policyText(restartApi + restartApi)), /duplicate runbook "restart-api"/);
});

test("arguments bind by name or in order, and missing or invalid ones are named", () => {
  const r = load(policyText(restartApi)).runbooks[0];
  assert.ok(r);
  assert.deepEqual(bindArgs(r, ["api"]), { ok: true, values: { container: "api", tail: "5" } });
  assert.deepEqual(bindArgs(r, ["tail=50", "container=api"]), { ok: true, values: { container: "api", tail: "50" } });
  assert.deepEqual(bindArgs(r, ["api", "50"]), { ok: true, values: { container: "api", tail: "50" } });
  const missing = bindArgs(r, []);
  assert.ok(!("ok" in missing));
  assert.deepEqual(
    missing.missing?.map((p) => p.name),
    ["container"],
  );
  assert.match(plainText(missing.message), /restart-api needs container\.\nUsage: \/berth runbook restart-api CONTAINER \[tail=5\]/);
  const bad = bindArgs(r, ["api", "tail=7"]);
  assert.ok(!("ok" in bad));
  assert.match(plainText(bad.message), /tail: 7 is not one of 5, 50/);
  const extra = bindArgs(r, ["api", "5", "more"]);
  assert.ok(!("ok" in extra));
  assert.match(plainText(extra.message), /does not know what more is for/);
});

test("a value is one word of its step: spaces, quotes and a leading - never become words or options", () => {
  const text = policyText(`  - name: grep
    summary: s
    params:
      - { name: c, type: string }
      - { name: ref, type: container }
    steps:
      - logs {{c}}
      - inspect {{ref}}
`);
  const r = load(text).runbooks[0];
  assert.ok(r);
  // Spaces and quotes stay inside the one word the placeholder is in.
  assert.deepEqual(substitute("logs --tail 5 {{c}}", { c: "api -f --since 1h" }), ["logs", "--tail", "5", "api -f --since 1h"]);
  assert.deepEqual(substitute("logs {{c}}", { c: `a' "b` }), ["logs", `a' "b`]);
  const spaced = stepsOf(r, { c: "api -f", ref: "x" }, registry);
  assert.equal(spaced.ok, false, "the whole value is the container name, which is not one: the step does not parse");
  // A leading - is refused by every type before any step is built.
  for (const value of ["-f", "--follow", "-H=prod"]) {
    const bound = bindArgs(r, [value, "api"]);
    assert.ok(!("ok" in bound), value);
    assert.match(plainText(bound.message), /cannot start with -/);
    assert.ok(!("ok" in bindArgs(r, ["x", value])), `container ${value}`);
  }
  // `runbook grep -f api`: after NAME every word is the runbook's, so -f reaches the parameter check.
  const parsed = parse("runbook grep -f api", registry);
  assert.ok(parsed.ok && parsed.action.kind === "runbook.run");
  assert.deepEqual(parsed.action.args, ["-f", "api"]);
});

test("the runbook command's examples run against the example policy's runbooks, and it passes policy check", () => {
  const policy = loadPolicyFile("manifests/policy.example.yaml");
  assert.ok(policy.runbooks.length >= 2);
  for (const example of runbookCommand.examples) {
    const parsed = parse(example, registry);
    assert.ok(parsed.ok && parsed.action.kind === "runbook.run", example);
    if (!parsed.action.name) continue;
    const expanded = expandRunbook(policy, parsed.action, registry);
    assert.ok(expanded.ok, `${example}: ${expanded.ok ? "" : plainText(expanded.message)}`);
  }
  assert.deepEqual(runbookProblems(policy, registry), []);
  assert.ok(commands.some((c) => c.name === "runbook"));
});

test("policy check finds steps that are not berth commands, and steps no bound role could run", () => {
  const policy = load(
    policyText(`  - name: broken
    summary: s
    params: [{ name: c, type: container }]
    steps:
      - logs {{c}}
      - restrat {{c}}
  - name: nobody
    summary: s
    params: [{ name: c, type: container }]
    steps:
      - logs {{c}}
      - exec {{c}} sh
  - name: nested
    summary: s
    steps: [runbook broken]
`),
  );
  const policyWithoutExec = { ...policy, roles: { ...policy.roles, operator: { actions: ["container.logs"], inherits: [] } } };
  assert.deepEqual(runbookProblems(policyWithoutExec, registry), [
    "runbook broken, step 2 (restrat {{c}}): berth has no command restrat. Did you mean restart? Commands: " +
      registry.commands.map((c) => c.name).join(", ") +
      ".",
    "runbook nobody, step 2 (exec {{c}} sh): no role named in bindings allows container.exec, so nobody could run this runbook",
    "runbook nested, step 1 (runbook broken): runbook.run cannot be a runbook step",
  ]);
});

const actor = (userId: string): Actor => ({ userId, channelId: "C0INCIDENT", channelName: "incident" });

async function setup(text = policyText(restartApi)) {
  const policy = load(text);
  const engine = new FakeEngine();
  engine.containers = [details({ id: "aaa111", name: "api" }), details({ id: "bbb222", name: "worker" })];
  engine.lines = [{ stream: "stdout", text: "a line" }];
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
const textOf = (o: Outcome) => (o.type === "reply" ? mrkdwn(o.reply.text) : o.type);
async function events(o: Outcome): Promise<JobEvent[]> {
  assert.equal(o.type, "job", textOf(o));
  const out: JobEvent[] = [];
  if (o.type === "job") for await (const e of o.plan.run(signal())) out.push(e);
  return out;
}
const changes = (engine: FakeEngine) => engine.calls.filter((c) => ["restart", "stop", "start", "remove"].includes(c.method));

test("a step the person may not run denies the whole runbook before anything runs, naming the step", async () => {
  const { deps, engine, store } = await setup();
  const outcome = await dispatch({ text: "runbook restart-api api", actor: actor("U0READER") }, deps, signal());
  assert.match(
    textOf(outcome),
    /Nothing was run: step 2 of the runbook, `restart api`, is not allowed\. You need permission `container\.restart`/,
  );
  assert.deepEqual(engine.calls, []);
  const [record] = await store.audit.all();
  assert.equal(record?.decision, "deny");
});

test("bad input gets a clear answer and nothing runs: unknown runbook, missing or invalid parameter", async () => {
  const { deps, engine, store } = await setup();
  const oper = actor("U0OPER");
  assert.match(
    textOf(await dispatch({ text: "runbook nope", actor: oper }, deps, signal())),
    /No runbook `nope` in the policy\. Runbooks:\n• `runbook restart-api CONTAINER \[tail=5\]`/,
  );
  assert.match(
    textOf(await dispatch({ text: "runbook restart-api api tail=9", actor: oper }, deps, signal())),
    /`tail`: `9` is not one of 5, 50/,
  );
  assert.match(textOf(await dispatch({ text: "runbook", actor: oper }, deps, signal())), /Runbooks:\n• `runbook restart-api/);
  assert.equal(changes(engine).length, 0);
  // A missing container: the candidates, as taps that run the runbook with it filled in.
  const picked = await dispatch({ text: "runbook restart-api tail=50", actor: oper }, deps, signal());
  assert.equal(picked.type, "reply");
  assert.match(textOf(picked), /`restart-api` needs `container`/);
  const choices = picked.type === "reply" ? (picked.reply.choices ?? []) : [];
  assert.deepEqual(
    choices.map((c) => [c.label.split(" ·")[0], c.action]),
    [
      ["api", { kind: "runbook.run", name: "restart-api", args: ["tail=50", "container=api"] }],
      ["worker", { kind: "runbook.run", name: "restart-api", args: ["tail=50", "container=worker"] }],
    ],
  );
  assert.equal(changes(engine).length, 0);
  assert.deepEqual(
    (await store.audit.all()).map((r) => (r.action as { kind?: string } | undefined)?.kind),
    ["container.list"],
    "listing the candidates is the only thing audited",
  );
});

test("steps run in order as one job: a checklist that ends all done, each step audited under the runbook's request", async () => {
  const { deps, engine, store } = await setup();
  const outcome = await dispatch({ text: "runbook restart-api api", actor: actor("U0OPER"), requestId: "req-rb-1" }, deps, signal());
  const seen = await events(outcome);
  const end = seen.at(-1);
  assert.ok(end?.type === "end");
  assert.equal(end.outcome, "succeeded");
  assert.equal(
    mrkdwn(end.text),
    [
      ":white_check_mark: `logs --tail 5 api`",
      "      1 line.",
      ":white_check_mark: `restart api`",
      "      <@U0OPER> restarted `api` on local.",
      ":white_check_mark: `logs --tail 2 api`",
      "      1 line.",
      ":white_check_mark: `restart-api`: all 3 steps done.",
    ].join("\n"),
  );
  assert.equal(seen.filter((e) => e.type === "line").length, 2, "both logs steps stream into the runbook's thread");
  assert.deepEqual(
    engine.calls.map((c) => c.method).filter((m) => m === "logs" || m === "restart"),
    ["logs", "restart", "logs"],
  );
  const records = await store.audit.all();
  assert.ok(records.every((r) => r.requestId === "req-rb-1"));
  assert.deepEqual(
    records.map((r) => `${(r.action as { kind?: string } | undefined)?.kind}:${r.decision ?? r.outcome}`),
    [
      "runbook.run:allow",
      "container.logs:allow",
      "container.logs:succeeded",
      "container.restart:allow",
      "container.restart:ok",
      "container.logs:allow",
      "container.logs:succeeded",
    ],
  );
});

test("a failing step stops the runbook, leaving the rest unchecked", async () => {
  const { deps, engine } = await setup(
    policyText(`  - name: two
    summary: s
    params: [{ name: c, type: container }]
    steps:
      - restart {{c}}
      - restart ghost
      - logs {{c}}
`),
  );
  const seen = await events(await dispatch({ text: "runbook two api", actor: actor("U0OPER") }, deps, signal()));
  const end = seen.at(-1);
  assert.ok(end?.type === "end");
  assert.equal(end.outcome, "failed");
  const lines = mrkdwn(end.text).split("\n");
  assert.equal(lines[0], ":white_check_mark: `restart api`");
  assert.equal(lines[2], ":x: `restart ghost`");
  assert.match(lines[3] ?? "", /No berth container "ghost"/);
  assert.equal(lines[4], ":white_large_square: `logs api`");
  assert.equal(lines[5], ":x: `two` stopped at step 2. The 1 step after it did not run.");
  assert.ok(!engine.calls.some((c) => c.method === "logs"), "the step after the failure never ran");
});

test("a runbook with a gated step asks once, before anything runs, listing its steps", async () => {
  const { deps, engine } = await setup(
    `${policyText(restartApi)}rules:\n  - { id: confirm-restart, actions: [container.restart], require: confirm }\n`,
  );
  const outcome = await dispatch({ text: "runbook restart-api api", actor: actor("U0OPER") }, deps, signal());
  assert.equal(outcome.type, "gate");
  if (outcome.type === "gate") {
    const preview = outcome.view.preview.map((m) => mrkdwn(m)).join("\n");
    assert.match(preview, /Steps \(3\), asked once for all of them:/);
    assert.match(preview, /1\. `logs --tail 5 api`\n2\. `restart api`\n3\. `logs --tail 2 api`/);
  }
  assert.equal(engine.calls.filter((c) => c.method !== "info").length, 0);
});

test("help lists the policy's runbooks", async () => {
  const { deps } = await setup();
  const text = textOf(await dispatch({ text: "help", actor: actor("U0READER") }, deps, signal()));
  assert.match(text, /\*Runbooks\*.*\n• `restart-api` — logs, restart, logs/);
});

test("a policy reload names runbooks added, changed and removed, and none of that widens anything", () => {
  const prev = load(policyText(restartApi));
  const next = load(policyText(restartApi.replace("logs --tail 2", "logs --tail 3").replace("restart-api", "restart-web")));
  const diff = diffPolicies(prev, next);
  assert.deepEqual(
    diff.changes.map((c) => [c.effect, c.text]),
    [
      ["neutral", "runbook `restart-web` added"],
      ["neutral", "runbook `restart-api` removed"],
    ],
  );
  assert.equal(diff.widens, false);
});

test("a runbook waiting for approval is approved as each of its steps would be, then runs", async () => {
  const text = `${policyText(restartApi).replace("  - { role: reader, users: [U0READER] }", "  - { role: reader, users: [U0READER] }\n  - { role: operator, users: [U0OPER2] }")}rules:\n  - { id: restart-approval, actions: [container.restart], require: approval, approvers: [operator] }\n`;
  const { deps, engine } = await setup(text);
  const gated = await dispatch({ text: "runbook restart-api api", actor: actor("U0OPER") }, deps, signal());
  assert.equal(gated.type, "gate");
  const id = gated.type === "gate" ? gated.view.pending.id : "";
  const byReader = await dispatch({ text: `approve ${id}`, actor: actor("U0READER") }, deps, signal());
  assert.match(textOf(byReader), /Only someone with the role operator here may approve this/);
  assert.equal(changes(engine).length, 0);
  const approved = await dispatch({ text: `approve ${id}`, actor: actor("U0OPER2") }, deps, signal());
  assert.equal(approved.type, "decided");
  const next = approved.type === "decided" ? approved.next : undefined;
  assert.ok(next);
  const end = (await events(next)).at(-1);
  assert.ok(end?.type === "end" && end.outcome === "succeeded", end?.type === "end" ? mrkdwn(end.text) : "");
  assert.deepEqual(
    changes(engine).map((c) => c.method),
    ["restart"],
  );
});

const stopStart = `  - name: bounce
    summary: look, stop, start
    params:
      - { name: container, type: container }
    steps:
      - logs --tail 2 {{container}}
      - stop {{container}}
      - start {{container}}
`;

/** A runbook job as a previous berth left it: where it stood (`point`), its card and request. */
const leftRunning = (point: RunbookResume | undefined, name: string, args: string[], requestId = "req-rb"): ResumableJob => ({
  id: "j-rb0001",
  kind: "runbook.run",
  userId: "U0OPER",
  channelId: "C0INCIDENT",
  host: "local",
  summary: `runbook ${name} ${args.join(" ")}`,
  status: "running",
  createdAt: 0,
  endedAt: null,
  exitCode: null,
  messageTs: "1.0",
  detail: null,
  cursor: { at: "2026-12-06T06:00:00.000000000Z", lines: 1 },
  resume: { requestId, action: { kind: "runbook.run", name, args }, messages: 3, ...(point && { point }) },
});

async function carriedOn(deps: DispatchDeps, job: ResumableJob, abort?: AbortSignal): Promise<JobEvent[]> {
  const resumed = resumeJob(job, { ...deps, core: deps });
  assert.equal(resumed.type, "plan");
  const out: JobEvent[] = [];
  if (resumed.type === "plan") for await (const e of resumed.plan.run(abort ?? signal())) out.push(e);
  return out;
}
const endOf = (seen: JobEvent[]) => {
  const end = seen.at(-1);
  assert.ok(end?.type === "end", `ended: ${JSON.stringify(end)}`);
  return end;
};
const pointsOf = (seen: JobEvent[]) => seen.flatMap((e) => (e.type === "resumable" && e.resume.kind === "runbook.run" ? [e.resume] : []));

test("a runbook stopped by a shutdown ends nothing; the next berth carries it on from there, no step twice", async () => {
  const { deps, engine, store } = await setup(policyText(stopStart));
  const outcome = await dispatch({ text: "runbook bounce api", actor: actor("U0OPER") }, deps, signal());
  assert.equal(outcome.type, "job");
  if (outcome.type !== "job") return;
  // berth is told to stop while step 2 runs: the step finishes, its state is stored, and the runbook goes no further.
  const shutdown = new AbortController();
  const first: JobEvent[] = [];
  for await (const e of outcome.plan.run(shutdown.signal)) {
    first.push(e);
    if (e.type === "notice" && plainText(e.text).startsWith("Step 2/3")) shutdown.abort(suspension);
  }
  assert.ok(!first.some((e) => e.type === "end"), "a shutdown ends nothing");
  const point = pointsOf(first).at(-1);
  assert.deepEqual(
    point?.states.map((s) => s.status),
    ["done", "done", "todo"],
  );
  assert.deepEqual(
    changes(engine).map((c) => c.method),
    ["stop"],
  );
  const seen = await carriedOn(deps, leftRunning(point, "bounce", ["api"], outcome.plan.requestId));
  const end = endOf(seen);
  assert.equal(end.outcome, "succeeded", mrkdwn(end.text));
  assert.deepEqual(
    changes(engine).map((c) => c.method),
    ["stop", "start"],
    "only the step not done yet ran",
  );
  assert.equal(engine.calls.filter((c) => c.method === "logs").length, 1, "step 1 was not read again");
  assert.match(mrkdwn(end.text), /`bounce`: all 3 steps done/);
  const decisions = (await store.audit.all()).filter((r) => r.requestId === outcome.plan.requestId && r.type === "decision");
  assert.deepEqual(
    decisions.map((r) => (r.action as { kind: string }).kind),
    ["runbook.run", "container.logs", "container.stop", "container.start"],
    "each step authorized and audited once, under the runbook's request",
  );
});

test("a step berth was in the middle of runs again when that changes nothing it did (stop), else the runbook stops and says why", async () => {
  const repeatable = await setup(policyText(stopStart));
  const states = (second: "running") => [{ status: "done" as const }, { status: second }, { status: "todo" as const }];
  const base = { kind: "runbook.run" as const, linesBefore: 1, homeTeam: true };
  const expandedBounce = expandRunbook(repeatable.deps.policy(), { kind: "runbook.run", name: "bounce", args: ["api"] }, registry);
  assert.ok(expandedBounce.ok);
  const again = await carriedOn(
    repeatable.deps,
    leftRunning({ ...base, steps: stepsHash(expandedBounce.steps), states: states("running") }, "bounce", ["api"]),
  );
  assert.equal(endOf(again).outcome, "succeeded");
  assert.ok(again.some((e) => e.type === "notice" && /Step 2\/3 again \(berth restarted while it ran/.test(plainText(e.text))));
  assert.deepEqual(
    changes(repeatable.engine).map((c) => c.method),
    ["stop", "start"],
  );

  const once = await setup();
  const expandedRestart = expandRunbook(once.deps.policy(), { kind: "runbook.run", name: "restart-api", args: ["api"] }, registry);
  assert.ok(expandedRestart.ok);
  const stopped = await carriedOn(
    once.deps,
    leftRunning({ ...base, steps: stepsHash(expandedRestart.steps), states: states("running") }, "restart-api", ["api"]),
  );
  const end = endOf(stopped);
  assert.equal(end.outcome, "failed");
  assert.match(mrkdwn(end.text), /berth restarted while this step ran, and cannot tell whether it took effect/);
  assert.match(mrkdwn(end.text), /`restart-api` stopped at step 2\. The 1 step after it did not run\./);
  assert.deepEqual(changes(once.engine), [], "a restart is not made twice");
});

test("a runbook changed in the policy while berth was away, or stored without where it stood, is ended honestly", async () => {
  const { deps, engine } = await setup();
  const point: RunbookResume = {
    kind: "runbook.run",
    steps: "0".repeat(64),
    states: [{ status: "done" }, { status: "todo" }, { status: "todo" }],
    linesBefore: 0,
  };
  const changed = endOf(await carriedOn(deps, leftRunning(point, "restart-api", ["api"])));
  assert.equal(changed.outcome, "failed");
  assert.match(
    mrkdwn(changed.text),
    /no longer the same in the policy \(its steps changed\)\. 1 of 3 steps were done; nothing more was run/,
  );
  const unknown = endOf(await carriedOn(deps, leftRunning(undefined, "restart-api", ["api"])));
  assert.match(mrkdwn(unknown.text), /does not know which steps were done; nothing more was run/);
  assert.deepEqual(changes(engine), []);
  // Without the pipeline to run its steps through (an older wiring), the record is closed rather than left running.
  const { core: _, ...bare } = { ...deps, core: undefined };
  assert.equal(resumeJob(leftRunning(point, "restart-api", ["api"]), bare).type, "close");
});
