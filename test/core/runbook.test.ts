import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { commands, registry } from "../../commands/index.ts";
import runbookCommand from "../../commands/runbook.ts";
import type { Actor } from "../../src/core/action.ts";
import { type DispatchDeps, dispatch, type Outcome } from "../../src/core/dispatch.ts";
import type { JobEvent } from "../../src/core/events.ts";
import { plainText } from "../../src/core/message.ts";
import { parse } from "../../src/core/parse.ts";
import { type Policy, PolicySchema } from "../../src/core/policy.ts";
import { diffPolicies } from "../../src/core/policy-diff.ts";
import { loadPolicyFile } from "../../src/core/policy-file.ts";
import { resumeJob } from "../../src/core/resume.ts";
import { bindArgs, expandRunbook, stepsOf, substitute } from "../../src/core/runbook.ts";
import { runbookProblems } from "../../src/core/runbook-check.ts";
import { parseYaml } from "../../src/core/yaml-file.ts";
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

test("a runbook berth was running when it restarted is closed on its card, saying to run it again", async () => {
  const { deps } = await setup();
  const resumed = resumeJob(
    {
      id: "j-rb0001",
      kind: "runbook.run",
      userId: "U0OPER",
      channelId: "C0INCIDENT",
      host: "local",
      summary: "runbook restart-api api",
      status: "running",
      createdAt: 0,
      endedAt: null,
      exitCode: null,
      messageTs: "1.0",
      detail: null,
      cursor: null,
      resume: { requestId: "req-rb", action: { kind: "runbook.run", name: "restart-api", args: ["api"] }, messages: 3 },
    },
    deps,
  );
  assert.equal(resumed.type, "plan");
  const seen = resumed.type === "plan" ? await events({ type: "job", plan: resumed.plan }) : [];
  const end = seen.at(-1);
  assert.ok(end?.type === "end");
  assert.match(mrkdwn(end.text), /a `runbook\.run` job cannot be carried on\. Run the command again/);
});
