import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { registry } from "../../commands/index.ts";
import { berthLines, engineLines, merged, windowText } from "../../src/core/changes.ts";
import { type DispatchDeps, dispatch } from "../../src/core/dispatch.ts";
import { plainText } from "../../src/core/message.ts";
import { PolicySchema } from "../../src/core/policy.ts";
import type { EngineChange } from "../../src/engines/ports.ts";
import type { AuditRecord } from "../../src/store/audit-log.ts";
import { details, FakeEngine } from "../fakes.ts";
import { closeOpened, memoryStore, testJobs } from "../support/memory-store.ts";

afterEach(closeOpened);

const t0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const min = 60_000;
const ev = (minute: number, action: string, over: Partial<EngineChange> = {}): EngineChange => ({
  type: "container",
  action,
  id: "abc123def456",
  name: "api",
  at: t0 + minute * min,
  ...over,
});
const texts = (lines: { text: Parameters<typeof plainText>[0] }[]) => lines.map((l) => plainText(l.text));

test("a crash loop is one line: restarts counted, the span, the last exit and OOM", () => {
  const loop: EngineChange[] = [ev(0, "start")];
  for (let i = 1; i <= 14; i++) loop.push(ev(i, "die", { exitCode: i === 14 ? 137 : 1 }), ev(i, "start"));
  loop.splice(-1, 0, ev(14, "oom"));
  assert.deepEqual(texts(engineLines(loop)), ["12:00–12:14 api restarted 14× (last exit 137, OOM)"]);
});

test("runs are cut by other events; each container, image, service and node is its own subject", () => {
  const lines = engineLines([
    ev(0, "create"),
    ev(0, "start"),
    ev(1, "start", { id: "other0000000", name: "worker" }),
    ev(2, "kill", { signal: "15" }),
    ev(2, "die", { exitCode: 0 }),
    ev(2, "stop"),
    ev(3, "destroy"),
    ev(4, "pull", { type: "image", id: "busybox:1", name: "busybox:1" }),
    ev(5, "pull", { type: "image", id: "busybox:1", name: "busybox:1" }),
    ev(6, "update", { type: "service", id: "svc000000000", name: "web", detail: "replicas 2 → 5" }),
    ev(7, "update", { type: "node", id: "node00000000", name: "n1", detail: "availability active → drain" }),
  ]);
  assert.deepEqual(texts(lines), [
    "12:00 api created",
    "12:00–12:02 api stopped (exit 0)",
    "12:01 worker started",
    "12:03 api removed",
    "12:04–12:05 image busybox:1 pulled 2×",
    "12:06 service web updated (replicas 2 → 5)",
    "12:07 node n1 updated (availability active → drain)",
  ]);
  assert.equal(lines[1]?.container, "api");
  assert.equal(lines[4]?.container, undefined, "an image line has no Logs");
});

const record = (minute: number, over: Partial<AuditRecord>): AuditRecord => ({
  requestId: "r",
  type: "outcome",
  userId: "U0ALICE",
  channelId: "C0OPS",
  action: { kind: "container.restart", container: "api" },
  host: "local",
  decision: null,
  rule: null,
  outcome: "ok",
  messageTs: null,
  seq: minute,
  at: t0 + minute * min,
  prevHash: "",
  hash: "",
  keyId: null,
  ...over,
});

test("berth's records: changes on this host only, reads left out, repeats counted, no environment shown", () => {
  const records = [
    record(1, {}),
    record(2, {}),
    record(3, { host: "prod-1" }),
    record(4, { action: { kind: "container.logs", container: "api", follow: false } }),
    record(5, { type: "decision", decision: "allow" }),
    record(6, { action: { kind: "container.run", image: "busybox:1", env: [{ name: "TOKEN", value: "s3cret" }] }, userId: "U0BOB" }),
    record(7, { action: { kind: "service.scale", service: "web", replicas: 3 }, outcome: "failed: paused" }),
  ];
  const lines = berthLines(records, "local", t0);
  assert.deepEqual(texts(lines), [
    "12:01–12:02 @U0ALICE restart api 2× through berth → ok",
    "12:06 @U0BOB ran busybox:1 through berth → ok",
    "12:07 @U0ALICE service scale web to 3 through berth → failed: paused",
  ]);
  assert.ok(!JSON.stringify(lines).includes("s3cret") && !JSON.stringify(lines).includes("TOKEN"));
  assert.equal(lines[0]?.container, "api");
  const all = merged(engineLines([ev(3, "start")]), lines);
  assert.deepEqual(
    all.map((l) => l.at),
    [7, 6, 3, 2].map((m) => t0 + m * min),
    "newest first",
  );
});

test("a line from another day than today names its day", () => {
  const [line] = engineLines(
    [ev(-780, "die", { exitCode: 2 }), ev(-770, "start"), ev(-720, "die", { exitCode: 2 }), ev(-715, "start")],
    t0,
  );
  assert.equal(plainText(line?.text ?? []), "Jan 4 23:00–Jan 5 00:05 api restarted 2× (last exit 2)".replace("Jan 5 ", ""));
});

test("a window reads as typed", () => {
  assert.deepEqual([3600, 5400, 90, 86400].map(windowText), ["1h", "1h30m", "1m30s", "24h"]);
});

function setup(bindings: unknown[]) {
  const policy = PolicySchema.parse({
    version: 1,
    roles: { viewer: { actions: ["events.changes", "container.logs"] }, lead: { inherits: ["viewer"], actions: ["audit.query"] } },
    bindings,
  });
  const engine = new FakeEngine();
  engine.containers = [details({ id: "abc123def456", name: "api" })];
  return { policy, engine };
}

async function depsFor(bindings: unknown[], now: number) {
  const { policy, engine } = setup(bindings);
  // The audit log's clock: berth's records are written 10 minutes before `now`.
  const store = await memoryStore(() => now - 10 * min);
  const deps: DispatchDeps = {
    registry,
    policy: () => policy,
    hosts: { connections: [{ name: "local", url: "unix:///x", timeoutMs: 1000 }], channels: {}, default: "local" },
    engine: () => engine,
    store,
    jobs: testJobs(store),
    pendingActions: new Map(),
    groupsOf: async () => new Set(),
    clock: () => now,
  };
  return { deps, engine, store };
}

test("changes answers with a line per change, a Logs tap for a container that still exists, berth's records for a lead", async () => {
  const now = t0 + 30 * min;
  const { deps, engine, store } = await depsFor(
    [
      { role: "lead", users: ["U0LEAD"] },
      { role: "viewer", users: ["U0VIEW"] },
    ],
    now,
  );
  engine.history = {
    changes: [
      ev(10, "die", { exitCode: 1 }),
      ev(11, "start"),
      ev(12, "die", { exitCode: 1 }),
      ev(13, "start"),
      ev(14, "destroy", { id: "0ld000000000", name: "gone" }),
    ],
    seen: 5,
    oldestAt: t0 + 10 * min,
  };
  await store.audit.append({ ...record(20, {}), seq: undefined, at: undefined } as never);
  const lead = await dispatch(
    { text: "changes --since 1h", actor: { userId: "U0LEAD", channelId: "C0OPS" } },
    deps,
    AbortSignal.timeout(5000),
  );
  assert.equal(lead.type, "reply");
  if (lead.type !== "reply") return;
  const rows = lead.reply.rows ?? [];
  assert.match(plainText(lead.reply.text), /Changes on local in the last 1h, newest first/);
  assert.deepEqual(
    rows.map((r) => plainText(r.text)),
    ["12:20 @U0ALICE restart api through berth → ok", "12:14 gone removed", "12:10–12:13 api restarted 2× (last exit 1)"],
  );
  assert.deepEqual(
    rows.map((r) => r.choice?.label),
    ["Logs", undefined, "Logs"],
    "Logs for api (it exists), none for a removed container",
  );
  const logs = rows[2]?.choice?.action;
  assert.equal(logs?.kind, "container.logs");
  if (logs?.kind === "container.logs") assert.ok((logs.sinceSeconds ?? 0) >= 20 * 60, "the logs reach back to the line's start");

  const viewer = await dispatch({ text: "changes", actor: { userId: "U0VIEW", channelId: "C0OPS" } }, deps, AbortSignal.timeout(5000));
  assert.equal(viewer.type, "reply");
  if (viewer.type !== "reply") return;
  assert.equal(viewer.reply.rows?.length, 2, "no berth record for someone who may not read the audit log");
  assert.match(plainText(viewer.reply.text), /berth's own records are left out: they are shown to those allowed audit on local/);
});

test("changes says where the engine's memory begins when --since reaches past it, and nothing changed is an answer", async () => {
  const now = t0 + 6 * 60 * min;
  const { deps, engine } = await depsFor([{ role: "viewer", users: ["U0VIEW"] }], now);
  engine.history = { changes: [ev(300, "start")], seen: 256, oldestAt: t0 + 290 * min };
  const o = await dispatch(
    { text: "changes --since 6h", actor: { userId: "U0VIEW", channelId: "C0OPS" } },
    deps,
    AbortSignal.timeout(5000),
  );
  assert.equal(o.type, "reply");
  if (o.type === "reply")
    assert.match(plainText(o.reply.text), /keeps only its last 256 events, in memory: its record on local begins at 16:50/);
  engine.history = { changes: [], seen: 0, oldestAt: undefined };
  const quiet = await dispatch(
    { text: "changes --since 5m", actor: { userId: "U0VIEW", channelId: "C0OPS" } },
    deps,
    AbortSignal.timeout(5000),
  );
  if (quiet.type === "reply") assert.match(plainText(quiet.reply.text), /^Nothing changed on local in the last 5m\./);
});

test("changes --since past a day is refused before anything runs, saying what the engine keeps", async () => {
  const { deps, engine } = await depsFor([{ role: "viewer", users: ["U0VIEW"] }], t0);
  const o = await dispatch(
    { text: "changes --since 2d", actor: { userId: "U0VIEW", channelId: "C0OPS" } },
    deps,
    AbortSignal.timeout(5000),
  );
  assert.equal(o.type, "reply");
  if (o.type === "reply") {
    assert.equal(o.result, "usage_error");
    assert.match(plainText(o.reply.text), /looks back at most 24h: Docker keeps only its last 256 events, in memory/);
  }
  assert.ok(!engine.calls.some((c) => c.method === "pastEvents"), "the engine was not asked");
});
