import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { registry } from "../../commands/index.ts";
import { actionKinds, risk } from "../../src/core/action.ts";
import { type DispatchDeps, dispatch } from "../../src/core/dispatch.ts";
import { handlers } from "../../src/core/handlers.ts";
import { PolicySchema } from "../../src/core/policy.ts";
import { details, FakeEngine } from "../fakes.ts";
import { closeOpened, memoryStore, testJobs } from "../support/memory-store.ts";

afterEach(closeOpened);

test("the handler table has exactly one entry per action kind, each complete", () => {
  assert.deepEqual(Object.keys(handlers).sort(), [...actionKinds].sort());
  for (const [kind, h] of Object.entries(handlers)) {
    assert.ok(["reply", "job", "decision"].includes(h.runs), `${kind} runs as ${h.runs}`);
    for (const f of ["summary", "preview", "execute"] as const) assert.equal(typeof h[f], "function", `${kind}.${f}`);
    assert.ok("inverse" in h, `${kind} says whether it has an inverse`);
  }
  assert.deepEqual(
    Object.entries(handlers)
      .filter(([, h]) => h.runs === "decision")
      .map(([k]) => k),
    ["approval.decide", "undo"],
    "only a decision on a waiting request, and an undo (whose inverse is authorized instead), bypass the policy's bindings",
  );
});

test("a gate card is marked dangerous exactly for the kinds the risk table calls dangerous", async () => {
  const policy = PolicySchema.parse({
    version: 1,
    roles: { all: { actions: ["*"] } },
    bindings: [{ role: "all", users: ["U0OPER"] }],
    images: ["busybox:*"],
    rules: [{ id: "everything", actions: ["container.*"], require: "confirm" }],
  });
  const engine = new FakeEngine();
  engine.containers = [details({ id: "abc123def456", name: "web" })];
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
  const actor = { userId: "U0OPER", channelId: "C0INCIDENT" };
  const gated = {
    "container.run": "run busybox:1 echo hi",
    "container.stop": "stop web",
    "container.restart": "restart web",
    "container.remove": "rm web",
    "container.exec": "exec web -- ls",
    "container.logs": "logs web",
  } as const;
  for (const [kind, text] of Object.entries(gated)) {
    const o = await dispatch({ text, actor }, deps, AbortSignal.timeout(5000));
    assert.equal(o.type, "gate", `${text}: ${JSON.stringify(o)}`);
    if (o.type === "gate") assert.equal(o.view.dangerous, risk[kind as keyof typeof gated] === "dangerous", text);
  }
});
