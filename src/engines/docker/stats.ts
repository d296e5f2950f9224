/**
 * `docker stats --no-stream` and `docker top` for berth's containers. The figures are computed exactly as the docker
 * CLI computes them (docker/cli `cli/command/container/stats_helpers.go`), so what berth shows matches what an
 * operator sees on the host: CPU % from the delta between `precpu_stats` and `cpu_stats` (with stream=false and
 * one-shot unset the engine takes two samples about a second apart and fills both), memory without the inactive page
 * cache, network and block I/O summed over interfaces and devices. Windows engines answer in another shape (no
 * `online_cpus`, no memory limit, no pids, storage_stats instead of blkio): what is missing stays undefined.
 */
import { z } from "zod";
import { BerthError } from "../../core/errors.ts";
import { command } from "../../core/message.ts";
import type { ContainerEngine, ContainerStats, StatsSnapshot } from "../ports.ts";
import { type Client, fail } from "./client.ts";
import { containerName, type Lookup } from "./lookup.ts";

/** How many containers are read at once: each read takes the engine about a second (two CPU samples). */
export const statsConcurrency = 8;

const count = z.number().nonnegative().optional().catch(undefined);
const cpu = z
  .object({
    cpu_usage: z
      .object({ total_usage: count, percpu_usage: z.array(z.number()).nullish().catch(undefined) })
      .partial()
      .optional(),
    system_cpu_usage: count,
    online_cpus: count,
  })
  .partial()
  .optional()
  .catch(undefined);

/** The Engine API's stats body (`GET /containers/{id}/stats`), every field optional: engines and OSes differ. */
const StatsBody = z
  .object({
    read: z.string().optional(),
    preread: z.string().optional(),
    num_procs: count,
    cpu_stats: cpu,
    precpu_stats: cpu,
    memory_stats: z
      .object({
        usage: count,
        limit: count,
        stats: z.record(z.string(), z.number()).optional().catch(undefined),
        privateworkingset: count,
      })
      .partial()
      .optional()
      .catch(undefined),
    networks: z
      .record(z.string(), z.object({ rx_bytes: count, tx_bytes: count }))
      .optional()
      .catch(undefined),
    blkio_stats: z
      .object({
        io_service_bytes_recursive: z
          .array(z.object({ op: z.string().optional(), value: count }))
          .nullish()
          .catch(undefined),
      })
      .partial()
      .optional()
      .catch(undefined),
    storage_stats: z.object({ read_size_bytes: count, write_size_bytes: count }).partial().optional().catch(undefined),
    pids_stats: z.object({ current: count }).partial().optional().catch(undefined),
  })
  .partial();

type Body = z.infer<typeof StatsBody>;

/** The CLI's `calculateCPUPercentUnix`: the container's share of the host's CPU time, times the CPUs online. */
function cpuPercentUnix(b: Body): number | undefined {
  const now = b.cpu_stats;
  const before = b.precpu_stats;
  const total = now?.cpu_usage?.total_usage;
  const system = now?.system_cpu_usage;
  if (total === undefined || system === undefined) return undefined;
  const cpuDelta = total - (before?.cpu_usage?.total_usage ?? 0);
  const systemDelta = system - (before?.system_cpu_usage ?? 0);
  const online = now?.online_cpus || now?.cpu_usage?.percpu_usage?.length || 0;
  return systemDelta > 0 && cpuDelta > 0 ? (cpuDelta / systemDelta) * online * 100 : 0;
}

/** The CLI's `calculateCPUPercentWindows`: 100 ns intervals used over those possible between the two reads. */
function cpuPercentWindows(b: Body): number | undefined {
  const total = b.cpu_stats?.cpu_usage?.total_usage;
  const read = b.read ? Date.parse(b.read) : Number.NaN;
  const preread = b.preread ? Date.parse(b.preread) : Number.NaN;
  if (total === undefined || !b.num_procs || Number.isNaN(read) || Number.isNaN(preread)) return undefined;
  const possible = ((read - preread) * 1e6) / 100; // ms → 100 ns intervals
  const used = total - (b.precpu_stats?.cpu_usage?.total_usage ?? 0);
  return possible > 0 ? (used / (possible * b.num_procs)) * 100 : 0;
}

/** The CLI's `calculateMemUsageUnixNoCache`: usage without the inactive file cache (cgroup v1 `total_`, v2 plain). */
function memoryUsed(m: NonNullable<Body["memory_stats"]>): number | undefined {
  const usage = m.usage;
  if (usage === undefined) return m.privateworkingset; // Windows: the private working set, as the CLI shows
  const v1 = m.stats?.total_inactive_file;
  if (v1 !== undefined && v1 < usage) return usage - v1;
  const v2 = m.stats?.inactive_file ?? 0;
  return v2 < usage ? usage - v2 : usage;
}

const sum = (values: readonly (number | undefined)[]) => (values.length ? values.reduce<number>((a, v) => a + (v ?? 0), 0) : undefined);

/** One snapshot from the engine's stats body, the same figures the docker CLI prints. */
export function statsOf(raw: unknown, id: string, name: string): ContainerStats {
  const parsed = StatsBody.safeParse(raw);
  const b: Body = parsed.success ? parsed.data : {};
  const windows = !!b.num_procs && b.cpu_stats?.online_cpus === undefined && b.cpu_stats?.system_cpu_usage === undefined;
  const mem = b.memory_stats ?? {};
  const used = memoryUsed(mem);
  // Windows reports no limit; a limit of 0 means the engine had no cgroup data (a container that just stopped).
  const limit = windows || !mem.limit ? undefined : mem.limit;
  const networks = b.networks ? Object.values(b.networks) : undefined;
  const io = b.blkio_stats?.io_service_bytes_recursive ?? undefined;
  const byOp = (first: string) => io?.filter((e) => e.op?.[0]?.toLowerCase() === first).map((e) => e.value);
  return {
    id: id.slice(0, 12),
    name,
    cpuPercent: windows ? cpuPercentWindows(b) : cpuPercentUnix(b),
    memoryBytes: used,
    memoryLimitBytes: limit,
    memoryPercent: used !== undefined && limit ? (used / limit) * 100 : undefined,
    netRxBytes: networks && sum(networks.map((n) => n.rx_bytes)),
    netTxBytes: networks && sum(networks.map((n) => n.tx_bytes)),
    blockReadBytes: windows ? b.storage_stats?.read_size_bytes : io ? (sum(byOp("r") ?? []) ?? 0) : undefined,
    blockWriteBytes: windows ? b.storage_stats?.write_size_bytes : io ? (sum(byOp("w") ?? []) ?? 0) : undefined,
    pids: b.pids_stats?.current,
  };
}

const TopBody = z.object({
  Titles: z.array(z.string()).nullish(),
  Processes: z.array(z.array(z.string())).nullish(),
});

/** Runs `fn` over `items`, at most `limit` at a time, keeping their order. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

const statsCodes = { 200: true, 404: "no such container", 409: "conflict", 500: "server error" };

export function createStats(client: Client, lookup: Lookup): Pick<ContainerEngine, "stats" | "top"> {
  const { call, calls, on } = client;

  const read = async (id: string, name: string, signal: AbortSignal): Promise<ContainerStats> => {
    const raw = await call(
      signal,
      `reading the stats of "${name}"`,
      (s) =>
        client.dial<unknown>(calls, {
          path: `/containers/${id}/stats?`,
          method: "GET",
          options: { stream: false },
          abortSignal: s,
          statusCodes: statsCodes,
        }),
      {
        status: lookup.about(name),
      },
    );
    return statsOf(raw, id, name);
  };

  const failed = (ref: string, e: unknown): StatsSnapshot => {
    if (!(e instanceof BerthError)) throw e;
    if (e.code === "CANCELLED") throw e;
    if (e.code === "NOT_FOUND") return { ref, problem: "not-found", detail: "no such berth container" };
    return { ref, problem: "failed", detail: e.message };
  };

  return {
    async stats(refs, signal) {
      if (refs.length === 0) {
        const running = await lookup.listRaw(false, signal);
        return mapBounded(running, statsConcurrency, async (c) => {
          const name = containerName(c.Names);
          return read(c.Id, name, signal).then(
            (stats): StatsSnapshot => ({ ref: name, stats }),
            (e: unknown) => failed(name, e),
          );
        });
      }
      return mapBounded([...new Set(refs)], statsConcurrency, async (ref): Promise<StatsSnapshot> => {
        try {
          const c = await lookup.resolve(ref, signal);
          const name = containerName(c.Names);
          if (c.State !== "running") return { ref, problem: "not-running", detail: `${c.State}: ${c.Status}` };
          return { ref, stats: await read(c.Id, name, signal) };
        } catch (e) {
          return failed(ref, e);
        }
      });
    },
    async top(ref, signal) {
      const c = await lookup.resolve(ref, signal);
      const raw = await call(
        signal,
        `listing the processes of "${ref}"`,
        (s) =>
          client.dial<unknown>(calls, {
            path: `/containers/${c.Id}/top?`,
            method: "GET",
            options: {},
            abortSignal: s,
            statusCodes: statsCodes,
          }),
        {
          status: lookup.about(ref, (code, message) =>
            code === 409 || /is not running/i.test(message)
              ? [`Container "${ref}" is not running ${on}, so it has no processes. Start it with `, command(`start ${ref}`), "."]
              : undefined,
          ),
        },
      );
      const body = TopBody.safeParse(raw);
      if (!body.success) throw fail("UNAVAILABLE", `Docker ${on} answered the process list of "${ref}" in a shape berth does not know.`);
      return { titles: body.data.Titles ?? [], processes: body.data.Processes ?? [] };
    },
  };
}
