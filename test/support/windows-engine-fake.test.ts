/**
 * The Windows engine fake over raw HTTP on a unix socket: what it answers must be what the reference says a Windows
 * engine answers (docs/reference/windows-engine.md §1.1, §6, §7.2), so the adapter tests built on it mean something.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { startWindowsEngine, type WindowsEngine, type WindowsEngineProfile } from "./windows-engine-fake.ts";

const dir = await mkdtemp(join(tmpdir(), "berth-winfake-"));
const engines: WindowsEngine[] = [];
after(async () => {
  await Promise.all(engines.map((e) => e.close()));
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
async function engine(profile: Omit<WindowsEngineProfile, "listen"> = {}): Promise<{ e: WindowsEngine; socketPath: string }> {
  const socketPath = join(dir, `e${++n}.sock`);
  const e = await startWindowsEngine({ ...profile, listen: { socketPath } });
  engines.push(e);
  return { e, socketPath };
}

type Reply = { status: number; headers: Record<string, string | string[] | undefined>; text: string; raw: Buffer };
function http(socketPath: string, method: string, path: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ socketPath, method, path, headers: data ? { "Content-Type": "application/json" } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const raw = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: raw.toString("utf8"), raw });
      });
    });
    req.on("error", reject);
    req.end(data);
  });
}
const message = (r: Reply) => (JSON.parse(r.text) as { message: string }).message;

describe("/_ping (§1.1)", () => {
  test("27.5.1: GET and HEAD carry the Windows headers; GET says OK", async () => {
    const { socketPath } = await engine();
    const get = await http(socketPath, "GET", "/_ping");
    assert.equal(get.status, 200);
    assert.equal(get.text, "OK");
    assert.equal(get.headers["api-version"], "1.47");
    assert.equal(get.headers.ostype, "windows");
    assert.equal(get.headers["docker-experimental"], "false");
    assert.equal(get.headers["builder-version"], "1");
    assert.equal(get.headers.swarm, "inactive");
    assert.equal(get.headers.server, "Docker/27.5.1 (windows)");
    assert.equal(get.headers["cache-control"], "no-cache, no-store, must-revalidate");
    assert.equal(get.headers.pragma, "no-cache");
    assert.equal(get.headers["content-type"], "text/plain; charset=utf-8");
    const head = await http(socketPath, "HEAD", "/_ping");
    assert.equal(head.status, 200);
    assert.equal(head.headers["content-length"], "0");
    assert.equal(head.headers["api-version"], "1.47");
  });

  test("20.10: API 1.41 and no Builder-Version or Swarm header", async () => {
    const { socketPath } = await engine({ engineVersion: "20.10.7", platformName: "Mirantis Container Runtime", host: "ws2019" });
    const r = await http(socketPath, "GET", "/_ping");
    assert.equal(r.headers["api-version"], "1.41");
    assert.equal(r.headers["builder-version"], undefined);
    assert.equal(r.headers.swarm, undefined);
  });

  test("version prefixes outside the engine's range are refused with moby's messages", async () => {
    const { socketPath } = await engine();
    const tooNew = await http(socketPath, "GET", "/v1.52/info");
    assert.equal(tooNew.status, 400);
    assert.equal(message(tooNew), "client version 1.52 is too new. Maximum supported API version is 1.47");
    const tooOld = await http(socketPath, "GET", "/v1.20/info");
    assert.equal(tooOld.status, 400);
    assert.match(tooOld.text, /^client version 1\.20 is too old\. Minimum supported API version is 1\.24, please upgrade/); // plain text
    assert.equal((await http(socketPath, "GET", "/v1.41/version")).status, 200);
    const nowhere = await http(socketPath, "GET", "/v1.41/nodes");
    assert.equal(nowhere.status, 404);
    assert.equal(message(nowhere), "page not found");
  });
});

describe("/info and /version (§2.2, §3.4)", () => {
  test("ws2022 on 27.5.1 and a win11 client", async () => {
    const { socketPath } = await engine();
    const info = JSON.parse((await http(socketPath, "GET", "/info")).text) as Record<string, unknown>;
    assert.equal(info.OSType, "windows");
    assert.equal(info.OSVersion, "10.0.20348");
    assert.equal(info.OperatingSystem, "Microsoft Windows Server Version 21H2 (OS Build 20348.707)");
    assert.equal(info.Isolation, "process");
    assert.equal(info.Driver, "windowsfilter");
    assert.equal(info.NFd, -1);
    assert.equal(info.Runtimes, null);
    const version = JSON.parse((await http(socketPath, "GET", "/version")).text) as Record<string, unknown>;
    assert.equal(version.Os, "windows");
    assert.equal(version.MinAPIVersion, "1.24");
    assert.equal((version.Components as unknown[]).length, 1);
    const client = await engine({ host: "win11" });
    const c = JSON.parse((await http(client.socketPath, "GET", "/info")).text) as Record<string, unknown>;
    assert.equal(c.Isolation, "hyperv");
    assert.equal(c.OperatingSystem, "Microsoft Windows Version 24H2 (OS Build 26100.2894)");
  });
});

const create = (socketPath: string, image: string, hostConfig: Record<string, unknown> = {}, name?: string) =>
  http(socketPath, "POST", `/v1.47/containers/create${name ? `?name=${name}` : ""}`, {
    Image: image,
    Labels: { "io.berth.managed": "true" },
    HostConfig: { NetworkMode: "none", ...hostConfig },
  });

describe("containers (§6, §7.2)", () => {
  test("a 1809 image on a ws2022 host: create succeeds, start fails 500 with the HCS mismatch; the container stays created", async () => {
    const { e, socketPath } = await engine();
    const created = await create(socketPath, "mcr.microsoft.com/windows/nanoserver:1809");
    assert.equal(created.status, 201);
    const { Id } = JSON.parse(created.text) as { Id: string };
    const started = await http(socketPath, "POST", `/v1.47/containers/${Id}/start`);
    assert.equal(started.status, 500);
    assert.equal(
      message(started),
      `hcs::CreateComputeSystem ${Id}: The container operating system does not match the host operating system.`,
    );
    const inspect = JSON.parse((await http(socketPath, "GET", `/v1.47/containers/${Id}/json`)).text) as {
      State: { Status: string; ExitCode: number; Error: string };
      HostConfig: { Isolation: string };
      Driver: string;
      Platform: string;
    };
    assert.equal(inspect.State.Status, "created");
    assert.equal(inspect.State.ExitCode, 128);
    assert.equal(inspect.State.Error, message(started));
    assert.equal(inspect.HostConfig.Isolation, "process"); // the daemon default, written in at create
    assert.equal(inspect.Driver, "windowsfilter");
    assert.equal(inspect.Platform, "windows");
    assert.equal(e.containers.get(Id)?.state, "created");
  });

  test("20.10 words the mismatch with hcsshim::", async () => {
    const { socketPath } = await engine({ engineVersion: "20.10.7" });
    const created = await http(socketPath, "POST", "/v1.41/containers/create", { Image: "mcr.microsoft.com/windows/nanoserver:1809" });
    const { Id } = JSON.parse(created.text) as { Id: string };
    assert.match(message(await http(socketPath, "POST", `/v1.41/containers/${Id}/start`)), /^hcsshim::CreateComputeSystem /);
  });

  test("ws2025 runs a 20348 image under process isolation; Hyper-V runs the 1809 image on ws2022", async () => {
    const ws2025 = await engine({ host: "ws2025" });
    const a = JSON.parse((await create(ws2025.socketPath, "mcr.microsoft.com/windows/nanoserver:ltsc2022")).text) as { Id: string };
    assert.equal((await http(ws2025.socketPath, "POST", `/containers/${a.Id}/start`)).status, 204);
    const ws2022 = await engine({ runMs: null });
    const b = JSON.parse((await create(ws2022.socketPath, "mcr.microsoft.com/windows/nanoserver:1809", { Isolation: "hyperv" })).text) as {
      Id: string;
    };
    assert.equal((await http(ws2022.socketPath, "POST", `/containers/${b.Id}/start`)).status, 204);
    assert.equal((await http(ws2022.socketPath, "POST", `/containers/${b.Id}/start`)).status, 304);
    const waiting = http(ws2022.socketPath, "POST", `/containers/${b.Id}/wait`);
    assert.equal((await http(ws2022.socketPath, "POST", `/containers/${b.Id}/stop?t=10`)).status, 204);
    assert.deepEqual(JSON.parse((await waiting).text), { StatusCode: 0, Error: null });
  });

  test("Hyper-V missing: start fails 500 with E4 / E3", async () => {
    const notInstalled = await engine({ hyperv: "not-installed" });
    const a = JSON.parse(
      (await create(notInstalled.socketPath, "mcr.microsoft.com/windows/nanoserver:ltsc2022", { Isolation: "hyperv" })).text,
    ) as {
      Id: string;
    };
    const r = await http(notInstalled.socketPath, "POST", `/containers/${a.Id}/start`);
    assert.equal(r.status, 500);
    assert.equal(
      message(r),
      `hcs::CreateComputeSystem ${a.Id}: The virtual machine could not be started because a required feature is not installed.`,
    );
    const client = await engine({ host: "win11", hyperv: "no-hypervisor" });
    const b = JSON.parse((await create(client.socketPath, "mcr.microsoft.com/windows/nanoserver:ltsc2022")).text) as { Id: string };
    assert.equal(
      message(await http(client.socketPath, "POST", `/containers/${b.Id}/start`)),
      `hcs::CreateComputeSystem ${b.Id}: No hypervisor is present on this system.`,
    );
  });

  test("an invalid isolation is 500 up to 27.x and 400 from 28 (E12); Linux-only options are 400 (E16)", async () => {
    const old = await engine();
    const r27 = await create(old.socketPath, "mcr.microsoft.com/windows/nanoserver:ltsc2022", { Isolation: "hyper-v" });
    assert.equal(r27.status, 500);
    assert.equal(message(r27), `Invalid isolation: "hyper-v". Windows supports 'default', 'process', or 'hyperv'`);
    const current = await engine({ engineVersion: "28.5.2" });
    const r28 = await create(current.socketPath, "mcr.microsoft.com/windows/nanoserver:ltsc2022", { Isolation: "hyper-v" });
    assert.equal(r28.status, 400);
    assert.equal(message(r28), "invalid isolation (hyper-v): Windows supports 'default', 'process', or 'hyperv'");
    assert.equal((await create(current.socketPath, "mcr.microsoft.com/windows/nanoserver:ltsc2022", { Isolation: "HyperV" })).status, 201);
    const pids = await create(old.socketPath, "mcr.microsoft.com/windows/nanoserver:ltsc2022", { PidsLimit: 100 });
    assert.equal(pids.status, 400);
    assert.equal(message(pids), "invalid option: Windows does not support PidsLimit");
    const privileged = await create(current.socketPath, "mcr.microsoft.com/windows/nanoserver:ltsc2022", { Privileged: true });
    assert.equal(privileged.status, 400);
    assert.equal(message(privileged), "invalid option: privileged mode is not supported for Windows containers");
    const absent = await create(old.socketPath, "mcr.microsoft.com/windows/servercore:ltsc2022");
    assert.equal(absent.status, 404);
    assert.equal(message(absent), "No such image: mcr.microsoft.com/windows/servercore:ltsc2022");
  });

  test("list filters on labels as dockerode encodes them; logs are multiplexed frames", async () => {
    const { socketPath } = await engine({ runMs: null });
    const { Id } = JSON.parse((await create(socketPath, "mcr.microsoft.com/windows/nanoserver:ltsc2022", {}, "web")).text) as {
      Id: string;
    };
    await http(socketPath, "POST", "/containers/create", { Image: "mcr.microsoft.com/windows/nanoserver:ltsc2022" }); // unlabelled
    await http(socketPath, "POST", `/containers/${Id}/start`);
    const filters = encodeURIComponent(JSON.stringify({ label: ["io.berth.managed=true"] }));
    const listed = JSON.parse((await http(socketPath, "GET", `/v1.47/containers/json?all=1&filters=${filters}`)).text) as {
      Id: string;
      Names: string[];
    }[];
    assert.deepEqual(
      listed.map((c) => [c.Id, c.Names]),
      [[Id, ["/web"]]],
    );
    const logs = await http(socketPath, "GET", `/containers/web/logs?stdout=1&stderr=1`);
    assert.equal(logs.raw.readUInt8(0), 1); // stdout frame
    const size = logs.raw.readUInt32BE(4);
    assert.equal(logs.raw.subarray(8, 8 + size).toString(), "Microsoft Windows [Version 10.0.20348.3566]\r\n");
    assert.equal((await http(socketPath, "DELETE", `/containers/${Id}`)).status, 409);
    assert.equal((await http(socketPath, "DELETE", `/containers/${Id}?force=1`)).status, 204);
    assert.equal((await http(socketPath, "GET", `/containers/${Id}/json`)).status, 404);
  });
});

describe("images (§4, §6 E7–E10)", () => {
  const registry = [
    { ref: "ubuntu:latest", os: "linux" as const },
    { ref: "alpine:3.20", os: "linux" as const, manifestList: false },
    { ref: "mcr.microsoft.com/windows/servercore:ltsc2025", os: "windows" as const, osVersion: "10.0.26100.3781", manifestList: false },
    { ref: "mcr.microsoft.com/windows/servercore:ltsc2022", os: "windows" as const, osVersion: "10.0.20348.3566" },
  ];
  const pullLines = async (socketPath: string, query: string) => {
    const r = await http(socketPath, "POST", `/v1.47/images/create?${query}`);
    return {
      status: r.status,
      lines: r.text
        .trim()
        .split(/\r?\n/)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
      text: r.text,
    };
  };

  test("inspect: Windows shape, and 404 when absent", async () => {
    const { socketPath } = await engine();
    const img = JSON.parse(
      (await http(socketPath, "GET", "/v1.47/images/mcr.microsoft.com/windows/nanoserver:ltsc2022/json")).text,
    ) as Record<string, unknown>;
    assert.equal(img.Os, "windows");
    assert.equal(img.OsVersion, "10.0.20348.3566");
    assert.equal(img.Architecture, "amd64");
    const linux = JSON.parse((await http(socketPath, "GET", "/images/busybox:1/json")).text) as Record<string, unknown>;
    assert.equal(linux.Os, "linux");
    assert.equal("OsVersion" in linux, false);
    const absent = await http(socketPath, "GET", "/images/nginx/json");
    assert.equal(absent.status, 404);
    assert.equal(message(absent), "No such image: nginx:latest");
  });

  test("pulls fail in-stream like a Windows engine, or succeed and add the image", async () => {
    const { e, socketPath } = await engine({ registry });
    const list = await pullLines(socketPath, "fromImage=ubuntu&tag=latest");
    assert.equal(list.status, 200);
    assert.deepEqual(list.lines[0], { status: "Pulling from library/ubuntu", id: "latest" });
    assert.equal(list.lines[1]?.error, "no matching manifest for windows/amd64 10.0.20348 in the manifest list entries");
    assert.equal(
      (await pullLines(socketPath, "fromImage=alpine&tag=3.20")).lines[1]?.error,
      'image operating system "linux" cannot be used on this platform: operating system is not supported',
    );
    assert.equal(
      (await pullLines(socketPath, "fromImage=mcr.microsoft.com/windows/servercore&tag=ltsc2025")).lines[1]?.error,
      "a Windows version 10.0.26100-based image is incompatible with a 10.0.20348 host",
    );
    const unknown = await http(socketPath, "POST", "/images/create?fromImage=mcr.microsoft.com/windows/nanoserver&tag=2025");
    assert.equal(unknown.status, 404);
    assert.equal(
      message(unknown),
      'manifest for mcr.microsoft.com/windows/nanoserver:2025 not found: manifest unknown: manifest tagged by "2025" is not found',
    );
    const ok = await pullLines(socketPath, "fromImage=mcr.microsoft.com/windows/servercore&tag=ltsc2022");
    assert.deepEqual(ok.lines[0], { status: "Pulling from windows/servercore", id: "ltsc2022" });
    assert.equal(ok.lines.at(-1)?.status, "Status: Downloaded newer image for mcr.microsoft.com/windows/servercore:ltsc2022");
    assert.ok(e.images.has("mcr.microsoft.com/windows/servercore:ltsc2022"));
    const e28 = await engine({ engineVersion: "28.5.2", registry });
    assert.equal(
      (await pullLines(e28.socketPath, "fromImage=ubuntu&tag=latest")).lines[1]?.error,
      "no matching manifest for windows(10.0.20348)/amd64 in the manifest list entries",
    );
  });
});
