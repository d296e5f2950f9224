/**
 * Container events against the real engine on /var/run/docker.sock (berth-test/busybox:1, NetworkMode none), and the
 * stream's end and `since` format against a small HTTP server on a unix socket standing in for an engine.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { BerthError } from "../../src/core/errors.ts";
import { createDockerEngine } from "../../src/engines/docker/engine.ts";
import { type ContainerEvent, labels, type RunSpec } from "../../src/engines/ports.ts";
import { ownedLabels, shellSpec, testInstallation } from "../support/run-spec.ts";

const labelArgs = (l: Record<string, string>) => Object.entries(l).flatMap(([k, v]) => ["--label", `${k}=${v}`]);

const execFileAsync = promisify(execFile);
const docker = async (...args: string[]) => (await execFileAsync("docker", args)).stdout.trim();

const image = "berth-test/busybox:1";
const prefix = `berth-ev-${process.pid}-${Date.now().toString(36)}`;
const names: string[] = [];
let counter = 0;
const uniqueName = (what: string) => {
  const name = `${prefix}-${what}-${++counter}`;
  names.push(name);
  return name;
};

const engine = createDockerEngine({ installation: testInstallation, name: "local", url: "unix:///var/run/docker.sock", timeoutMs: 15_000 });
const never = new AbortController().signal;
const berthLabels = { [labels.managed]: "true", [labels.user]: "U0TEST", [labels.channel]: "C0TEST", "com.example.other": "x" };

function spec(name: string, cmd: string, over: Partial<RunSpec> = {}): RunSpec {
  return shellSpec(cmd, { image, name, labels: berthLabels, ...over });
}

/** Everything `engine.events` yields from before the suite's first container on, with a way to wait for an event. */
const stream = new AbortController();
const seen: ContainerEvent[] = [];
const waiters = new Set<() => void>();
let streamError: unknown;
let streaming: Promise<void> | undefined;

/** Resolves with the first event matching `match`; fails loudly (not silently skips) if it never comes. */
async function waitFor(what: string, match: (e: ContainerEvent) => boolean): Promise<ContainerEvent> {
  const guard = AbortSignal.timeout(90_000); // a hang guard only: the engine reports these within seconds
  for (;;) {
    const hit = seen.find(match);
    if (hit) return hit;
    if (streamError) throw streamError;
    if (guard.aborted) assert.fail(`no ${what} event arrived; saw ${seen.map((e) => `${e.kind}:${e.name}`).join(", ") || "none"}`);
    await new Promise<void>((resolve) => {
      const done = () => {
        waiters.delete(done);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(done, 1000);
      waiters.add(done);
    });
  }
}

before(async () => {
  // Starting a moment in the past (same machine, same clock) means no event can slip past before the stream is up.
  const sinceNano = BigInt(Date.now() - 2000) * 1_000_000n;
  streaming = (async () => {
    try {
      for await (const e of engine.events({ sinceNano }, stream.signal)) {
        seen.push(e);
        for (const w of [...waiters]) w();
      }
    } catch (e) {
      streamError = e;
    }
  })();
});

after(async () => {
  stream.abort();
  await streaming;
  engine.close();
  if (names.length > 0) await docker("rm", "-f", ...names).catch(() => undefined);
});

describe("events on the real engine", () => {
  it("reports a non-zero exit with its exit code, name, image and berth's labels only; not an exit 0 or a container berth did not start", async () => {
    const clean = uniqueName("exit0");
    await engine.run(spec(clean, "exit 0"), never);
    await engine.wait(clean, never);
    const foreign = uniqueName("foreign");
    await assert.rejects(docker("run", "--name", foreign, "--network", "none", image, "sh", "-c", "exit 5"), { code: 5 });
    // Any image or person can put berth's `managed` label (and a job) on a container: without this berth's id it is not berth's.
    const impostor = uniqueName("impostor");
    const lookalike = { ...ownedLabels(), [labels.installation]: "another-berth" };
    await assert.rejects(docker("run", "--name", impostor, ...labelArgs(lookalike), "--network", "none", image, "sh", "-c", "exit 6"), {
      code: 6,
    });
    const failing = uniqueName("exit3");
    const { id } = await engine.run(spec(failing, "exit 3"), never);
    const e = await waitFor("die", (x) => x.kind === "die" && x.name === failing);
    assert.deepEqual(
      { ...e, timeNano: typeof e.timeNano },
      {
        kind: "die",
        id,
        name: failing,
        image,
        exitCode: 3,
        labels: { ...ownedLabels(), [labels.user]: "U0TEST", [labels.channel]: "C0TEST" },
        timeNano: "bigint",
      },
    );
    assert.ok(e.timeNano > 1_600_000_000_000_000_000n, "nanoseconds since the epoch");
    // The engine sends events in order, and both others ended before this one was even created.
    assert.deepEqual(
      seen.filter((x) => x.name === clean || x.name === foreign || x.name === impostor),
      [],
    );
  });

  it("reports a failing healthcheck as unhealthy, once, and not the healthy state", async () => {
    const name = uniqueName("unhealthy");
    const id = await docker(
      "run",
      "-d",
      "--name",
      name,
      ...labelArgs(ownedLabels()),
      "--network",
      "none",
      "--health-cmd",
      "false",
      "--health-interval",
      "1s",
      "--health-retries",
      "1",
      image,
      "sleep",
      "60",
    );
    const healthy = uniqueName("healthy");
    await docker(
      "run",
      "-d",
      "--name",
      healthy,
      ...labelArgs(ownedLabels()),
      "--network",
      "none",
      "--health-cmd",
      "true",
      "--health-interval",
      "1s",
      image,
      "sleep",
      "60",
    );
    const e = await waitFor("unhealthy", (x) => x.kind === "unhealthy" && x.name === name);
    assert.equal(e.id, id.slice(0, 12));
    assert.equal(e.exitCode, undefined);
    assert.deepEqual(e.labels, ownedLabels());
    await docker("rm", "-f", healthy);
    await waitFor("die of the healthy container", (x) => x.kind === "die" && x.name === healthy);
    assert.deepEqual(
      seen.filter((x) => x.name === healthy).map((x) => x.kind),
      ["die"],
      "only its removal (exit 137), never a healthy status",
    );
  });

  it("reports an out-of-memory kill as oom, followed by the die of the same container", async () => {
    const name = uniqueName("oom");
    const { id } = await engine.run(spec(name, "x=a; while true; do x=$x$x; done", { memoryBytes: 8 * 1024 * 1024 }), never);
    const status = await engine.wait(name, never);
    assert.equal(status.oomKilled, true, "the kernel killed it for memory (cgroup v1 here)");
    const oom = await waitFor("oom", (x) => x.kind === "oom" && x.name === name);
    const die = await waitFor("die after oom", (x) => x.kind === "die" && x.name === name);
    assert.equal(oom.id, id);
    assert.equal(oom.exitCode, undefined);
    assert.equal(die.exitCode, 137);
    assert.ok(die.timeNano > oom.timeNano);
  });

  it("ends quietly when the caller aborts", async () => {
    const ctl = new AbortController();
    const got: ContainerEvent[] = [];
    const reading = (async () => {
      for await (const e of engine.events({}, ctl.signal)) got.push(e);
    })();
    ctl.abort();
    await reading;
    assert.deepEqual(got, []);
  });
});

/** An engine on a unix socket: pings like Docker 20.10, then `onEvents` answers /events. */
async function fakeEngine(onEvents: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const dir = await mkdtemp(join(tmpdir(), "berth-ev-"));
  const socket = join(dir, "docker.sock");
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://engine").pathname;
    if (path.endsWith("/_ping")) {
      res.writeHead(200, { "Api-Version": "1.41", Ostype: "linux", "Content-Type": "text/plain" });
      res.end("OK");
    } else if (/^(\/v[\d.]+)?\/events$/.test(path)) onEvents(req, res);
    else {
      res.writeHead(404, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ message: `page not found: ${path}` }));
    }
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    url: `unix://${socket}`,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const line = (over: Record<string, unknown>, timeNano: string) =>
  `${JSON.stringify({ Type: "container", scope: "local", ...over }).slice(0, -1)},"timeNano":${timeNano}}\n`;

describe("the event stream's edges", () => {
  it("asks for berth's containers since SECONDS.NANOS, keeps every nanosecond, and reports a closed stream as UNAVAILABLE", async () => {
    let query: URLSearchParams | undefined;
    const fake = await fakeEngine((req, res) => {
      query = new URL(req.url ?? "/", "http://engine").searchParams;
      res.writeHead(200, { "Content-Type": "application/json" });
      const id = "d298ca8e2c449277108ce5a94e18402db624206a51bcaa2d08b45e558c242bfc";
      const attrs = { exitCode: "3", image, ...ownedLabels(), name: "web", "com.example.team": "a" };
      res.write(line({ status: "die", id, from: image, Action: "die", Actor: { ID: id, Attributes: attrs } }, "1795888535999876443"));
      res.write(
        line(
          { status: "die", id, from: image, Action: "die", Actor: { ID: id, Attributes: { ...attrs, exitCode: "0" } } },
          "1795888536000000001",
        ),
      );
      res.write(
        line(
          { status: "health_status: healthy", id, Action: "health_status: healthy", Actor: { ID: id, Attributes: attrs } },
          "1795888536000000002",
        ),
      );
      res.write(line({ status: "start", id, Action: "start", Actor: { ID: id, Attributes: attrs } }, "1795888536000000003"));
      res.end();
    });
    const remote = createDockerEngine({ installation: testInstallation, name: "far", url: fake.url, timeoutMs: 5000 });
    const got: ContainerEvent[] = [];
    try {
      await assert.rejects(
        async () => {
          for await (const e of remote.events({ sinceNano: 1795888535000000042n }, never)) got.push(e);
        },
        (e: unknown) => e instanceof BerthError && e.code === "UNAVAILABLE" && /^Lost the event stream of host far: /.test(e.message),
      );
    } finally {
      remote.close();
      await fake.close();
    }
    assert.equal(query?.get("since"), "1795888535.000000042");
    assert.deepEqual(JSON.parse(query?.get("filters") ?? "{}"), {
      type: ["container"],
      label: [`${labels.managed}=true`, `${labels.installation}=${testInstallation}`, labels.job],
      event: ["die", "oom", "health_status"],
    });
    assert.deepEqual(
      got.map((e) => [e.kind, e.exitCode, e.timeNano, e.id, e.labels]),
      [["die", 3, 1795888535999876443n, "d298ca8e2c44", ownedLabels()]],
    );
  });

  it("reports an engine that cannot be reached as UNAVAILABLE", async () => {
    const nowhere = createDockerEngine({
      installation: testInstallation,
      name: "gone",
      url: `unix://${join(tmpdir(), `berth-none-${process.pid}.sock`)}`,
      timeoutMs: 5000,
    });
    try {
      await assert.rejects(
        async () => {
          for await (const _ of nowhere.events({}, never));
        },
        (e: unknown) => e instanceof BerthError && e.code === "UNAVAILABLE" && /^Docker engine "gone" is unreachable/.test(e.message),
      );
    } finally {
      nowhere.close();
    }
  });
});
