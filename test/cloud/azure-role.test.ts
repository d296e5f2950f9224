import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { createAzureCloud } from "../../src/cloud/azure/index.ts";
import { type HostPlan, resourceKinds } from "../../src/cloud/ports.ts";
import { BerthError } from "../../src/core/errors.ts";
import { type ArmFake, startArmFake } from "../support/arm-fake.ts";

// manifests/azure-role.json is the role docs/azure.md tells operators to assign. The ARM fake refuses any action a
// principal was not granted (403 AuthorizationFailed, as ARM does), so a whole host lifecycle run with exactly the
// role's actions proves the role is enough; the lifecycle without one of them proves each grant is checked.

const role = JSON.parse(readFileSync("manifests/azure-role.json", "utf8")) as {
  Name: string;
  Actions: string[];
  NotActions: string[];
  AssignableScopes: string[];
};
const credential = { getToken: async () => ({ token: "t", expiresOnTimestamp: Date.now() + 3600e3 }) };
let fake: ArmFake;

before(async () => {
  fake = await startArmFake();
});
after(() => fake.close());

const plan = (name: string, os: "linux" | "windows"): HostPlan => ({
  name,
  os,
  size: "Standard_D4s_v5",
  region: "westeurope",
  hyperv: os === "windows",
  private: false,
  tags: { "created-by": "berth" },
  dockerPort: 2376,
  allowCidr: "198.51.100.7/32",
  adminUsername: "berth",
  sshPublicKey: os === "linux" ? "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE berth-unused" : undefined,
  adminPassword: os === "windows" ? "Aa1!Aa1!Aa1!Aa1!" : undefined,
  customData: "#cloud-config\n",
  setupCommand: os === "windows" ? "powershell.exe -Command exit 0" : undefined,
  network: { vnet: "berth-vnet", addressPrefix: "10.77.0.0/16", subnet: "berth-hosts", subnetPrefix: "10.77.0.0/20" },
});

async function lifecycle(group: string, p: HostPlan): Promise<void> {
  const cloud = createAzureCloud({
    subscriptionId: fake.subscriptionId,
    resourceGroup: group,
    endpoint: fake.url,
    ca: fake.ca,
    credential,
    pollIntervalMs: 5,
    retry: { maxRetries: 0 },
  });
  const signal = new AbortController().signal;
  assert.equal(await cloud.sizeProblem(p.size, p.region, signal), undefined);
  await cloud.prepare(p.region, signal);
  for (const kind of resourceKinds) await (await cloud.begin(kind, p, undefined, signal)).done(signal);
  for (const kind of resourceKinds) await cloud.find(kind, p, signal);
  for (const kind of ["vm", "nic", "ip", "nsg"] as const) await (await cloud.beginDelete(kind, p, undefined, signal)).done(signal);
}

test("the role file is a valid custom role: a name, actions, no wildcard over everything, no role assignments", () => {
  assert.ok(role.Name);
  assert.ok(role.Actions.length > 0);
  assert.deepEqual(role.NotActions, []);
  assert.ok(!role.Actions.some((a) => a === "*" || a.startsWith("Microsoft.Authorization/")), "berth never needs to grant access");
  assert.ok(!role.Actions.some((a) => /resourceGroups\/delete$/i.test(a)), "berth never deletes its resource group");
  assert.match(role.AssignableScopes[0] ?? "", /^\/subscriptions\/[0-9a-f-]{36}$/);
});

test("a whole Linux and Windows host lifecycle needs nothing beyond the role's actions", async () => {
  fake.setOptions({ authorizedActions: role.Actions });
  await lifecycle("role-ok", plan("role-lin", "linux"));
  await lifecycle("role-ok", plan("role-win", "windows"));
  const refused = fake.requests.filter((r) => r.status === 403);
  assert.deepEqual(refused, []);
});

for (const missing of [
  "Microsoft.Network/publicIPAddresses/write",
  "Microsoft.Compute/virtualMachines/write",
  "Microsoft.Compute/skus/read",
]) {
  test(`without ${missing} the lifecycle stops with a FORBIDDEN that names the action and the role file`, async () => {
    fake.setOptions({ authorizedActions: role.Actions.filter((a) => a !== missing) });
    await assert.rejects(lifecycle(`role-no-${missing.split("/")[1]?.toLowerCase()}`, plan("role-x", "linux")), (e: unknown) => {
      assert.ok(e instanceof BerthError);
      assert.equal(e.code, "FORBIDDEN");
      assert.ok(e.message.includes(missing), e.message);
      assert.match(e.message, /manifests\/azure-role\.json/);
      return true;
    });
  });
}
