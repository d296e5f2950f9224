import assert from "node:assert/strict";
import { test } from "node:test";
import { mapBounded, statsOf } from "../../../src/engines/docker/stats.ts";

// The figures of `GET /containers/{id}/stats?stream=false` as the docker CLI computes them
// (docker/cli cli/command/container/stats_helpers.go), for the bodies Linux (cgroup v1 and v2) and Windows engines send.

const id = "0123456789abcdef0123";

test("Linux, cgroup v2: CPU % from the two samples times the CPUs online, memory without inactive_file, I/O summed", () => {
  const s = statsOf(
    {
      read: "2026-12-06T03:30:01.000000000Z",
      preread: "2026-12-06T03:30:00.000000000Z",
      num_procs: 0,
      cpu_stats: { cpu_usage: { total_usage: 2_000_000_000 }, system_cpu_usage: 10_000_000_000, online_cpus: 4 },
      precpu_stats: { cpu_usage: { total_usage: 1_500_000_000 }, system_cpu_usage: 6_000_000_000, online_cpus: 4 },
      memory_stats: { usage: 50 * 1024 ** 2, limit: 200 * 1024 ** 2, stats: { inactive_file: 10 * 1024 ** 2, anon: 1 } },
      networks: { eth0: { rx_bytes: 1000, tx_bytes: 20 }, eth1: { rx_bytes: 234, tx_bytes: 0 } },
      blkio_stats: {
        io_service_bytes_recursive: [
          { major: 8, minor: 0, op: "read", value: 4096 },
          { major: 8, minor: 0, op: "write", value: 100 },
          { major: 8, minor: 16, op: "read", value: 4 },
        ],
      },
      pids_stats: { current: 7, limit: 256 },
    },
    id,
    "api",
  );
  assert.deepEqual(s, {
    id: "0123456789ab",
    name: "api",
    cpuPercent: (0.5e9 / 4e9) * 4 * 100,
    memoryBytes: 40 * 1024 ** 2,
    memoryLimitBytes: 200 * 1024 ** 2,
    memoryPercent: 20,
    netRxBytes: 1234,
    netTxBytes: 20,
    blockReadBytes: 4100,
    blockWriteBytes: 100,
    pids: 7,
  });
});

test("Linux, cgroup v1: total_inactive_file, ops in capitals, CPUs counted from percpu_usage when online_cpus is absent", () => {
  const s = statsOf(
    {
      cpu_stats: { cpu_usage: { total_usage: 300, percpu_usage: [100, 100] }, system_cpu_usage: 1000 },
      precpu_stats: { cpu_usage: { total_usage: 100 }, system_cpu_usage: 600 },
      memory_stats: { usage: 1000, limit: 4000, stats: { total_inactive_file: 200, inactive_file: 900 } },
      blkio_stats: {
        io_service_bytes_recursive: [
          { op: "Read", value: 5 },
          { op: "Write", value: 6 },
          { op: "Total", value: 11 },
        ],
      },
    },
    id,
    "w",
  );
  assert.equal(s.cpuPercent, (200 / 400) * 2 * 100);
  assert.equal(s.memoryBytes, 800);
  assert.equal(s.memoryPercent, 20);
  assert.deepEqual([s.blockReadBytes, s.blockWriteBytes], [5, 6]);
  assert.deepEqual([s.netRxBytes, s.pids], [undefined, undefined], "--network none: no networks; no pids_stats");
});

test("without precpu the deltas are the totals; no CPU time used is 0%, as the CLI shows it", () => {
  const s = statsOf({ cpu_stats: { cpu_usage: { total_usage: 5 }, system_cpu_usage: 5, online_cpus: 1 }, precpu_stats: {} }, id, "x");
  assert.equal(s.cpuPercent, 100, "no precpu: the deltas are the totals");
  const idle = statsOf(
    {
      cpu_stats: { cpu_usage: { total_usage: 5 }, system_cpu_usage: 9, online_cpus: 1 },
      precpu_stats: { cpu_usage: { total_usage: 5 }, system_cpu_usage: 5 },
    },
    id,
    "x",
  );
  assert.equal(idle.cpuPercent, 0);
});

test("Windows: CPU % from 100 ns intervals between read and preread over num_procs, the private working set, storage I/O; no limit, no pids", () => {
  const s = statsOf(
    {
      read: "2026-12-06T03:30:01.000000000Z",
      preread: "2026-12-06T03:30:00.000000000Z",
      num_procs: 2,
      // moby's StatsResponse as a Windows daemon fills it: online_cpus and system_cpu_usage are omitempty and unset,
      // pids_stats and blkio_stats are empty, memory is the commit and private working set.
      pids_stats: {},
      blkio_stats: { io_service_bytes_recursive: null, io_serviced_recursive: null },
      cpu_stats: { cpu_usage: { total_usage: 5_000_000, usage_in_kernelmode: 1, usage_in_usermode: 1 }, throttling_data: {} },
      precpu_stats: { cpu_usage: { total_usage: 4_000_000, usage_in_kernelmode: 1, usage_in_usermode: 1 }, throttling_data: {} },
      memory_stats: { commitbytes: 99, commitpeakbytes: 100, privateworkingset: 80 * 1024 ** 2 },
      storage_stats: { read_count_normalized: 1, read_size_bytes: 7, write_count_normalized: 1, write_size_bytes: 8 },
      networks: { c7a1: { rx_bytes: 10, tx_bytes: 11 } },
    },
    id,
    "win",
  );
  // 1 s = 10,000,000 intervals per CPU, 2 CPUs: 1,000,000 used is 5%.
  assert.equal(s.cpuPercent, 5);
  assert.equal(s.memoryBytes, 80 * 1024 ** 2);
  assert.deepEqual([s.memoryLimitBytes, s.memoryPercent, s.pids], [undefined, undefined, undefined]);
  assert.deepEqual([s.blockReadBytes, s.blockWriteBytes, s.netRxBytes, s.netTxBytes], [7, 8, 10, 11]);
});

test("a body in a shape berth does not know (or a stopped container's zeroes) gives unknown figures, never an error", () => {
  const s = statsOf("nonsense", id, "x");
  assert.deepEqual(
    Object.values({ ...s, id: undefined, name: undefined }).filter((v) => v !== undefined),
    [],
  );
  const zeroes = statsOf({ memory_stats: {}, cpu_stats: { cpu_usage: { total_usage: 0 }, system_cpu_usage: 0 }, blkio_stats: {} }, id, "x");
  assert.equal(zeroes.memoryBytes, undefined);
  assert.equal(zeroes.memoryLimitBytes, undefined);
  assert.equal(zeroes.blockReadBytes, undefined);
});

test("mapBounded keeps the order and never runs more than the bound at once", async () => {
  let running = 0;
  let most = 0;
  const out = await mapBounded([5, 1, 4, 2, 3, 0, 6, 7, 8, 9], 3, async (n) => {
    running++;
    most = Math.max(most, running);
    await new Promise((resolve) => setImmediate(resolve));
    running--;
    return n * 2;
  });
  assert.deepEqual(out, [10, 2, 8, 4, 6, 0, 12, 14, 16, 18]);
  assert.equal(most, 3);
});
