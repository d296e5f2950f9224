/**
 * Swarm services against the real engine: a single-node swarm on 127.0.0.1 (initialised when the engine is in none,
 * and left again by the last test file using it), services from berth-test/busybox:1 with no ports and no networks. The docker CLI
 * only sets things up; every assertion goes through createDockerEngine. A host that is not a manager is a small HTTP
 * server on a unix socket answering what a Docker 20.10 engine outside a swarm answers.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { createDockerEngine } from "../../src/engines/docker/engine.ts";
import type { Convergence, LogLine } from "../../src/engines/ports.ts";
import { fails } from "../support/fails.ts";
import { testInstallation } from "../support/run-spec.ts";
import { useSwarm } from "../support/swarm.ts";

const execFileAsync = promisify(execFile);
const docker = async (...args: string[]) => (await execFileAsync("docker", args)).stdout.trim();

const image = "berth-test/busybox:1";
const missing = "berth-test/busybox:does-not-exist"; // no registry here: every pull fails
const prefix = `berth-sw-${process.pid}-${Date.now().toString(36)}`;
const label = `berth-test=${prefix}`;
const engine = createDockerEngine({ installation: testInstallation, name: "local", url: "unix:///var/run/docker.sock", timeoutMs: 15_000 });
const never = new AbortController().signal;

let leave: (() => Promise<void>) | undefined;
const svc = {
  ls: `${prefix}-ls`,
  logs: `${prefix}-logs`,
  scale: `${prefix}-scale`,
  update: `${prefix}-update`,
  global: `${prefix}-global`,
  broken: `${prefix}-broken`,
};

/** Creates a service and waits (the CLI's own convergence wait) until its tasks run. */
async function createService(name: string, options: string[], cmd: string[]) {
  await docker("service", "create", "--quiet", "--name", name, "--label", label, "--restart-delay", "1s", ...options, image, ...cmd);
}

before(async () => {
  leave = await useSwarm(); // shared with the other test files that need a swarm: the last one out leaves it
  await Promise.all([
    createService(svc.ls, ["--replicas", "2"], ["sleep", "3600"]),
    createService(
      svc.logs,
      ["--env", "API_SECRET=s3cr3t-swarm-value", "--env", "N=1"],
      ["sh", "-c", "echo out-1; echo err-1 >&2; echo out-2; sleep 3600"],
    ),
    createService(svc.scale, ["--replicas", "1"], ["sleep", "3600"]),
    createService(svc.update, ["--replicas", "1", "--update-monitor", "2s"], ["sleep", "3600"]),
    createService(svc.global, ["--mode", "global"], ["sleep", "3600"]),
  ]);
  // Its tasks can never start: --detach, since the CLI would wait for them forever.
  await docker(
    "service",
    "create",
    "--quiet",
    "--detach",
    "--name",
    svc.broken,
    "--label",
    label,
    "--restart-delay",
    "1s",
    missing,
    "sleep",
    "3600",
  );
});

after(async () => {
  engine.close();
  const ids = (await docker("service", "ls", "--quiet", "--filter", `label=${label}`).catch(() => "")).split("\n").filter(Boolean);
  if (ids.length > 0) await docker("service", "rm", ...ids).catch(() => undefined);
  await leave?.();
});

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Watches until the engine says done; a hang guard only, far beyond what the engine needs. */
async function watch(name: string): Promise<Convergence[]> {
  const steps = await collect(engine.watchService(name, AbortSignal.any([never, AbortSignal.timeout(150_000)])));
  assert.ok(steps.at(-1)?.done, `the watch ended without a final state: ${JSON.stringify(steps.at(-1))}`);
  return steps;
}

describe("swarm services on the real engine", () => {
  it("lists services with desired and running counts and the image", async () => {
    const all = await engine.services(never);
    const ls = all.find((s) => s.name === svc.ls);
    assert.deepEqual(ls && { ...ls, id: ls.id.length }, {
      id: 12,
      name: svc.ls,
      image,
      mode: "replicated",
      desired: 2,
      running: 2,
      updateState: undefined,
      updateMessage: undefined,
    });
    const global = all.find((s) => s.name === svc.global);
    assert.deepEqual(global && [global.mode, global.desired, global.running], ["global", undefined, 1]);
  });

  it("shows a service's tasks newest first with the node's hostname, by name or by id prefix", async () => {
    const hostname = await docker("node", "inspect", "self", "--format", "{{.Description.Hostname}}");
    const tasks = await engine.serviceTasks(svc.ls, never);
    assert.equal(tasks.length, 2);
    for (const t of tasks) {
      assert.deepEqual(
        [t.state, t.desiredState, t.node, t.image, t.error, t.exitCode],
        ["running", "running", hostname, image, undefined, 0],
      );
      assert.equal(t.id.length, 12);
    }
    assert.ok(tasks[0] && tasks[1] && tasks[0].updatedAt >= tasks[1].updatedAt);
    const id = await docker("service", "inspect", svc.ls, "--format", "{{.ID}}");
    const byPrefix = await engine.serviceTasks(id.slice(0, 8), never);
    assert.deepEqual(byPrefix.map((t) => t.id).sort(), tasks.map((t) => t.id).sort());
  });

  it("reads a service's logs with stdout and stderr apart, and follows them until aborted", async () => {
    const lines = await collect(engine.serviceLogs({ service: svc.logs, follow: false }, never));
    const texts = (stream: LogLine["stream"]) => lines.filter((l) => l.stream === stream).map((l) => l.text);
    assert.deepEqual(texts("stdout"), ["out-1", "out-2"]);
    assert.deepEqual(texts("stderr"), ["err-1"]);
    const tail = await collect(engine.serviceLogs({ service: svc.logs, follow: false, tail: 1 }, never));
    assert.equal(tail.length, 1, "the last line of the one task");
    const ctl = new AbortController();
    const followed: string[] = [];
    for await (const l of engine.serviceLogs({ service: svc.logs, follow: true }, ctl.signal)) {
      followed.push(l.text);
      if (l.text === "out-2") ctl.abort();
    }
    assert.ok(followed.includes("out-2"));
  });

  it("reads a service's environment values from its spec, for masking them in its logs", async () => {
    // N=1 is too short to mask: it would hide every "1" in the output.
    assert.deepEqual(await engine.serviceSecretValues(svc.logs, never), ["s3cr3t-swarm-value"]);
    await assert.rejects(engine.serviceSecretValues("nope-env", never), /nope-env/);
  });

  it("scales 1 → 3 and watches it converge", async () => {
    const { warnings } = await engine.updateService(svc.scale, { kind: "scale", replicas: 3 }, never);
    assert.ok(Array.isArray(warnings));
    const steps = await watch(svc.scale);
    const last = steps.at(-1);
    assert.deepEqual(last && [last.done, last.ok, last.running, last.desired, last.failed], [true, true, 3, 3, []]);
    const summary = (await engine.services(never)).find((s) => s.name === svc.scale);
    assert.deepEqual(summary && [summary.desired, summary.running], [3, 3]);
  });

  it("updates to an image no node has: reports the failed tasks with their error, and ends not ok", async () => {
    await engine.updateService(svc.update, { kind: "image", image: missing }, never);
    const steps = await watch(svc.update);
    const last = steps.at(-1);
    assert.ok(last);
    assert.equal(last.ok, false);
    // With the engine's default failure action the update pauses; the message names the task that failed.
    assert.equal(last.updateState, "paused", JSON.stringify(last));
    assert.match(last.updateMessage ?? "", /update paused due to failure/);
    assert.ok(last.failed.length >= 1);
    for (const t of last.failed) {
      assert.equal(t.state, "rejected");
      assert.equal(t.image, missing);
      assert.match(t.error ?? "", /No such image: berth-test\/busybox:does-not-exist/);
    }
    const summary = (await engine.services(never)).find((s) => s.name === svc.update);
    assert.deepEqual(summary && [summary.image, summary.updateState], [missing, "paused"]);
  });

  it("reads the image a rollback would bring back, and rolls back only to the image the caller checked", async () => {
    const previous = await engine.previousServiceImage(svc.update, never);
    assert.match(previous ?? "", /^berth-test\/busybox:1(@sha256:[0-9a-f]{64})?$/);
    assert.equal(await engine.previousServiceImage(svc.ls, never), undefined, "a service never updated has no previous spec");
    await assert.rejects(
      engine.updateService(svc.update, { kind: "rollback", expect: "berth-test/busybox:other" }, never),
      fails(
        "CONFLICT",
        /changed since berth checked it: its previous version now runs `berth-test\/busybox:1.*`, not `berth-test\/busybox:other`/,
      ),
    );
    const summary = (await engine.services(never)).find((s) => s.name === svc.update);
    assert.equal(summary?.image, missing, "nothing was rolled back");
  });

  it("rolls back to the previous image and converges", async () => {
    const previous = await engine.previousServiceImage(svc.update, never);
    await engine.updateService(svc.update, { kind: "rollback", expect: previous }, never);
    const steps = await watch(svc.update);
    const last = steps.at(-1);
    assert.deepEqual(last && [last.done, last.ok, last.running, last.desired, last.updateState], [true, true, 1, 1, "rollback_completed"]);
    assert.deepEqual(last?.failed, [], "the failures of the abandoned image are not this rollback's");
    const summary = (await engine.services(never)).find((s) => s.name === svc.update);
    assert.equal(summary?.image, image);
    const running = (await engine.serviceTasks(svc.update, never)).filter((t) => t.state === "running");
    assert.deepEqual(
      running.map((t) => t.image),
      [image],
    );
  });

  it("gives up on a scale whose tasks keep failing, with the last error", async () => {
    await engine.updateService(svc.broken, { kind: "scale", replicas: 2 }, never);
    const last = (await watch(svc.broken)).at(-1);
    assert.ok(last);
    assert.deepEqual([last.done, last.ok, last.running, last.desired, last.updateState], [true, false, 0, 2, undefined]);
    assert.match(
      last.updateMessage ?? "",
      /^([5-9]|\d{2,}) tasks failed in a row without one getting to run; the last: No such image: berth-test\/busybox:does-not-exist/,
    );
    assert.ok(last.failed.length >= 5);
  });

  it("refuses a rollback when there is no previous version", async () => {
    await assert.rejects(
      engine.updateService(svc.ls, { kind: "rollback" }, never),
      fails("CONFLICT", /^Service .*-ls has no previous version to roll back to\.$/),
    );
  });

  it("refuses to scale a global service, and a bad image reference, before anything changes", async () => {
    await assert.rejects(engine.updateService(svc.global, { kind: "scale", replicas: 2 }, never), fails("CONFLICT", /global mode/));
    await assert.rejects(
      engine.updateService(svc.ls, { kind: "image", image: "Bad Image!" }, never),
      fails("INVALID", /not a valid image reference/),
    );
    await assert.rejects(engine.updateService(svc.ls, { kind: "scale", replicas: -1 }, never), fails("INVALID", /whole number/));
    const ls = (await engine.services(never)).find((s) => s.name === svc.ls);
    assert.deepEqual(ls && [ls.desired, ls.image, ls.updateState], [2, image, undefined]);
  });

  it("stops watching quietly when the caller aborts", async () => {
    const ctl = new AbortController();
    const steps: Convergence[] = [];
    await engine.updateService(svc.scale, { kind: "scale", replicas: 2 }, never);
    for await (const c of engine.watchService(svc.scale, ctl.signal)) {
      steps.push(c);
      ctl.abort();
    }
    assert.equal(steps.length, 1);
  });

  it("says which services exist when one does not, and never sends a path-like name", async () => {
    const notFound = fails(
      "NOT_FOUND",
      /^No service "(nope-[a-z]+|\.\.\/\.\.\/x)" on host local\. Run \/berth service ls to see the services\.$/,
    );
    await assert.rejects(engine.serviceTasks("nope-service", never), notFound);
    await assert.rejects(engine.updateService("../../x", { kind: "scale", replicas: 1 }, never), notFound);
    await assert.rejects(collect(engine.serviceLogs({ service: "nope-logs", follow: false }, never)), notFound);
    await assert.rejects(collect(engine.watchService("nope-watch", never)), notFound);
  });
});

/** An engine on a unix socket: pings like Docker 20.10, then `answer` serves everything else. */
async function fakeEngine(answer: (path: string, res: http.ServerResponse) => void) {
  const dir = await mkdtemp(join(tmpdir(), "berth-sw-"));
  const socket = join(dir, "docker.sock");
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://engine").pathname.replace(/^\/v[\d.]+/, "");
    if (path === "/_ping") {
      res.writeHead(200, { "Api-Version": "1.41", Ostype: "linux", "Content-Type": "text/plain" });
      res.end("OK");
    } else answer(path, res);
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

const json = (res: http.ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
};

describe("hosts that cannot serve services", () => {
  it("maps the engine's 503 outside a swarm to CONFLICT naming the host", async () => {
    const message =
      'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
    const fake = await fakeEngine((_path, res) => json(res, 503, { message }));
    const worker = createDockerEngine({ installation: testInstallation, name: "edge-1", url: fake.url, timeoutMs: 5000 });
    const expected = fails(
      "CONFLICT",
      /^Host "edge-1" is not a Swarm manager \(This node is not a swarm manager\. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again\)\. Run service commands against a manager host with -H\.$/,
    );
    try {
      await assert.rejects(worker.services(never), expected);
      await assert.rejects(worker.serviceTasks("web", never), expected);
      await assert.rejects(worker.updateService("web", { kind: "scale", replicas: 2 }, never), expected);
      await assert.rejects(collect(worker.serviceLogs({ service: "web", follow: true }, never)), expected);
      await assert.rejects(collect(worker.watchService("web", never)), expected);
    } finally {
      worker.close();
      await fake.close();
    }
  });

  it("lists the candidates when an id prefix is ambiguous", async () => {
    const service = (id: string, name: string) => ({
      ID: id,
      Version: { Index: 1 },
      Spec: { Name: name, Mode: { Replicated: { Replicas: 1 } }, TaskTemplate: { ContainerSpec: { Image: image } } },
    });
    const fake = await fakeEngine((path, res) =>
      path === "/services"
        ? json(res, 200, [service("abcd1234ffffffffffffffff1", "api"), service("abcd9876ffffffffffffffff2", "worker")])
        : json(res, 404, { message: "not here" }),
    );
    const remote = createDockerEngine({ installation: testInstallation, name: "far", url: fake.url, timeoutMs: 5000 });
    try {
      await assert.rejects(
        remote.serviceTasks("abcd", never),
        fails(
          "CONFLICT",
          /^"abcd" matches 2 services on host far: abcd1234ffff \(api\), abcd9876ffff \(worker\)\. Use more of the id, or the name\.$/,
        ),
      );
    } finally {
      remote.close();
      await fake.close();
    }
  });
});
