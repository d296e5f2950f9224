import assert from "node:assert/strict";
import { test } from "node:test";
import type { Action, ActionOf, Gate, Permission } from "../../src/core/action.ts";
import {
  type ActiveGrant,
  approversFor,
  authorize,
  findPermission,
  mayApprove,
  type Place,
  PolicySchema,
  type Subject,
} from "../../src/core/policy.ts";
import { parseYaml } from "../../src/core/yaml-file.ts";
import { toMrkdwn } from "../../src/slack/render.ts";
import { mrkdwn } from "../support/text.ts";

/**
 * One realistic policy, and the decision the policy layer must make for it in each situation. The bindings are
 * numbered in comments because decisions name them by index.
 */
const policy = parseYaml(
  `version: 1
roles:
  viewer:
    actions: [container.list, container.logs, container.inspect]
  operator:
    inherits: [viewer]
    actions: [container.run, "container.st*", container.restart]
  lead:
    inherits: [operator]
    actions: [container.remove, container.exec, audit.query]
  admin:
    actions: ["*"]
  hostkeeper:
    actions: [host.create, host.extend, host.remove, host.list, audit.query, job.list.all]
  fleet:
    inherits: [hostkeeper]
    actions: [host.remove.any, host.extend.any]
bindings:
  # 0: the on-call user group operates staging and prod, from the incident channels
  - role: operator
    usergroups: [S0ONCALL]
    channels: [C0INCIDENT, C0INCDB]
    hosts: ["staging-*", "prod-*"]
  # 1: one named operator, any channel, but only local and staging
  - role: operator
    users: [U0OPER]
    hosts: [local, "staging-*"]
  # 2: leads (two people and a group) in the ops channels and the incident channel, on every host
  - role: lead
    users: [U0LEAD, U0LEAD2]
    usergroups: [S0LEADS]
    channels: [C0OPSDEP, C0INCIDENT]
  # 3: everyone may look, in the ops channel
  - role: viewer
    users: ["*"]
    channels: [C0OPSDEP]
  # 4: the admin, everywhere
  - role: admin
    users: [U0ADMIN]
  # 5: one lead may also watch prod from anywhere
  - role: viewer
    users: [U0LEAD2]
    hosts: ["prod-*"]
  # 6: the CI team makes, extends and removes Azure hosts named ci-*, and reads their audit
  - role: hostkeeper
    users: [U0CI]
    hosts: ["ci-*"]
  # 7: the fleet keeper, everywhere, may also remove and extend hosts other people made
  - role: fleet
    users: [U0FLEET]
images:
  - "busybox:*"
  - "alpine:latest"
  - "registry.example.com/**"
  - "ghcr.io/acme/*:stable"
rules:
  - id: incident-confirm
    actions: [container.run, "container.st*", container.restart]
    channels: [C0INCDB]
    require: confirm
  - id: prod-run
    actions: [container.run]
    hosts: ["prod-*"]
    require: approval
    approvers: [lead]
  - id: prod-change
    actions: ["container.st*", container.restart]
    hosts: ["prod-*"]
    require: confirm
  - id: experimental
    actions: [container.run]
    images: ["registry.example.com/experimental/**"]
    require: approval
  - id: prod-danger
    actions: [container.exec, container.remove]
    hosts: ["prod-*"]
    require: approval
    approvers: [admin]
  - id: ci-big-hosts
    actions: [host.create]
    hosts: ["ci-big-*"]
    require: approval
  - id: prod-audit
    actions: [audit.query]
    hosts: ["prod-*"]
    require: confirm
approvals: { ttl: 10m }
grants:
  - role: admin
    requesters: { users: [U0LEAD], usergroups: [S0ONCALL] }
    approvers: [lead, admin]
    maxDuration: 2h
  - role: operator
    requesters: { users: ["*"] }
    approvers: [lead]
    maxDuration: 30m
containers:
  maxMemory: 1g
  maxCpus: 2
  maxTimeout: 4h
  networks: [bridge]
  mounts:
    data: { path: /srv/data }
    scratch: { path: /tmp/berth-scratch, readOnly: false }
`,
  PolicySchema,
  "policy matrix",
);

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);

const who = (userId: string, groups: string[] = [], grants: ActiveGrant[] = []): Subject => ({
  userId,
  groups: new Set(groups),
  grants,
  homeTeam: true,
});
const oper = who("U0OPER");
const oncall = who("U0ONCALL1", ["S0ONCALL"]);
const lead = who("U0LEAD");
const lead2 = who("U0LEAD2");
const groupLead = who("U0LEADX", ["S0LEADS", "S0OTHER"]);
const admin = who("U0ADMIN");
const nobody = who("U0NOBODY");
const ci = who("U0CI");
const fleet = who("U0FLEET");
/** A Slack Connect guest: a member of another organization, in a channel shared with berth's workspace. */
const guest = (userId: string): Subject => ({ ...who(userId), teamId: "T0PARTNER", homeTeam: false });

type Run = ActionOf<"container.run">;
const run = (image: string, extra: Partial<Run> = {}): Run => ({
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
const logs: Action = { kind: "container.logs", container: "api", follow: false };
const stop: Action = { kind: "container.stop", container: "api" };
const restart: Action = { kind: "container.restart", container: "api" };
const rm: Action = { kind: "container.remove", container: "api", force: true };
const exec: Action = { kind: "container.exec", container: "api", cmd: ["sh"] };
const grant = (role: string, seconds: number): Action => ({
  kind: "grant.request",
  role,
  durationSeconds: seconds,
  reason: "INC-42 failover",
});
const mount = (name: string, extra: { target?: string; readOnly?: boolean } = {}) => [{ name, target: "/data", ...extra }];
const hostCreate = (name: string): Action => ({ kind: "host.create", name, os: "linux", hyperv: false, private: false });
const hostRm = (name: string): Action => ({ kind: "host.remove", name });
const hostExtend = (name: string): Action => ({ kind: "host.extend", name });
const auditOf = (host?: string): Action => ({ kind: "audit.query", ...(host && { host }) });
/** A channel, no engine host (host actions name theirs), and who made the host if berth did. */
const madeBy = (owner?: string): Place => ({ channelId: "C0RANDOM", channelName: "random", ...(owner && { hostOwner: owner }) });

// Places: the incident channels (by ID; names only label them), an ops channel, and channels no binding names.
const incidentDb = (host: string): Place => ({ channelId: "C0INCDB", channelName: "incident-db", host });
const incidentById = (host: string): Place => ({ channelId: "C0INCIDENT", channelName: "major-incident", host });
const opsDeploy = (host: string): Place => ({ channelId: "C0OPSDEP", channelName: "ops-deploy", host });
const random = (host: string): Place => ({ channelId: "C0RANDOM", channelName: "random", host });
const dm: Place = { channelId: "D0DIRECT", host: "local" };

type Row = {
  name: string;
  subject: Subject;
  action: Action;
  place: Place;
  now?: number;
  allow: boolean;
  rule: RegExp;
  gate?: Gate;
  gateRule?: string;
  approvers?: readonly string[];
  grant?: string;
  reason?: RegExp;
  /** A known bug: the row states the correct decision and is reported as a TODO until src is fixed. */
  todo?: string;
};

const allowed = (rule: RegExp, gate: Gate = "none", gateRule?: string, approvers?: readonly string[]) => ({
  allow: true,
  rule,
  gate,
  ...(gateRule !== undefined && { gateRule }),
  ...(approvers !== undefined && { approvers }),
});
const denied = (rule: RegExp, reason?: RegExp) => ({ allow: false, rule, ...(reason && { reason }) });
const DENY = /^default:deny$/;
const IMAGES = /^policy:images$/;
const LIMITS = /^policy:containers$/;
const b = (i: number, role: string) => new RegExp(`^bindings\\[${i}\\] \\(role ${role}\\)$`);

const active = (id: string, userId: string, role: string, expiresAt: number): ActiveGrant => ({ id, userId, role, expiresAt });

const matrix: Row[] = [
  // Roles and inheritance (two levels: lead → operator → viewer).
  { name: "operator gets viewer's logs by inheritance", subject: oper, action: logs, place: random("local"), ...allowed(b(1, "operator")) },
  { name: "lead gets viewer's logs two levels down", subject: lead, action: logs, place: opsDeploy("staging-1"), ...allowed(b(2, "lead")) },
  {
    name: "lead gets operator's run one level down",
    subject: lead,
    action: run("busybox:1"),
    place: opsDeploy("local"),
    ...allowed(b(2, "lead")),
  },
  {
    name: "lead's own action: audit.query",
    subject: lead,
    action: { kind: "audit.query" },
    place: opsDeploy("local"),
    ...allowed(b(2, "lead")),
  },
  { name: "inheritance does not flow upwards: operator may not rm", subject: oper, action: rm, place: random("local"), ...denied(DENY) },
  { name: "viewer may not restart", subject: nobody, action: restart, place: opsDeploy("local"), ...denied(DENY) },
  {
    name: "a pattern in a role (container.st*) covers start",
    subject: oper,
    action: { kind: "container.start", container: "api" },
    place: random("local"),
    ...allowed(b(1, "operator")),
  },

  // Bindings: by user ID, by "*", by user group.
  {
    name: "'*' binding lets anyone view in the ops channel",
    subject: nobody,
    action: logs,
    place: opsDeploy("prod-1"),
    ...allowed(b(3, "viewer")),
  },
  {
    name: "'*' binding does not apply outside its channels",
    subject: nobody,
    action: logs,
    place: random("local"),
    ...denied(DENY, /Your role viewer allows it in C0OPSDEP/),
  },
  { name: "user ID binding applies in any channel", subject: oper, action: stop, place: dm, ...allowed(b(1, "operator")) },
  {
    name: "group binding by its second channel ID",
    subject: oncall,
    action: logs,
    place: incidentDb("prod-1"),
    ...allowed(b(0, "operator")),
  },
  { name: "group binding by channel ID", subject: oncall, action: logs, place: incidentById("staging-3"), ...allowed(b(0, "operator")) },
  {
    name: "group binding outside its channels",
    subject: oncall,
    action: logs,
    place: random("staging-1"),
    ...denied(DENY, /Your role operator allows it in C0INCIDENT, C0INCDB/),
  },
  {
    name: "a lead by user group, one of several groups",
    subject: groupLead,
    action: exec,
    place: opsDeploy("staging-1"),
    ...allowed(b(2, "lead"), "confirm", "tier:dangerous"),
  },
  {
    name: "the same person without the group is not a lead",
    subject: who("U0LEADX"),
    action: logs,
    place: incidentById("staging-1"),
    ...denied(DENY),
  },
  {
    name: "channel ID must match exactly",
    subject: oncall,
    action: logs,
    place: { channelId: "C0INCIDENT2", channelName: "major-incident-2", host: "prod-1" },
    ...denied(DENY),
  },
  { name: "a DM matches no channel a binding names", subject: nobody, action: logs, place: dm, ...denied(DENY) },
  {
    name: "a channel named like an incident channel is not one (names are spoofable)",
    subject: oncall,
    action: logs,
    place: { channelId: "C0MADEUP", channelName: "incident-db", host: "prod-1" },
    ...denied(DENY),
  },
  {
    name: "first matching binding wins (group binding before user binding)",
    subject: who("U0OPER", ["S0ONCALL"]),
    action: logs,
    place: incidentById("staging-1"),
    ...allowed(b(0, "operator")),
  },
  {
    name: "the later binding applies where the first does not",
    subject: who("U0OPER", ["S0ONCALL"]),
    action: logs,
    place: random("staging-1"),
    ...allowed(b(1, "operator")),
  },

  // Hosts: exact name and glob.
  { name: "exact host name", subject: oper, action: stop, place: random("local"), ...allowed(b(1, "operator")) },
  { name: "host glob", subject: oper, action: stop, place: random("staging-7"), ...allowed(b(1, "operator")) },
  {
    name: "exact host name is not a prefix",
    subject: oper,
    action: stop,
    place: random("localhost"),
    ...denied(DENY, /on host localhost/),
  },
  { name: "host glob needs its literal part", subject: oper, action: stop, place: random("staging"), ...denied(DENY) },
  {
    name: "host outside the binding",
    subject: oper,
    action: stop,
    place: random("prod-1"),
    ...denied(DENY, /allows it on hosts local, staging-\*/),
  },
  { name: "group binding: prod yes, local no", subject: oncall, action: stop, place: incidentById("local"), ...denied(DENY) },

  // Image allow-list.
  {
    name: "untagged busybox is busybox:latest, allowed by busybox:*",
    subject: oper,
    action: run("busybox"),
    place: random("local"),
    ...allowed(b(1, "operator")),
  },
  {
    name: "untagged alpine is alpine:latest, allowed exactly",
    subject: oper,
    action: run("alpine"),
    place: random("local"),
    ...allowed(b(1, "operator")),
  },
  {
    name: "alpine:3.20 is not alpine:latest",
    subject: oper,
    action: run("alpine:3.20"),
    place: random("local"),
    ...denied(IMAGES, /`alpine:3\.20` is not on berth's image allow-list/),
  },
  {
    name: "** crosses path segments",
    subject: oper,
    action: run("registry.example.com/team/sub/app:2.3"),
    place: random("local"),
    ...allowed(b(1, "operator")),
  },
  {
    name: "* stays within one segment (match)",
    subject: oper,
    action: run("ghcr.io/acme/api:stable"),
    place: random("local"),
    ...allowed(b(1, "operator")),
  },
  {
    name: "* stays within one segment (no match across /)",
    subject: oper,
    action: run("ghcr.io/acme/team/api:stable"),
    place: random("local"),
    ...denied(IMAGES),
  },
  {
    name: "untagged ghcr image is :latest, not :stable",
    subject: oper,
    action: run("ghcr.io/acme/api"),
    place: random("local"),
    ...denied(IMAGES),
  },
  {
    name: "busybox:* does not cover another registry's busybox",
    subject: oper,
    action: run("evil.io/busybox:1"),
    place: random("local"),
    ...denied(IMAGES),
  },
  {
    name: "the image allow-list applies to admins too",
    subject: admin,
    action: run("alpine:3.20"),
    place: random("local"),
    ...denied(IMAGES),
  },

  // Risk tiers: read and change run at once, dangerous asks for confirmation.
  { name: "read: logs runs at once", subject: lead, action: logs, place: opsDeploy("local"), ...allowed(b(2, "lead"), "none") },
  {
    name: "change: restart runs at once",
    subject: oper,
    action: restart,
    place: random("staging-2"),
    ...allowed(b(1, "operator"), "none"),
  },
  {
    name: "dangerous: rm asks to confirm",
    subject: lead,
    action: rm,
    place: opsDeploy("staging-1"),
    ...allowed(b(2, "lead"), "confirm", "tier:dangerous"),
  },
  {
    name: "dangerous: exec asks to confirm, even for admin",
    subject: admin,
    action: exec,
    place: random("local"),
    ...allowed(b(4, "admin"), "confirm", "tier:dangerous"),
  },

  // Rules: the strongest gate wins, and the first rule of that strength names it.
  {
    name: "rule by channel ID raises a change to confirm",
    subject: oncall,
    action: restart,
    place: incidentDb("staging-1"),
    ...allowed(b(0, "operator"), "confirm", "rules.incident-confirm"),
  },
  {
    name: "two confirm rules: the first listed names the gate",
    subject: oncall,
    action: stop,
    place: incidentDb("prod-1"),
    ...allowed(b(0, "operator"), "confirm", "rules.incident-confirm"),
  },
  {
    name: "rule by host glob: stop on prod asks to confirm",
    subject: oncall,
    action: stop,
    place: incidentById("prod-2"),
    ...allowed(b(0, "operator"), "confirm", "rules.prod-change"),
  },
  {
    name: "approval beats an earlier confirm rule",
    subject: oncall,
    action: run("busybox:1"),
    place: incidentDb("prod-1"),
    ...allowed(b(0, "operator"), "approval", "rules.prod-run", ["lead"]),
  },
  {
    name: "approval rule beats the dangerous tier",
    subject: lead,
    action: exec,
    place: opsDeploy("prod-1"),
    ...allowed(b(2, "lead"), "approval", "rules.prod-danger", ["admin"]),
  },
  {
    name: "no rule on staging: run at once",
    subject: oncall,
    action: run("busybox:1"),
    place: incidentById("staging-2"),
    ...allowed(b(0, "operator"), "none"),
  },
  {
    name: "image rule: experimental images need approval anywhere",
    subject: oper,
    action: run("registry.example.com/experimental/x/y:1"),
    place: random("local"),
    ...allowed(b(1, "operator"), "approval", "rules.experimental"),
  },
  {
    name: "image rule does not match outside its ** subtree",
    subject: oper,
    action: run("registry.example.com/experimental:1"),
    place: random("local"),
    ...allowed(b(1, "operator"), "none"),
  },
  {
    name: "a read action is not raised by a rule for changes",
    subject: oncall,
    action: logs,
    place: incidentDb("prod-1"),
    ...allowed(b(0, "operator"), "none"),
  },

  // Container limits, checked before anything else about a run.
  {
    name: "memory at the maximum",
    subject: admin,
    action: run("busybox:1", { memoryBytes: 1024 ** 3 }),
    place: random("local"),
    ...allowed(b(4, "admin")),
  },
  {
    name: "memory above the maximum",
    subject: admin,
    action: run("busybox:1", { memoryBytes: 1024 ** 3 + 1 }),
    place: random("local"),
    ...denied(LIMITS, /--memory .* above the policy's limit of 1 GiB/),
  },
  { name: "cpus at the maximum", subject: admin, action: run("busybox:1", { cpus: 2 }), place: random("local"), ...allowed(b(4, "admin")) },
  {
    name: "cpus above the maximum",
    subject: admin,
    action: run("busybox:1", { cpus: 2.5 }),
    place: random("local"),
    ...denied(LIMITS, /--cpus 2\.5/),
  },
  {
    name: "timeout at the maximum",
    subject: admin,
    action: run("busybox:1", { timeoutSeconds: 4 * 3600 }),
    place: random("local"),
    ...allowed(b(4, "admin")),
  },
  {
    name: "timeout above the maximum",
    subject: admin,
    action: run("busybox:1", { timeoutSeconds: 4 * 3600 + 1 }),
    place: random("local"),
    ...denied(LIMITS, /--timeout/),
  },
  {
    name: "privileged refused",
    subject: admin,
    action: run("busybox:1", { privileged: true }),
    place: random("local"),
    ...denied(LIMITS, /--privileged/),
  },
  {
    name: "a listed network",
    subject: admin,
    action: run("busybox:1", { network: "bridge" }),
    place: random("local"),
    ...allowed(b(4, "admin")),
  },
  {
    name: "the default network may be named",
    subject: admin,
    action: run("busybox:1", { network: "none" }),
    place: random("local"),
    ...allowed(b(4, "admin")),
  },
  {
    name: "an unlisted network is refused",
    subject: admin,
    action: run("busybox:1", { network: "host" }),
    place: random("local"),
    ...denied(LIMITS, /--network host .*allowed: `none`, `bridge`/),
  },
  {
    name: "a read-only named mount",
    subject: admin,
    action: run("busybox:1", { mounts: mount("data") }),
    place: random("local"),
    ...allowed(b(4, "admin")),
  },
  {
    name: "a writable named mount, as written",
    subject: admin,
    action: run("busybox:1", { mounts: mount("scratch", { readOnly: false }) }),
    place: random("local"),
    ...allowed(b(4, "admin")),
  },
  {
    name: "a writable named mount, asked read-only",
    subject: admin,
    action: run("busybox:1", { mounts: mount("scratch", { readOnly: true }) }),
    place: random("local"),
    ...allowed(b(4, "admin")),
  },
  {
    name: "rw on a read-only named mount is refused",
    subject: admin,
    action: run("busybox:1", { mounts: mount("data", { readOnly: false }) }),
    place: random("local"),
    ...denied(LIMITS, /`data` is read-only in the policy/),
  },
  {
    name: "a host path, even under a mount's directory, is refused and the names are listed",
    subject: admin,
    action: run("busybox:1", { mounts: mount("/srv/data/team") }),
    place: random("local"),
    ...denied(
      LIMITS,
      /`\/srv\/data\/team` is a host path: berth does not take host paths .*symlink.*`data` \(read-only\), `scratch` \(writable\)/,
    ),
  },
  {
    name: "a symlink path inside a writable mount is refused like any host path",
    subject: admin,
    action: run("busybox:1", { mounts: mount("/tmp/berth-scratch/root") }),
    place: random("local"),
    ...denied(LIMITS, /is a host path/),
  },
  {
    name: "a name the policy does not define is refused",
    subject: admin,
    action: run("busybox:1", { mounts: mount("etc") }),
    place: random("local"),
    ...denied(LIMITS, /no mount named `etc`.*`data` \(read-only\)/),
  },
  {
    name: "a name like an inherited object key is not a mount",
    subject: admin,
    action: run("busybox:1", { mounts: mount("constructor") }),
    place: random("local"),
    ...denied(LIMITS, /no mount named `constructor`/),
  },
  {
    name: "a mount over /proc is refused",
    subject: admin,
    action: run("busybox:1", { mounts: mount("data", { target: "/proc/sys" }) }),
    place: random("local"),
    ...denied(LIMITS, /may not cover `\/proc`/),
  },
  {
    name: "a mount target with .. is refused",
    subject: admin,
    action: run("busybox:1", { mounts: mount("data", { target: "/data/../etc" }) }),
    place: random("local"),
    ...denied(LIMITS, /may not contain `\.\.`/),
  },
  {
    name: "CPUs that would round to no limit are refused",
    subject: admin,
    action: run("busybox:1", { cpus: 1e-10 }),
    place: random("local"),
    ...denied(LIMITS, /below berth's minimum of 0\.01/),
  },
  {
    name: "memory below Docker's minimum is refused",
    subject: admin,
    action: run("busybox:1", { memoryBytes: 1024 }),
    place: random("local"),
    ...denied(LIMITS, /below Docker's minimum of 6 MiB/),
  },
  {
    name: "a binding for viewing prod does not reach other hosts",
    subject: lead2,
    action: logs,
    place: random("staging-1"),
    ...denied(DENY),
  },
  {
    name: "a binding for viewing prod, from any channel",
    subject: lead2,
    action: logs,
    place: random("prod-3"),
    ...allowed(b(5, "viewer")),
  },
  {
    name: "limits are checked before bindings",
    subject: nobody,
    action: run("busybox:1", { privileged: true }),
    place: random("local"),
    ...denied(LIMITS),
  },

  // Grant requests: listed requesters only, within maxDuration, always a second person's approval.
  {
    name: "a lead may ask for admin",
    subject: lead,
    action: grant("admin", 2 * 3600),
    place: random("local"),
    ...allowed(/^grants\[0\] \(role admin\)$/, "approval", "grants[0]", ["lead", "admin"]),
  },
  {
    name: "asking for longer than maxDuration is refused",
    subject: lead,
    action: grant("admin", 2 * 3600 + 1),
    place: random("local"),
    ...denied(/^grants\[0\]$/, /lasts at most 2h/),
  },
  {
    name: "an on-call group member may ask for admin",
    subject: oncall,
    action: grant("admin", 600),
    place: incidentDb("prod-1"),
    ...allowed(/^grants\[0\]/, "approval", "grants[0]", ["lead", "admin"]),
  },
  {
    name: "someone not listed may not ask for admin",
    subject: nobody,
    action: grant("admin", 600),
    place: random("local"),
    ...denied(DENY, /You may ask for: operator/),
  },
  {
    name: "anyone may ask for operator, 30m at most",
    subject: nobody,
    action: grant("operator", 1800),
    place: dm,
    ...allowed(/^grants\[1\] \(role operator\)$/, "approval", "grants[1]", ["lead"]),
  },
  { name: "operator for 31m is too long", subject: nobody, action: grant("operator", 1860), place: dm, ...denied(/^grants\[1\]$/) },
  { name: "a role nobody may ask for", subject: admin, action: grant("viewer", 60), place: dm, ...denied(DENY) },

  // Active grants.
  {
    name: "an active grant allows what its role allows",
    subject: who("U0NOBODY", [], [active("g-1", "U0NOBODY", "operator", NOW + 1)]),
    action: run("busybox:1"),
    place: random("local"),
    now: NOW,
    ...allowed(/^grant g-1 \(role operator\)$/),
    grant: "g-1",
  },
  {
    name: "an active grant applies on every host",
    subject: who("U0NOBODY", [], [active("g-1", "U0NOBODY", "operator", NOW + 60_000)]),
    action: stop,
    place: { ...dm, host: "prod-9" },
    now: NOW,
    ...allowed(/^grant g-1/, "confirm", "rules.prod-change"),
    grant: "g-1",
  },
  {
    name: "a grant expiring exactly now is expired",
    subject: who("U0NOBODY", [], [active("g-1", "U0NOBODY", "operator", NOW)]),
    action: run("busybox:1"),
    place: random("local"),
    now: NOW,
    ...denied(DENY),
  },
  {
    name: "an expired grant does not allow",
    subject: who("U0NOBODY", [], [active("g-1", "U0NOBODY", "operator", NOW - 1)]),
    action: run("busybox:1"),
    place: random("local"),
    now: NOW,
    ...denied(DENY),
  },
  {
    name: "a grant only allows its role's actions",
    subject: who("U0NOBODY", [], [active("g-1", "U0NOBODY", "operator", NOW + 1)]),
    action: rm,
    place: random("local"),
    now: NOW,
    ...denied(DENY),
  },
  {
    name: "someone else's grant does not count",
    subject: who("U0NOBODY", [], [active("g-1", "U0OTHER", "operator", NOW + 1)]),
    action: run("busybox:1"),
    place: random("local"),
    now: NOW,
    ...denied(DENY),
  },
  {
    name: "the later of two grants can be the one that allows",
    subject: who("U0NOBODY", [], [active("g-1", "U0NOBODY", "viewer", NOW + 1), active("g-2", "U0NOBODY", "admin", NOW + 1)]),
    action: rm,
    place: random("local"),
    now: NOW,
    ...allowed(/^grant g-2 \(role admin\)$/, "confirm", "tier:dangerous"),
    grant: "g-2",
  },
  {
    name: "rules still gate what a grant allows",
    subject: who("U0NOBODY", [], [active("g-2", "U0NOBODY", "admin", NOW + 1)]),
    action: run("busybox:1"),
    place: random("prod-1"),
    now: NOW,
    ...allowed(/^grant g-2/, "approval", "rules.prod-run", ["lead"]),
    grant: "g-2",
  },
  {
    name: "a binding is preferred over a grant",
    subject: who("U0OPER", [], [active("g-3", "U0OPER", "admin", NOW + 1)]),
    action: stop,
    place: random("local"),
    now: NOW,
    ...allowed(b(1, "operator")),
  },
  {
    name: "the grant covers what the binding does not",
    subject: who("U0OPER", [], [active("g-3", "U0OPER", "admin", NOW + 1)]),
    action: stop,
    place: random("prod-1"),
    now: NOW,
    ...allowed(/^grant g-3 \(role admin\)$/, "confirm", "rules.prod-change"),
    grant: "g-3",
  },

  // Host scope: host create|extend|rm and audit -H concern the host they name; a binding's hosts apply to them.
  {
    name: "host create inside the binding's hosts",
    subject: ci,
    action: hostCreate("ci-7"),
    place: madeBy(),
    ...allowed(b(6, "hostkeeper")),
  },
  {
    name: "host create outside the binding's hosts",
    subject: ci,
    action: hostCreate("prod-db"),
    place: madeBy(),
    ...denied(DENY, /in #random on host prod-db\. Your role hostkeeper allows it on hosts ci-\*/),
  },
  {
    name: "host rm outside the binding's hosts",
    subject: ci,
    action: hostRm("prod-db"),
    place: madeBy("U0CI"),
    ...denied(DENY, /You may not `host\.remove` in #random on host prod-db/),
  },
  { name: "host extend outside the binding's hosts", subject: ci, action: hostExtend("prod-db"), place: madeBy("U0CI"), ...denied(DENY) },
  {
    name: "host rm of your own host in scope: the dangerous tier's confirmation",
    subject: ci,
    action: hostRm("ci-3"),
    place: madeBy("U0CI"),
    ...allowed(b(6, "hostkeeper"), "confirm", "tier:dangerous"),
  },
  {
    name: "host extend of your own host in scope",
    subject: ci,
    action: hostExtend("ci-3"),
    place: madeBy("U0CI"),
    ...allowed(b(6, "hostkeeper")),
  },
  {
    name: "host rm of a host someone else made needs host.remove.any",
    subject: ci,
    action: hostRm("ci-3"),
    place: madeBy("U0OTHER"),
    ...denied(DENY, /`ci-3` was made by <@U0OTHER>, not you: removing a host someone else made needs permission `host\.remove\.any`/),
  },
  {
    name: "host extend of a host someone else made needs host.extend.any",
    subject: ci,
    action: hostExtend("ci-3"),
    place: madeBy("U0OTHER"),
    ...denied(DENY, /made by <@U0OTHER>.*`host\.extend\.any`/),
  },
  {
    name: "host.remove.any lets the fleet keeper remove anyone's host",
    subject: fleet,
    action: hostRm("prod-db"),
    place: madeBy("U0OTHER"),
    ...allowed(b(7, "fleet"), "confirm", "tier:dangerous"),
  },
  {
    name: "host.extend.any lets the fleet keeper extend anyone's host",
    subject: fleet,
    action: hostExtend("ci-3"),
    place: madeBy("U0CI"),
    ...allowed(b(7, "fleet")),
  },
  {
    name: "'*' covers host.remove.any (admin)",
    subject: admin,
    action: hostRm("ci-3"),
    place: madeBy("U0CI"),
    ...allowed(b(4, "admin"), "confirm", "tier:dangerous"),
  },
  {
    name: "a host berth has no record of needs no .any",
    subject: ci,
    action: hostRm("ci-9"),
    place: madeBy(),
    ...allowed(b(6, "hostkeeper"), "confirm", "tier:dangerous"),
  },
  { name: "audit -H inside the binding's hosts", subject: ci, action: auditOf("ci-1"), place: madeBy(), ...allowed(b(6, "hostkeeper")) },
  {
    name: "audit -H outside the binding's hosts",
    subject: ci,
    action: auditOf("prod-1"),
    place: madeBy(),
    ...denied(DENY, /on host prod-1/),
  },
  {
    name: "audit without -H is not covered by a host-scoped binding",
    subject: ci,
    action: auditOf(),
    place: madeBy(),
    ...denied(DENY, /names no host.*add `-H HOST`/),
  },
  {
    name: "host list (no host) is not covered by a host-scoped binding",
    subject: ci,
    action: { kind: "host.list" },
    place: madeBy(),
    ...denied(DENY, /names no host/),
  },
  {
    name: "an engine host on the place counts for nothing for host actions",
    subject: ci,
    action: hostRm("prod-db"),
    place: { ...madeBy("U0CI"), host: "ci-1" },
    ...denied(DENY),
  },
  {
    name: "a rule with hosts applies to host create by name",
    subject: ci,
    action: hostCreate("ci-big-1"),
    place: madeBy(),
    ...allowed(b(6, "hostkeeper"), "approval", "rules.ci-big-hosts"),
  },
  {
    name: "a rule with hosts applies to audit -H",
    subject: admin,
    action: auditOf("prod-1"),
    place: madeBy(),
    ...allowed(b(4, "admin"), "confirm", "rules.prod-audit"),
  },
  {
    name: "a rule with hosts never matches an action without a host",
    subject: admin,
    action: auditOf(),
    place: madeBy(),
    ...allowed(b(4, "admin")),
  },

  // Users of another Slack organization (Slack Connect): "*" is everyone in berth's workspace, not them.
  {
    name: "'*' does not match a user of another team",
    subject: guest("U0GUEST"),
    action: logs,
    place: opsDeploy("prod-1"),
    ...denied(DENY),
  },
  {
    name: "an explicitly bound user of another team still matches",
    subject: guest("U0OPER"),
    action: stop,
    place: random("local"),
    ...allowed(b(1, "operator")),
  },
  {
    name: "a grant open to '*' is not open to another team's user",
    subject: guest("U0GUEST"),
    action: grant("operator", 600),
    place: dm,
    ...denied(DENY, /lets you ask for no grant/),
  },

  // Self-service: always allowed, never gated.
  { name: "help for someone with no binding", subject: nobody, action: { kind: "help" }, place: dm, ...allowed(/^builtin:self-service$/) },
  {
    name: "whoami for someone with no binding",
    subject: nobody,
    action: { kind: "policy.explain", question: "whoami" },
    place: random("prod-1"),
    ...allowed(/^builtin:self-service$/),
  },
  {
    name: "job.list for someone with no binding",
    subject: nobody,
    action: { kind: "job.list" },
    place: incidentDb("prod-1"),
    ...allowed(/^builtin:self-service$/),
  },
];

test("the matrix has enough cases to mean something", () => {
  assert.ok(matrix.length >= 45, `only ${matrix.length} cases`);
  assert.equal(new Set(matrix.map((r) => r.name)).size, matrix.length, "case names must be unique");
});

for (const row of matrix) {
  test(`decision: ${row.name}`, { todo: row.todo }, () => {
    const d = authorize(policy, row.subject, row.action, row.place, row.now ?? NOW);
    assert.equal(d.allow, row.allow, JSON.stringify(d));
    assert.match(d.rule, row.rule);
    if (d.allow) {
      assert.equal(d.gate, row.gate);
      assert.equal(d.gateRule, row.gateRule);
      assert.deepEqual(d.approvers, row.approvers);
      assert.equal(d.grant, row.grant);
    } else {
      assert.ok(mrkdwn(d.reason).length > 20, `a denial explains itself: ${mrkdwn(d.reason)}`);
      if (row.reason) assert.match(mrkdwn(d.reason), row.reason);
    }
  });
}

// Requests as they wait on their cards, as dispatch records them (approvers from the decision).
const prodRun = { requester: "U0ONCALL1", action: run("busybox:1"), place: incidentById("prod-1"), approvers: ["lead"] };
const experimentalRun = { requester: "U0OPER", action: run("registry.example.com/experimental/x:1"), place: random("local") };
const adminGrant = {
  requester: "U0LEAD",
  action: grant("admin", 3600),
  place: { channelId: "C0OPSDEP", channelName: "ops-deploy" },
  approvers: ["lead", "admin"],
};

const approvals: { name: string; approver: Subject; request: Parameters<typeof mayApprove>[2]; ok: boolean; match: RegExp }[] = [
  { name: "nobody approves their own request", approver: oncall, request: prodRun, ok: false, match: /cannot approve your own request/ },
  {
    name: "not even an admin approves their own",
    approver: admin,
    request: { ...experimentalRun, requester: "U0ADMIN" },
    ok: false,
    match: /own request/,
  },
  { name: "a lead bound here approves a prod run", approver: lead, request: prodRun, ok: true, match: /^bindings\[2\] \(role lead\)$/ },
  { name: "a lead by user group approves it too", approver: groupLead, request: prodRun, ok: true, match: /^bindings\[2\] \(role lead\)$/ },
  {
    name: "an operator lacks the rule's approver role",
    approver: oper,
    request: prodRun,
    ok: false,
    match: /Only someone with the role lead here may approve this/,
  },
  { name: "an admin allowed everything still lacks the named role", approver: admin, request: prodRun, ok: false, match: /role lead/ },
  {
    name: "a lead where their binding does not apply",
    approver: lead,
    request: { ...prodRun, place: random("prod-1") },
    ok: false,
    match: /role lead here/,
  },
  {
    name: "holding the approver role without the action is refused",
    approver: nobody,
    request: { requester: "U0OPER", action: run("busybox:1"), place: opsDeploy("local"), approvers: ["viewer"] },
    ok: false,
    match: /not allowed `container\.run` here yourself/,
  },
  {
    name: "no approver roles: anyone allowed the action here",
    approver: admin,
    request: experimentalRun,
    ok: true,
    match: /^bindings\[4\] \(role admin\)$/,
  },
  {
    name: "no approver roles: someone not allowed it here",
    approver: oncall,
    request: experimentalRun,
    ok: false,
    match: /not allowed `container\.run` here yourself/,
  },
  { name: "no approver roles: someone with no binding", approver: nobody, request: experimentalRun, ok: false, match: /not allowed/ },
  { name: "grant: another lead approves", approver: lead2, request: adminGrant, ok: true, match: /^bindings\[2\] \(role lead\)$/ },
  { name: "grant: the admin approves", approver: admin, request: adminGrant, ok: true, match: /^bindings\[4\] \(role admin\)$/ },
  { name: "grant: an operator may not", approver: oper, request: adminGrant, ok: false, match: /role lead or admin/ },
  { name: "grant: the requester may not", approver: lead, request: adminGrant, ok: false, match: /own request/ },
  {
    name: "a host-scoped approver role never covers an action without a host",
    approver: ci,
    request: { requester: "U0NOBODY", action: auditOf(), place: madeBy(), approvers: ["hostkeeper"] },
    ok: false,
    match: /Only someone with the role hostkeeper here may approve this/,
  },
  {
    name: "approving the removal of someone else's host takes host.remove.any",
    approver: ci,
    request: { requester: "U0FLEET", action: hostRm("ci-3"), place: madeBy("U0OTHER") },
    ok: false,
    match: /not allowed `host\.remove\.any` here yourself/,
  },
  {
    name: "the host's maker may approve its removal",
    approver: ci,
    request: { requester: "U0FLEET", action: hostRm("ci-3"), place: madeBy("U0CI") },
    ok: true,
    match: /^bindings\[6\] \(role hostkeeper\)$/,
  },
  {
    name: "an approver's host scope applies to the host the host action names",
    approver: ci,
    request: { requester: "U0FLEET", action: hostRm("prod-db"), place: madeBy("U0CI") },
    ok: false,
    match: /not allowed `host\.remove` here yourself/,
  },
  {
    name: "grant: a lead outside their channels may not",
    approver: lead2,
    request: { ...adminGrant, place: random("local") },
    ok: false,
    match: /role lead or admin/,
  },
];

for (const row of approvals) {
  test(`mayApprove: ${row.name}`, () => {
    const r = mayApprove(policy, row.approver, row.request, NOW);
    assert.equal(r.ok, row.ok, JSON.stringify(r));
    assert.match(r.ok ? r.rule : mrkdwn(r.reason), row.match);
  });
}

const whoCanApprove: { name: string; request: Parameters<typeof approversFor>[1]; expected: string[] }[] = [
  { name: "a prod run: the leads bound in that channel", request: prodRun, expected: ["<@U0LEAD>", "<@U0LEAD2>", "<!subteam^S0LEADS>"] },
  { name: "a prod run from a channel no lead is bound in", request: { ...prodRun, place: random("prod-1") }, expected: [] },
  {
    name: "an admin grant in an ops channel: leads, then the admin",
    request: adminGrant,
    expected: ["<@U0LEAD>", "<@U0LEAD2>", "<!subteam^S0LEADS>", "<@U0ADMIN>"],
  },
  { name: "an admin grant elsewhere: only the admin", request: { ...adminGrant, place: random("local") }, expected: ["<@U0ADMIN>"] },
  { name: "no approver roles: everyone allowed the action here", request: experimentalRun, expected: ["<@U0OPER>", "<@U0ADMIN>"] },
  {
    name: "no approver roles, a '*' binding: anyone",
    request: { action: logs, place: opsDeploy("staging-1") },
    expected: ["<@U0OPER>", "<@U0LEAD>", "<@U0LEAD2>", "<!subteam^S0LEADS>", "anyone", "<@U0ADMIN>"],
  },
  {
    name: "a host action: the people whose binding covers the host it names",
    request: { action: hostCreate("ci-big-1"), place: madeBy() },
    expected: ["<@U0ADMIN>", "<@U0CI>", "<@U0FLEET>"],
  },
  {
    name: "a host action outside a host-scoped binding",
    request: { action: hostCreate("prod-big-1"), place: madeBy() },
    expected: ["<@U0ADMIN>", "<@U0FLEET>"],
  },
  {
    name: "an action without a host: host-scoped bindings never count",
    request: { action: auditOf(), place: madeBy(), approvers: ["hostkeeper"] },
    expected: [],
  },
  {
    name: "someone named by two bindings is listed once",
    request: { action: logs, place: opsDeploy("prod-1") },
    expected: ["<@U0LEAD>", "<@U0LEAD2>", "<!subteam^S0LEADS>", "anyone", "<@U0ADMIN>"],
  },
];

for (const row of whoCanApprove) {
  test(`approversFor: ${row.name}`, () => {
    assert.deepEqual(
      approversFor(policy, row.request).map((m) => toMrkdwn(m)),
      row.expected,
    );
  });
}

// Wider permissions that are not actions of their own (checked by dispatch on top of one): who holds them where.
const wider: { name: string; subject: Subject; permission: Permission; place: Place; rule: RegExp | undefined }[] = [
  { name: "'*' covers job.list.all (admin)", subject: admin, permission: "job.list.all", place: random("local"), rule: b(4, "admin") },
  { name: "job.list.all from an unscoped binding", subject: fleet, permission: "job.list.all", place: dm, rule: b(7, "fleet") },
  {
    name: "job.list.all is never given by a host-scoped binding",
    subject: ci,
    permission: "job.list.all",
    place: madeBy(),
    rule: undefined,
  },
  { name: "a role without job.list.all", subject: lead, permission: "job.list.all", place: opsDeploy("local"), rule: undefined },
  { name: "'*' covers host.extend.any (admin)", subject: admin, permission: "host.extend.any", place: madeBy(), rule: b(4, "admin") },
];

for (const row of wider) {
  test(`permission: ${row.name}`, () => {
    const found = findPermission(policy, row.subject, row.permission, row.place, NOW);
    if (row.rule) assert.match(found?.rule ?? "", row.rule);
    else assert.equal(found, undefined);
  });
}
