import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type ArmFake, startArmFake } from "./support/arm-fake.ts";
import { startDockerFromCustomData } from "./support/azure-docker-host.ts";
import { cardText, eventually, findCard, isFinished, startBerth, testImage, threadLines } from "./support/berth-harness.ts";
import { blockAction } from "./support/slack-driver.ts";
import { SEED, SlackFake } from "./support/slack-fake.ts";
import type { TlsDaemon } from "./support/tls-daemon.ts";

// Azure hosts from Slack, end to end: the real Bolt app and the real Azure SDK clients against the Slack fake and the
// ARM fake. When the fake "boots" a Linux VM it does what cloud-init would: it reads berth's customData, takes the
// certificates berth put there and starts a real dockerd with them on loopback, reported as the VM's public IP — so a
// registered host is a real Docker-over-TLS engine that runs containers.

const policy = `version: 1
roles:
  operator: { actions: [container.*, host.*] }
bindings:
  - { role: operator, users: [${SEED.operator}, ${SEED.approver}] }
images: ["berth-test/**"]
azure:
  sizes: [Standard_B2s, Standard_D2s_v5, Standard_D4s_v5]
  regions: [westeurope, northeurope]
  maxHostsPerUser: 6
  defaultTtl: 2h
  maxTtl: 1d
  reminder: 30m
  readyTimeout: 2m
`;
const hosts = `hosts:
  - { name: local, url: "unix:///var/run/docker.sock" }
default: local
`;

let slack: SlackFake;
let arm: ArmFake;
let berth: Awaited<ReturnType<typeof startBerth>>;
let dir: string;
let dockerPort: number;
const daemons: TlsDaemon[] = [];
let skew = 0;
const clock = () => Date.now() + skew;

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

const start = async (reuse?: string) => {
  const env = {
    AZURE_SUBSCRIPTION_ID: arm.subscriptionId,
    AZURE_LOCATION: "westeurope",
    AZURE_RESOURCE_MANAGER_URL: arm.url,
    AZURE_RESOURCE_MANAGER_CA: join(reuse ?? dir ?? "/tmp", "arm-ca.pem"),
    BERTH_AZURE_ALLOW_CIDR: "198.51.100.7/32",
    BERTH_AZURE_DOCKER_PORT: String(dockerPort),
    BERTH_SECRET_KEY: "azure-e2e-secret-key-0123456789abcdef",
  };
  return startBerth(slack, {
    policy,
    hosts,
    env,
    clock,
    ...(reuse && { dir: reuse }),
    azure: {
      credential: { getToken: async () => ({ token: "test-token", expiresOnTimestamp: Date.now() + 3_600_000 }) },
      pollIntervalMs: 10,
      probeIntervalMs: 100,
      retry: { maxRetries: 2, retryDelayInMs: 5, maxRetryDelayInMs: 20 },
    },
  });
};

before(async () => {
  slack = await SlackFake.start();
  arm = await startArmFake({ opDurationMs: 20 });
  dockerPort = await freePort();
  arm.onVmCreated = async (vm) => {
    if (vm.osType !== "Linux" || !vm.customData) return;
    daemons.push(await startDockerFromCustomData(vm.customData));
  };
  // The CA file must exist before berth reads its configuration: write it to a directory of its own first.
  dir = (await import("node:fs")).mkdtempSync("/tmp/berth-azure-e2e-");
  writeFileSync(join(dir, "arm-ca.pem"), arm.ca);
  berth = await start(dir);
});

after(async () => {
  await berth?.stop();
  await slack?.stop();
  await arm?.close();
  for (const d of daemons) await d.stop();
});

const textOf = (r: { body: unknown }) => String((r.body as { text?: unknown }).text ?? "");
const replyTo = (user: string, pattern: RegExp) =>
  eventually(`a reply to ${user} matching ${pattern}`, () => slack.responses().find((r) => r.user === user && pattern.test(textOf(r))));
const finished = (summary: string) =>
  eventually(
    `the finished card of "${summary}"`,
    () => {
      const c = findCard(slack, SEED.incidentChannel, summary);
      return c && isFinished(c) ? c : undefined;
    },
    90_000,
  );
const thread = (ts: string) =>
  slack
    .thread(SEED.incidentChannel, ts)
    .map((m) => m.text)
    .join("\n");
const resourcesOf = (name: string) => arm.resources().filter((r) => r.name === name || r.name.startsWith(`${name}-`));
/** Every "VM" answered on the same loopback port: stop the one that belonged to a removed host. */
const stopDockerOf = async (url: string) => {
  for (const d of daemons.filter((x) => x.url === url)) await d.stop();
};

test("host create → progress → a registered TLS host that runs containers → host rm removes everything", async () => {
  await berth.command("host create ci-one --ttl 3h");
  const card = await finished("host create ci-one");
  assert.match(
    cardText(card),
    /`ci-one` is ready after .*: linux .*Docker .* at tcp:\/\/127\.0\.0\.1:\d+ \(berth-ci-one\.westeurope\.cloudapp\.azure\.com\)/,
  );
  const story = thread(card.ts);
  for (const step of [
    "network ready",
    "firewall: Docker TLS port open to berth only",
    "public IP 127.0.0.1",
    "network interface",
    "VM created (Standard_B2s)",
  ]) {
    assert.match(story, new RegExp(step.replace(/[()]/g, "\\$&")), step);
  }
  // Every resource of the host is tagged with who asked, where, the job and the expiry.
  for (const r of resourcesOf("ci-one").filter((x) => x.type !== "Microsoft.Compute/disks")) {
    assert.equal(r.tags["created-by"], "berth", r.type);
    assert.equal(r.tags.requester, SEED.operator, r.type);
    assert.equal(r.tags.channel, SEED.incidentChannel, r.type);
    assert.match(r.tags.job ?? "", /^j-/, r.type);
  }
  const nsg = arm.resources().find((r) => r.name === "ci-one-nsg");
  assert.ok(nsg, "the host's NSG exists");
  assert.deepEqual(
    (nsg.properties.securityRules as { properties: { destinationPortRange: string; sourceAddressPrefix: string } }[]).map(
      (r) => `${r.properties.sourceAddressPrefix}→${r.properties.destinationPortRange}`,
    ),
    [`198.51.100.7/32→${dockerPort}`],
    "only berth's address may reach Docker; no SSH or RDP",
  );

  await berth.command("hosts");
  const listed = textOf(await replyTo(SEED.operator, /\*ci-one\*/));
  assert.match(listed, /:large_green_circle: \*ci-one\* \(tcp:\/\/127\.0\.0\.1:\d+\) — linux/);
  assert.match(listed, /Azure VM Standard_B2s, westeurope, berth-ci-one\.westeurope\.cloudapp\.azure\.com · made by <@U0OPER>/);

  // The VM's boot finishes loading the test image after dockerd answers (as cloud-init may): wait for that, not a pull.
  await eventually("ci-one's daemon to hold the test image", () => (daemons.length > 0 ? true : undefined));
  await berth.command(`run -H ci-one ${testImage} sh -c 'echo hello-from-azure'`);
  const ran = await finished("hello-from-azure");
  assert.match(cardText(ran), /host ci-one/);
  assert.match(cardText(ran), /Exited with code 0/);
  assert.deepEqual(threadLines(slack, SEED.incidentChannel, ran.ts), ["hello-from-azure"]);

  await berth.command("host rm ci-one");
  await berth.confirm("host rm ci-one");
  const removed = await finished("host rm ci-one");
  assert.match(cardText(removed), /Removed `ci-one` and everything berth created for it/);
  assert.deepEqual(resourcesOf("ci-one"), [], "no VM, disk, NIC, IP or NSG of ci-one is left");
  const deletes = arm.requests
    .filter((r) => r.method === "DELETE" && r.kind === "request" && /ci-one/.test(r.path))
    .map((r) => r.path.toLowerCase().split("/").slice(-2).join("/"));
  assert.deepEqual(deletes, [
    "virtualmachines/ci-one",
    "networkinterfaces/ci-one-nic",
    "publicipaddresses/ci-one-ip",
    "networksecuritygroups/ci-one-nsg",
  ]);
  await berth.command(`run -H ci-one ${testImage} true`);
  await replyTo(SEED.operator, /berth knows no host `ci-one`/);
  await stopDockerOf((await berth.berth.store.cloudHosts.get("ci-one"))?.dockerUrl ?? "");
});

test("the policy's limits and existing names are refused with what to do instead", async () => {
  await berth.command("host create big --size Standard_M128s");
  await replyTo(SEED.operator, /The policy does not allow size Standard_M128s\. Allowed: Standard_B2s, Standard_D2s_v5, Standard_D4s_v5/);
  await berth.command("host create far --region eastus");
  await replyTo(SEED.operator, /The policy does not allow region eastus\. Allowed: westeurope, northeurope/);
  await berth.command("host create long --ttl 3d");
  await replyTo(SEED.operator, /--ttl 72h 0m is longer than the policy's maximum of 1d/);
  await berth.command("host create hv --os windows --hyperv --size Standard_B2s");
  await replyTo(
    SEED.operator,
    /Hyper-V isolation needs nested virtualization, which Standard_B2s does not have .*Standard_D2s_v5, Standard_D4s_v5/,
  );
  await berth.command("host create local");
  await replyTo(SEED.operator, /`local` is a host in berth's hosts manifest/);
  await berth.command("host rm nothing-here");
  await replyTo(SEED.operator, /berth made no host `nothing-here`/);
  assert.equal(arm.requests.filter((r) => /(big|far|long|hv)(-|\?|$)/.test(r.path)).length, 0, "nothing refused reached Azure");
});

for (const [name, inject, expect] of [
  [
    "no-sku",
    (a: ArmFake) => a.setOptions({ skuRestrictions: { Standard_D2s_v5: ["westeurope"] } }),
    /restricted in westeurope for this subscription[\s\S]*Sizes the policy allows: Standard_B2s, Standard_D4s_v5[\s\S]*Nothing was created in Azure/,
  ],
  [
    "no-quota",
    (a: ArmFake) =>
      a.fail({
        method: "PUT",
        path: /virtualmachines\/no-quota$/,
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
      }),
    /quota[\s\S]*Ask your Azure admin for more quota in westeurope[\s\S]*Removed `no-quota` and everything berth created for it/,
  ],
  [
    "no-alloc",
    (a: ArmFake) =>
      a.fail({
        method: "PUT",
        path: /virtualmachines\/no-alloc$/,
        fail: {
          code: "AllocationFailed",
          message: "Allocation failed. We do not have sufficient capacity for the requested VM size in this region.",
        },
      }),
    /AllocationFailed[\s\S]*Removed `no-alloc` and everything berth created for it/,
  ],
] as const) {
  test(`${name}: the failure is explained in the thread and nothing of the host is left in Azure`, async (t) => {
    t.after(() => arm.setOptions({ skuRestrictions: {} }));
    inject(arm);
    await berth.command(`host create ${name} --size Standard_D2s_v5`);
    const card = await finished(`host create ${name}`);
    assert.match(cardText(card), /:x:/);
    assert.match(cardText(card) + thread(card.ts), expect);
    assert.deepEqual(resourcesOf(name), []);
  });
}

test("Cancel on the card stops provisioning and removes what was made", async () => {
  arm.hold(/virtualmachines\/cancel-me$/);
  await berth.command("host create cancel-me");
  const card = await eventually("the card waiting on the VM", () => {
    const c = findCard(slack, SEED.incidentChannel, "host create cancel-me");
    return c && cardText(c).includes(":hourglass_flowing_sand: VM") && cardText(c).includes("Cancel") ? c : undefined;
  });
  await blockAction(slack, {
    url: berth.url,
    messageTs: card.ts,
    actionId: "berth_stop",
    value: /job `(j-[0-9a-f]+)`/.exec(cardText(card))?.[1] ?? "",
    user: SEED.operator,
    channel: SEED.incidentChannel,
  });
  arm.release();
  const done = await finished("host create cancel-me");
  assert.match(cardText(done), /Cancelled by <@U0OPER>\. .*Removed `cancel-me`/);
  assert.deepEqual(resourcesOf("cancel-me"), []);
});

test("a restart in the middle of the VM step resumes the stored poller in the same thread, then lifetime: reminder, Extend, expiry", async () => {
  arm.hold(/virtualmachines\/survivor$/);
  await berth.command("host create survivor --ttl 1h");
  await eventually("the VM poller stored", async () =>
    (await berth.berth.store.cloudHosts.get("survivor"))?.steps.vm?.poller ? true : undefined,
  );
  const first = findCard(slack, SEED.incidentChannel, "host create survivor");
  await berth.stop();
  berth = await start(dir);
  arm.release();
  const card = await eventually(
    "the same card, ready",
    () => {
      const c = slack.messages(SEED.incidentChannel).find((m) => m.ts === first?.ts);
      return c && isFinished(c) && /`survivor` is ready/.test(cardText(c)) ? c : undefined;
    },
    90_000,
  );
  assert.match(thread(card.ts), /Picking up where berth left off/);
  const vmPuts = arm.requests.filter((r) => r.method === "PUT" && r.kind === "request" && /virtualmachines\/survivor$/i.test(r.path));
  assert.equal(vmPuts.length, 1, "the resumed poller sent no second PUT");

  // 35 minutes before expiry: one reminder in the host's thread with an Extend button.
  skew += 25 * 60_000;
  await berth.berth.sweepHosts();
  await berth.berth.sweepHosts();
  const reminders = slack.thread(SEED.incidentChannel, card.ts).filter((m) => /is removed in/.test(m.text));
  assert.equal(reminders.length, 0, "not yet: the reminder comes 30 minutes before");
  skew += 10 * 60_000;
  await berth.berth.sweepHosts();
  await berth.berth.sweepHosts();
  const reminder = await eventually("one reminder", () =>
    slack.thread(SEED.incidentChannel, card.ts).find((m) => /is removed in/.test(m.text)),
  );
  assert.equal(slack.thread(SEED.incidentChannel, card.ts).filter((m) => /is removed in/.test(m.text)).length, 1);
  assert.match(JSON.stringify(reminder.blocks), /berth_host_extend/);
  await blockAction(slack, {
    url: berth.url,
    messageTs: reminder.ts,
    actionId: "berth_host_extend",
    value: "survivor",
    user: SEED.approver,
    channel: SEED.incidentChannel,
  });
  await eventually("the extension announced", () =>
    slack.messages(SEED.incidentChannel).find((m) => /<@U0APPR\w*> extended `survivor` until/.test(m.text)),
  );
  const extended = await berth.berth.store.cloudHosts.get("survivor");
  assert.ok((extended?.expiresAt ?? 0) > clock() + 90 * 60_000, "extended by the policy's default of 2h");

  // Past the new expiry: the host is removed by berth itself.
  skew += 3 * 3_600_000;
  await berth.berth.sweepHosts();
  const removal = await finished("host rm survivor (expired)");
  assert.match(cardText(removal), /Removed `survivor`/);
  assert.deepEqual(resourcesOf("survivor"), []);
  await stopDockerOf(extended?.dockerUrl ?? "");
});

test("Windows with Hyper-V: the VM and script extension requests are built for it; Docker never answering is reported and cleaned up", async () => {
  await berth.command("host create win-hv --os windows --hyperv --size Standard_D4s_v5");
  const waiting = await eventually("the card waiting for Docker", () => {
    const c = findCard(slack, SEED.incidentChannel, "host create win-hv");
    return c && cardText(c).includes(":hourglass_flowing_sand: Docker reachable") ? c : undefined;
  }).catch((e: unknown) => {
    throw new Error(
      `${(e as Error).message}; the card: ${cardText(findCard(slack, SEED.incidentChannel, "host create win-hv") ?? ({} as never))}`,
    );
  });
  const vmPut = arm.requests.find((r) => r.method === "PUT" && /virtualmachines\/win-hv$/i.test(r.path));
  assert.ok(vmPut, "a VM PUT was sent");
  const vm = (vmPut.body as { properties: Record<string, Record<string, unknown>> }).properties;
  assert.deepEqual((vm.storageProfile as { imageReference: unknown }).imageReference, {
    publisher: "MicrosoftWindowsServer",
    offer: "WindowsServer",
    sku: "2022-datacenter-azure-edition-core",
    version: "latest",
  });
  assert.equal((vm.hardwareProfile as { vmSize: string }).vmSize, "Standard_D4s_v5");
  assert.deepEqual(vm.securityProfile, { securityType: "Standard" }, "Trusted Launch would block nested virtualization");
  const script = Buffer.from(String(vm.osProfile?.customData), "base64").toString("utf8");
  assert.match(script, /@\('Containers', 'Hyper-V'\)[\s\S]*Install-WindowsFeature/);
  assert.match(script, new RegExp(`\\$DockerPort = ${dockerPort}\\n[\\s\\S]*New-NetFirewallRule .*-LocalPort \\$DockerPort`));
  assert.match(script, /-----BEGIN CERTIFICATE-----/);
  const ext = arm.requests.find((r) => r.method === "PUT" && /virtualmachines\/win-hv\/extensions\//i.test(r.path));
  assert.ok(ext, "an extension PUT was sent");
  const extProps = (ext.body as { properties: Record<string, unknown> }).properties;
  assert.equal(extProps.type, "CustomScriptExtension");
  assert.match(String((extProps.protectedSettings as { commandToExecute: string }).commandToExecute), /berth-setup\.ps1/);
  assert.ok(!JSON.stringify(extProps.settings ?? {}).includes("BEGIN"), "no certificate or key in the extension's public settings");

  skew += 3 * 60_000; // past the policy's readyTimeout of 2m
  const done = await finished("host create win-hv");
  assert.match(cardText(done), /Docker did not answer on tcp:\/\/127\.0\.0\.1:\d+ within 2m\. Last seen: /);
  assert.match(cardText(done), /Removed `win-hv`/);
  assert.deepEqual(resourcesOf("win-hv"), []);
  assert.ok(waiting);
});
