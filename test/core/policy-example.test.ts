import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import type { Action } from "../../src/core/action.ts";
import { approversFor, authorize, mayApprove, type Place, type Subject } from "../../src/core/policy.ts";
import { loadPolicyFile } from "../../src/core/policy-file.ts";
import { toMrkdwn } from "../../src/slack/render.ts";
import { mrkdwn } from "../support/text.ts";

// The worked example shipped in manifests/policy.example.yaml, checked against what it promises an incident team.
const policy = loadPolicyFile("manifests/policy.example.yaml");
const now = Date.parse("2026-11-28T12:00:00Z");

const oncall: Subject = { userId: "U0ONCALL", groups: new Set(["S0ONCALL"]), homeTeam: true };
const lead: Subject = { userId: "U0LEAD", groups: new Set(["S0LEADS"]), homeTeam: true };
const colleague: Subject = { userId: "U0ONCALL2", groups: new Set(["S0ONCALL"]), homeTeam: true };
const stranger: Subject = { userId: "U0STRANGER", groups: new Set(), homeTeam: true };
const incident = (host: string): Place => ({ channelId: "C0INCIDENT1", channelName: "incident-db", host });
const random = (host: string): Place => ({ channelId: "C0RND", channelName: "random", host });
const run: Action = {
  kind: "container.run",
  image: "busybox:1",
  cmd: ["true"],
  env: [],
  detach: false,
  autoRemove: false,
  privileged: false,
  mounts: [],
};
const restart: Action = { kind: "container.restart", container: "api" };
const logs: Action = { kind: "container.logs", container: "api", follow: true };

const gateOf = (d: ReturnType<typeof authorize>) => (d.allow ? d.gate : "denied");

test("on-call may read logs and restart on prod from the incident channels, at once", () => {
  assert.equal(gateOf(authorize(policy, oncall, logs, incident("prod-1"), now)), "none");
  assert.equal(gateOf(authorize(policy, oncall, restart, incident("prod-1"), now)), "none");
});

test("on-call may not restart on prod from another channel, and is told where they may", () => {
  const d = authorize(policy, oncall, restart, random("prod-1"), now);
  assert.equal(d.allow, false);
  assert.match(d.allow ? "" : mrkdwn(d.reason), /Your role responder allows it in C0INCIDENT1, C0INCIDENT2 on hosts prod-\*/);
});

test("running a new container on prod needs a second person; on staging it runs at once", () => {
  const prod = authorize(policy, oncall, run, incident("prod-1"), now);
  assert.equal(gateOf(prod), "approval");
  assert.equal(prod.allow && prod.gateRule, "rules.prod-run-second-person");
  assert.equal(gateOf(authorize(policy, oncall, run, random("staging-2"), now)), "none");
  const who = approversFor(policy, { action: run, place: incident("prod-1"), approvers: prod.allow ? prod.approvers : [] }).map((m) =>
    toMrkdwn(m),
  );
  assert.deepEqual(who, ["<!subteam^S0ONCALL>", "<!subteam^S0LEADS>"]);
});

test("another responder may approve a prod run; the requester may not", () => {
  const request = { requester: oncall.userId, action: run, place: incident("prod-1"), approvers: ["responder", "lead"] };
  assert.equal(mayApprove(policy, colleague, request, now).ok, true);
  assert.equal(mayApprove(policy, lead, request, now).ok, true);
  const own = mayApprove(policy, oncall, request, now);
  assert.match(own.ok ? "" : mrkdwn(own.reason), /cannot approve your own request/);
  assert.equal(mayApprove(policy, stranger, request, now).ok, false);
});

test("on-call may ask for one hour of admin, leads approve, and the grant then allows what admin allows", () => {
  const ask: Action = { kind: "grant.request", role: "admin", durationSeconds: 3600, reason: "INC-42 failover" };
  const d = authorize(policy, oncall, ask, incident("prod-1"), now);
  assert.equal(gateOf(d), "approval");
  assert.deepEqual(d.allow && d.approvers, ["lead"]);
  const tooLong = authorize(policy, oncall, { ...ask, durationSeconds: 7200 }, incident("prod-1"), now);
  assert.match(tooLong.allow ? "" : mrkdwn(tooLong.reason), /lasts at most 1h/);
  assert.equal(authorize(policy, stranger, ask, incident("prod-1"), now).allow, false);
  const request = { requester: oncall.userId, action: ask, place: incident("prod-1"), approvers: ["lead"] };
  assert.equal(mayApprove(policy, lead, request, now).ok, true);
  const colleagues = mayApprove(policy, colleague, request, now);
  assert.match(colleagues.ok ? "" : mrkdwn(colleagues.reason), /Only someone with the role lead/);
  const rm: Action = { kind: "container.remove", container: "api", force: true };
  assert.equal(authorize(policy, oncall, rm, random("prod-1"), now).allow, false);
  const granted: Subject = { ...oncall, grants: [{ id: "g-000001", userId: oncall.userId, role: "admin", expiresAt: now + 3600_000 }] };
  const withGrant = authorize(policy, granted, rm, random("prod-1"), now);
  assert.equal(withGrant.allow && withGrant.rule, "grant g-000001 (role admin)");
  assert.equal(withGrant.allow && withGrant.grant, "g-000001");
  assert.equal(authorize(policy, granted, rm, random("prod-1"), now + 3600_000).allow, false, "the grant expires on its own");
});

test("a grant ends early by its holder, its approver or a lead, at once; a colleague on call may not end it", () => {
  const revoke: Action = { kind: "grant.revoke", grant: "g-000001" };
  const place: Place = { ...incident("prod-1"), host: undefined, grant: { id: "g-000001", userId: oncall.userId, approvedBy: "U0LEAD2" } };
  assert.equal(gateOf(authorize(policy, oncall, revoke, place, now)), "none", "the holder");
  assert.equal(gateOf(authorize(policy, { ...lead, userId: "U0LEAD2" }, revoke, place, now)), "none", "the approver");
  const byLead = authorize(policy, lead, revoke, place, now);
  assert.deepEqual(byLead.allow && [byLead.rule, byLead.gate], ["bindings[2] (role lead)", "none"], "another lead");
  const byColleague = authorize(policy, colleague, revoke, place, now);
  assert.equal(byColleague.allow, false);
  assert.match(byColleague.allow ? "" : mrkdwn(byColleague.reason), /Grant `g-000001` is <@U0ONCALL>'s, approved by <@U0LEAD2>/);
});

test("everyone may look from incident channels; strangers may not act", () => {
  assert.equal(gateOf(authorize(policy, stranger, logs, incident("prod-1"), now)), "none");
  const guest: Subject = { ...stranger, teamId: "T0PARTNER", homeTeam: false };
  assert.equal(authorize(policy, guest, logs, incident("prod-1"), now).allow, false, "a Slack Connect guest is not everyone");
  assert.equal(authorize(policy, stranger, restart, incident("prod-1"), now).allow, false);
  assert.equal(authorize(policy, stranger, logs, random("prod-1"), now).allow, false);
});

test("stopping on prod asks the requester to confirm; rm and exec are dangerous everywhere", () => {
  assert.equal(gateOf(authorize(policy, oncall, { kind: "container.stop", container: "api" }, incident("prod-1"), now)), "confirm");
  assert.equal(
    gateOf(authorize(policy, lead, { kind: "container.remove", container: "api", force: false }, random("staging-1"), now)),
    "confirm",
  );
  assert.equal(
    gateOf(authorize(policy, lead, { kind: "container.exec", container: "api", cmd: ["sh"] }, random("staging-1"), now)),
    "confirm",
  );
});

test("a lead removes and extends their own Azure hosts; someone else's take an admin", () => {
  const made = (host: string, owner: string): Place => ({ ...random(host), hostOwner: owner });
  const rm: Action = { kind: "host.remove", name: "ci-1" };
  assert.equal(gateOf(authorize(policy, lead, rm, made("ci-1", lead.userId), now)), "confirm");
  const other = authorize(policy, lead, rm, made("ci-1", "U0OTHERLEAD"), now);
  assert.match(other.allow ? "" : mrkdwn(other.reason), /made by <@U0OTHERLEAD>.*`host\.remove\.any`/);
  const extend: Action = { kind: "host.extend", name: "ci-1" };
  assert.equal(authorize(policy, lead, extend, made("ci-1", "U0OTHERLEAD"), now).allow, false);
  const admin: Subject = { userId: "U0PLATFORM1", groups: new Set(), homeTeam: true };
  assert.equal(authorize(policy, admin, rm, made("ci-1", "U0OTHERLEAD"), now).allow, true);
});

test("the example documents every section it uses", () => {
  const text = readFileSync("manifests/policy.example.yaml", "utf8");
  for (const key of [
    "version",
    "roles",
    "inherits",
    "bindings",
    "usergroups",
    "channels",
    "hosts",
    "rules",
    "require",
    "approvers",
    "approvals",
    "grants",
    "maxDuration",
    "images",
    "containers",
    "azure",
    "redact",
  ]) {
    assert.match(text, new RegExp(`^\\s*(- )?${key}:`, "m"), `the example does not show ${key}`);
  }
});

test("leads may make Azure hosts, each approved by another lead; on-call may not", () => {
  const create: Action = { kind: "host.create", name: "ci-1", os: "linux", hyperv: false, private: false };
  const d = authorize(policy, lead, create, random(""), now);
  assert.equal(gateOf(d), "approval");
  assert.equal(d.allow && d.gateRule, "rules.azure-host-second-lead");
  assert.equal(gateOf(authorize(policy, oncall, create, incident(""), now)), "denied");
  assert.equal(gateOf(authorize(policy, lead, { kind: "host.remove", name: "ci-1" }, random(""), now)), "confirm");
  assert.equal(policy.azure.sizes[0], "Standard_B2s");
});

test("the example offers its scratch mount by name, read-only, and refuses a host path under it", () => {
  assert.deepEqual(policy.containers.mounts, { scratch: { path: "/srv/berth-scratch", readOnly: true } });
  const mounting = (name: string): Action => ({ ...run, mounts: [{ name, target: "/data" }] });
  const d = authorize(
    policy,
    lead,
    mounting("/srv/berth-scratch/x"),
    { channelId: "C0INC", channelName: "incident-db", host: "local" },
    now,
  );
  assert.equal(d.allow, false);
  assert.match(d.allow ? "" : mrkdwn(d.reason), /is a host path.*`scratch` \(read-only\)/);
});
