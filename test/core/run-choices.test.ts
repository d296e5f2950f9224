import assert from "node:assert/strict";
import { test } from "node:test";
import type { Hosts } from "../../src/core/hosts.ts";
import { PolicySchema, type Subject } from "../../src/core/policy.ts";
import { runChoices } from "../../src/core/run-choices.ts";

const policy = PolicySchema.parse({
  version: 1,
  roles: { runner: { actions: ["container.run"] } },
  bindings: [
    { role: "runner", users: ["U1"], channels: ["C0000ONE"], hosts: ["local"] },
    { role: "runner", users: ["U1"], channels: ["C0000TWO"] },
  ],
  images: ["busybox:1", "registry.example/**", "tools/*:2"],
});
const hosts: Hosts = {
  connections: [
    { name: "local", url: "unix:///var/run/docker.sock", timeoutMs: 1000 },
    { name: "gpu", url: "tcp://gpu:2376", timeoutMs: 1000 },
  ],
  channels: { C0000TWO: "gpu" },
  default: "local",
};
const u1: Subject = { userId: "U1", groups: new Set(), grants: [], teamId: "T1", homeTeam: true };

test("images split into exact references and patterns; hosts are those this person may run on here", () => {
  assert.deepEqual(runChoices(policy, u1, hosts, { id: "C0000ONE" }, 0), {
    images: ["busybox:1"],
    patterns: ["registry.example/**", "tools/*:2"],
    hosts: ["local"],
    defaultHost: "local",
  });
  assert.deepEqual(runChoices(policy, u1, hosts, { id: "C0000TWO" }, 0).hosts, ["local", "gpu"]);
  assert.equal(runChoices(policy, u1, hosts, { id: "C0000TWO" }, 0).defaultHost, "gpu", "the channel's host");
  assert.deepEqual(runChoices(policy, { ...u1, userId: "U2" }, hosts, { id: "C0000ONE" }, 0).hosts, []);
  assert.deepEqual(runChoices(policy, u1, hosts, undefined, 0).hosts, ["local", "gpu"], "no channel yet: every host");
});
