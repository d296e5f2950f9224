import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { registry } from "../../commands/index.ts";
import type { Action, Actor } from "../../src/core/action.ts";
import { type DispatchDeps, dispatch } from "../../src/core/dispatch.ts";
import { handlerOf } from "../../src/core/handlers.ts";
import { plainText } from "../../src/core/message.ts";
import { parse } from "../../src/core/parse.ts";
import { PolicySchema } from "../../src/core/policy.ts";
import { createRedactor, redactAction } from "../../src/core/redact.ts";
import { buildTimeline, type TimelineQuery } from "../../src/core/timeline.ts";
import { parseYaml } from "../../src/core/yaml-file.ts";
import type { AuditRecord } from "../../src/store/audit-log.ts";
import { FakeEngine } from "../fakes.ts";
import { closeOpened, memoryStore, testJobs } from "../support/memory-store.ts";
import { mrkdwn } from "../support/text.ts";

afterEach(closeOpened);

const t0 = Date.UTC(2026, 11, 6, 12, 0, 0);
let seq = 0;
const rec = (r: Partial<AuditRecord> & Pick<AuditRecord, "requestId" | "type" | "action">, minute: number): AuditRecord => ({
  userId: "U0OLIVE",
  channelId: "C0INCIDENT",
  host: "local",
  decision: null,
  rule: null,
  outcome: null,
  messageTs: null,
  ...r,
  seq: ++seq,
  at: t0 + minute * 60_000,
  prevHash: "",
  hash: "",
  keyId: null,
});

/** An action as the audit log holds it: parsed from a command, its secrets masked. */
function recorded(text: string): Action {
  const parsed = parse(text, registry);
  assert.ok(parsed.ok, text);
  return redactAction(parsed.action);
}
const stop = recorded("stop api");
const run = recorded("run -e DB_PASSWORD=s3cr3t busybox:1 echo hunter2-token");

const query = (over: Partial<TimelineQuery> = {}): TimelineQuery => ({
  channel: "C0INCIDENT",
  from: t0 - 3600_000,
  to: t0 + 3600_000,
  describe: (action, host) => handlerOf(action).summary(action, host),
  redact: createRedactor([], [/hunter2-\w+/g]),
  ...over,
});

test("one entry per request, in time order: decision, approval and outcome folded together, with the card", () => {
  const records = [
    rec({ requestId: "r2", type: "decision", action: stop, decision: "allow", rule: "operator; needs approval (prod)" }, 3),
    rec({ requestId: "r1", type: "decision", action: recorded("rm db"), decision: "deny", rule: "no binding" }, 1),
    rec(
      {
        requestId: "r2",
        type: "approval",
        action: stop,
        decision: "allow",
        outcome: "approved",
        approver: "U0ADA",
        messageTs: "1765000000.000100",
      },
      4,
    ),
    rec({ requestId: "r2", type: "outcome", action: stop, outcome: "ok", approver: "U0ADA" }, 4),
    rec({ requestId: "r3", type: "decision", action: run, decision: "allow", rule: "operator" }, 5),
    rec({ requestId: "r3", type: "outcome", action: run, outcome: "failed (exit 1)", messageTs: "1765000000.000200" }, 6),
    rec({ requestId: "r4", type: "decision", action: { kind: "help" }, decision: "allow", rule: "self" }, 7),
    rec({ requestId: "r5", type: "decision", action: stop, channelId: "C0OTHER", decision: "allow", rule: "operator" }, 8),
  ];
  const t = buildTimeline(records, query());
  assert.deepEqual(
    t.entries.map((e) => `${e.who} ${e.what} — ${plainText(e.result)}${e.failed ? " ✗" : ""}`),
    [
      "U0OLIVE rm db on local — denied by policy (no binding) ✗",
      "U0OLIVE container.stop api on local — approved by @U0ADA — ok",
      "U0OLIVE run busybox:1 echo •••• on local — failed (exit 1) ✗",
    ],
  );
  assert.deepEqual(t.entries[1]?.card, { channel: "C0INCIDENT", ts: "1765000000.000100" }, "the approval card");
  assert.deepEqual(t.entries[2]?.card, { channel: "C0INCIDENT", ts: "1765000000.000200" }, "the job's card");
  assert.deepEqual(t.counts, { commands: 3, approvals: 1, denials: 1, failures: 1, grants: 0 });
  assert.ok(!JSON.stringify(t).includes("hunter2"), "the policy's redact patterns apply");
});

test("only the window asked for; a gate nobody answered says so; grants are entries of their own", () => {
  const grant = recorded('grant lead --for 1h --reason "INC-1 db down"');
  const records = [
    rec({ requestId: "old", type: "decision", action: stop, decision: "allow", rule: "operator" }, -120),
    rec({ requestId: "w", type: "decision", action: stop, decision: "allow", rule: "operator; needs approval (prod)" }, 2),
    rec({ requestId: "g", type: "decision", action: grant, decision: "allow", rule: "grants; needs approval (grant)" }, 3),
    rec({ requestId: "g", type: "approval", action: grant, decision: "allow", outcome: "approved", approver: "U0ADA" }, 4),
    rec(
      {
        requestId: "g",
        type: "grant",
        action: grant,
        decision: "allow",
        outcome: "granted lead until 2026-12-06T13:04:00.000Z",
        approver: "U0ADA",
      },
      4,
    ),
    rec({ requestId: "gid", type: "grant", action: { kind: "grant.request", role: "lead" }, outcome: "grant ended (lead)" }, 64),
  ];
  const t = buildTimeline(records, query({ from: t0 - 60 * 60_000, to: t0 + 65 * 60_000 }));
  assert.deepEqual(
    t.entries.map((e) => plainText(e.result)),
    ["waiting for approval", "approved by @U0ADA — granted lead until 2026-12-06T13:04:00.000Z", "grant ended (lead)"],
  );
  assert.deepEqual(t.counts, { commands: 2, approvals: 1, denials: 0, failures: 0, grants: 1 });
});

test("timeline through the pipeline: policy-checked, this channel's records only", async () => {
  const policy = parseYaml(
    `version: 1
roles:
  operator: { actions: [container.stop, audit.timeline] }
bindings:
  - { role: operator, users: [U0OLIVE], channels: [C0INCIDENT] }
`,
    PolicySchema,
    "test policy",
  );
  const store = await memoryStore();
  const deps: DispatchDeps = {
    registry,
    policy: () => policy,
    hosts: { connections: [{ name: "local", url: "unix:///x", timeoutMs: 1000 }], channels: {}, default: "local" },
    engine: () => new FakeEngine(),
    store,
    jobs: testJobs(store),
    pendingActions: new Map(),
    groupsOf: async () => new Set(),
  };
  const olive: Actor = { userId: "U0OLIVE", channelId: "C0INCIDENT", channelName: "incident" };
  const signal = AbortSignal.timeout(5000);
  const empty = await dispatch({ text: "timeline", actor: olive }, deps, signal);
  assert.match(
    empty.type === "reply" ? mrkdwn(empty.reply.text) : empty.type,
    /Nothing was done through berth in this channel in the last 24h\./,
  );
  await dispatch({ text: "stop api", actor: olive }, deps, signal);
  await dispatch({ text: "stop api", actor: { ...olive, channelId: "C0ELSEWHERE" } }, deps, signal);
  const outcome = await dispatch({ text: "timeline --since 1h", actor: olive }, deps, signal);
  assert.equal(outcome.type, "timeline");
  if (outcome.type !== "timeline") return;
  assert.deepEqual(
    outcome.timeline.entries.map((e) => `${e.what} — ${plainText(e.result)}`),
    ["container.stop api on local — error: NOT_FOUND"],
    "the other channel's stop is not in this one's timeline",
  );
  assert.equal(outcome.timeline.counts.failures, 1, "the fake engine has no container api");
  const other = await dispatch({ text: "timeline", actor: { ...olive, channelId: "C0ELSEWHERE" } }, deps, signal);
  assert.match(other.type === "reply" ? mrkdwn(other.reply.text) : other.type, /audit\.timeline/, "denied outside the bound channel");
  const tooFar = await dispatch({ text: "timeline --since 8d", actor: olive }, deps, signal);
  assert.match(tooFar.type === "reply" ? mrkdwn(tooFar.reply.text) : tooFar.type, /at most `7d`/);
});

test("an Undo's entry links to the message whose Undo was tapped, the change it undoes", () => {
  const undo = {
    kind: "undo",
    of: "r1",
    action: { kind: "container.start", container: "api" },
    notAfter: t0 + 900_000,
    expect: { what: "containers", state: "stopped" },
  } as Action;
  const start = recorded("start api");
  const records = [
    rec({ requestId: "r1", type: "decision", action: stop, decision: "allow", rule: "operator" }, 1),
    rec({ requestId: "r1", type: "outcome", action: stop, outcome: "ok" }, 1),
    rec({ requestId: "u1", type: "outcome", action: undo, userId: "U0ADA", outcome: "undoes r1", messageTs: "1765000000.000300" }, 2),
    rec({ requestId: "u1", type: "decision", action: start, userId: "U0ADA", decision: "allow", rule: "operator" }, 2),
    rec({ requestId: "u1", type: "outcome", action: start, userId: "U0ADA", outcome: "ok" }, 2),
  ];
  const t = buildTimeline(records, query());
  assert.equal(t.entries.length, 2);
  assert.equal(t.entries[0]?.card, undefined, "a channel reply's own record has no message to link");
  assert.match(t.entries[1]?.what ?? "", /undo/);
  assert.deepEqual(t.entries[1]?.card, { channel: "C0INCIDENT", ts: "1765000000.000300" });
});
