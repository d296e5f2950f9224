import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { Agent, fetch } from "undici";
import { type ArmFakeOptions, type CreatedVm, startArmFake } from "./arm-fake.ts";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are the wire's untyped JSON, asserted field by field.
type Wire = any;
type Answer = { status: number; headers: Headers; body: Wire };
type Call = { token?: boolean; apiVersion?: string | null; headers?: Record<string, string>; raw?: string };

const rgName = "berth-hosts";
const region = "westeurope";

async function setup(t: TestContext, options?: ArmFakeOptions) {
  const fake = await startArmFake(options);
  const agent = new Agent({ connect: { ca: fake.ca } });
  t.after(async () => {
    await agent.close();
    await fake.close();
  });
  const sub = `/subscriptions/${fake.subscriptionId}`;
  const rg = `${sub}/resourceGroups/${rgName}`;
  const net = `${rg}/providers/Microsoft.Network`;
  const compute = `${rg}/providers/Microsoft.Compute`;
  async function call(method: string, pathOrUrl: string, body?: unknown, o: Call = {}): Promise<Answer> {
    const url = new URL(pathOrUrl, fake.url);
    if (o.apiVersion !== null && !url.searchParams.has("api-version")) url.searchParams.set("api-version", o.apiVersion ?? "2026-01-01");
    const headers: Record<string, string> = { ...(o.token === false ? {} : { authorization: "Bearer test-token" }), ...o.headers };
    if (body !== undefined || o.raw !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(url, {
      method,
      headers,
      dispatcher: agent,
      body: o.raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
  }
  /** Polls Azure-AsyncOperation until a terminal status, as the SDK does. */
  async function settle(answer: Answer): Promise<Wire> {
    const url = answer.headers.get("azure-asyncoperation");
    assert.ok(url, "an Azure-AsyncOperation header");
    for (let i = 0; i < 200; i++) {
      const poll = await call("GET", url);
      assert.equal(poll.status, 200);
      if (poll.body.status !== "InProgress") return poll.body;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error("operation did not end");
  }
  const put = async (path: string, body: unknown) => {
    const a = await call("PUT", path, body);
    assert.ok(a.status === 200 || a.status === 201, `PUT ${path} → ${a.status} ${JSON.stringify(a.body)}`);
    return a;
  };
  /** Resource group, vnet + subnet, NSG, public IP and NIC of one host, each operation polled to the end. */
  async function network(host = "h1", o: { ip?: boolean } = {}) {
    await put(rg, { location: region, tags: { "created-by": "berth" } });
    await settle(
      await put(`${net}/virtualNetworks/berth-vnet`, {
        location: region,
        properties: {
          addressSpace: { addressPrefixes: ["10.1.0.0/16"] },
          subnets: [{ name: "hosts", properties: { addressPrefix: "10.1.2.0/24" } }],
        },
      }),
    );
    await settle(
      await put(`${net}/networkSecurityGroups/${host}-nsg`, {
        location: region,
        properties: {
          securityRules: [
            {
              name: "docker",
              properties: { priority: 300, direction: "Inbound", access: "Allow", protocol: "Tcp", destinationPortRange: "2376" },
            },
          ],
        },
      }),
    );
    if (o.ip !== false) {
      await settle(
        await put(`${net}/publicIPAddresses/${host}-ip`, {
          location: region,
          sku: { name: "Standard" },
          properties: { publicIPAllocationMethod: "Static", dnsSettings: { domainNameLabel: `berth-${host}` } },
        }),
      );
    }
    const nic = await put(`${net}/networkInterfaces/${host}-nic`, {
      location: region,
      properties: {
        networkSecurityGroup: { id: `${net}/networkSecurityGroups/${host}-nsg` },
        ipConfigurations: [
          {
            name: "ipconfig1",
            properties: {
              subnet: { id: `${net}/virtualNetworks/berth-vnet/subnets/hosts` },
              ...(o.ip !== false ? { publicIPAddress: { id: `${net}/publicIPAddresses/${host}-ip` } } : {}),
            },
          },
        ],
      },
    });
    await settle(nic);
    return nic;
  }
  const vmBody = (host: string, o: { publisher?: string; size?: string; nicDelete?: boolean } = {}) => ({
    location: region,
    tags: { "created-by": "berth", job: "j1" },
    properties: {
      hardwareProfile: { vmSize: o.size ?? "Standard_D2s_v5" },
      storageProfile: {
        imageReference: { publisher: o.publisher ?? "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" },
        osDisk: {
          name: `${host}-osdisk`,
          createOption: "FromImage",
          deleteOption: "Delete",
          managedDisk: { storageAccountType: "Premium_LRS" },
        },
      },
      osProfile: {
        computerName: host,
        adminUsername: "berth",
        adminPassword: "S3cret!pass",
        customData: Buffer.from("#cloud-config\n").toString("base64"),
      },
      networkProfile: {
        networkInterfaces: [
          {
            id: `${net}/networkInterfaces/${host}-nic`,
            properties: { primary: true, deleteOption: o.nicDelete === false ? "Detach" : "Delete" },
          },
        ],
      },
    },
  });
  return { fake, call, settle, put, network, vmBody, sub, rg, net, compute };
}

test("resource group: create 201, re-create 200, HEAD, GET, delete cascades through the Location URL", async (t) => {
  const { fake, call, rg, network } = await setup(t);
  assert.equal((await call("HEAD", rg)).status, 404);
  await network();
  const again = await call("PUT", rg, { location: "West Europe", tags: { a: "b" } });
  assert.equal(again.status, 200);
  assert.equal(again.body.properties.provisioningState, "Succeeded");
  assert.equal(again.body.type, "Microsoft.Resources/resourceGroups");
  assert.deepEqual(again.body.tags, { a: "b" });
  assert.equal((await call("HEAD", rg)).status, 204);
  assert.equal((await call("PUT", rg, { location: "eastus" })).body.error.code, "InvalidResourceGroupLocation");

  fake.hold(/resourcegroups\/berth-hosts$/);
  const del = await call("DELETE", rg);
  assert.equal(del.status, 202);
  const location = del.headers.get("location") ?? "";
  assert.match(location, new RegExp(`^${fake.url}/subscriptions/${fake.subscriptionId}/operationresults/.+api-version=`));
  const running = await call("GET", location);
  assert.equal(running.status, 202);
  assert.equal(running.body, undefined);
  assert.equal((await call("GET", rg)).body.properties.provisioningState, "Deleting");
  assert.equal(
    (await call("PUT", `${rg}/providers/Microsoft.Network/networkSecurityGroups/x`, { location: region })).body.error.code,
    "ResourceGroupBeingDeleted",
  );
  fake.release();
  assert.equal((await call("GET", location)).status, 200);
  assert.deepEqual(fake.resources(), []);
  const gone = await call("GET", rg);
  assert.equal(gone.status, 404);
  assert.equal(gone.body.error.code, "ResourceGroupNotFound");
  assert.equal(fake.requests.filter((r) => r.kind === "poll").length >= 2, true);
});

test("PUT vnet: 201 Updating with an absolute Azure-AsyncOperation; InProgress until opDurationMs, then Succeeded", async (t) => {
  const { fake, call, put, rg, net } = await setup(t, { opDurationMs: 60_000, retryAfterSeconds: 0 });
  await put(rg, { location: region });
  const created = await call(
    "PUT",
    `${net.toLowerCase()}/VIRTUALNETWORKS/Berth-VNet?api-version=2026-01-01`,
    {
      location: region,
      properties: {
        addressSpace: { addressPrefixes: ["10.1.0.0/16"] },
        subnets: [{ name: "hosts", properties: { addressPrefix: "10.1.2.0/24" } }],
      },
    },
    { headers: { "x-ms-client-request-id": "abc-123" } },
  );
  assert.equal(created.status, 201);
  assert.equal(created.headers.get("x-ms-client-request-id"), "abc-123");
  assert.ok(created.headers.get("x-ms-request-id"));
  assert.ok(created.headers.get("x-ms-ratelimit-remaining-subscription-writes"));
  assert.equal(created.body.properties.provisioningState, "Updating");
  assert.equal(created.body.name, "Berth-VNet");
  assert.equal(created.body.type, "Microsoft.Network/virtualNetworks");
  assert.match(created.body.etag, /^W\/"/);
  assert.equal(created.body.properties.subnets[0].properties.provisioningState, "Updating");
  const opUrl = created.headers.get("azure-asyncoperation") ?? "";
  assert.match(
    opUrl,
    new RegExp(
      `^${fake.url}/subscriptions/${fake.subscriptionId}/providers/Microsoft.Network/locations/westeurope/operations/[0-9a-f-]+\\?api-version=2026-01-01$`,
    ),
  );

  const poll = await call("GET", opUrl);
  assert.equal(poll.status, 200);
  assert.equal(poll.body.status, "InProgress");
  assert.ok(poll.body.startTime);
  assert.equal(poll.headers.get("retry-after"), "0");
  assert.equal(fake.requests.at(-1)?.kind, "poll");
  assert.equal((await call("GET", `${net}/virtualNetworks/berth-vnet`)).body.properties.provisioningState, "Updating");

  fake.setOptions({ opDurationMs: 0 });
  assert.equal((await call("GET", opUrl)).body.status, "InProgress", "the duration is fixed when the operation starts");
  fake.setOptions({ opDurationMs: 0 });
  const done = await call("PUT", `${net}/virtualNetworks/berth-vnet`, {
    location: region,
    properties: {
      addressSpace: { addressPrefixes: ["10.1.0.0/16"] },
      subnets: [{ name: "hosts", properties: { addressPrefix: "10.1.2.0/24" } }],
    },
  });
  assert.equal(done.status, 200, "an existing resource re-PUT is 200");
  const ended = await call("GET", done.headers.get("azure-asyncoperation") ?? "");
  assert.equal(ended.body.status, "Succeeded");
  assert.ok(ended.body.endTime);
  assert.equal(ended.headers.get("retry-after"), null);
  const vnet = await call("GET", `${net}/virtualNetworks/berth-vnet`);
  assert.equal(vnet.body.properties.provisioningState, "Succeeded");
  assert.equal(vnet.body.properties.subnets[0].properties.provisioningState, "Succeeded");
  const subnet = await call("GET", `${net}/virtualNetworks/berth-vnet/subnets/hosts`);
  assert.equal(subnet.body.properties.addressPrefix, "10.1.2.0/24");
  assert.equal(subnet.body.id, `${net}/virtualNetworks/Berth-VNet/subnets/hosts`);
  const unknown = await call("GET", opUrl.replace(/operations\/[^?]+/, "operations/00000000-1111-2222-3333-444444444444"));
  assert.equal(unknown.status, 404);
});

test("hold keeps operations InProgress until release; release(path) frees only the matching ones", async (t) => {
  const { fake, call, put, rg, net } = await setup(t);
  await put(rg, { location: region });
  fake.hold(/networksecuritygroups\//);
  const a = await put(`${net}/networkSecurityGroups/a-nsg`, { location: region });
  const b = await put(`${net}/networkSecurityGroups/b-nsg`, { location: region });
  const status = async (x: typeof a) => (await call("GET", x.headers.get("azure-asyncoperation") ?? "")).body.status;
  assert.equal(await status(a), "InProgress");
  fake.release(/a-nsg/);
  assert.equal(await status(a), "Succeeded");
  assert.equal(await status(b), "InProgress");
  fake.release();
  assert.equal(await status(b), "Succeeded");
  const nsg = await call("GET", `${net}/networkSecurityGroups/b-nsg`);
  assert.equal(nsg.body.properties.provisioningState, "Succeeded");
  assert.equal(nsg.body.properties.defaultSecurityRules.length, 6);
});

test("injected failures: sync 409 and 429 (first match wins, times counted), async Failed", async (t) => {
  const { fake, call, put, settle, net, network, vmBody, compute } = await setup(t);
  await network();
  const throttle = {
    code: "OperationNotAllowed",
    message: "The server rejected the request because too many requests have been received for this subscription.",
  };
  fake.fail({
    method: "PUT",
    path: /virtualmachines\/h1$/,
    times: 2,
    respond: { status: 429, headers: { "Retry-After": "1" }, body: throttle },
  });
  fake.fail({ method: "PUT", path: /virtualmachines\//, respond: { status: 409, body: { error: { code: "Conflict", message: "busy" } } } });
  for (let i = 0; i < 2; i++) {
    const r = await call("PUT", `${compute}/virtualMachines/h1`, vmBody("h1"));
    assert.equal(r.status, 429);
    assert.equal(r.headers.get("retry-after"), "1");
    assert.deepEqual(r.body, throttle);
  }
  const conflict = await call("PUT", `${compute}/virtualMachines/h1`, vmBody("h1"));
  assert.equal(conflict.status, 409);
  assert.equal(conflict.body.error.code, "Conflict");
  assert.equal(
    fake.resources().some((r) => r.type === "Microsoft.Compute/virtualMachines"),
    false,
  );

  fake.fail({
    path: /virtualmachines\/h1$/,
    fail: {
      code: "AllocationFailed",
      message: "Allocation failed. We do not have sufficient capacity for the requested VM size in this region.",
    },
  });
  const created = await put(`${compute}/virtualMachines/h1`, vmBody("h1"));
  assert.equal(created.status, 201);
  assert.equal(created.body.properties.provisioningState, "Creating");
  assert.match(
    created.headers.get("azure-asyncoperation") ?? "",
    /\/providers\/Microsoft\.Compute\/locations\/westeurope\/operations\/[^?]+\?p=/,
  );
  const failed = await settle(created);
  assert.equal(failed.status, "Failed");
  assert.equal(failed.error.code, "AllocationFailed");
  assert.equal((await call("GET", `${compute}/virtualMachines/h1`)).body.properties.provisioningState, "Failed");

  fake.fail({ method: "GET", path: /\/operations\//, respond: { status: 500 } });
  const retried = await put(`${net}/networkSecurityGroups/h1-nsg`, { location: region });
  const opUrl = retried.headers.get("azure-asyncoperation") ?? "";
  const five = await call("GET", opUrl);
  assert.equal(five.status, 500);
  assert.equal(five.body.error.code, "InternalServerError");
  assert.equal((await call("GET", opUrl)).body.status, "Succeeded");
  assert.throws(() => fake.fail({ path: /x/ }), /exactly one/);
});

test("referential rules: RG, parent, subnet/NSG/IP/NIC references and regions", async (t) => {
  const { call, put, settle, sub, rg, net, compute, network, vmBody } = await setup(t);
  const noRg = await call("PUT", `${net}/networkSecurityGroups/x`, { location: region });
  assert.equal(noRg.status, 404);
  assert.equal(noRg.body.error.code, "ResourceGroupNotFound");
  await put(rg, { location: region });
  const orphan = await call("PUT", `${net}/virtualNetworks/nope/subnets/s`, { properties: { addressPrefix: "10.9.0.0/24" } });
  assert.equal(orphan.status, 404);
  assert.equal(orphan.body.error.code, "ParentResourceNotFound");
  assert.equal((await call("PUT", `${net}/networkSecurityGroups/x`, {})).body.error.code, "LocationRequired");
  const nicBody = (subnet: string, extra: object = {}) => ({
    location: region,
    properties: {
      ...extra,
      ipConfigurations: [{ name: "ipconfig1", properties: { subnet: { id: `${net}/virtualNetworks/berth-vnet/subnets/${subnet}` } } }],
    },
  });
  const noSubnet = await call("PUT", `${net}/networkInterfaces/n-nic`, nicBody("hosts"));
  assert.equal(noSubnet.status, 400);
  assert.equal(noSubnet.body.error.code, "InvalidResourceReference");
  assert.match(
    noSubnet.body.error.message,
    /^Resource \/subscriptions\/.+\/subnets\/hosts referenced by resource .+\/networkInterfaces\/n-nic was not found/,
  );
  await network("h1");
  const noNsg = await call(
    "PUT",
    `${net}/networkInterfaces/n-nic`,
    nicBody("hosts", { networkSecurityGroup: { id: `${net}/networkSecurityGroups/missing` } }),
  );
  assert.equal(noNsg.body.error.code, "InvalidResourceReference");
  const wrongRegion = await call("PUT", `${net}/networkInterfaces/n-nic`, { ...nicBody("hosts"), location: "eastus" });
  assert.equal(wrongRegion.status, 400);
  assert.equal(wrongRegion.body.error.code, "InvalidResourceReference");
  const noNic = await call("PUT", `${compute}/virtualMachines/h2`, vmBody("h2"));
  assert.equal(noNic.status, 400);
  assert.equal(noNic.body.error.code, "InvalidResourceReference");
  const wrongSub = await call("GET", `${sub.replace(/0000$/, "9999")}/resourceGroups/${rgName}`);
  assert.equal(wrongSub.status, 404);
  assert.equal(wrongSub.body.error.code, "SubscriptionNotFound");
  const missing = await call("GET", `${compute}/virtualMachines/none`);
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, "ResourceNotFound");

  // NIC: private address from its subnet (Azure keeps .0–.3), kept across re-PUTs.
  const nic = await call("GET", `${net}/networkInterfaces/h1-nic`);
  assert.equal(nic.body.properties.ipConfigurations[0].properties.privateIPAddress, "10.1.2.4");
  assert.equal(nic.body.properties.ipConfigurations[0].id, `${net}/networkInterfaces/h1-nic/ipConfigurations/ipconfig1`);
  await settle(await put(`${net}/networkInterfaces/n-nic`, nicBody("hosts")));
  assert.equal(
    (await call("GET", `${net}/networkInterfaces/n-nic`)).body.properties.ipConfigurations[0].properties.privateIPAddress,
    "10.1.2.5",
  );
  assert.equal(
    (await put(`${net}/networkInterfaces/n-nic`, nicBody("hosts"))).body.properties.ipConfigurations[0].properties.privateIPAddress,
    "10.1.2.5",
  );
  const subnet = await call("GET", `${net}/virtualNetworks/berth-vnet/subnets/hosts`);
  assert.equal(subnet.body.properties.ipConfigurations.length, 2);
});

test("in-use deletes are refused in Azure's words; docker-machine order succeeds; missing → 204", async (t) => {
  const { fake, call, put, settle, net, compute, network, vmBody } = await setup(t);
  await network("h1");
  await settle(await put(`${compute}/virtualMachines/h1`, vmBody("h1", { nicDelete: false })));
  const refused: Array<[string, string]> = [
    [`${net}/networkInterfaces/h1-nic`, "NicInUse"],
    [`${net}/publicIPAddresses/h1-ip`, "PublicIPAddressInUse"],
    [`${net}/networkSecurityGroups/h1-nsg`, "InUseNetworkSecurityGroupCannotBeDeleted"],
    [`${net}/virtualNetworks/berth-vnet/subnets/hosts`, "InUseSubnetCannotBeDeleted"],
    [`${net}/virtualNetworks/berth-vnet`, "InUseSubnetCannotBeDeleted"],
  ];
  for (const [path, code] of refused) {
    const r = await call("DELETE", path);
    assert.equal(r.status, 400, path);
    assert.equal(r.body.error.code, code);
  }
  // A vnet re-PUT that leaves out a used subnet would delete it: refused too.
  const dropping = await call("PUT", `${net}/virtualNetworks/berth-vnet`, {
    location: region,
    properties: { addressSpace: { addressPrefixes: ["10.1.0.0/16"] } },
  });
  assert.equal(dropping.body.error.code, "InUseSubnetCannotBeDeleted");

  for (const path of [
    `${compute}/virtualMachines/h1`,
    `${net}/networkInterfaces/h1-nic`,
    `${net}/publicIPAddresses/h1-ip`,
    `${net}/networkSecurityGroups/h1-nsg`,
  ]) {
    const del = await call("DELETE", path);
    assert.equal(del.status, 202, path);
    assert.ok(del.headers.get("location"));
    assert.equal((await settle(del)).status, "Succeeded");
    assert.equal((await call("GET", path)).status, 404);
  }
  assert.equal((await call("DELETE", `${net}/networkInterfaces/h1-nic`)).status, 204);
  assert.deepEqual(
    fake
      .resources()
      .map((r) => r.type)
      .sort(),
    ["Microsoft.Network/virtualNetworks", "Microsoft.Network/virtualNetworks/subnets", "Microsoft.Resources/resourceGroups"],
  );
  const disk = fake.resources().find((r) => r.type === "Microsoft.Compute/disks");
  assert.equal(disk, undefined, "the OS disk had deleteOption Delete");
});

test("VM delete: Deleting until done, Location (monitor=true) 202 then 204; deleteOption Delete takes the NIC and disk", async (t) => {
  const { fake, call, put, settle, net, compute, network, vmBody } = await setup(t);
  await network("h1");
  await settle(await put(`${compute}/virtualMachines/h1`, vmBody("h1")));
  await settle(
    await put(`${compute}/virtualMachines/h1/extensions/docker-setup`, {
      location: region,
      properties: { publisher: "Microsoft.Compute", protectedSettings: { commandToExecute: "secret" } },
    }),
  );
  assert.ok(fake.resources().some((r) => r.type === "Microsoft.Compute/disks" && r.name === "h1-osdisk"));
  fake.hold(/virtualmachines\/h1$/);
  const del = await call("DELETE", `${compute}/virtualMachines/h1`);
  assert.equal(del.status, 202);
  const location = del.headers.get("location") ?? "";
  assert.match(location, /\/providers\/Microsoft\.Compute\/locations\/westeurope\/operations\/.+monitor=true/);
  const running = await call("GET", location);
  assert.equal(running.status, 202);
  assert.equal((await call("GET", `${compute}/virtualMachines/h1`)).body.properties.provisioningState, "Deleting");
  assert.equal((await call("PUT", `${compute}/virtualMachines/h1`, vmBody("h1"))).status, 409);
  fake.release();
  assert.equal((await call("GET", location)).status, 204);
  for (const path of [
    `${compute}/virtualMachines/h1`,
    `${compute}/virtualMachines/h1/extensions/docker-setup`,
    `${net}/networkInterfaces/h1-nic`,
    `${compute}/disks/h1-osdisk`,
  ]) {
    assert.equal((await call("GET", path)).status, 404, path);
  }
  assert.equal((await call("GET", `${net}/publicIPAddresses/h1-ip`)).status, 200, "the IP had no deleteOption");
  const netDel = await call("DELETE", `${net}/publicIPAddresses/h1-ip`);
  assert.match(netDel.headers.get("location") ?? "", /\/providers\/Microsoft\.Network\/locations\/westeurope\/operationResults\//);
  assert.equal((await call("GET", netDel.headers.get("location") ?? "")).status, 204);
});

test("public IP: address and fqdn only once Succeeded (from addressFor)", async (t) => {
  const { fake, call, put, settle, rg, net } = await setup(t);
  fake.addressFor = (name) => (name === "h1-ip" ? "127.0.0.7" : "127.0.0.1");
  await put(rg, { location: region });
  fake.hold(/publicipaddresses/);
  const created = await put(`${net}/publicIPAddresses/h1-ip`, {
    location: region,
    sku: { name: "Standard" },
    properties: { publicIPAllocationMethod: "Static", dnsSettings: { domainNameLabel: "berth-h1" } },
  });
  assert.equal(created.body.properties.ipAddress, undefined);
  assert.equal(created.body.properties.dnsSettings.fqdn, undefined);
  assert.deepEqual(created.body.sku, { name: "Standard" });
  assert.equal((await call("GET", `${net}/publicIPAddresses/h1-ip`)).body.properties.ipAddress, undefined);
  fake.release();
  assert.equal((await settle(created)).status, "Succeeded");
  const ip = await call("GET", `${net}/publicIPAddresses/h1-ip`);
  assert.equal(ip.body.properties.ipAddress, "127.0.0.7");
  assert.equal(ip.body.properties.dnsSettings.fqdn, "berth-h1.westeurope.cloudapp.azure.com");
  assert.equal(ip.body.properties.provisioningState, "Succeeded");
});

test("VM: customData and adminPassword are not echoed; onVmCreated gets them once; Windows from the image publisher", async (t) => {
  const { fake, call, put, settle, compute, network, vmBody } = await setup(t);
  const created: CreatedVm[] = [];
  fake.onVmCreated = async (vm) => {
    created.push(vm);
  };
  await network("h1");
  const r = await put(`${compute}/virtualMachines/h1`, vmBody("h1"));
  assert.equal(r.status, 201);
  assert.equal(r.body.properties.osProfile.customData, undefined);
  assert.equal(r.body.properties.osProfile.adminPassword, undefined);
  assert.ok(r.body.properties.vmId);
  assert.equal(r.body.properties.storageProfile.osDisk.osType, "Linux");
  assert.equal(created.length, 0, "not before the operation succeeds");
  await settle(r);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(created.length, 1);
  assert.equal(created[0]?.name, "h1");
  assert.equal(created[0]?.osType, "Linux");
  assert.equal(Buffer.from(created[0]?.customData ?? "", "base64").toString(), "#cloud-config\n");
  assert.deepEqual(created[0]?.tags, { "created-by": "berth", job: "j1" });
  const got = await call("GET", `${compute}/virtualMachines/h1?$expand=instanceView`);
  assert.equal(got.body.properties.provisioningState, "Succeeded");
  assert.equal(got.body.properties.osProfile.customData, undefined);
  assert.equal(got.body.properties.instanceView.statuses[1].code, "PowerState/running");
  assert.equal(JSON.stringify(fake.resources()).includes("cloud-config"), false);

  const update = await put(`${compute}/virtualMachines/h1`, vmBody("h1"));
  assert.equal(update.status, 200);
  assert.equal(update.body.properties.provisioningState, "Updating");
  assert.equal(update.body.properties.vmId, r.body.properties.vmId);
  await settle(update);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(created.length, 1, "an update is not a create");

  await network("w1", { ip: false });
  await settle(await put(`${compute}/virtualMachines/w1`, vmBody("w1", { publisher: "MicrosoftWindowsServer" })));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(created[1]?.osType, "Windows");
  const ext = await put(`${compute}/virtualMachines/w1/extensions/docker-setup`, {
    location: region,
    properties: {
      publisher: "Microsoft.Compute",
      type: "CustomScriptExtension",
      typeHandlerVersion: "1.10",
      protectedSettings: { commandToExecute: "powershell secret" },
    },
  });
  assert.equal(ext.body.type, "Microsoft.Compute/virtualMachines/extensions");
  assert.equal(ext.body.properties.protectedSettings, undefined);
  assert.equal((await settle(ext)).status, "Succeeded");
});

test("skus: listing with restrictions, and a restricted size is 409 SkuNotAvailable on VM PUT", async (t) => {
  const { fake, call, put, sub, compute, network, vmBody } = await setup(t, { skuRestrictions: { Standard_D2s_v5: ["westeurope"] } });
  const skus = await call("GET", `${sub}/providers/Microsoft.Compute/skus?$filter=${encodeURIComponent("location eq 'westeurope'")}`);
  assert.equal(skus.status, 200);
  const names = skus.body.value.map((s: { name: string }) => s.name);
  for (const n of ["Standard_B2s", "Standard_D2s_v5", "Standard_D4s_v5", "Standard_E4s_v5", "Standard_D2s_v3", "Standard_B4ms"])
    assert.ok(names.includes(n), n);
  const d2 = skus.body.value.find((s: { name: string }) => s.name === "Standard_D2s_v5");
  assert.equal(d2.resourceType, "virtualMachines");
  assert.deepEqual(d2.locations, ["westeurope"]);
  assert.deepEqual(d2.restrictions, [
    { type: "Location", values: ["westeurope"], restrictionInfo: { locations: ["westeurope"] }, reasonCode: "NotAvailableForSubscription" },
  ]);
  assert.deepEqual(skus.body.value.find((s: { name: string }) => s.name === "Standard_D4s_v5").restrictions, []);
  const all = await call("GET", `${sub}/providers/Microsoft.Compute/skus`);
  assert.ok(
    all.body.value.some(
      (s: { name: string; locations: string[]; restrictions: unknown[] }) =>
        s.name === "Standard_D2s_v5" && s.locations[0] === "eastus" && s.restrictions.length === 0,
    ),
  );

  await network("h1");
  const refused = await call("PUT", `${compute}/virtualMachines/h1`, vmBody("h1"));
  assert.equal(refused.status, 409);
  assert.equal(refused.body.error.code, "SkuNotAvailable");
  assert.equal(
    refused.body.error.message,
    "The requested VM size for resource 'Following SKUs have failed for Capacity Restrictions: Standard_D2s_v5' is currently not available in location 'westeurope'. Please try another size or deploy to a different location or different zone. See https://aka.ms/azureskunotavailable for details.",
  );
  fake.setOptions({ skuRestrictions: {} });
  assert.equal((await put(`${compute}/virtualMachines/h1`, vmBody("h1"))).status, 201);
});

test("authorizedActions: 403 AuthorizationFailed names the missing action; globs allow; polls are not checked", async (t) => {
  const { fake, call, put, settle, rg, net } = await setup(t);
  fake.setOptions({
    authorizedActions: [
      "Microsoft.Resources/subscriptions/resourceGroups/*",
      "Microsoft.Network/networkSecurityGroups/*",
      "microsoft.network/publicIPAddresses/read",
    ],
  });
  await put(rg, { location: region });
  assert.equal((await settle(await put(`${net}/networkSecurityGroups/h1-nsg`, { location: region }))).status, "Succeeded");
  const denied = await call("PUT", `${net}/publicIPAddresses/h1-ip`, { location: region });
  assert.equal(denied.status, 403);
  assert.equal(denied.body.error.code, "AuthorizationFailed");
  assert.match(
    denied.body.error.message,
    /does not have authorization to perform action 'Microsoft\.Network\/publicIPAddresses\/write' over scope '\/subscriptions\/.+\/publicIPAddresses\/h1-ip'/,
  );
  assert.equal((await call("GET", `${net}/publicIPAddresses/h1-ip`)).status, 404, "read is allowed");
});

test("protocol: bearer required (401), api-version required (400), bad JSON (400), unknown type (404)", async (t) => {
  const { fake, call, rg, net } = await setup(t);
  fake.setOptions({ latencyMs: 1 });
  const noToken = await call("GET", rg, undefined, { token: false });
  assert.equal(noToken.status, 401);
  assert.equal(noToken.body.error.code, "AuthenticationFailed");
  assert.ok(noToken.headers.get("www-authenticate"));
  const basic = await call("GET", rg, undefined, { token: false, headers: { authorization: "Basic abc" } });
  assert.equal(basic.status, 401);
  const noVersion = await call("GET", rg, undefined, { apiVersion: null });
  assert.equal(noVersion.status, 400);
  assert.equal(noVersion.body.error.code, "MissingApiVersionParameter");
  const bad = await call("PUT", rg, undefined, { raw: "{not json" });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, "InvalidRequestContent");
  await call("PUT", rg, { location: region });
  const unknown = await call("PUT", `${net}/loadBalancers/lb`, { location: region });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, "InvalidResourceType");
  const list = await call("GET", `${net}/networkSecurityGroups`);
  assert.deepEqual(list.body, { value: [] });
});

test("managed identity endpoint: App Service 2019-08-01 protocol", async (t) => {
  const { fake } = await setup(t);
  const url = `${fake.identityEndpoint}?api-version=2019-08-01&resource=${encodeURIComponent("https://management.azure.com")}`;
  const ok = await fetch(url, { headers: { "X-IDENTITY-HEADER": fake.identityHeader } });
  assert.equal(ok.status, 200);
  const token = (await ok.json()) as Record<string, unknown>;
  assert.equal(token.token_type, "Bearer");
  assert.equal(token.resource, "https://management.azure.com");
  assert.equal(typeof token.access_token, "string");
  assert.ok(Number(token.expires_on) > Date.now() / 1000);
  const wrong = await fetch(url, { headers: { "X-IDENTITY-HEADER": "nope" } });
  assert.equal(wrong.status, 400);
  await wrong.arrayBuffer();
  assert.match(fake.identityEndpoint, /^http:\/\/127\.0\.0\.1:\d+\/msi\/token$/);
});

test("the certificate is issued by the given CA for 127.0.0.1 and localhost", async (t) => {
  const { fake } = await setup(t);
  for (const servername of ["127.0.0.1", "localhost"]) {
    const agent = new Agent({ connect: { ca: fake.ca, ...(servername === "localhost" ? { servername } : {}) } });
    const res = await fetch(`${fake.url}/subscriptions/${fake.subscriptionId}/resourceGroups/x?api-version=1`, {
      headers: { authorization: "Bearer t" },
      dispatcher: agent,
    });
    assert.equal(res.status, 404);
    await res.arrayBuffer();
    await agent.close();
  }
  await assert.rejects(fetch(`${fake.url}/`, { dispatcher: new Agent() }));
});
