/**
 * info(), imagePlatform() and API version negotiation against the real Linux engine on /var/run/docker.sock (Docker
 * 20.10, API 1.41). A recording pass-through proxy on a unix socket shows which paths the adapter sends. Containers run
 * berth-test/busybox:1 with NetworkMode "none"; every name made here is removed in `after`.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { promisify } from "node:util";
import { BerthError } from "../../src/core/errors.ts";
import { createDockerEngine } from "../../src/engines/docker/engine.ts";
import type { RunSpec } from "../../src/engines/ports.ts";
import { shellSpec, testInstallation } from "../support/run-spec.ts";

const execFileAsync = promisify(execFile);
const docker = async (...args: string[]) => (await execFileAsync("docker", args)).stdout.trim();
const image = "berth-test/busybox:1";
const prefix = `berth-info-${process.pid}-${Date.now().toString(36)}`;
const names: string[] = [];
const never = new AbortController().signal;

const dir = await mkdtemp(join(tmpdir(), "berth-info-"));
const seen: string[] = [];
// Forwards every request to the real engine as is and remembers its path.
const proxy = createServer((req, res) => {
  seen.push(req.url ?? "");
  const upstream = request({ socketPath: "/var/run/docker.sock", method: req.method, path: req.url, headers: req.headers }, (up) => {
    res.writeHead(up.statusCode ?? 502, up.headers);
    up.pipe(res);
  });
  upstream.on("error", () => res.destroy());
  req.pipe(upstream);
});
const proxySocket = join(dir, "docker.sock");
await new Promise<void>((resolve) => proxy.listen(proxySocket, resolve));

const engine = createDockerEngine({ installation: testInstallation, name: "local", url: "unix:///var/run/docker.sock", timeoutMs: 10_000 });
const proxied = createDockerEngine({ installation: testInstallation, name: "proxied", url: `unix://${proxySocket}`, timeoutMs: 10_000 });

after(async () => {
  engine.close();
  proxied.close();
  proxy.closeAllConnections();
  await new Promise<void>((resolve) => proxy.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
  if (names.length > 0) await docker("rm", "-f", ...names).catch(() => undefined); // some were never created
});

function spec(cmd: string, over: Partial<RunSpec> = {}): RunSpec {
  const name = `${prefix}-${names.length + 1}`;
  names.push(name);
  return shellSpec(cmd, { image, name, pidsLimit: 64, ...over });
}

describe("the real Linux engine", () => {
  test("info(): Linux, no isolation modes, API 1.41 negotiated, and the engine's own build, architecture and swarm state", async () => {
    const info = await engine.info(never);
    const [kernel, arch, version, swarmState, control] = (
      await docker(
        "info",
        "--format",
        "{{.KernelVersion}}|{{.Architecture}}|{{.ServerVersion}}|{{.Swarm.LocalNodeState}}|{{.Swarm.ControlAvailable}}",
      )
    ).split("|");
    assert.equal(info.name, "local");
    assert.equal(info.osType, "linux");
    assert.equal(info.osBuild, kernel);
    assert.equal(info.architecture, arch);
    assert.equal(info.engineVersion, version);
    assert.equal(info.apiVersion, "1.41");
    assert.equal(info.maxApiVersion, "1.41");
    assert.equal(info.defaultIsolation, undefined);
    assert.deepEqual(info.isolations, []);
    assert.match(info.osVersion, /\(kernel .+\)$/);
    assert.equal(info.swarm.state, swarmState);
    assert.equal(info.swarm.role, swarmState !== "active" ? undefined : control === "true" ? "manager" : "worker");
  });

  test("imagePlatform(): the test image is a Linux image; an absent one is undefined", async () => {
    const arch = await docker("image", "inspect", "--format", "{{.Architecture}}", image);
    assert.deepEqual(await engine.imagePlatform(image, never), { os: "linux", osVersion: undefined, architecture: arch });
    assert.equal(await engine.imagePlatform("berth-test/absent:0", never), undefined);
  });

  test("every request after the unversioned /_ping carries /v1.41, calls and streams alike", async () => {
    const { id } = await proxied.run(spec("echo one; echo two >&2"), never);
    await proxied.wait(id, never);
    const lines = [];
    for await (const line of proxied.logs({ container: id, follow: false }, never)) lines.push(line);
    assert.deepEqual(lines.map((l) => l.text).sort(), ["one", "two"]);
    await proxied.info(never);
    await proxied.remove(id, { force: true }, never);
    const paths = seen.map((p) => p.replace(/\?.*$/, ""));
    assert.equal(paths[0], "/_ping");
    assert.equal(paths.filter((p) => p === "/_ping").length, 1);
    for (const p of paths.slice(1)) assert.match(p, /^\/v1\.41\//);
    for (const want of ["/containers/create", "/start", "/wait", "/logs", "/info", "/version"])
      assert.ok(
        paths.some((p) => p.endsWith(want)),
        want,
      );
  });

  test("--isolation on the Linux engine (E13) is INVALID with what to do, and leaves no container", async () => {
    const s = spec("true", { isolation: "hyperv" });
    await assert.rejects(engine.run(s, never), (e: unknown) => {
      assert.ok(e instanceof BerthError, String(e));
      assert.equal(e.code, "INVALID", e.message);
      assert.equal(
        e.message,
        "Host local runs Linux containers, which support only the default isolation; drop --isolation hyperv, or pick a Windows host with -H.",
      );
      return true;
    });
    await assert.rejects(docker("inspect", s.name ?? ""), /No such object/);
  });
});
