import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { registry } from "../../commands/index.ts";
import { ActionSchema, type Actor, type UndoAction } from "../../src/core/action.ts";
import { type DispatchDeps, dispatch, dispatchAction, type Outcome } from "../../src/core/dispatch.ts";
import type { Choice, JobEvent } from "../../src/core/events.ts";
import { plainText } from "../../src/core/message.ts";
import { PolicySchema } from "../../src/core/policy.ts";
import { serviceChange } from "../../src/core/service-job.ts";
import { undoChoice } from "../../src/core/undo.ts";
import type { ServiceSummary } from "../../src/engines/ports.ts";
import { details, FakeEngine } from "../fakes.ts";
import { approver as grantApprover, granted, grantSetup, holder, lead, stranger, text } from "../support/grants.ts";
import { closeOpened, memoryStore, testJobs } from "../support/memory-store.ts";

afterEach(closeOpened);

const oper: Actor = { userId: "U0OPER", channelId: "C0INCIDENT" };
const other: Actor = { userId: "U0OTHER", channelId: "C0INCIDENT" };
const viewer: Actor = { userId: "U0VIEW", channelId: "C0INCIDENT" };
const minutes = 60_000;

function policyWith(extra: Record<string, unknown> = {}) {
  return PolicySchema.parse({
    version: 1,
    roles: { ops: { actions: ["container.*", "service.*"] }, view: { actions: ["container.list", "container.logs"] } },
    bindings: [
      { role: "ops", users: ["U0OPER", "U0OTHER"] },
      { role: "view", users: ["U0VIEW"] },
    ],
    ...extra,
  });
}

async function setup(extra: Record<string, unknown> = {}) {
  let t = Date.parse("2026-12-06T10:00:00Z");
  const clock = () => t;
  const policy = policyWith(extra);
  const engine = new FakeEngine();
  engine.containers = [details({ id: "abc123def456", name: "web", state: "running" })];
  const store = await memoryStore(clock);
  const deps: DispatchDeps = {
    registry,
    policy: () => policy,
    hosts: { connections: [{ name: "local", url: "unix:///x", timeoutMs: 1000 }], channels: {}, default: "local" },
    engine: () => engine,
    store,
    jobs: testJobs(store),
    pendingActions: new Map(),
    groupsOf: async () => new Set(),
    clock,
  };
  return { deps, engine, store, advance: (ms: number) => (t += ms), now: clock };
}

const signal = () => AbortSignal.timeout(5000);
const calls = (engine: FakeEngine, method: string) => engine.calls.filter((c) => c.method === method).map((c) => c.args[0]);
const replyText = (o: Outcome) => (o.type === "reply" ? plainText(o.reply.text) : JSON.stringify(o));

/** `stop web` as oper: the channel answer and the Undo it offers. */
async function stopWeb(s: Awaited<ReturnType<typeof setup>>): Promise<{ outcome: Outcome; undo: Choice }> {
  const outcome = await dispatch({ text: "stop web", actor: oper, requestId: "req-stop-1" }, s.deps, signal());
  assert.equal(outcome.type, "reply");
  if (outcome.type !== "reply") throw new Error("no reply");
  assert.equal(outcome.reply.visibility, "channel");
  const undo = outcome.reply.choices?.find((c) => c.label === "Undo");
  assert.ok(undo, "a stop answered in the channel offers Undo");
  (s.engine.containers[0] as { state: string }).state = "exited";
  return { outcome, undo };
}

test("a stop offers an Undo: the start on the same host, within the policy's window, expecting it still stopped", async () => {
  const s = await setup();
  const { undo } = await stopWeb(s);
  assert.deepEqual(undo.action, {
    kind: "undo",
    of: "req-stop-1",
    action: { kind: "container.start", host: "local", container: "web" },
    notAfter: s.now() + 15 * minutes,
    expect: { what: "containers", state: "stopped" },
  });
  // A button's value is read back through the schema: the Undo survives it unchanged.
  assert.deepEqual(ActionSchema.parse(JSON.parse(JSON.stringify(undo.action))), undo.action);
});

test("Undo tapped by someone else allowed to start: the container is started, and the audit names what it undoes", async () => {
  const s = await setup();
  const { undo } = await stopWeb(s);
  const tapped = { ...other, tappedOn: { channelId: other.channelId, ts: "1700000000.000100" } };
  const o = await dispatchAction(undo.action, tapped, s.deps, signal(), "req-undo-1");
  assert.equal(o.type, "reply", replyText(o));
  assert.deepEqual(calls(s.engine, "start"), ["web"]);
  if (o.type === "reply") assert.match(replyText(o), /U0OTHER.*started/);
  const records = (await s.store.audit.all()).filter((r) => r.requestId === "req-undo-1");
  const own = records.find((r) => (r.action as { kind: string }).kind === "undo");
  assert.equal(own?.outcome, "undoes req-stop-1");
  assert.equal(own?.messageTs, "1700000000.000100", "linked to the message whose Undo was tapped");
  assert.equal((own?.action as UndoAction | undefined)?.of, "req-stop-1");
  const decision = records.find((r) => r.type === "decision");
  assert.equal((decision?.action as { kind: string } | undefined)?.kind, "container.start", "the inverse is what the policy decided on");
  assert.equal(decision?.userId, "U0OTHER");
  assert.equal(decision?.decision, "allow");
});

test("Undo after the window refuses with when it expired, and nothing is read or run", async () => {
  const s = await setup({ undo: { window: "5m" } });
  const { undo } = await stopWeb(s);
  s.advance(5 * minutes + 1);
  const before = s.engine.calls.length;
  const o = await dispatchAction(undo.action, oper, s.deps, signal(), "req-undo-late");
  assert.equal(o.type === "reply" && o.result, "refused");
  assert.match(replyText(o), /expired at 10:05 UTC \(undo\.window is 5m\); nothing was run/);
  assert.match(replyText(o), /start -H local web/, "says what to type if it is still wanted");
  assert.equal(s.engine.calls.length, before, "no engine call at all");
  const own = (await s.store.audit.all()).find((r) => r.requestId === "req-undo-late");
  assert.match(own?.outcome ?? "", /refused: undo of req-stop-1 after its window/);
});

test("Undo after someone started the container again refuses: the state moved on, nothing runs", async () => {
  const s = await setup();
  const { undo } = await stopWeb(s);
  (s.engine.containers[0] as { state: string }).state = "running";
  const o = await dispatchAction(undo.action, other, s.deps, signal(), "req-undo-moved");
  assert.equal(o.type === "reply" && o.result, "refused");
  assert.match(replyText(o), /web.* is running now, not stopped as the change left it: someone moved on since/);
  assert.deepEqual(calls(s.engine, "start"), []);
  const outcome = (await s.store.audit.all()).find(
    (r) => r.requestId === "req-undo-moved" && r.type === "outcome" && r.outcome?.startsWith("refused"),
  );
  assert.ok(outcome, "the refusal is audited");
});

test("Undo is authorized as the tapper's inverse: someone who may not start gets the denial, nothing is read or run", async () => {
  const s = await setup();
  const { undo } = await stopWeb(s);
  const before = s.engine.calls.length;
  const o = await dispatchAction(undo.action, viewer, s.deps, signal(), "req-undo-denied");
  assert.equal(o.type === "reply" && o.result, "denied");
  assert.equal(s.engine.calls.length, before);
  const decision = (await s.store.audit.all()).find((r) => r.requestId === "req-undo-denied" && r.type === "decision");
  assert.equal((decision?.action as { kind: string } | undefined)?.kind, "container.start");
  assert.equal(decision?.decision, "deny");
});

test("Undo is gated like the command it stands for: a rule that asks confirmation for start asks it for the Undo", async () => {
  const s = await setup({ rules: [{ id: "careful-start", actions: ["container.start"], require: "confirm" }] });
  const { undo } = await stopWeb(s);
  const o = await dispatchAction(undo.action, oper, s.deps, signal(), "req-undo-gated");
  assert.equal(o.type, "gate");
  assert.deepEqual(calls(s.engine, "start"), [], "nothing runs before the confirmation");
});

test("Undo waits behind the gate of the change it undoes when that is stronger: undoing a stop that needs approval needs it", async () => {
  const s = await setup({ rules: [{ id: "stop-needs-two", actions: ["container.stop"], require: "approval" }] });
  (s.engine.containers[0] as { state: string }).state = "exited";
  const back = { kind: "container.start" as const, host: "local", container: "web" };
  const undo = undoChoice("req-stop-9", back, { what: "containers", state: "stopped" }, s.deps.policy(), s.now());
  const o = await dispatchAction(undo.action, oper, s.deps, signal(), "req-undo-approval");
  assert.equal(o.type, "gate");
  if (o.type === "gate") assert.deepEqual([o.view.pending.gate, o.view.pending.gateRule], ["approval", "rules.stop-needs-two"]);
  assert.deepEqual(calls(s.engine, "start"), []);
});

test("a stop of several containers offers one Undo that starts all it stopped", async () => {
  const s = await setup();
  s.engine.containers.push(details({ id: "fed456cba987", name: "db", state: "running" }));
  const o = await dispatch({ text: "stop web db", actor: oper, requestId: "req-stop-2" }, s.deps, signal());
  const undo = o.type === "reply" ? o.reply.choices?.find((c) => c.label === "Undo")?.action : undefined;
  assert.ok(undo?.kind === "undo", replyText(o));
  assert.deepEqual(undo.action, { kind: "container.start", host: "local", container: "web", more: ["db"] });
  for (const c of s.engine.containers) (c as { state: string }).state = "exited";
  await dispatchAction(undo, other, s.deps, signal());
  assert.deepEqual(calls(s.engine, "start").sort(), ["db", "web"]);
});

test("a stop that failed offers no Undo; an undo carries only an inverse berth offers", async () => {
  const s = await setup();
  const o = await dispatch({ text: "stop ghost", actor: oper }, s.deps, signal());
  assert.ok(o.type !== "reply" || !o.reply.choices?.some((c) => c.label === "Undo"));
  const crafted = {
    kind: "undo",
    of: "x",
    action: { kind: "container.remove", container: "web", force: true },
    notAfter: 1,
    expect: { what: "containers", state: "running" },
  };
  assert.equal(ActionSchema.safeParse(crafted).success, false);
});

async function drain(gen: AsyncGenerator<JobEvent>): Promise<JobEvent[]> {
  const out: JobEvent[] = [];
  for await (const e of gen) out.push(e);
  return out;
}

const service = (desired: number, image = "busybox:1"): ServiceSummary => ({
  id: "svc123456789",
  name: "api",
  image,
  mode: "replicated",
  desired,
  running: desired,
  updateState: undefined,
  updateMessage: undefined,
});

test("service scale offers scaling back to the replicas read before it; update offers its rollback", async () => {
  const s = await setup();
  s.engine.serviceList = [service(2)];
  s.engine.convergence = [{ running: 5, desired: 5, failed: [], updateState: undefined, updateMessage: undefined, done: true, ok: true }];
  const policy = s.deps.policy();
  const ctx = {
    engine: s.engine,
    host: "local",
    policy,
    actor: oper,
    jobId: "j1",
    clock: s.now,
    undo: (inverse: UndoAction["action"], expect: UndoAction["expect"]) => undoChoice("req-scale", inverse, expect, policy, s.now()),
  };
  const scaled = await drain(serviceChange({ kind: "service.scale", service: "api", replicas: 5 }, ctx, signal()));
  const end = scaled.at(-1);
  assert.equal(end?.type === "end" && end.outcome, "succeeded");
  const choice = end?.type === "end" ? end.choices?.[0] : undefined;
  assert.deepEqual(choice?.action, {
    kind: "undo",
    of: "req-scale",
    action: { kind: "service.scale", host: "local", service: "api", replicas: 2 },
    notAfter: s.now() + 15 * minutes,
    expect: { what: "replicas", replicas: 5 },
  });

  const updated = await drain(serviceChange({ kind: "service.update", service: "api", image: "busybox:2" }, ctx, signal()));
  const last = updated.at(-1);
  const rollback = last?.type === "end" ? last.choices?.[0]?.action : undefined;
  assert.ok(rollback?.kind === "undo");
  assert.deepEqual(rollback.action, { kind: "service.rollback", host: "local", service: "api" });
  assert.deepEqual(rollback.expect, { what: "image", image: "busybox:2" });

  // Scaled again by someone else since: the scale's Undo refuses and nothing is changed.
  s.engine.serviceList = [service(7, "busybox:2")];
  const o = await dispatchAction(choice?.action as UndoAction, oper, s.deps, signal(), "req-undo-scale");
  assert.match(replyText(o), /wants 7 replicas now, not 5 as the change left it: it was scaled again since/);
  // Updated again since: the update's rollback refuses.
  s.engine.serviceList = [service(7, "busybox:3")];
  const r = await dispatchAction(rollback, oper, s.deps, signal(), "req-undo-update");
  assert.match(replyText(r), /runs .*busybox:3.* now, not .*busybox:2.* as the change left it: it was updated again since/);
  assert.equal(calls(s.engine, "updateService").length, 2, "only the two changes above");
});

test("a grant's announcement offers its Undo: revoking it, for the policy's window, while it is still active", async () => {
  const s = await grantSetup({ undo: { window: "10m" } });
  const { id, undo } = await granted(s);
  assert.deepEqual(undo.action, {
    kind: "undo",
    of: "req-grant",
    action: { kind: "grant.revoke", grant: id },
    notAfter: s.now() + 10 * minutes,
    expect: { what: "grant", grant: id },
  });
  assert.deepEqual(ActionSchema.parse(JSON.parse(JSON.stringify(undo.action))), undo.action);
});

test("Undo on a grant revokes it at once, without the approval the grant needed; the audit names what it undoes", async () => {
  const s = await grantSetup();
  const { id, undo } = await granted(s);
  const o = await dispatchAction(undo.action, holder, s.deps, signal(), "req-undo-grant");
  assert.equal(o.type, "reply", "not a gate: taking access away waits for nobody");
  assert.equal(o.type === "reply" && o.reply.visibility, "channel");
  assert.equal(text(o), `Grant ${id} revoked by @U0OPER: @U0OPER no longer has role admin.`);
  assert.deepEqual(await s.store.grants.active(), []);
  const records = (await s.store.audit.all()).filter((r) => r.requestId === "req-undo-grant");
  assert.deepEqual(
    records.map((r) => [r.type, (r.action as { kind: string }).kind, r.decision ?? r.outcome]),
    [
      ["outcome", "undo", "undoes req-grant"],
      ["decision", "grant.revoke", "allow"],
      ["grant", "grant.revoke", `grant revoked by U0OPER: U0OPER no longer has role admin (it was to last until 2026-12-06T11:00:00.000Z)`],
    ],
  );
  // The approver and a lead may tap it too; someone else is denied as for a typed `grant revoke`.
  const again = await granted(s);
  const denied = await dispatchAction(again.undo.action, stranger, s.deps, signal());
  assert.equal(denied.type === "reply" && denied.result, "denied");
  assert.match(text(await dispatchAction(again.undo.action, grantApprover, s.deps, signal())), /revoked by @U0APPROVER/);
  const third = await granted(s);
  assert.match(text(await dispatchAction(third.undo.action, lead, s.deps, signal())), /revoked by @U0LEAD/);
});

test("Undo on a grant that was revoked or ran out refuses: it ended, nothing to undo", async () => {
  const s = await grantSetup({ undo: { window: "2h" } });
  const revoked = await granted(s);
  s.advance(minutes);
  await s.run(`grant revoke ${revoked.id}`, grantApprover);
  const o = await dispatchAction(revoked.undo.action, holder, s.deps, signal(), "req-undo-revoked");
  assert.equal(o.type === "reply" && o.result, "refused");
  assert.equal(text(o), `Grant ${revoked.id} already ended at 10:01 UTC: @U0OPER no longer has role admin, so there is nothing to undo.`);
  const refusal = (await s.store.audit.all()).find(
    (r) => r.requestId === "req-undo-revoked" && r.type === "outcome" && r.outcome?.startsWith("refused"),
  );
  assert.ok(refusal, "the refusal is audited");

  const ranOut = await granted(s);
  s.advance(61 * minutes);
  assert.match(text(await dispatchAction(ranOut.undo.action, holder, s.deps, signal())), /already ended at 11:01 UTC.*nothing to undo/);
});

test("Undo on a grant after the window refuses and says what to type instead; the grant stays", async () => {
  const s = await grantSetup({ undo: { window: "5m" } });
  const { id, undo } = await granted(s);
  s.advance(5 * minutes + 1);
  const o = await dispatchAction(undo.action, holder, s.deps, signal());
  assert.equal(o.type === "reply" && o.result, "refused");
  assert.match(text(o), new RegExp(`expired at 10:05 UTC \\(undo\\.window is 5m\\); nothing was run.*grant revoke ${id}`));
  assert.deepEqual(
    (await s.store.grants.active()).map((g) => g.id),
    [id],
  );
});
