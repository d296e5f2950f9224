/**
 * The Docker adapter against the Windows engine fake (test/support/windows-engine-fake.ts, built from
 * docs/reference/windows-engine.md) on a unix socket: API version negotiation, info() of Server and client hosts,
 * imagePlatform, what run() sends to a Windows engine and how it explains HCS start failures.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { createDockerEngine } from "../../src/engines/docker/engine.ts";
import type { ContainerEngine, LogLine, RunSpec } from "../../src/engines/ports.ts";
import { fails } from "../support/fails.ts";
import { testInstallation } from "../support/run-spec.ts";
import { startWindowsEngine, type WindowsEngine, type WindowsEngineProfile } from "../support/windows-engine-fake.ts";

const dir = await mkdtemp(join(tmpdir(), "berth-dockerwin-"));
const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  await rm(dir, { recursive: true, force: true });
});
const never = new AbortController().signal;

let n = 0;
async function setup(profile: Omit<WindowsEngineProfile, "listen"> = {}): Promise<{ fake: WindowsEngine; engine: ContainerEngine }> {
  const fake = await startWindowsEngine({ ...profile, listen: { socketPath: join(dir, `w${++n}.sock`) } });
  const engine = createDockerEngine({ installation: testInstallation, name: "win", url: fake.url, timeoutMs: 5_000 });
  cleanups.push(
    () => fake.close(),
    () => engine.close(),
  );
  return { fake, engine };
}

function spec(image: string, over: Partial<RunSpec> = {}): RunSpec {
  return {
    image,
    cmd: ["cmd", "/c", "echo hi"],
    env: [],
    labels: { "io.berth.job": "j-test" },
    memoryBytes: 256 * 1024 ** 2,
    nanoCpus: 1e9,
    pidsLimit: 256,
    networkMode: "none",
    privileged: false,
    mounts: [],
    autoRemove: false,
    tty: false,
    ...over,
  };
}

const paths = (fake: WindowsEngine) => fake.requests.map((r) => r.path.replace(/\?.*$/, ""));

describe("API version negotiation", () => {
  test("pings once on the unversioned path, then pins every request to the engine's max when it is berth's or older", async () => {
    const { fake, engine } = await setup({ engineVersion: "20.10.7", host: "ws2019" });
    await Promise.all([engine.info(never), engine.list({ all: true }, never), engine.hasImage("busybox:1", never)]);
    await engine.info(never);
    const [first, ...rest] = paths(fake);
    assert.equal(first, "/_ping");
    assert.ok(rest.length >= 6);
    for (const p of rest) assert.match(p, /^\/v1\.41\//);
  });

  test("a newer engine is spoken to in berth's newest API, 1.47", async () => {
    const { fake, engine } = await setup({ engineVersion: "28.5.2" });
    const info = await engine.info(never);
    assert.equal(info.apiVersion, "1.47");
    assert.equal(info.maxApiVersion, "1.51");
    for (const p of paths(fake).slice(1)) assert.match(p, /^\/v1\.47\//);
  });

  test("streams use the negotiated version too: logs and wait of a run container", async () => {
    const { fake, engine } = await setup();
    const { id } = await engine.run(spec("mcr.microsoft.com/windows/nanoserver:ltsc2022"), never);
    await engine.wait(id, never);
    for await (const _ of engine.logs({ container: id, follow: false }, never));
    const versioned = paths(fake).slice(1);
    assert.ok(versioned.some((p) => p.endsWith("/logs")) && versioned.some((p) => p.endsWith("/wait")));
    for (const p of versioned) assert.match(p, /^\/v1\.47\//);
  });

  test("an engine older than API 1.24 is refused with what to do", async () => {
    const { fake, engine } = await setup({ apiVersion: "1.23" });
    await assert.rejects(engine.info(never), fails("CONFLICT", /speaks Engine API 1\.23, older than 1\.24.*upgrade Docker/));
    await assert.rejects(engine.list({ all: false }, never), fails("CONFLICT", /older than 1\.24/));
    assert.deepEqual(paths(fake), ["/_ping", "/_ping"]); // nothing else was sent, and the refusal is asked again
  });

  test("a failed ping is not remembered: once the engine is up, the next call negotiates", async () => {
    const socketPath = join(dir, "late.sock");
    const engine = createDockerEngine({ installation: testInstallation, name: "late", url: `unix://${socketPath}`, timeoutMs: 5_000 });
    cleanups.push(() => engine.close());
    await assert.rejects(engine.list({ all: true }, never), fails("UNAVAILABLE", /unreachable/));
    const fake = await startWindowsEngine({ listen: { socketPath } });
    cleanups.push(() => fake.close());
    assert.deepEqual(await engine.list({ all: true }, never), []);
    assert.deepEqual(paths(fake), ["/_ping", "/v1.47/containers/json"]);
  });
});

describe("info()", () => {
  test("Windows Server 2022", async () => {
    const { engine } = await setup({ host: "ws2022" });
    assert.deepEqual(await engine.info(never), {
      name: "win",
      osType: "windows",
      osVersion: "Microsoft Windows Server Version 21H2 (OS Build 20348.707)",
      osBuild: "10.0.20348",
      architecture: "x86_64",
      engineVersion: "27.5.1",
      apiVersion: "1.47",
      maxApiVersion: "1.47",
      defaultIsolation: "process",
      isolations: ["process", "hyperv"],
      swarm: { state: "inactive", role: undefined },
    });
  });

  test("a Windows 11 client defaults to Hyper-V and also runs process isolation (§5.2)", async () => {
    const { engine } = await setup({ host: "win11" });
    const info = await engine.info(never);
    assert.equal(info.osVersion, "Microsoft Windows Version 24H2 (OS Build 26100.2894)");
    assert.equal(info.osBuild, "10.0.26100");
    assert.equal(info.defaultIsolation, "hyperv");
    assert.deepEqual(info.isolations, ["hyperv", "process"]);
  });

  test("the pre-23.0 OperatingSystem format of a Windows Server and a swarm manager", async () => {
    const { engine } = await setup({ engineVersion: "20.10.7", host: "ws2019", swarm: { state: "active", manager: true } });
    const info = await engine.info(never);
    assert.equal(info.osVersion, "Windows Server 2019 Datacenter Version 1809 (OS Build 17763.316)");
    assert.deepEqual(info.isolations, ["process", "hyperv"]);
    assert.deepEqual(info.swarm, { state: "active", role: "manager" });
    assert.equal(info.apiVersion, "1.41");
  });
});

describe("imagePlatform()", () => {
  test("Windows and Linux images, and undefined for an absent one", async () => {
    const { engine } = await setup();
    assert.deepEqual(await engine.imagePlatform("mcr.microsoft.com/windows/nanoserver:ltsc2022", never), {
      os: "windows",
      osVersion: "10.0.20348.3566",
      architecture: "amd64",
    });
    assert.deepEqual(await engine.imagePlatform("busybox:1", never), { os: "linux", osVersion: undefined, architecture: "amd64" });
    assert.equal(await engine.imagePlatform("mcr.microsoft.com/windows/servercore:ltsc2022", never), undefined);
    await assert.rejects(engine.imagePlatform("../etc", never), fails("INVALID", /not a valid image reference/));
  });
});

describe("run() on a Windows engine", () => {
  test("a matching nanoserver image runs; the create body has no Linux-only options", async () => {
    const { fake, engine } = await setup();
    const { id, name } = await engine.run(spec("mcr.microsoft.com/windows/nanoserver:ltsc2022", { name: "hello" }), never);
    assert.equal(name, "hello");
    const create = fake.requests.find((r) => r.method === "POST" && r.path.includes("/containers/create"));
    assert.ok(create, "a create request");
    const hc = (create.body as { HostConfig: Record<string, unknown> }).HostConfig;
    for (const linuxOnly of ["PidsLimit", "CapDrop", "SecurityOpt", "ReadonlyRootfs", "Isolation"])
      assert.equal(linuxOnly in hc, false, linuxOnly);
    assert.equal(hc.Memory, 256 * 1024 ** 2);
    assert.equal(hc.NetworkMode, "none");
    assert.deepEqual(await engine.wait(id, never), { exitCode: 0, oomKilled: false });
    const lines: LogLine[] = [];
    for await (const line of engine.logs({ container: "hello", follow: false }, never)) lines.push(line);
    assert.deepEqual(lines, [
      { stream: "stdout", text: "Microsoft Windows [Version 10.0.20348.3566]" },
      { stream: "stdout", text: "(c) Microsoft Corporation. All rights reserved." },
    ]);
  });

  test("an explicit isolation is passed through", async () => {
    const { fake, engine } = await setup();
    await engine.run(spec("mcr.microsoft.com/windows/nanoserver:1809", { isolation: "hyperv" }), never);
    const create = fake.requests.find((r) => r.path.includes("/containers/create"));
    assert.ok(create, "a create request");
    assert.equal((create.body as { HostConfig: { Isolation?: string } }).HostConfig.Isolation, "hyperv");
  });

  test("a build mismatch under process isolation is a CONFLICT with both fixes, and the container is removed", async () => {
    const { fake, engine } = await setup();
    await assert.rejects(
      engine.run(spec("mcr.microsoft.com/windows/nanoserver:1809", { name: "old" }), never),
      fails(
        "CONFLICT",
        /^Image "mcr\.microsoft\.com\/windows\/nanoserver:1809" cannot run process-isolated on host win: .*--isolation hyperv.*image tag/,
      ),
    );
    assert.equal(fake.containers.size, 0);
  });

  test("Hyper-V not installed, or no hypervisor: CONFLICT saying so, with the way out", async () => {
    const missing = await setup({ hyperv: "not-installed" });
    await assert.rejects(
      missing.engine.run(spec("mcr.microsoft.com/windows/nanoserver:ltsc2022", { isolation: "hyperv" }), never),
      fails("CONFLICT", /^Hyper-V is not installed on host win.*--isolation process.*install the Hyper-V/),
    );
    assert.equal(missing.fake.containers.size, 0);
    const client = await setup({ host: "win11", hyperv: "no-hypervisor" });
    await assert.rejects(
      client.engine.run(spec("mcr.microsoft.com/windows/nanoserver:ltsc2022"), never),
      fails("CONFLICT", /^Host win cannot start Hyper-V isolated containers: no hypervisor/),
    );
  });

  test("an isolation a Windows engine does not know is INVALID, on 27.x (500) and 28.x (400) alike", async () => {
    for (const engineVersion of ["27.5.1", "28.5.2"]) {
      const { engine } = await setup({ engineVersion });
      await assert.rejects(
        engine.run(spec("mcr.microsoft.com/windows/nanoserver:ltsc2022", { isolation: "hyper-v" }), never),
        fails("INVALID", /does not accept --isolation hyper-v; use --isolation process or --isolation hyperv/),
      );
    }
  });
});
