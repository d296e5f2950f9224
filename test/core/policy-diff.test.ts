import assert from "node:assert/strict";
import { test } from "node:test";
import { type ChangeEffect, diffPolicies } from "../../src/core/policy-diff.ts";
import { parsePolicyText } from "../../src/core/policy-file.ts";

const base = `version: 1
roles:
  viewer: { actions: [container.list, container.logs] }
  operator: { inherits: [viewer], actions: [container.run, container.restart] }
  lead: { inherits: [operator], actions: [container.remove] }
bindings:
  - { role: operator, usergroups: [S0ONCALL], channels: [C0INCIDENT1] }
  - { role: viewer, users: [U0NOBODY] }
images: ["berth-test/**"]
rules:
  - { id: prod-run, actions: [container.run], hosts: ["prod-*"], require: approval, approvers: [lead] }
  - { id: prod-restart, actions: [container.restart], hosts: ["prod-*"], require: confirm }
grants:
  - { role: lead, requesters: { usergroups: [S0ONCALL] }, approvers: [lead], maxDuration: 1h }
containers: { maxMemory: 1g, maxCpus: 2 }
`;
const policy = (text: string) => parsePolicyText(text, "policy.yaml");
const diff = (edit: (text: string) => string) => diffPolicies(policy(base), policy(edit(base)));
const effects = (d: ReturnType<typeof diff>) => d.changes.map((c) => `${c.effect}: ${c.text}`);
const only = (d: ReturnType<typeof diff>, effect: ChangeEffect) => d.changes.every((c) => c.effect === effect);

test("the same policy: no change", () => {
  const d = diff((t) => t);
  assert.deepEqual(d.changes, []);
  assert.equal(d.summary, "no change in effect");
});

test("a removed approval rule REMOVES A GATE and names the rule", () => {
  const d = diff((t) => t.replace(/ {2}- \{ id: prod-run.*\n/, ""));
  assert.ok(d.removesGate && !d.widens);
  assert.deepEqual(effects(d), ["removes-gate: rule `prod-run` removed (`container.run` no longer require approval)"]);
  assert.deepEqual(d.changes[0]?.ids, ["rules.prod-run"]);
  assert.match(d.summary, /^REMOVES GATE: 1 changes \(rules 1\)$/);
});

test("approval weakened to confirm, approvers widened, or a rule's scope shrunk: each REMOVES A GATE", () => {
  for (const edit of [
    (t: string) => t.replace("require: approval, approvers: [lead]", "require: confirm, approvers: [lead]"),
    (t: string) => t.replace("approvers: [lead] }", "approvers: [lead, operator] }"),
    (t: string) => t.replace(", approvers: [lead] }", " }"),
    (t: string) => t.replace('hosts: ["prod-*"], require: approval', 'hosts: ["prod-db"], require: approval'),
  ]) {
    const d = diff(edit);
    assert.ok(d.removesGate, `${effects(d)}`);
    assert.ok(only(d, "removes-gate"), `${effects(d)}`);
  }
});

test("more actions for a role (inherited ones too), new bindings, everyone, images and raised limits WIDEN", () => {
  const cases: [(t: string) => string, RegExp][] = [
    [
      (t) => t.replace("[container.list, container.logs]", "[container.list, container.logs, container.exec]"),
      /role `lead` gains `container.exec`/,
    ],
    [(t) => t.replace("bindings:\n", "bindings:\n  - { role: lead, users: [U0NEW] }\n"), /binding added: role lead, users U0NEW/],
    [(t) => t.replace("users: [U0NOBODY]", 'users: ["*"]'), /binding added: role viewer, users \* — to EVERYONE/],
    [(t) => t.replace('images: ["berth-test/**"]', 'images: ["berth-test/**", "docker.io/**"]'), /images allowed: `docker.io\/\*\*`/],
    [(t) => t.replace("maxMemory: 1g", "maxMemory: 8g"), /containers.maxMemory 8 GiB \(was 1 GiB\)/],
    [(t) => t.replace("maxDuration: 1h", "maxDuration: 8h"), /break-glass for `lead` changed: up to 8h/],
    [(t) => t.replace("containers: {", "containers: { privileged: true,"), /containers.privileged true/],
  ];
  for (const [edit, text] of cases) {
    const d = diff(edit);
    assert.ok(d.widens && !d.removesGate, `${effects(d)}`);
    assert.ok(
      d.changes.some((c) => c.effect === "widens" && text.test(c.text)),
      `${text} in ${effects(d)}`,
    );
    assert.match(d.summary, /^WIDENS: /);
  }
});

test("narrowing edits are neither widening nor gate removal", () => {
  const d = diff((t) =>
    t
      .replace("require: confirm", "require: approval")
      .replace("  - { role: viewer, users: [U0NOBODY] }\n", "")
      .replace("maxCpus: 2", "maxCpus: 1")
      .replace("rules:\n", "rules:\n  - { id: all-rm, actions: [container.remove], require: approval }\n"),
  );
  assert.ok(!d.widens && !d.removesGate, `${effects(d)}`);
  assert.ok(only(d, "narrows"), `${effects(d)}`);
  assert.equal(d.changes.length, 4);
});

test("a binding moved to a stronger role shows as one removed and one added, and widens", () => {
  const d = diff((t) => t.replace("{ role: viewer, users: [U0NOBODY] }", "{ role: operator, users: [U0NOBODY] }"));
  assert.deepEqual(effects(d), [
    "widens: binding added: role operator, users U0NOBODY",
    "narrows: binding removed: role viewer, users U0NOBODY",
  ]);
});
