/**
 * `stats` and `top` against the real engine on /var/run/docker.sock: a container spinning a CPU and an idle one, read
 * as `docker stats --no-stream` reads them. Every name created here is removed in `after`, pass or fail.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { createDockerEngine } from "../../src/engines/docker/engine.ts";
import type { ContainerStats, StatsSnapshot } from "../../src/engines/ports.ts";
import { fails } from "../support/fails.ts";
import { shellSpec, testInstallation } from "../support/run-spec.ts";

const execFileAsync = promisify(execFile);
const docker = async (...args: string[]) => (await execFileAsync("docker", args)).stdout.trim();

const prefix = `berth-stats-${process.pid}-${Date.now().toString(36)}`;
const busy = `${prefix}-busy`;
const idle = `${prefix}-idle`;
const stopped = `${prefix}-stopped`;
const engine = createDockerEngine({ installation: testInstallation, name: "local", url: "unix:///var/run/docker.sock", timeoutMs: 10_000 });
const never = new AbortController().signal;

before(async () => {
  // A shell loop that never sleeps keeps one CPU busy; busybox sh as PID 1 ignores SIGTERM, so `rm -f` ends them.
  await engine.run(shellSpec("while :; do :; done", { name: busy }), never);
  await engine.run(shellSpec("sleep 300", { name: idle }), never);
  await engine.run(shellSpec("true", { name: stopped }), never);
  await engine.wait(stopped, never);
});

after(async () => {
  engine.close();
  await docker("rm", "-f", busy, idle, stopped).catch(() => undefined);
});

const statsOf = (snapshots: StatsSnapshot[], name: string): ContainerStats => {
  const s = snapshots.find((x) => "stats" in x && x.stats.name === name);
  assert.ok(s && "stats" in s, `no stats for ${name} in ${JSON.stringify(snapshots)}`);
  return s.stats;
};

describe("docker stats", () => {
  it("reads every running berth container: the spinning one uses far more CPU than the idle one, with sane figures", async () => {
    const all = await engine.stats([], never);
    const hot = statsOf(all, busy);
    const cold = statsOf(all, idle);
    assert.ok(!all.some((s) => s.ref === stopped), "a stopped container is not among the running ones");
    assert.ok((hot.cpuPercent ?? 0) > 20, `busy CPU ${hot.cpuPercent}`);
    assert.ok((cold.cpuPercent ?? 100) < 5, `idle CPU ${cold.cpuPercent}`);
    for (const s of [hot, cold]) {
      assert.equal(s.memoryLimitBytes, 256 * 1024 ** 2, "the limit berth set");
      assert.ok((s.memoryBytes ?? 0) > 0 && (s.memoryBytes ?? 0) < 256 * 1024 ** 2, `memory ${s.memoryBytes}`);
      assert.ok((s.memoryPercent ?? 0) > 0 && (s.memoryPercent ?? 100) < 100);
      assert.ok((s.pids ?? 0) >= 1, `pids ${s.pids}`);
      assert.equal(typeof s.blockReadBytes, "number");
      assert.match(s.id, /^[0-9a-f]{12}$/);
    }
  });

  it("reads the named ones, and answers a name that is no berth container and a stopped one on their own lines", async () => {
    const named = await engine.stats([idle, `${prefix}-nope`, stopped], never);
    assert.deepEqual(
      named.map((s) => ("stats" in s ? ["stats", s.ref, s.stats.name] : [s.problem, s.ref])),
      [
        ["stats", idle, idle],
        ["not-found", `${prefix}-nope`],
        ["not-running", stopped],
      ],
    );
  });

  it("top lists the container's processes with the engine's columns; a stopped one is a conflict that says so", async () => {
    const table = await engine.top(idle, never);
    assert.ok(table.titles.includes("PID"), JSON.stringify(table.titles));
    const cmd = table.titles.indexOf("CMD") >= 0 ? table.titles.indexOf("CMD") : table.titles.length - 1;
    assert.ok(
      table.processes.some((p) => /sleep 300/.test(p[cmd] ?? "")),
      JSON.stringify(table.processes),
    );
    await assert.rejects(engine.top(stopped, never), fails("CONFLICT", /is not running on host local.*start/));
    await assert.rejects(engine.top(`${prefix}-nope`, never), fails("NOT_FOUND", /No berth container/));
  });
});
