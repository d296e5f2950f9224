import assert from "node:assert/strict";
import { test } from "node:test";
import { newHostRecord } from "../../src/cloud/provision.ts";
import { extendTo, lifetimeDue } from "../../src/core/host-lifetime.ts";
import { PolicySchema } from "../../src/core/policy.ts";
import type { CloudHostRecord } from "../../src/store/records.ts";
import { mrkdwn } from "../support/text.ts";

const policy = PolicySchema.parse({ version: 1, roles: {}, azure: { defaultTtl: "2h", maxTtl: "1d", reminder: "30m" } });
const t0 = Date.parse("2026-11-28T10:00:00Z");
const h = 3_600_000;
const host = (
  name: string,
  status: CloudHostRecord["status"],
  ttlHours: number,
  patch: Partial<CloudHostRecord> = {},
): CloudHostRecord => ({
  ...newHostRecord(
    { name, os: "linux", size: "Standard_B2s", region: "westeurope", ttlSeconds: ttlHours * 3600, hyperv: false, private: false },
    { userId: "U1", channelId: "C1" },
    "j-1",
    t0,
  ),
  status,
  ...patch,
});

test("a reminder comes inside the reminder window, once; expiry comes at the expiry time; hosts still in the making are left alone", () => {
  const hosts = [host("a", "ready", 1), host("b", "ready", 3), host("c", "provisioning", 1), host("d", "unreachable", 1)];
  assert.deepEqual(lifetimeDue(hosts, policy, t0 + 0.4 * h), { remind: [], expire: [] });
  const due = lifetimeDue(hosts, policy, t0 + 0.6 * h);
  assert.deepEqual(
    due.remind.map((r) => r.name),
    ["a", "d"],
    "hosts that exist (a kept unreachable one too), not one in the making",
  );
  assert.deepEqual(lifetimeDue([{ ...(hosts[0] as CloudHostRecord), remindedAt: t0 + 0.6 * h }], policy, t0 + 0.7 * h).remind, []);
  assert.deepEqual(
    lifetimeDue(hosts, policy, t0 + 1 * h).expire.map((r) => r.name),
    ["a", "d"],
  );
});

test("extend moves the expiry by the default TTL from now, never past the maximum lifetime from creation", () => {
  const a = host("a", "ready", 1);
  assert.deepEqual(extendTo(a, policy, t0 + 0.75 * h), { ok: true, expiresAt: t0 + 3 * h, capped: false });
  assert.deepEqual(extendTo(a, policy, t0 + 0.75 * h, 4 * 3600), { ok: true, expiresAt: t0 + 5 * h, capped: false });
  assert.deepEqual(extendTo({ ...a, expiresAt: t0 + 23 * h }, policy, t0 + 22.5 * h), { ok: true, expiresAt: t0 + 24 * h, capped: true });
  const full = extendTo({ ...a, expiresAt: t0 + 24 * h }, policy, t0 + 23 * h);
  assert.equal(full.ok, false);
  assert.match(full.ok ? "" : mrkdwn(full.reason), /already lives as long as the policy allows \(1d from creation\)/);
  const making = extendTo(host("b", "provisioning", 1), policy, t0);
  assert.match(making.ok ? "" : mrkdwn(making.reason), /`b` is provisioning; only a host that exists can be extended/);
});
