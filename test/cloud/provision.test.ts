import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import type { CloudOperation, CloudResource, HostCloud, HostPlan, ResourceKind } from "../../src/cloud/ports.ts";
import { type CloudSettings, newHostRecord, type ProvisionDeps, provisionHost, removeHost } from "../../src/cloud/provision.ts";
import { BerthError } from "../../src/core/errors.ts";
import type { JobEvent } from "../../src/core/events.ts";
import { PolicySchema } from "../../src/core/policy.ts";
import { toMrkdwn } from "../../src/slack/render.ts";
import { FakeEngine } from "../fakes.ts";
import { closeOpened, memoryStore } from "../support/memory-store.ts";
import { mrkdwn } from "../support/text.ts";

/** A hand-written stand-in for our HostCloud port: resources in a map, every call recorded, failures and holds on demand. */
class FakeCloud implements HostCloud {
  calls: string[] = [];
  resources = new Map<ResourceKind, CloudResource>();
  failBegin = new Map<ResourceKind, BerthError>();
  failDone = new Map<ResourceKind, BerthError>();
  holds = new Map<ResourceKind, Promise<void>>();
  plans: HostPlan[] = [];
  async prepare(region: string): Promise<void> {
    this.calls.push(`prepare ${region}`);
  }
  async begin(kind: ResourceKind, plan: HostPlan, resumeFrom: string | undefined, signal: AbortSignal): Promise<CloudOperation> {
    this.calls.push(`begin ${kind}${resumeFrom ? ` resume:${resumeFrom}` : ""}`);
    this.plans.push(plan);
    const failure = this.failBegin.get(kind);
    if (failure) throw failure;
    const resource: CloudResource = {
      kind,
      id: `/x/${kind}/${plan.name}`,
      name: kind === "vm" ? plan.name : `${plan.name}-${kind}`,
      provisioningState: "Succeeded",
      tags: plan.tags,
      ...(kind === "ip" && { address: "203.0.113.9", fqdn: `berth-${plan.name}.${plan.region}.cloudapp.azure.com` }),
      ...(kind === "nic" && { address: "10.77.0.4" }),
    };
    return {
      state: `poller-${kind}`,
      done: async (s) => {
        const hold = this.holds.get(kind);
        if (hold) {
          await Promise.race([
            hold,
            new Promise((_, reject) => {
              if (s.aborted) reject(s.reason);
              s.addEventListener("abort", () => reject(s.reason));
            }),
          ]);
        }
        if (signal.aborted) throw signal.reason;
        const f = this.failDone.get(kind);
        if (f) throw f;
        this.resources.set(kind, resource);
        return resource;
      },
    };
  }
  async beginDelete(kind: ResourceKind, _plan: HostPlan, resumeFrom: string | undefined): Promise<CloudOperation> {
    this.calls.push(`delete ${kind}${resumeFrom ? ` resume:${resumeFrom}` : ""}`);
    return {
      state: `delete-${kind}`,
      done: async (s) => {
        if (kind === "nic" && this.deleteHold) {
          await Promise.race([
            this.deleteHold,
            new Promise((_, reject) => {
              if (s.aborted) reject(s.reason);
              s.addEventListener("abort", () => reject(s.reason));
            }),
          ]);
        }
        this.resources.delete(kind);
        return undefined;
      },
    };
  }
  async find(kind: ResourceKind): Promise<CloudResource | undefined> {
    this.calls.push(`find ${kind}`);
    return this.resources.get(kind);
  }
  sizeIssue: string | undefined;
  deleteHold: Promise<void> | undefined;
  async sizeProblem(): Promise<string | undefined> {
    this.calls.push("sizes");
    return this.sizeIssue;
  }
}

const settings: CloudSettings = {
  resourceGroup: "berth-hosts",
  region: "westeurope",
  dockerPort: 2376,
  allowCidr: "198.51.100.7/32",
  adminUsername: "berth",
  network: { vnet: "berth-vnet", addressPrefix: "10.77.0.0/16", subnet: "berth-hosts", subnetPrefix: "10.77.0.0/20" },
  probeIntervalMs: 1,
};
const actor = { userId: "U0OPERATOR", channelId: "C0INCIDENT" };

async function setup(options: { policy?: Record<string, unknown>; engine?: FakeEngine; os?: "linux" | "windows"; private?: boolean } = {}) {
  const store = await memoryStore();
  const cloud = new FakeCloud();
  let now = Date.parse("2026-11-28T10:00:00Z");
  let suspended = false;
  // The status as each change is announced: the in-memory store reads it when asked, before the promise settles.
  const changes: Promise<string>[] = [];
  const engine = options.engine ?? new FakeEngine("azure");
  const connected: string[] = [];
  const policy = PolicySchema.parse({ version: 1, roles: {}, ...options.policy });
  const deps: ProvisionDeps = {
    cloud,
    store,
    settings,
    policy: () => policy,
    connect: (conn) => {
      connected.push(conn.url);
      return engine;
    },
    clock: () => now,
    changed: () => void changes.push(store.cloudHosts.get("ci-1").then((r) => r?.status ?? "gone")),
    suspended: () => suspended,
  };
  await store.cloudHosts.put(
    newHostRecord(
      {
        name: "ci-1",
        os: options.os ?? "linux",
        size: "Standard_B2s",
        region: "westeurope",
        ttlSeconds: 3600,
        hyperv: false,
        private: options.private ?? false,
      },
      actor,
      "j-1",
      now,
    ),
  );
  return {
    store,
    cloud,
    deps,
    changes: () => Promise.all(changes),
    connected,
    advance: (ms: number) => (now += ms),
    suspend: () => (suspended = true),
  };
}

afterEach(closeOpened);

async function collect(events: AsyncGenerator<JobEvent>): Promise<JobEvent[]> {
  const out: JobEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}
const end = (events: JobEvent[]) => {
  const e = events.at(-1) as Extract<JobEvent, { type: "end" }>;
  return { ...e, text: mrkdwn(e.text) };
};
const notices = (events: JobEvent[]) => events.flatMap((e) => (e.type === "notice" ? [mrkdwn(e.text)] : []));

test("a Linux host is made step by step, each poller stored first, then registered once Docker answers over TLS", async () => {
  const s = await setup();
  const events = await collect(provisionHost("ci-1", s.deps, new AbortController().signal));
  assert.equal(end(events).outcome, "succeeded", end(events).text);
  assert.match(end(events).text, /`ci-1` is ready .* at tcp:\/\/203\.0\.113\.9:2376 \(berth-ci-1\.westeurope\.cloudapp\.azure\.com\)/);
  assert.deepEqual(
    s.cloud.calls.filter((c) => c.startsWith("begin")),
    ["begin network", "begin nsg", "begin ip", "begin nic", "begin vm"],
    "Linux needs no script extension: cloud-init does the work",
  );
  const record = await s.store.cloudHosts.get("ci-1");
  assert.equal(record?.status, "ready");
  assert.equal(record?.dockerUrl, "tcp://203.0.113.9:2376");
  assert.equal(record?.bootstrap, null, "the server key in customData is not kept once the VM exists");
  for (const kind of ["network", "nsg", "ip", "nic", "vm"]) assert.equal(record?.steps[kind]?.state, "done", kind);
  assert.deepEqual(await s.changes(), ["ready"]);
  assert.deepEqual(s.connected, ["tcp://203.0.113.9:2376"]);
  const vmPlan = s.cloud.plans.find((p) => p.customData);
  assert.ok(vmPlan?.customData?.startsWith("#cloud-config"), "the VM gets the cloud-init document");
  assert.equal(vmPlan?.tags["created-by"], "berth");
  assert.equal(vmPlan?.tags.requester, "U0OPERATOR");
  assert.equal(vmPlan?.tags.job, "j-1");
  assert.equal(vmPlan?.tags.expires, "2026-11-28T11:00:00.000Z");
  assert.match(vmPlan?.sshPublicKey ?? "", /^ssh-ed25519 [A-Za-z0-9+/=]+ berth-unused$/);
  assert.equal(
    new Set(s.cloud.plans.filter((p) => p.customData).map((p) => p.sshPublicKey)).size,
    1,
    "one key for the VM, however often its plan is built",
  );
  const statuses = events.flatMap((e) => (e.type === "status" ? [mrkdwn(e.text)] : []));
  assert.match(statuses.at(-1) ?? "", /:white_check_mark: public IP 203\.0\.113\.9 .*:hourglass_flowing_sand: Docker reachable/);
});

test("Windows hosts get the setup script through the extension step and a generated password", async () => {
  const windows = new FakeEngine("azure");
  windows.host = { ...windows.host, osType: "windows", osBuild: "10.0.20348.2966" };
  const s = await setup({ os: "windows", engine: windows });
  const events = await collect(provisionHost("ci-1", s.deps, new AbortController().signal));
  assert.equal(end(events).outcome, "succeeded", end(events).text);
  assert.ok(s.cloud.calls.includes("begin extension"));
  const vmPlan = s.cloud.plans.find((p) => p.customData);
  assert.ok((vmPlan?.adminPassword?.length ?? 0) >= 12);
  assert.match(vmPlan?.setupCommand ?? "", /CustomData\.bin/);
  const extPlan = s.cloud.plans.at(-1);
  assert.match(extPlan?.setupCommand ?? "", /berth-setup\.ps1/, "the extension still has its command after the VM step");
  assert.equal((await s.store.cloudHosts.get("ci-1"))?.bootstrap, null);
});

test("--private: no public IP; the NIC's private address is the Docker address", async () => {
  const s = await setup({ private: true });
  const events = await collect(provisionHost("ci-1", s.deps, new AbortController().signal));
  assert.equal(end(events).outcome, "succeeded", end(events).text);
  assert.ok(!s.cloud.calls.includes("begin ip"));
  assert.equal((await s.store.cloudHosts.get("ci-1"))?.dockerUrl, "tcp://10.77.0.4:2376");
});

for (const [kind, error, expect] of [
  [
    "vm",
    new BerthError("CAPACITY", "Azure cannot give Standard_B2s in westeurope (SkuNotAvailable)."),
    /SkuNotAvailable.*Sizes the policy allows: Standard_D2s_v5/,
  ],
  [
    "ip",
    new BerthError("QUOTA", "Azure: PublicIPCountLimitReached."),
    /PublicIPCountLimitReached.*Ask your Azure admin for more quota in westeurope/,
  ],
  ["nsg", new BerthError("THROTTLED", "Azure is throttling berth (429); it waited 10 s three times."), /throttling/],
] as const) {
  test(`a ${error.code} failure at the ${kind} step says what to do and removes exactly what was made, in order`, async () => {
    const s = await setup();
    s.cloud.failDone.set(kind, error);
    const events = await collect(provisionHost("ci-1", s.deps, new AbortController().signal));
    assert.equal(end(events).outcome, "failed");
    assert.match(end(events).text, expect);
    assert.match(end(events).text, /Removed `ci-1` and everything berth created for it/);
    assert.deepEqual(
      s.cloud.calls.filter((c) => c.startsWith("delete")),
      ["delete vm", "delete nic", "delete ip", "delete nsg"],
    );
    assert.equal(s.cloud.resources.size, 1, "only the shared network is left");
    assert.ok(s.cloud.resources.has("network"));
    assert.equal((await s.store.cloudHosts.get("ci-1"))?.status, "removed");
  });
}

test("Cancel stops at the step in flight and removes what was made; the card says who cancelled", async () => {
  const s = await setup();
  let release = () => {};
  s.cloud.holds.set("vm", new Promise<void>((r) => (release = r)));
  const controller = new AbortController();
  const events: JobEvent[] = [];
  const run = (async () => {
    for await (const e of provisionHost("ci-1", s.deps, controller.signal)) {
      events.push(e);
      if (e.type === "status" && mrkdwn(e.text).includes(":hourglass_flowing_sand: VM")) controller.abort({ by: "U0APPROVER" });
    }
  })();
  await run;
  release();
  assert.equal(end(events).outcome, "cancelled");
  assert.match(end(events).text, /^Cancelled by <@U0APPROVER>\. Removed `ci-1`/);
  assert.deepEqual(
    s.cloud.calls.filter((c) => c.startsWith("delete")),
    ["delete vm", "delete nic", "delete ip", "delete nsg"],
  );
  assert.equal((await s.store.cloudHosts.get("ci-1"))?.status, "removed");
});

test("berth stopping mid-step leaves the stored poller; the next berth resumes it without a new request", async () => {
  const s = await setup();
  s.cloud.holds.set("nic", new Promise<void>(() => {}));
  const controller = new AbortController();
  const events: JobEvent[] = [];
  for await (const e of provisionHost("ci-1", s.deps, controller.signal)) {
    events.push(e);
    if (e.type === "status" && mrkdwn(e.text).includes(":hourglass_flowing_sand: NIC")) {
      s.suspend();
      controller.abort({ by: "berth (shutting down)" });
    }
  }
  assert.equal(end(events).outcome, "cancelled");
  assert.match(end(events).text, /berth is restarting; creating `ci-1` goes on when it is back/);
  assert.ok(!s.cloud.calls.some((c) => c.startsWith("delete")), "nothing is removed on shutdown");
  const stored = await s.store.cloudHosts.get("ci-1");
  assert.equal(stored?.status, "provisioning");
  assert.deepEqual(stored?.steps.nic, { state: "running", poller: "poller-nic" });

  // A new process: the same store, a fresh cloud client that knows nothing in memory.
  const next = new FakeCloud();
  next.resources = s.cloud.resources;
  const resumed = await collect(provisionHost("ci-1", { ...s.deps, cloud: next, suspended: () => false }, new AbortController().signal));
  assert.equal(end(resumed).outcome, "succeeded", end(resumed).text);
  assert.deepEqual(
    next.calls.filter((c) => c.startsWith("begin")),
    ["begin nic resume:poller-nic", "begin vm"],
    "done steps are skipped, the NIC's poller is resumed",
  );
  assert.match(notices(resumed)[0] ?? "", /Picking up where berth left off: .*:white_check_mark: firewall/);
});

test("a retry after a crash between a request and its stored poller reuses the resource that exists", async () => {
  const s = await setup();
  s.cloud.resources.set("nsg", {
    kind: "nsg",
    id: "/x/nsg",
    name: "ci-1-nsg",
    provisioningState: "Succeeded",
    tags: { "berth-host": "ci-1" },
  });
  const events = await collect(provisionHost("ci-1", s.deps, new AbortController().signal));
  assert.equal(end(events).outcome, "succeeded");
  assert.ok(!s.cloud.calls.includes("begin nsg"));
});

test("a resource of the same name that berth did not make for this host stops the create, and nothing of it is removed", async () => {
  const s = await setup();
  s.cloud.resources.set("vm", { kind: "vm", id: "/x/vm", name: "ci-1", provisioningState: "Succeeded", tags: { owner: "someone" } });
  const events = await collect(provisionHost("ci-1", s.deps, new AbortController().signal));
  assert.equal(end(events).outcome, "failed");
  assert.match(end(events).text, /A VM named ci-1 already exists in resource group berth-hosts and berth did not make it/);
});

test("Docker never answering: reported with what was seen, then removed — or kept when the policy says so", async () => {
  const failing = new FakeEngine("azure");
  failing.info = async () => {
    throw new BerthError("UNAVAILABLE", "connect ECONNREFUSED 203.0.113.9:2376");
  };
  const s = await setup({ engine: failing, policy: { azure: { readyTimeout: "1s" } } });
  const clock = s.deps.clock;
  s.deps.clock = () => s.advance(300) && clock();
  const events = await collect(provisionHost("ci-1", s.deps, new AbortController().signal));
  assert.equal(end(events).outcome, "failed");
  assert.match(end(events).text, /Docker did not answer on tcp:\/\/203\.0\.113\.9:2376 within 1s\. Last seen: connect ECONNREFUSED/);
  assert.equal((await s.store.cloudHosts.get("ci-1"))?.status, "removed");
  assert.equal(notices(events).filter((n) => n.includes("not answering yet")).length, 1, "the same error is said once");

  const kept = await setup({ engine: failing, policy: { azure: { readyTimeout: "1s", keepUnreachable: true } } });
  const keptClock = kept.deps.clock;
  kept.deps.clock = () => kept.advance(300) && keptClock();
  const keptEvents = await collect(provisionHost("ci-1", kept.deps, new AbortController().signal));
  assert.match(
    end(keptEvents).text,
    /kept for inspection \(policy `keepUnreachable`\) until it expires; `\/berth host rm ci-1` removes it now\.$/,
  );
  const keptEnd = keptEvents.at(-1) as Extract<JobEvent, { type: "end" }>;
  assert.match(toMrkdwn(keptEnd.text, "/ops"), /`\/ops host rm ci-1` removes it now/, "the configured slash command, not a fixed /berth");
  assert.equal((await kept.store.cloudHosts.get("ci-1"))?.status, "unreachable");
  assert.ok(!kept.cloud.calls.some((c) => c.startsWith("delete")));
});

test("host rm removes in order and is idempotent: a second run finds everything done", async () => {
  const s = await setup();
  await collect(provisionHost("ci-1", s.deps, new AbortController().signal));
  const first = await collect(removeHost("ci-1", ["asked"], s.deps, new AbortController().signal));
  assert.equal(end(first).outcome, "succeeded");
  assert.deepEqual(
    s.cloud.calls.filter((c) => c.startsWith("delete")),
    ["delete vm", "delete nic", "delete ip", "delete nsg"],
  );
  assert.equal((await s.store.cloudHosts.get("ci-1"))?.status, "removed");
  assert.deepEqual((await s.changes()).slice(-2), ["removing", "removed"], "the host leaves `hosts` as soon as removal starts");
  const again = await collect(removeHost("ci-1", ["asked"], s.deps, new AbortController().signal));
  assert.equal(end(again).outcome, "succeeded");
  assert.equal(s.cloud.calls.filter((c) => c.startsWith("delete")).length, 4, "nothing is deleted twice");
});

test("a size Azure will not give in that region fails before anything is made", async () => {
  const s = await setup();
  s.cloud.sizeIssue =
    "Size Standard_B2s is restricted in westeurope for this subscription (NotAvailableForSubscription): choose another size or region.";
  const events = await collect(provisionHost("ci-1", s.deps, new AbortController().signal));
  assert.equal(end(events).outcome, "failed");
  assert.match(end(events).text, /restricted in westeurope.*Sizes the policy allows: Standard_D2s_v5.*Nothing was created in Azure\.$/);
  assert.equal((await s.store.cloudHosts.get("ci-1"))?.status, "removed", "the name is free again");
  assert.ok(!s.cloud.calls.some((c) => c.startsWith("begin")), "nothing was created");
});

test("a removal interrupted by berth stopping resumes from its stored pollers; a person's Stop does not interrupt it", async () => {
  const s = await setup();
  await collect(provisionHost("ci-1", s.deps, new AbortController().signal));
  let release = () => {};
  s.cloud.deleteHold = new Promise<void>((r) => (release = r));
  const personal = new AbortController();
  const removing = collect(removeHost("ci-1", ["asked"], s.deps, personal.signal));
  await new Promise((r) => setTimeout(r, 20));
  personal.abort({ by: "U0SOMEONE" });
  await new Promise((r) => setTimeout(r, 20));
  release();
  assert.equal(end(await removing).outcome, "succeeded", "a person cannot leave a half-removed host");

  const t = await setup();
  await collect(provisionHost("ci-1", t.deps, new AbortController().signal));
  t.cloud.deleteHold = new Promise<void>(() => {});
  const shutdown = new AbortController();
  const interrupted = collect(removeHost("ci-1", ["expired"], t.deps, shutdown.signal));
  await new Promise((r) => setTimeout(r, 20));
  t.suspend();
  shutdown.abort({ by: "berth (shutting down)" });
  const events = await interrupted;
  assert.equal(end(events).outcome, "cancelled");
  assert.match(end(events).text, /berth is restarting; removing `ci-1` goes on when it is back/);
  assert.equal((await t.store.cloudHosts.get("ci-1"))?.status, "removing");
  assert.deepEqual((await t.store.cloudHosts.get("ci-1"))?.removal.nic, { state: "running", poller: "delete-nic" });
  t.cloud.deleteHold = undefined;
  const resumed = await collect(removeHost("ci-1", ["resumed"], { ...t.deps, suspended: () => false }, new AbortController().signal));
  assert.equal(end(resumed).outcome, "succeeded");
  assert.deepEqual(
    t.cloud.calls.filter((c) => c.startsWith("delete")),
    ["delete vm", "delete nic", "delete nic resume:delete-nic", "delete ip", "delete nsg"],
  );
});

test("an engine of the other OS answering on the host's address is not taken for the new host", async () => {
  const s = await setup({ os: "windows", policy: { azure: { readyTimeout: "1s" } } });
  const clock = s.deps.clock;
  s.deps.clock = () => s.advance(300) && clock();
  const events = await collect(provisionHost("ci-1", s.deps, new AbortController().signal));
  assert.equal(end(events).outcome, "failed");
  assert.match(end(events).text, /Last seen: a linux Docker engine answers there, not the windows host berth made/);
});

for (const [kind, label] of [
  ["network", "network"],
  ["nsg", "firewall"],
  ["ip", "public IP"],
  ["vm", "VM"],
] as const) {
  test(`a restart during the ${label} step resumes that step's poller and skips the ones done`, async () => {
    const s = await setup();
    s.cloud.holds.set(kind, new Promise<void>(() => {}));
    const controller = new AbortController();
    for await (const e of provisionHost("ci-1", s.deps, controller.signal)) {
      if (e.type === "status" && mrkdwn(e.text).includes(`:hourglass_flowing_sand: ${label}`)) {
        s.suspend();
        controller.abort({ by: "berth (shutting down)" });
      }
    }
    const next = new FakeCloud();
    next.resources = s.cloud.resources;
    const resumed = await collect(provisionHost("ci-1", { ...s.deps, cloud: next, suspended: () => false }, new AbortController().signal));
    assert.equal(end(resumed).outcome, "succeeded", end(resumed).text);
    const begins = next.calls.filter((c) => c.startsWith("begin"));
    assert.equal(begins[0], `begin ${kind} resume:poller-${kind}`);
    const order = ["network", "nsg", "ip", "nic", "vm"];
    assert.deepEqual(
      begins.slice(1),
      order.slice(order.indexOf(kind) + 1).map((k) => `begin ${k}`),
    );
    assert.ok(!next.calls.includes("sizes"), "a resumed host is not re-checked as if new");
  });
}

test("a restart while waiting for Docker probes again and registers the host without touching Azure", async () => {
  const failing = new FakeEngine("azure");
  failing.info = async () => {
    throw new BerthError("UNAVAILABLE", "connect ECONNREFUSED");
  };
  const s = await setup({ engine: failing });
  const controller = new AbortController();
  for await (const e of provisionHost("ci-1", s.deps, controller.signal)) {
    if (e.type === "notice" && mrkdwn(e.text).includes("not answering yet")) {
      s.suspend();
      controller.abort({ by: "berth (shutting down)" });
    }
  }
  assert.equal((await s.store.cloudHosts.get("ci-1"))?.status, "provisioning");
  const next = new FakeCloud();
  const resumed = await collect(
    provisionHost(
      "ci-1",
      { ...s.deps, cloud: next, connect: () => new FakeEngine("azure"), suspended: () => false },
      new AbortController().signal,
    ),
  );
  assert.equal(end(resumed).outcome, "succeeded", end(resumed).text);
  assert.deepEqual(next.calls, ["prepare westeurope"]);
});

test("a VM request retried after a crash carries the same customData and SSH key as the first", async () => {
  const s = await setup();
  s.cloud.holds.set("vm", new Promise<void>(() => {}));
  const controller = new AbortController();
  for await (const e of provisionHost("ci-1", s.deps, controller.signal)) {
    if (e.type === "status" && mrkdwn(e.text).includes(":hourglass_flowing_sand: VM")) {
      s.suspend();
      controller.abort({ by: "berth (shutting down)" });
    }
  }
  const first = s.cloud.plans.at(-1);
  // The crash came before the poller was stored: the next berth finds no poller and sends the VM request again.
  const stored = await s.store.cloudHosts.get("ci-1");
  assert.ok(stored);
  await s.store.cloudHosts.put({ ...stored, steps: { ...stored.steps, vm: { state: "running" } } });
  const next = new FakeCloud();
  next.resources = s.cloud.resources;
  const resumed = await collect(provisionHost("ci-1", { ...s.deps, cloud: next, suspended: () => false }, new AbortController().signal));
  assert.equal(end(resumed).outcome, "succeeded", end(resumed).text);
  const again = next.plans.find((p) => p.customData);
  assert.ok(first?.customData && first.sshPublicKey);
  assert.equal(again?.customData, first.customData);
  assert.equal(again?.sshPublicKey, first.sshPublicKey);
});
