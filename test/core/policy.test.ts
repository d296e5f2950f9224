import assert from "node:assert/strict";
import { test } from "node:test";
import type { Action } from "../../src/core/action.ts";
import { BerthError } from "../../src/core/errors.ts";
import {
  allOrNothing,
  authorize,
  containerLimits,
  describeSubject,
  type Place,
  PolicySchema,
  type Subject,
} from "../../src/core/policy.ts";
import { loadPolicyFile } from "../../src/core/policy-file.ts";
import { parseYaml } from "../../src/core/yaml-file.ts";
import { mrkdwn } from "../support/text.ts";

const policyYaml = `
version: 1
roles:
  viewer: { actions: [container.list, container.logs, container.inspect] }
  operator: { inherits: [viewer], actions: [container.run, container.stop, container.start, container.restart] }
  admin: { actions: ["*"] }
bindings:
  - role: operator
    users: [U0OPER]
    usergroups: [S0ONCALL]
    channels: ["C0INCIDENT", "G0INCIDENT2"]
    hosts: ["local", "staging-*"]
  - role: viewer
    users: ["*"]
    channels: ["C0OPS"]
  - role: admin
    users: [U0ADMIN]
images: ["busybox:*", "registry.example.com/**"]
`;
const policy = parseYaml(policyYaml, PolicySchema, "policy test");

const run = (image: string, extra: Partial<Extract<Action, { kind: "container.run" }>> = {}): Action => ({
  kind: "container.run",
  image,
  cmd: [],
  env: [],
  detach: false,
  autoRemove: false,
  privileged: false,
  mounts: [],
  ...extra,
});
const subject = (userId: string, groups: string[] = []): Subject => ({ userId, groups: new Set(groups), homeTeam: true });
const incident: Place = { channelId: "C0INCIDENT", channelName: "incident-db", host: "local" };
const logs: Action = { kind: "container.logs", container: "api", follow: true };

const table: [string, Subject, Action, Place, boolean, RegExp][] = [
  ["operator runs an allowed image", subject("U0OPER"), run("busybox:1"), incident, true, /^bindings\[0\] \(role operator\)$/],
  ["operator by user group", subject("U0SOMEONE", ["S0ONCALL"]), run("busybox:1"), incident, true, /bindings\[0\]/],
  ["inherited viewer action", subject("U0OPER"), logs, incident, true, /bindings\[0\]/],
  ["private channel by ID", subject("U0OPER"), logs, { channelId: "G0INCIDENT2", host: "local" }, true, /bindings\[0\]/],
  [
    "a channel's name counts for nothing, only its ID",
    subject("U0OPER"),
    logs,
    { channelId: "C0OTHER", channelName: "incident-db", host: "local" },
    false,
    /default:deny/,
  ],
  ["host glob", subject("U0OPER"), logs, { ...incident, host: "staging-3" }, true, /bindings\[0\]/],
  ["registry ** crosses path segments", subject("U0OPER"), run("registry.example.com/team/app:2"), incident, true, /bindings\[0\]/],
  ["* in images stays in one segment", subject("U0OPER"), run("busybox:1/evil"), incident, false, /^policy:images$/],
  ["image not allowed", subject("U0OPER"), run("alpine:3"), incident, false, /^policy:images$/],
  ["untagged image means :latest", subject("U0OPER"), run("busybox"), incident, true, /bindings\[0\]/],
  ["nobody is denied", subject("U0NOBODY"), logs, incident, false, /^default:deny$/],
  [
    "operator outside their channels",
    subject("U0OPER"),
    logs,
    { channelId: "C0RANDOM", channelName: "random", host: "local" },
    false,
    /default:deny/,
  ],
  ["operator on another host", subject("U0OPER"), logs, { ...incident, host: "prod-1" }, false, /default:deny/],
  [
    "everyone may view in #ops",
    subject("U0ANY"),
    logs,
    { channelId: "C0OPS", channelName: "ops", host: "prod-1" },
    true,
    /bindings\[1\] \(role viewer\)/,
  ],
  [
    "viewer may not run",
    subject("U0ANY"),
    run("busybox:1"),
    { channelId: "C0OPS", channelName: "ops", host: "local" },
    false,
    /default:deny/,
  ],
  ["operator may not rm", subject("U0OPER"), { kind: "container.remove", container: "api", force: false }, incident, false, /default:deny/],
  [
    "admin may do anything anywhere",
    subject("U0ADMIN"),
    { kind: "container.exec", container: "a", cmd: ["sh"] },
    { channelId: "C9", host: "x" },
    true,
    /role admin/,
  ],
  ["help is open to everyone", subject("U0NOBODY"), { kind: "help" }, incident, true, /builtin:self-service/],
  ["whoami is open to everyone", subject("U0NOBODY"), { kind: "policy.explain", question: "whoami" }, incident, true, /builtin/],
  ["memory above the maximum", subject("U0ADMIN"), run("busybox:1", { memoryBytes: 2 * 1024 ** 3 }), incident, false, /policy:containers/],
];

for (const [name, who, action, place, allow, rule] of table) {
  test(`authorize: ${name}`, () => {
    const decision = authorize(policy, who, action, place);
    assert.equal(decision.allow, allow, JSON.stringify(decision));
    assert.match(decision.rule, rule);
  });
}

test("a denial names the missing permission and the roles that grant it", () => {
  const d = authorize(policy, subject("U0NOBODY"), run("busybox:1"), incident);
  assert.equal(d.allow, false);
  assert.match(
    d.allow ? "" : mrkdwn(d.reason),
    /You need permission `container\.run` in #incident-db on host local.*Roles that allow it: operator, admin/,
  );
});

test("a denial tells a bound user where their role does apply", () => {
  const d = authorize(policy, subject("U0OPER"), logs, { channelId: "C0RANDOM", channelName: "random", host: "local" });
  assert.match(d.allow ? "" : mrkdwn(d.reason), /Your role operator allows it in C0INCIDENT, G0INCIDENT2 on hosts local, staging-\*/);
});

test("no images list means no image may run", () => {
  const strict = parseYaml(
    "version: 1\nroles: { admin: { actions: ['*'] } }\nbindings: [{ role: admin, users: ['*'] }]\n",
    PolicySchema,
    "t",
  );
  const d = authorize(strict, subject("U1"), run("busybox:1"), incident);
  assert.match(d.allow ? "" : mrkdwn(d.reason), /allowed: none/);
});

test("container defaults are safe and requests are honoured", () => {
  const limits = containerLimits(policy, run("busybox:1") as Extract<Action, { kind: "container.run" }>);
  assert.deepEqual(limits, {
    memoryBytes: 256 * 1024 ** 2,
    nanoCpus: 1e9,
    pidsLimit: 256,
    timeoutSeconds: 1800,
    networkMode: "none",
    privileged: false,
    mounts: [],
  });
  const asked = containerLimits(
    policy,
    run("busybox:1", { memoryBytes: 8 * 1024 ** 2, cpus: 0.5 }) as Extract<Action, { kind: "container.run" }>,
  );
  assert.equal(asked.memoryBytes, 8 * 1024 ** 2);
  assert.equal(asked.nanoCpus, 5e8);
});

const mounting = parseYaml(
  `${policyYaml}containers:\n  mounts:\n    scratch: { path: /srv/berth-scratch }\n    cache: { path: /srv/berth-cache, readOnly: false }\n`,
  PolicySchema,
  "policy test",
);
const withMounts = (mounts: Extract<Action, { kind: "container.run" }>["mounts"]) =>
  run("busybox:1", { mounts }) as Extract<Action, { kind: "container.run" }>;
const refusal = (mounts: Extract<Action, { kind: "container.run" }>["mounts"]) => {
  const d = authorize(mounting, subject("U0ADMIN"), withMounts(mounts), incident);
  return d.allow ? "allowed" : `${d.rule}: ${mrkdwn(d.reason)}`;
};

test("mounts: a host path is refused, saying why and naming the mounts the policy offers", () => {
  const reason = refusal([{ name: "/srv/berth-scratch/root", target: "/y" }]);
  assert.match(reason, /^policy:containers: `\/srv\/berth-scratch\/root` is a host path: berth does not take host paths/);
  assert.match(reason, /symlink/);
  assert.match(reason, /`scratch` \(read-only\), `cache` \(writable\)/);
  for (const path of ["~/x", "./x", "../x", "a/b"]) assert.match(refusal([{ name: path, target: "/y" }]), /is a host path/);
});

test("mounts: an unknown name is refused with the names the policy defines", () => {
  assert.match(refusal([{ name: "etc", target: "/y" }]), /There is no mount named `etc`\. Mounts the policy defines: `scratch`/);
  assert.match(refusal([{ name: "toString", target: "/y" }]), /There is no mount named `toString`/);
});

test("mounts: rw on a read-only name is refused; ro on a writable one is honoured", () => {
  assert.match(refusal([{ name: "scratch", target: "/y", readOnly: false }]), /`scratch` is read-only in the policy; drop `:rw`/);
  assert.equal(refusal([{ name: "cache", target: "/y", readOnly: true }]), "allowed");
});

test("mounts: targets that climb with .., are relative, or cover / /proc /sys /dev are refused", () => {
  const cases: [string, RegExp][] = [
    ["/x/../etc", /may not contain `\.\.`/],
    ["x", /must be absolute/],
    ["/", /may not replace the container's root/],
    ["//", /may not replace the container's root/],
    ["/proc", /may not cover `\/proc`/],
    ["/sys/fs/cgroup", /may not cover `\/sys`/],
    ["/dev/", /may not cover `\/dev`/],
    ["/./proc", /may not cover `\/proc`/],
  ];
  for (const [target, why] of cases) assert.match(refusal([{ name: "scratch", target }]), why, target);
});

test("mounts: a name resolves to the operator's path, in the mount's own mode unless asked read-only", () => {
  const limits = containerLimits(
    mounting,
    withMounts([
      { name: "scratch", target: "/x" },
      { name: "cache", target: "/c" },
      { name: "cache", target: "/c2", readOnly: true },
    ]),
  );
  assert.deepEqual(limits.mounts, [
    { source: "/srv/berth-scratch", target: "/x", readOnly: true },
    { source: "/srv/berth-cache", target: "/c", readOnly: false },
    { source: "/srv/berth-cache", target: "/c2", readOnly: true },
  ]);
});

test("mounts: a run resolved after the policy dropped its mount fails instead of binding anything", () => {
  assert.throws(
    () => containerLimits(policy, withMounts([{ name: "scratch", target: "/x" }])),
    (e: unknown) => e instanceof BerthError && e.code === "CONFIG" && /no longer allows these mounts/.test(e.message),
  );
});

test("whoami lists the caller's roles and where they apply", () => {
  const lines = describeSubject(policy, subject("U0OPER"), { userId: "U0OPER", channelId: "C0INCIDENT", channelName: "incident-db" });
  assert.equal(lines.length, 2); // operator binding + the "*" viewer binding
  assert.match(mrkdwn(lines[0]), /\*operator\* in C0INCIDENT, G0INCIDENT2 on hosts local, staging-\* \(applies here\): container\.run/);
  assert.match(mrkdwn(lines[1]), /\*viewer\* in C0OPS: container\.list/);
});

const invalid: [string, string, RegExp][] = [
  [
    "unknown role in a binding",
    "version: 1\nroles: {}\nbindings:\n  - role: oper\n    users: [U1]\n",
    /line 4 \(bindings\.0\.role\): no role named "oper"/,
  ],
  ["unknown action", "version: 1\nroles:\n  r:\n    actions: [container.destroy]\n", /line 4 .*unknown action "container\.destroy"/],
  ["unknown inherited role", "version: 1\nroles:\n  r: { inherits: [nope] }\n", /no role named "nope"/],
  ["inheritance cycle", "version: 1\nroles:\n  a: { inherits: [b] }\n  b: { inherits: [a] }\n", /role "a" inherits itself/],
  ["binding without subjects", "version: 1\nroles: { r: {} }\nbindings:\n  - role: r\n", /a binding needs users or usergroups/],
  ["bad user id", "version: 1\nroles: { r: {} }\nbindings:\n  - role: r\n    users: [alice]\n", /line 5 .*a Slack user ID/],
  ["unknown key (typo)", "version: 1\nroles: {}\nbinding: []\n", /Unrecognized key: "binding"/],
  ["wrong version", "version: 2\nroles: {}\n", /line 1 \(version\)/],
  ["YAML syntax error", "version: 1\nroles: [\n", /Invalid policy .*, line \d+:/],
  ["duplicate key", "version: 1\nversion: 1\nroles: {}\n", /line 2: Map keys must be unique/],
  ["bad size", "version: 1\nroles: {}\ncontainers: { memory: lots }\n", /a size such as 256m/],
  [
    "the old list of host path globs, with how to convert it",
    'version: 1\nroles: {}\ncontainers:\n  mounts: ["/srv/berth-scratch/**"]\n',
    /line 4 \(containers\.mounts\): `mounts` is now a map of named mounts.*symlink.*\["\/srv\/berth-scratch\/\*\*"\].*mounts: \{ scratch: \{ path: \/srv\/berth-scratch \} \}/s,
  ],
  [
    "a glob as a mount path",
    "version: 1\nroles: {}\ncontainers: { mounts: { data: { path: /srv/* } } }\n",
    /a mount is one directory: no globs/,
  ],
  ["the host's / as a mount", "version: 1\nroles: {}\ncontainers: { mounts: { all: { path: / } } }\n", /would give away the whole host/],
  ["a mount path with ..", "version: 1\nroles: {}\ncontainers: { mounts: { x: { path: /srv/../etc } } }\n", /without \. or \.\./],
  ["a relative mount path", "version: 1\nroles: {}\ncontainers: { mounts: { x: { path: srv } } }\n", /host paths are absolute/],
  [
    "a mount name that is not a word",
    "version: 1\nroles: {}\ncontainers: { mounts: { /srv: { path: /srv } } }\n",
    /mount names are lower-case words/,
  ],
  [
    "a mount inside a writable mount",
    "version: 1\nroles: {}\ncontainers:\n  mounts:\n    cache: { path: /srv/cache/, readOnly: false }\n    sub: { path: /srv/cache/sub }\n",
    /containers\.mounts\.sub\): \/srv\/cache\/sub lies inside the writable mount `cache`.*symlink/,
  ],
  ["CPUs that round to no limit", "version: 1\nroles: {}\ncontainers: { cpus: 0.000001 }\n", /at least 0\.01/],
  ["memory below Docker's minimum", "version: 1\nroles: {}\ncontainers: { memory: 1m }\n", /at least 6m/],
  [
    "a channel bound by name (spoofable)",
    'version: 1\nroles: { r: {} }\nbindings:\n  - role: r\n    users: [U1]\n    channels: ["#incident-*"]\n',
    /line 6 \(bindings\.0\.channels\.0\): "#incident-\*" names a channel by name, and any member can create or rename a channel to match a name, so berth binds channels by ID only\. Find the ID in Slack \(open the channel, click its name: the ID is at the bottom of About/,
  ],
  [
    "a rule's channel by name",
    'version: 1\nroles: { r: {} }\nrules:\n  - { id: x, actions: [help], channels: ["#ops"], require: confirm }\n',
    /rules\.0\.channels\.0.*"#ops" names a channel by name/,
  ],
  [
    "a channel that is neither ID nor name",
    "version: 1\nroles: { r: {} }\nbindings:\n  - { role: r, users: [U1], channels: [general] }\n",
    /"general" is not a Slack channel ID like C0123ABCD/,
  ],
  ["a misspelt wider permission", "version: 1\nroles:\n  r: { actions: [host.remove.all] }\n", /unknown action "host\.remove\.all"/],
];

for (const [name, yaml, message] of invalid) {
  test(`invalid policy: ${name}`, () => {
    assert.throws(
      () => parseYaml(yaml, PolicySchema, "policy test.yaml"),
      (e: unknown) => e instanceof BerthError && e.code === "CONFIG" && message.test(e.message),
    );
  });
}

test("a missing policy file says how to create one", () => {
  assert.throws(() => loadPolicyFile("/nonexistent/policy.yaml"), /Copy manifests\/policy\.example\.yaml to \/nonexistent\/policy\.yaml/);
});

test("wider permissions are names a role may list, and * covers them", () => {
  const p = parseYaml(
    "version: 1\nroles:\n  keeper: { actions: [host.remove.any, host.extend.any, job.list.all] }\n  admin: { actions: ['*'] }\n",
    PolicySchema,
    "t",
  );
  assert.deepEqual(p.roles.keeper?.actions, ["host.remove.any", "host.extend.any", "job.list.all"]);
});

// Part of the host-scope fix: a binding's `hosts:` covers every action that concerns a host, and no action without one.
const ciPolicy = parseYaml(
  `version: 1
roles:
  keeper: { actions: [host.create, host.extend, host.remove, host.list, audit.query] }
  admin: { actions: ["*"] }
bindings:
  - { role: keeper, users: [U0CI], hosts: ["ci-*"] }
  - { role: admin, users: [U0ADMIN] }
`,
  PolicySchema,
  "ci policy",
);
const anywhere: Place = { channelId: "C0CI", channelName: "ci" };
const ciUser = subject("U0CI");

test("a host-scoped binding does not reach host create|extend|rm of a host outside its hosts", () => {
  for (const action of [
    { kind: "host.remove", name: "prod-db" },
    { kind: "host.extend", name: "prod-db" },
    { kind: "host.create", name: "prod-db", os: "linux", hyperv: false, private: false },
  ] as Action[]) {
    const d = authorize(ciPolicy, ciUser, action, { ...anywhere, hostOwner: "U0CI" });
    assert.equal(d.allow, false, action.kind);
    assert.match(
      d.allow ? "" : mrkdwn(d.reason),
      new RegExp(`\`${action.kind.replace(".", "\\.")}\` in #ci on host prod-db\\. Your role keeper allows it on hosts ci-\\*`),
    );
  }
  assert.equal(authorize(ciPolicy, ciUser, { kind: "host.remove", name: "ci-1" }, { ...anywhere, hostOwner: "U0CI" }).allow, true);
});

test("audit -H is held to the binding's hosts, and audit without -H to no host-scoped binding", () => {
  assert.equal(authorize(ciPolicy, ciUser, { kind: "audit.query", host: "ci-1" }, anywhere).allow, true);
  assert.equal(authorize(ciPolicy, ciUser, { kind: "audit.query", host: "prod-db" }, anywhere).allow, false);
  const all = authorize(ciPolicy, ciUser, { kind: "audit.query" }, anywhere);
  assert.match(all.allow ? "" : mrkdwn(all.reason), /names no host, and your role only applies on some hosts: add `-H HOST`/);
  assert.equal(authorize(ciPolicy, ciUser, { kind: "host.list" }, anywhere).allow, false, "host.list concerns no host");
  assert.equal(authorize(ciPolicy, subject("U0ADMIN"), { kind: "audit.query" }, anywhere).allow, true);
});

test("removing or extending a host someone else made needs host.remove.any / host.extend.any, and says who made it", () => {
  const theirs = { ...anywhere, hostOwner: "U0ALICE" };
  const rm = authorize(ciPolicy, ciUser, { kind: "host.remove", name: "ci-1" }, theirs);
  assert.equal(rm.allow, false);
  assert.match(
    rm.allow ? "" : mrkdwn(rm.reason),
    /^`ci-1` was made by <@U0ALICE>, not you: removing a host someone else made needs permission `host\.remove\.any` as well\./,
  );
  const ext = authorize(ciPolicy, ciUser, { kind: "host.extend", name: "ci-1" }, theirs);
  assert.match(ext.allow ? "" : mrkdwn(ext.reason), /extending a host someone else made needs permission `host\.extend\.any`/);
  assert.equal(authorize(ciPolicy, subject("U0ADMIN"), { kind: "host.remove", name: "ci-1" }, theirs).allow, true, "* covers it");
});

test("users: ['*'] is everyone in berth's workspace, never a user of another team; named users match wherever from", () => {
  const guest: Subject = { userId: "U0GUEST", groups: new Set(), teamId: "T0PARTNER", homeTeam: false };
  const ops: Place = { channelId: "C0OPS", channelName: "ops", host: "prod-1" };
  assert.equal(authorize(policy, { ...guest, homeTeam: true }, logs, ops).allow, true);
  assert.equal(authorize(policy, guest, logs, ops).allow, false);
  assert.equal(authorize(policy, { ...guest, userId: "U0OPER" }, logs, incident).allow, true);
});

test("several containers are decided all or nothing: one refused refuses the request, naming which and why", () => {
  const allowed = { allow: true, rule: "bindings[0] (role operator)", gate: "none" } as const;
  const refused = { allow: false, rule: "default:deny", reason: ["You may not touch this one."] } as const;
  const d = allOrNothing([
    { name: "web", decision: allowed },
    { name: "db", decision: refused },
    { name: "api", decision: allowed },
    { name: "cache", decision: refused },
  ]);
  assert.equal(d.allow, false);
  assert.equal(d.rule, "default:deny");
  assert.equal(
    d.allow ? "" : mrkdwn(d.reason),
    "Nothing was done: 2 of the 4 containers are not allowed, and berth runs all of a request or none of it.\n• `db`, `cache`: You may not touch this one.",
  );
  const gated = allOrNothing([
    { name: "web", decision: allowed },
    { name: "db", decision: { ...allowed, gate: "approval", gateRule: "rules.db" } },
    { name: "api", decision: { ...allowed, gate: "confirm", gateRule: "rules.all" } },
  ]);
  assert.deepEqual(gated, { ...allowed, gate: "approval", gateRule: "rules.db" }, "the strongest gate, once for all");
});

test("every container of a multi-container action is decided, and the policy decides them alike today", () => {
  const stop: Action = { kind: "container.stop", container: "web", more: ["db"] };
  const ok = authorize(policy, subject("U0OPER"), stop, incident);
  assert.equal(ok.allow, true);
  const no = authorize(policy, subject("U0OPER"), { ...stop, kind: "container.remove", force: false }, incident);
  assert.match(
    no.allow ? "" : mrkdwn(no.reason),
    /^Nothing was done: none of the 2 containers is allowed.*\n• `web`, `db`: You need permission `container.remove`/,
  );
});
