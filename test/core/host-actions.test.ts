import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import type { ProvisionDeps } from "../../src/cloud/provision.ts";
import type { ActionOf, UndoAction } from "../../src/core/action.ts";
import { hostAction, hostRefusal, notConfigured } from "../../src/core/host-actions.ts";
import { hostLimits, PolicySchema, supportsNestedVirtualization } from "../../src/core/policy.ts";
import { movedOn } from "../../src/core/undo.ts";
import type { ContainerEngine } from "../../src/engines/ports.ts";
import { closeOpened, memoryStore } from "../support/memory-store.ts";
import { mrkdwn } from "../support/text.ts";

const policy = PolicySchema.parse({
  version: 1,
  roles: {},
  azure: {
    sizes: ["Standard_B2s", "Standard_D4s_v5"],
    regions: ["westeurope", "northeurope"],
    maxHostsPerUser: 1,
    defaultTtl: "2h",
    maxTtl: "1d",
  },
});
const create = (patch: Partial<ActionOf<"host.create">> = {}): ActionOf<"host.create"> => ({
  kind: "host.create",
  name: "ci-1",
  os: "linux",
  hyperv: false,
  private: false,
  ...patch,
});
// Slack-shaped IDs: the renderer only makes a mention of a well-formed user ID.
const actor = { userId: "U0ONE", channelId: "C0ONE" };

async function deps(patch: Partial<ProvisionDeps["settings"]> = {}): Promise<ProvisionDeps> {
  return {
    cloud: {} as ProvisionDeps["cloud"],
    store: await memoryStore(),
    settings: {
      resourceGroup: "rg",
      region: "westeurope",
      dockerPort: 2376,
      allowCidr: "198.51.100.7/32",
      adminUsername: "berth",
      network: { vnet: "v", addressPrefix: "10.0.0.0/16", subnet: "s", subnetPrefix: "10.0.0.0/24" },
      probeIntervalMs: 1,
      ...patch,
    },
    policy: () => policy,
    connect: () => {
      throw new Error("not used");
    },
    clock: () => Date.parse("2026-11-28T10:00:00Z"),
    changed: () => {},
    suspended: () => false,
  };
}
afterEach(closeOpened);

const ctx = (cloud: ProvisionDeps | undefined) => ({ cloud, manifestHosts: ["local"], jobId: "j-1", jobRunning: async () => false });

test("hostLimits fills in the policy's defaults and refuses sizes, regions, lifetimes and Hyper-V sizes it does not allow", () => {
  assert.deepEqual(hostLimits(policy, create(), { region: "westeurope" }), {
    ok: true,
    size: "Standard_B2s",
    region: "westeurope",
    ttlSeconds: 7200,
  });
  assert.deepEqual(hostLimits(policy, create({ size: "standard_d4s_v5", region: "northeurope" }), { region: "westeurope" }), {
    ok: true,
    size: "Standard_D4s_v5",
    region: "northeurope",
    ttlSeconds: 7200,
  });
  const cases: [Partial<ActionOf<"host.create">>, RegExp][] = [
    [{ size: "Standard_M128s" }, /does not allow size Standard_M128s\. Allowed: Standard_B2s, Standard_D4s_v5/],
    [{ region: "eastus" }, /does not allow region eastus\. Allowed: westeurope, northeurope/],
    [{ ttlSeconds: 2 * 86400 }, /longer than the policy's maximum of 1d/],
    [{ hyperv: true }, /--hyperv is for Windows hosts/],
    [{ os: "windows", hyperv: true }, /Standard_B2s does not have .*Allowed sizes that have it: Standard_D4s_v5/],
  ];
  for (const [patch, reason] of cases) {
    const r = hostLimits(policy, create(patch), { region: "westeurope" });
    assert.match(r.ok ? "" : r.reason, reason);
  }
  const onlyRegion = PolicySchema.parse({ version: 1, roles: {} });
  assert.match(
    (hostLimits(onlyRegion, create({ region: "northeurope" }), { region: "westeurope" }) as { reason: string }).reason,
    /Allowed: westeurope/,
  );
  assert.deepEqual(
    ["Standard_D4s_v5", "Standard_E4s_v5", "Standard_D2s_v3", "Standard_B2s", "Standard_D2_v2", "Standard_A2"].map(
      supportsNestedVirtualization,
    ),
    [true, true, true, false, false, false],
  );
});

test("a policy whose default lifetime exceeds its maximum is refused at load", () => {
  assert.throws(
    () => PolicySchema.parse({ version: 1, roles: {}, azure: { defaultTtl: "2d", maxTtl: "1d" } }),
    /defaultTtl is longer than maxTtl/,
  );
});

test("host commands refuse with what to do: not configured, taken names, per-person limit, no allow CIDR", async () => {
  assert.deepEqual(await hostAction(create(), actor, ctx(undefined)), {
    type: "reply",
    text: notConfigured,
    visibility: "ephemeral",
    refused: true,
  });
  const d = await deps();
  const first = await hostAction(create(), actor, ctx(d));
  assert.equal(first.type, "job");
  assert.equal((await d.store.cloudHosts.get("ci-1"))?.status, "provisioning", "stored before anything reaches Azure");
  const again = await hostAction(create(), { ...actor, userId: "U0TWO" }, ctx(d));
  assert.match(again.type === "reply" ? mrkdwn(again.text) : "", /`ci-1` already exists \(provisioning, created by <@U0ONE>/);
  const second = await hostAction(create({ name: "ci-2" }), actor, ctx(d));
  assert.match(second.type === "reply" ? mrkdwn(second.text) : "", /the policy allows 1 per person/);
  const manifest = await hostAction(create({ name: "local" }), actor, ctx(d));
  assert.match(manifest.type === "reply" ? mrkdwn(manifest.text) : "", /`local` is a host in berth's hosts manifest/);
  const open = await hostAction(create({ name: "ci-3" }), { ...actor, userId: "U0THREE" }, ctx(await deps({ allowCidr: undefined })));
  assert.match(open.type === "reply" ? mrkdwn(open.text) : "", /BERTH_AZURE_ALLOW_CIDR/);
  const priv = await hostAction(
    create({ name: "ci-3", private: true }),
    { ...actor, userId: "U0THREE" },
    ctx(await deps({ allowCidr: undefined })),
  );
  assert.equal(priv.type, "job", "a private host needs no public allow-list");
});

test("host rm and extend: unknown and manifest hosts are refused before any confirmation; a host in the making points to Cancel", async () => {
  const d = await deps();
  assert.match(mrkdwn(await hostRefusal({ kind: "host.remove", name: "nope" }, ctx(d))), /berth made no host `nope`/);
  assert.match(mrkdwn(await hostRefusal({ kind: "host.remove", name: "local" }, ctx(d))), /comes from berth's hosts manifest/);
  await hostAction(create(), actor, ctx(d));
  assert.equal(await hostRefusal({ kind: "host.remove", name: "ci-1" }, ctx(d)), undefined);
  const busy = await hostAction({ kind: "host.remove", name: "ci-1" }, actor, { ...ctx(d), jobRunning: async () => true });
  assert.match(busy.type === "reply" ? mrkdwn(busy.text) : "", /still being created \(job `j-1`\)\. Press Cancel on its card/);
  const ext = await hostAction({ kind: "host.extend", name: "ci-1" }, actor, ctx(d));
  assert.match(ext.type === "reply" ? mrkdwn(ext.text) : "", /only a host that exists can be extended/);
  const made = await d.store.cloudHosts.get("ci-1");
  assert.ok(made);
  await d.store.cloudHosts.put({ ...made, status: "ready" });
  const ok = await hostAction({ kind: "host.extend", name: "ci-1", ttlSeconds: 3600 }, actor, ctx(d));
  assert.deepEqual(ok.type === "reply" && [ok.visibility, ok.refused], ["channel", false]);
  assert.match(ok.type === "reply" ? mrkdwn(ok.text) : "", /<@U0ONE> extended `ci-1` until 2026-11-28 13:00 UTC/);
});

test("host extend's Undo: the expiry set back to what it was, refused once changed again or once the earlier one passed", async () => {
  const d = await deps();
  await hostAction(create(), actor, ctx(d));
  const made = await d.store.cloudHosts.get("ci-1");
  assert.ok(made);
  await d.store.cloudHosts.put({ ...made, status: "ready" });
  const before = made.expiresAt;
  const ext = await hostAction({ kind: "host.extend", name: "ci-1", ttlSeconds: 3600 }, actor, ctx(d));
  assert.ok(ext.type === "reply" && ext.expiresAt !== undefined);
  assert.equal(ext.previousExpiry, before, "what an Undo sets back");
  const setBack = { kind: "host.extend" as const, name: "ci-1", until: before };
  const undo: UndoAction = {
    kind: "undo",
    of: "req-extend",
    action: setBack,
    notAfter: Date.parse("2026-11-28T10:15:00Z"),
    expect: { what: "expiry", expiresAt: ext.expiresAt },
  };
  const read = { engine: () => ({}) as ContainerEngine, cloud: d, store: d.store };
  assert.equal(await movedOn(undo, "ci-1", read, AbortSignal.timeout(1000)), undefined, "nothing moved on yet");
  const back = await hostAction(setBack, actor, ctx(d));
  assert.match(back.type === "reply" ? mrkdwn(back.text) : "", /<@U0ONE> set the expiry of `ci-1` back to 2026-11-28 12:00 UTC/);
  assert.equal((await d.store.cloudHosts.get("ci-1"))?.expiresAt, before);
  // Now the expiry is no longer the one the extension set: that Undo refuses.
  assert.match(mrkdwn((await movedOn(undo, "ci-1", read, AbortSignal.timeout(1000))) ?? []), /expiry was changed again since/);
  // An earlier expiry that has passed is never set back (it would remove the host at once).
  const late = await hostAction({ kind: "host.extend", name: "ci-1", until: Date.parse("2026-11-28T09:00:00Z") }, actor, ctx(d));
  assert.ok(late.type === "reply" && late.refused);
  assert.match(mrkdwn(late.text), /earlier expiry has passed already/);
  // Nor past the policy's longest lifetime, whatever a button's value says.
  const far = await hostAction({ kind: "host.extend", name: "ci-1", until: Date.parse("2030-01-01T00:00:00Z") }, actor, ctx(d));
  assert.ok(far.type === "reply" && !far.refused);
  assert.equal((await d.store.cloudHosts.get("ci-1"))?.expiresAt, made.createdAt + 24 * 3600 * 1000);
});
