// `host create` ×10 at once against the ARM fake with fixed operation latencies: how much time berth adds over what
// Azure's operations take, and how many polling requests it sends against the fewest that Retry-After allows.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAzureCloud } from "../src/cloud/azure/index.ts";
import { newHostRecord, type ProvisionDeps, provisionHost } from "../src/cloud/provision.ts";
import type { JobEvent } from "../src/core/events.ts";
import { plainText } from "../src/core/message.ts";
import { PolicySchema } from "../src/core/policy.ts";
import { createDockerEngine } from "../src/engines/docker/engine.ts";
import { createSecretBox } from "../src/store/secret-box.ts";
import { openSqliteStore } from "../src/store/sqlite-store.ts";
import { startArmFake } from "../test/support/arm-fake.ts";
import { median, round } from "./support.ts";

export type ProvisionResult = {
  hosts: number;
  opDurationMs: number;
  retryAfterSeconds: number;
  requestLatencyMs: number;
  /** Operations on one host's critical path (network, NSG, IP, NIC, VM), each lasting opDurationMs in the fake. */
  sequentialOps: number;
  /** The least time a host can take: its sequential operations, each seen done at the first poll Retry-After allows. */
  floorSeconds: number;
  readySeconds: { min: number; median: number; max: number };
  /** readySeconds − floorSeconds: everything berth (and the SDK, and request latency) adds. */
  overheadSeconds: { median: number; max: number };
  polls: { sent: number; minimum: number; perOperation: number };
  requests: Record<string, number>;
  failures: string[];
};

export async function provisionBenchmark(hosts = 10, opDurationMs = 2000, retryAfterSeconds = 1, latencyMs = 25): Promise<ProvisionResult> {
  const arm = await startArmFake({ opDurationMs, retryAfterSeconds, latencyMs });
  const dir = mkdtempSync(join(tmpdir(), "berth-bench-provision-"));
  const store = await openSqliteStore({ dataDir: dir, secretBox: createSecretBox("berth-bench-secret-key-0123456789abcdef") });
  const policy = PolicySchema.parse({ version: 1, roles: {}, azure: { sizes: ["Standard_D2s_v5"], readyTimeout: "2m" } });
  const deps: ProvisionDeps = {
    // The production client: default poll interval (the SDK's 2 s, overridden by each Retry-After), default retries.
    cloud: createAzureCloud({
      subscriptionId: arm.subscriptionId,
      resourceGroup: "berth-bench",
      endpoint: arm.url,
      ca: arm.ca,
      credential: { getToken: async () => ({ token: "bench", expiresOnTimestamp: Date.now() + 3_600_000 }) },
    }),
    store,
    settings: {
      resourceGroup: "berth-bench",
      region: "westeurope",
      dockerPort: 2376,
      allowCidr: "198.51.100.7/32",
      adminUsername: "berth",
      network: { vnet: "berth-vnet", addressPrefix: "10.77.0.0/16", subnet: "berth-hosts", subnetPrefix: "10.77.0.0/20" },
      probeIntervalMs: 1000,
    },
    policy: () => policy,
    // Every "VM" is the local engine: Docker answers at once, so the figures are provisioning only.
    connect: (conn) => createDockerEngine({ ...conn, url: "unix:///var/run/docker.sock", tls: undefined }),
    clock: Date.now,
    changed: () => {},
    suspended: () => false,
  };
  const names = Array.from({ length: hosts }, (_, i) => `bench-${i}`);
  const started = Date.now();
  for (const name of names) {
    await store.cloudHosts.put(
      newHostRecord(
        { name, os: "linux", size: "Standard_D2s_v5", region: "westeurope", ttlSeconds: 3600, hyperv: false, private: false },
        { userId: "U0BENCH", channelId: "C0BENCH" },
        `j-${name}`,
        started,
      ),
    );
  }
  const failures: string[] = [];
  const took = await Promise.all(
    names.map(async (name) => {
      let last: JobEvent | undefined;
      for await (const e of provisionHost(name, deps, AbortSignal.timeout(300_000))) last = e;
      if (last?.type !== "end" || last.outcome !== "succeeded")
        failures.push(`${name}: ${last?.type !== "end" ? "no end" : typeof last.text === "string" ? last.text : plainText(last.text)}`);
      return (Date.now() - started) / 1000;
    }),
  );
  const sequentialOps = 5;
  const perOp = Math.ceil(opDurationMs / 1000 / retryAfterSeconds) * retryAfterSeconds;
  const floorSeconds = sequentialOps * perOp;
  // Operations polled: every async op the fake started (the shared network's once, then each host's four).
  const ops = new Set(arm.requests.filter((r) => r.kind === "poll").map((r) => r.path)).size;
  const polls = arm.requests.filter((r) => r.kind === "poll").length;
  // The first poll is immediate, then one every Retry-After until the op is done: 1 + ceil(duration / Retry-After).
  const minimumPolls = ops * (1 + Math.ceil(opDurationMs / 1000 / retryAfterSeconds));
  const requests: Record<string, number> = {};
  for (const r of arm.requests) {
    const key = `${r.method} ${r.kind}`;
    requests[key] = (requests[key] ?? 0) + 1;
  }
  await arm.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  const sorted = [...took].sort((a, b) => a - b);
  const overheads = sorted.map((t) => t - floorSeconds);
  return {
    hosts,
    opDurationMs,
    retryAfterSeconds,
    requestLatencyMs: latencyMs,
    sequentialOps,
    floorSeconds,
    readySeconds: { min: round(sorted[0] ?? 0, 2), median: round(median(sorted), 2), max: round(sorted.at(-1) ?? 0, 2) },
    overheadSeconds: { median: round(median(overheads), 2), max: round(overheads.at(-1) ?? 0, 2) },
    polls: { sent: polls, minimum: minimumPolls, perOperation: round(polls / Math.max(1, ops), 2) },
    requests,
    failures,
  };
}
