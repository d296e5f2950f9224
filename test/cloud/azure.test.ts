import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { type AzureCloudOptions, type AzureHostPlan, createAzureCloud, windowsServerSkus } from "../../src/cloud/azure/index.ts";
import { type CloudResource, type HostCloud, type HostPlan, type ResourceKind, resourceKinds } from "../../src/cloud/ports.ts";
import { BerthError } from "../../src/core/errors.ts";
import { type ArmFake, type ArmRequest, startArmFake } from "../support/arm-fake.ts";

const credential = { getToken: async () => ({ token: "t", expiresOnTimestamp: Date.now() + 3600e3 }) };
const signal = new AbortController().signal;
let fake: ArmFake;
let groupSeq = 0;

before(async () => {
  fake = await startArmFake();
});
after(() => fake.close());

/** Every test gets its own resource group, so the shared fake's state never leaks between tests. */
function cloud(overrides: Partial<AzureCloudOptions> = {}): { cloud: HostCloud; group: string } {
  const group = `berth-t${++groupSeq}`;
  const options: AzureCloudOptions = {
    subscriptionId: fake.subscriptionId,
    resourceGroup: group,
    endpoint: fake.url,
    ca: fake.ca,
    credential,
    pollIntervalMs: 5,
    retry: { maxRetries: 2, retryDelayInMs: 1, maxRetryDelayInMs: 5 },
    ...overrides,
  };
  return { cloud: createAzureCloud(options), group };
}

function plan(name: string, overrides: Partial<AzureHostPlan> = {}): AzureHostPlan {
  return {
    name,
    os: "linux",
    size: "Standard_D2s_v5",
    region: "westeurope",
    hyperv: false,
    private: false,
    tags: { "created-by": "berth", requester: "U1", channel: "C1", job: `job-${name}`, expires: "2030-01-01T00:00:00Z" },
    dockerPort: 2376,
    allowCidr: "198.51.100.10/32",
    adminUsername: "berthadmin",
    sshPublicKey: "ssh-ed25519 AAAAC3Nza berth-test",
    customData: "#cloud-config\npackages: [docker.io]\n",
    network: { vnet: "berth-vnet", addressPrefix: "10.42.0.0/16", subnet: "hosts", subnetPrefix: "10.42.0.0/24" },
    ...overrides,
  };
}

async function create(c: HostCloud, p: HostPlan, kinds: readonly ResourceKind[] = resourceKinds) {
  const out: Partial<Record<ResourceKind, CloudResource | undefined>> = {};
  for (const kind of kinds) out[kind] = await (await c.begin(kind, p, undefined, signal)).done(signal);
  return out;
}

/** Wire requests (not polls) of one method whose path matches, in this test's resource group. */
function sent(group: string, method: string, path: RegExp): ArmRequest[] {
  return fake.requests.filter(
    (r) =>
      r.kind === "request" &&
      r.method === method &&
      r.path.toLowerCase().includes(`/resourcegroups/${group}/`) &&
      path.test(r.path.toLowerCase()),
  );
}

// biome-ignore lint/suspicious/noExplicitAny: request bodies are the wire's untyped JSON, read field by field.
type Wire = any;

function body(group: string, path: RegExp): Wire {
  const puts = sent(group, "PUT", path);
  assert.equal(puts.length, 1, `one PUT matching ${path}`);
  return puts[0]?.body as Wire;
}

async function rejectsWith(promise: Promise<unknown>, code: string, ...texts: (string | RegExp)[]) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof BerthError, `BerthError expected, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const text of texts) {
      if (typeof text === "string") assert.ok(error.message.includes(text), `${JSON.stringify(text)} in: ${error.message}`);
      else assert.match(error.message, text);
    }
    return true;
  });
}

test("a Linux host is created in order, with the request bodies ARM expects", async () => {
  const { cloud: c, group } = cloud();
  await c.prepare("westeurope", signal);
  await c.prepare("westeurope", signal);
  const groupPuts = fake.requests.filter((r) => r.method === "PUT" && r.path.toLowerCase().endsWith(`/resourcegroups/${group}`));
  assert.equal(groupPuts.length, 1, "the resource group is created once, then found");
  assert.deepEqual((groupPuts[0]?.body as Wire)?.tags, { "created-by": "berth" });

  const p = plan("h1");
  const made = await create(c, p);

  const vnet = body(group, /virtualnetworks\/berth-vnet$/);
  assert.deepEqual(vnet.properties.addressSpace.addressPrefixes, ["10.42.0.0/16"]);
  assert.deepEqual(vnet.tags, { "created-by": "berth" }, "the shared network carries no one host's tags");
  assert.equal(vnet.properties.subnets[0].name, "hosts");
  assert.equal(vnet.properties.subnets[0].properties.addressPrefix, "10.42.0.0/24");

  const nsg = body(group, /networksecuritygroups\/h1-nsg$/);
  assert.deepEqual(nsg.properties.securityRules, [
    {
      name: "DockerTls",
      properties: {
        priority: 300,
        direction: "Inbound",
        access: "Allow",
        protocol: "Tcp",
        sourceAddressPrefix: "198.51.100.10/32",
        sourcePortRange: "*",
        destinationAddressPrefix: "*",
        destinationPortRange: "2376",
      },
    },
  ]);

  const ip = body(group, /publicipaddresses\/h1-ip$/);
  assert.equal(ip.sku.name, "Standard");
  assert.equal(ip.properties.publicIPAllocationMethod, "Static");
  assert.equal(ip.properties.publicIPAddressVersion, "IPv4");
  assert.equal(ip.properties.dnsSettings.domainNameLabel, "berth-h1");

  const nic = body(group, /networkinterfaces\/h1-nic$/);
  const ipConfig = nic.properties.ipConfigurations[0].properties;
  assert.match(ipConfig.subnet.id, /\/virtualNetworks\/berth-vnet\/subnets\/hosts$/);
  assert.match(ipConfig.publicIPAddress.id, /\/publicIPAddresses\/h1-ip$/);
  assert.match(nic.properties.networkSecurityGroup.id, /\/networkSecurityGroups\/h1-nsg$/);

  const vm = body(group, /virtualmachines\/h1$/);
  assert.equal(vm.properties.hardwareProfile.vmSize, "Standard_D2s_v5");
  assert.deepEqual(vm.properties.storageProfile.imageReference, {
    publisher: "Canonical",
    offer: "ubuntu-24_04-lts",
    sku: "server",
    version: "latest",
  });
  assert.equal(vm.properties.storageProfile.osDisk.deleteOption, "Delete");
  assert.equal(vm.properties.storageProfile.osDisk.managedDisk.storageAccountType, "StandardSSD_LRS");
  assert.equal(vm.properties.storageProfile.osDisk.name, "h1-osdisk");
  const os = vm.properties.osProfile;
  assert.equal(os.adminUsername, "berthadmin");
  assert.equal(os.adminPassword, undefined);
  assert.equal(os.linuxConfiguration.disablePasswordAuthentication, true);
  assert.deepEqual(os.linuxConfiguration.ssh.publicKeys, [
    { path: "/home/berthadmin/.ssh/authorized_keys", keyData: "ssh-ed25519 AAAAC3Nza berth-test" },
  ]);
  assert.equal(Buffer.from(os.customData, "base64").toString(), p.customData);
  const nicRef = vm.properties.networkProfile.networkInterfaces[0];
  assert.match(nicRef.id, /\/networkInterfaces\/h1-nic$/);
  assert.deepEqual(nicRef.properties, { primary: true, deleteOption: "Delete" });
  assert.equal(vm.properties.securityProfile, undefined);

  for (const resource of [nsg, ip, nic, vm]) assert.deepEqual(resource.tags, p.tags);
  assert.equal(sent(group, "PUT", /extensions/).length, 0, "Linux needs no extension: cloud-init does the work");

  assert.equal(made.ip?.address, fake.addressFor("h1-ip"));
  assert.equal(made.ip?.fqdn, "berth-h1.westeurope.cloudapp.azure.com");
  assert.match(made.nic?.address ?? "", /^10\.42\./);
  assert.equal(made.vm?.provisioningState, "Succeeded");
  assert.deepEqual(made.vm?.tags, p.tags);
  assert.equal(made.extension, undefined);

  // With an admin CIDR, SSH opens from there only, before the Docker rule.
  await create(c, plan("h1b", { adminCidr: "203.0.113.0/24" }), ["nsg"]);
  const rules = body(group, /networksecuritygroups\/h1b-nsg$/).properties.securityRules;
  assert.deepEqual(
    rules.map((r: Wire) => [r.name, r.properties.priority, r.properties.sourceAddressPrefix, r.properties.destinationPortRange]),
    [
      ["SSH", 100, "203.0.113.0/24", "22"],
      ["DockerTls", 300, "198.51.100.10/32", "2376"],
    ],
  );
});

test("a Windows Hyper-V host: image, password, Standard security type, script extension, RDP only with an admin CIDR", async () => {
  const { cloud: c, group } = cloud();
  await c.prepare("westeurope", signal);
  const p = plan("w1", {
    os: "windows",
    hyperv: true,
    size: "Standard_D4s_v5",
    sshPublicKey: undefined,
    adminPassword: "Pa55-w0rd-Long!",
    customData: '{"bundle":true}',
    setupCommand: "powershell -ExecutionPolicy Bypass -File C:\\AzureData\\setup.ps1",
  });
  const made = await create(c, p);

  const vm = body(group, /virtualmachines\/w1$/);
  assert.deepEqual(vm.properties.storageProfile.imageReference, {
    publisher: "MicrosoftWindowsServer",
    offer: "WindowsServer",
    sku: "2022-datacenter-azure-edition-core",
    version: "latest",
  });
  const os = vm.properties.osProfile;
  assert.equal(os.adminPassword, "Pa55-w0rd-Long!");
  assert.deepEqual(os.windowsConfiguration, { provisionVMAgent: true, enableAutomaticUpdates: true });
  assert.equal(os.linuxConfiguration, undefined);
  assert.equal(Buffer.from(os.customData, "base64").toString(), '{"bundle":true}');
  assert.deepEqual(vm.properties.securityProfile, { securityType: "Standard" });

  const ext = body(group, /virtualmachines\/w1\/extensions\/docker-setup$/);
  assert.equal(ext.properties.publisher, "Microsoft.Compute");
  assert.equal(ext.properties.type, "CustomScriptExtension");
  assert.equal(ext.properties.typeHandlerVersion, "1.10");
  assert.equal(ext.properties.autoUpgradeMinorVersion, true);
  assert.deepEqual(ext.properties.protectedSettings, { commandToExecute: p.setupCommand });
  assert.equal(ext.properties.settings, undefined, "the command is never in the readable settings");
  assert.deepEqual(ext.tags, p.tags);
  assert.equal(made.extension?.provisioningState, "Succeeded");

  const rules = body(group, /networksecuritygroups\/w1-nsg$/).properties.securityRules;
  assert.deepEqual(
    rules.map((r: Wire) => r.name),
    ["DockerTls"],
  );
  await create(c, plan("w2", { os: "windows", adminCidr: "203.0.113.0/24", windowsSku: windowsServerSkus["2025"] }), [
    "nsg",
    "ip",
    "nic",
    "vm",
  ]);
  const rdp = body(group, /networksecuritygroups\/w2-nsg$/).properties.securityRules;
  assert.deepEqual(
    rdp.map((r: Wire) => [r.name, r.properties.priority, r.properties.destinationPortRange]),
    [
      ["RDP", 100, "3389"],
      ["DockerTls", 300, "2376"],
    ],
  );
  const w2 = body(group, /virtualmachines\/w2$/);
  assert.equal(w2.properties.storageProfile.imageReference.sku, "2025-datacenter-azure-edition-core");
  assert.equal(w2.properties.securityProfile, undefined, "Trusted Launch stays the default without Hyper-V");
});

test("a private host has no public IP and its NIC none either", async () => {
  const { cloud: c, group } = cloud();
  await c.prepare("westeurope", signal);
  const made = await create(c, plan("p1", { private: true }));
  assert.equal(made.ip, undefined);
  assert.equal(sent(group, "PUT", /publicipaddresses/).length, 0);
  const nic = body(group, /networkinterfaces\/p1-nic$/);
  assert.equal(nic.properties.ipConfigurations[0].properties.publicIPAddress, undefined);
  assert.match(made.nic?.address ?? "", /^10\.42\./);
  assert.equal(made.vm?.provisioningState, "Succeeded");
});

test("the virtual network is shared: created once for concurrent hosts, reused after, extended without losing subnets", async () => {
  const { cloud: c, group } = cloud();
  await c.prepare("westeurope", signal);
  const ops = await Promise.all(["n1", "n2", "n3", "n4", "n5"].map((n) => c.begin("network", plan(n), undefined, signal)));
  await Promise.all(ops.map((op) => op.done(signal)));
  assert.equal(sent(group, "PUT", /virtualnetworks\/berth-vnet$/).length, 1);

  const second = await (await c.begin("network", plan("n6"), undefined, signal)).done(signal);
  assert.equal(second?.name, "berth-vnet");
  assert.equal(sent(group, "PUT", /virtualnetworks\//).length, 1, "the second host reuses vnet and subnet");

  // Another subnet inside the existing address space: only the subnet is PUT.
  const other = plan("n7", {
    network: { vnet: "berth-vnet", addressPrefix: "10.42.0.0/16", subnet: "more", subnetPrefix: "10.42.1.0/24" },
  });
  await (await c.begin("network", other, undefined, signal)).done(signal);
  assert.equal(sent(group, "PUT", /virtualnetworks\/berth-vnet$/).length, 1);
  assert.equal(sent(group, "PUT", /virtualnetworks\/berth-vnet\/subnets\/more$/).length, 1);

  // A new address space needs a vnet PUT: it keeps the prefixes and subnets already there.
  const wider = plan("n8", {
    network: { vnet: "berth-vnet", addressPrefix: "10.43.0.0/16", subnet: "wide", subnetPrefix: "10.43.0.0/24" },
  });
  await (await c.begin("network", wider, undefined, signal)).done(signal);
  const puts = sent(group, "PUT", /virtualnetworks\/berth-vnet$/);
  assert.equal(puts.length, 2);
  const last = puts[1]?.body as Wire;
  assert.deepEqual(last.properties.addressSpace.addressPrefixes, ["10.42.0.0/16", "10.43.0.0/16"]);
  assert.deepEqual(last.properties.subnets.map((s: Wire) => s.name).sort(), ["hosts", "more", "wide"]);
  assert.ok(await c.find("network", wider, signal));
});

test("a VM create abandoned mid-flight is resumed from its state by another cloud, without a second PUT", async () => {
  const { cloud: c, group } = cloud();
  await c.prepare("westeurope", signal);
  const p = plan("r1");
  await create(c, p, ["network", "nsg", "ip", "nic"]);
  fake.hold(/virtualmachines\/r1/);
  const op = await c.begin("vm", p, undefined, signal);
  const state = op.state;
  assert.match(state, /operations/);

  const abandon = new AbortController();
  const polls = () => fake.requests.filter((r) => r.kind === "poll").length;
  const before = polls();
  const done = op.done(abandon.signal);
  while (polls() < before + 2) await new Promise((resolve) => setTimeout(resolve, 5));
  abandon.abort();
  await assert.rejects(done, (error: Error) => error.name === "AbortError");

  const restarted = createAzureCloud({
    subscriptionId: fake.subscriptionId,
    resourceGroup: group,
    endpoint: fake.url,
    ca: fake.ca,
    credential,
    pollIntervalMs: 5,
  });
  const resumed = await restarted.begin("vm", p, state, signal);
  fake.release(/virtualmachines\/r1/);
  const vm = await resumed.done(signal);
  assert.equal(vm?.name, "r1");
  assert.equal(vm?.provisioningState, "Succeeded");
  assert.equal(sent(group, "PUT", /virtualmachines\/r1$/).length, 1, "no second PUT");

  // A delete resumes the same way: one DELETE, finished by the restarted cloud.
  fake.hold(/virtualmachines\/r1/);
  const deleting = await c.beginDelete("vm", p, undefined, signal);
  const resumedDelete = await restarted.beginDelete("vm", p, deleting.state, signal);
  fake.release(/virtualmachines\/r1/);
  assert.equal(await resumedDelete.done(signal), undefined);
  assert.equal(sent(group, "DELETE", /virtualmachines\/r1$/).length, 1, "no second DELETE");
  assert.equal(await restarted.find("vm", p, signal), undefined);
});

test("Azure's refusals and failures become BerthErrors that say what to do", async (t) => {
  const { cloud: c, group } = cloud();
  await c.prepare("westeurope", signal);
  const p = plan("e1");
  await create(c, p, ["network", "nsg", "ip", "nic"]);
  const vmPath = new RegExp(`/resourcegroups/${group}/providers/microsoft.compute/virtualmachines/e1$`);

  await t.test("409 SkuNotAvailable → CAPACITY", async () => {
    fake.fail({
      method: "PUT",
      path: vmPath,
      respond: {
        status: 409,
        body: {
          error: {
            code: "SkuNotAvailable",
            message:
              "The requested VM size for resource 'Following SKUs have failed for Capacity Restrictions: Standard_D2s_v5' is currently not available in location 'westeurope'. Please try another size or deploy to a different location or different zone. See https://aka.ms/azureskunotavailable for details.",
          },
        },
      },
    });
    await rejectsWith(c.begin("vm", p, undefined, signal), "CAPACITY", "SkuNotAvailable: The requested VM size", /another size or region/);
  });

  await t.test("409 OperationNotAllowed about quota → QUOTA", async () => {
    fake.fail({
      method: "PUT",
      path: vmPath,
      respond: {
        status: 409,
        body: {
          error: {
            code: "OperationNotAllowed",
            message:
              "Operation could not be completed as it results in exceeding approved Total Regional Cores quota. Additional details - Deployment Model: Resource Manager, Location: westeurope, Current Limit: 10, Current Usage: 10, Additional Required: 2, (Minimum) New Limit Required: 12.",
          },
        },
      },
    });
    await rejectsWith(c.begin("vm", p, undefined, signal), "QUOTA", "OperationNotAllowed", /quota/i);
  });

  await t.test("an operation that ends Failed with AllocationFailed → CAPACITY from done()", async () => {
    fake.fail({
      method: "PUT",
      path: vmPath,
      fail: {
        code: "AllocationFailed",
        message: "Allocation failed. We do not have sufficient capacity for the requested VM size in this region.",
      },
    });
    const op = await c.begin("vm", p, undefined, signal);
    await rejectsWith(op.done(signal), "CAPACITY", "AllocationFailed: Allocation failed");
  });

  await t.test("403 AuthorizationFailed → FORBIDDEN naming the action and the role file", async () => {
    fake.fail({
      method: "PUT",
      path: /networksecuritygroups\/e1-nsg$/,
      respond: {
        status: 403,
        body: {
          error: {
            code: "AuthorizationFailed",
            message:
              "The client 'abc' with object id 'abc' does not have authorization to perform action 'Microsoft.Network/networkSecurityGroups/write' over scope '/subscriptions/x/resourceGroups/y' or the scope is invalid.",
          },
        },
      },
    });
    await rejectsWith(
      c.begin("nsg", p, undefined, signal),
      "FORBIDDEN",
      "'Microsoft.Network/networkSecurityGroups/write'",
      "manifests/azure-role.json",
    );
  });

  const throttled = {
    code: "OperationNotAllowed",
    message: "The server rejected the request because too many requests have been received for this subscription.",
  };

  await t.test("429 with Retry-After is retried by the SDK, then succeeds", async () => {
    fake.fail({ method: "GET", path: /virtualmachines\/e1$/, respond: { status: 429, headers: { "Retry-After": "0" }, body: throttled } });
    const countBefore = sent(group, "GET", /virtualmachines\/e1$/).length;
    // The VM is there, Failed, from the AllocationFailed above: find() shows it as it is.
    assert.equal((await c.find("vm", p, signal))?.provisioningState, "Failed");
    const gets = sent(group, "GET", /virtualmachines\/e1$/).slice(countBefore);
    assert.deepEqual(
      gets.map((r) => r.status),
      [429, 200],
    );
  });

  await t.test("429 every time → THROTTLED with the Retry-After it saw", async () => {
    fake.fail({
      method: "GET",
      path: /virtualmachines\/e1$/,
      times: 3, // the first try and maxRetries (2)
      respond: { status: 429, headers: { "Retry-After": "0" }, body: throttled },
    });
    await rejectsWith(c.find("vm", p, signal), "THROTTLED", "OperationNotAllowed", "Retry-After", "0 s");
  });

  await t.test("429 without Retry-After is not retried → THROTTLED", async () => {
    fake.fail({ method: "GET", path: /publicipaddresses\/e1-ip$/, respond: { status: 429, body: { error: throttled } } });
    const countBefore = sent(group, "GET", /publicipaddresses\/e1-ip$/).length;
    await rejectsWith(c.find("ip", p, signal), "THROTTLED");
    assert.equal(sent(group, "GET", /publicipaddresses\/e1-ip$/).length - countBefore, 1);
  });

  await t.test("500 twice then OK → succeeds", async () => {
    const error = { error: { code: "InternalServerError", message: "Something went wrong." } };
    fake.fail({ method: "GET", path: /networkinterfaces\/e1-nic$/, times: 2, respond: { status: 500, body: error } });
    const nic = await c.find("nic", p, signal);
    assert.equal(nic?.name, "e1-nic");
  });

  await t.test("500 always → UNAVAILABLE", async () => {
    const error = { error: { code: "InternalServerError", message: "Something went wrong." } };
    fake.fail({ method: "GET", path: /networkinterfaces\/e1-nic$/, times: 3, respond: { status: 500, body: error } });
    await rejectsWith(c.find("nic", p, signal), "UNAVAILABLE", "InternalServerError", /try again/);
  });

  await t.test("a credential that is not available → CONFIG naming what to set", async () => {
    const noCredential = {
      getToken: async (): Promise<null> => {
        throw Object.assign(new Error("EnvironmentCredential is unavailable. No underlying credential could be used."), {
          name: "CredentialUnavailableError",
        });
      },
    };
    const { cloud: unauthenticated } = cloud({ credential: noCredential });
    await rejectsWith(unauthenticated.prepare("westeurope", signal), "CONFIG", "AZURE_CLIENT_ID", "managed identity", "az login");
  });

  await t.test("an abort is rethrown untouched", async () => {
    const aborted = AbortSignal.abort();
    await assert.rejects(c.find("vm", p, aborted), (error: Error) => error.name === "AbortError");
  });
});

test("a host is deleted VM → NIC → IP → NSG, idempotently; the NIC of a live VM cannot go first", async () => {
  const { cloud: c, group } = cloud();
  await c.prepare("westeurope", signal);
  const p = plan("d1");
  await create(c, p);

  await rejectsWith(c.beginDelete("nic", p, undefined, signal), "CONFLICT", "NicInUse");

  const order: ResourceKind[] = ["extension", "vm", "nic", "ip", "nsg", "network"];
  for (const kind of order) await (await c.beginDelete(kind, p, undefined, signal)).done(signal);
  for (const kind of ["vm", "nic", "ip", "nsg"] as const) assert.equal(await c.find(kind, p, signal), undefined, kind);
  assert.ok(await c.find("network", p, signal), "the shared network stays");
  const left = fake.resources().filter((r) => r.id.toLowerCase().includes(`/resourcegroups/${group}/`) && !/virtualnetworks/i.test(r.type));
  assert.deepEqual(left, []);

  const deletesBefore = sent(group, "DELETE", /./).length;
  const pollsBefore = fake.requests.filter((r) => r.kind === "poll").length;
  for (const kind of order) assert.equal(await (await c.beginDelete(kind, p, undefined, signal)).done(signal), undefined);
  const again = sent(group, "DELETE", /./).slice(deletesBefore);
  assert.deepEqual(
    again.map((r) => r.status),
    [204, 204, 204, 204],
  );
  assert.equal(fake.requests.filter((r) => r.kind === "poll").length, pollsBefore, "nothing to wait for");
});

test("find() reads what exists; sizeProblem() explains restricted and unknown sizes", async () => {
  fake.setOptions({ skuRestrictions: { Standard_D2s_v3: ["westeurope"] } });
  try {
    const { cloud: c } = cloud();
    await c.prepare("westeurope", signal);
    const p = plan("f1");
    for (const kind of resourceKinds) assert.equal(await c.find(kind, p, signal), undefined, kind);
    await create(c, p, ["network", "nsg", "ip"]);
    const ip = await c.find("ip", p, signal);
    assert.equal(ip?.kind, "ip");
    assert.equal(ip?.name, "f1-ip");
    assert.equal(ip?.address, fake.addressFor("f1-ip"));
    assert.equal(ip?.fqdn, "berth-f1.westeurope.cloudapp.azure.com");
    assert.deepEqual(ip?.tags, p.tags);
    assert.match(ip?.id ?? "", /\/providers\/Microsoft\.Network\/publicIPAddresses\/f1-ip$/i);
    assert.equal((await c.find("nsg", p, signal))?.provisioningState, "Succeeded");

    assert.equal(await c.sizeProblem("Standard_D2s_v5", "westeurope", signal), undefined);
    assert.match((await c.sizeProblem("Standard_D2s_v3", "westeurope", signal)) ?? "", /Standard_D2s_v3 is restricted in westeurope/);
    assert.equal(await c.sizeProblem("Standard_D2s_v3", "northeurope", signal), undefined);
    assert.match(
      (await c.sizeProblem("Standard_Nope_v9", "westeurope", signal)) ?? "",
      /does not offer size Standard_Nope_v9 in westeurope/,
    );
  } finally {
    fake.setOptions({ skuRestrictions: {} });
  }
});

test("without a credential, DefaultAzureCredential gets a token from the managed identity endpoint", async () => {
  const saved = { ...process.env };
  for (const name of Object.keys(process.env))
    if (name.startsWith("AZURE_") || name.startsWith("IDENTITY_") || name.startsWith("MSI_")) delete process.env[name];
  // A recording relay in front of the fake's identity endpoint: proves the token came from managed identity.
  const asked: { resource: string | null; header: string | undefined }[] = [];
  const relay = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", fake.identityEndpoint);
    asked.push({ resource: url.searchParams.get("resource"), header: req.headers["x-identity-header"] as string | undefined });
    const answer = await fetch(`${fake.identityEndpoint}${url.search}`, {
      headers: { "x-identity-header": String(req.headers["x-identity-header"]) },
    });
    res.writeHead(answer.status, { "content-type": "application/json" });
    res.end(await answer.text());
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  process.env.IDENTITY_ENDPOINT = `http://127.0.0.1:${(relay.address() as AddressInfo).port}/msi/token`;
  process.env.IDENTITY_HEADER = fake.identityHeader;
  try {
    const responses: { method: string; url: string; status: number }[] = [];
    const { cloud: c, group } = cloud({ credential: undefined, onResponse: (r) => responses.push(r) });
    await c.prepare("westeurope", signal);
    assert.ok(
      fake.requests.some((r) => r.method === "PUT" && r.status < 300 && r.path.toLowerCase().endsWith(`/resourcegroups/${group}`)),
      "ARM accepted the managed identity's token",
    );
    assert.deepEqual(
      responses.map((r) => [r.method, r.status]),
      [
        ["GET", 404],
        ["PUT", 201],
      ],
    );
    assert.deepEqual(asked, [{ resource: "https://management.azure.com", header: fake.identityHeader }]);
  } finally {
    relay.close();
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
  }
});
