/**
 * Which Engine API berth speaks to an engine (negotiated once per engine), and what the engine says it is (`info`).
 */
import type http from "node:http";
import type Docker from "dockerode";
import { BerthError } from "../../core/errors.ts";
import type { ContainerEngine, DockerConnection, EngineInfo, Isolation } from "../ports.ts";
import type { Client, DockerClients } from "./client.ts";

/** The newest Engine API berth is written against (Docker 27.5); newer engines are spoken to in this version. */
const berthMaxApi = "1.47";
/** The oldest API berth speaks: the minimum of every Windows engine up to 28.x, and of Docker 1.12. */
const berthMinApi = "1.24";

export type EngineApi = { version: string; max: string; osType: string };
export type Negotiation = { api(): Promise<EngineApi> };

const apiNumber = (v: string) => {
  const [major = 0, minor = 0] = v.split(".").map(Number);
  return major * 1000 + minor;
};

/**
 * docker-modem does no version negotiation (docs/reference/windows-engine.md §1.2): unversioned paths get the engine's
 * newest API, which berth was not written against. So berth does what Docker's Go client does, once per engine:
 * GET /_ping on the unversioned path, read Api-Version and Ostype, and pin both clients to min(engine's max, berth's
 * max); docker-modem puts `/v<version>` in front of every path it dials from then on. A failed ping is not remembered,
 * so the next call tries again.
 */
export function negotiator(conn: DockerConnection, { calls, streams }: DockerClients): Negotiation {
  let pinned: EngineApi | undefined;
  let pending: Promise<EngineApi> | undefined;
  async function ask(): Promise<EngineApi> {
    // Its own deadline: the first caller may be a pull or a wait, which have none.
    const deadline = AbortSignal.timeout(conn.timeoutMs);
    const dial = <T>(path: string, isStream: boolean) =>
      new Promise<T>((resolve, reject) =>
        calls.modem.dial(
          { path, method: "GET", isStream, abortSignal: deadline, statusCodes: { 200: true, 500: "server error" } },
          (err, data) => (err ? reject(err) : resolve(data as T)),
        ),
      );
    let max: string | undefined;
    let osType: string | undefined;
    try {
      const res = await dial<http.IncomingMessage>("/_ping", true);
      res.resume(); // the body is "OK"
      const header = (name: string) => {
        const v = res.headers[name];
        return typeof v === "string" && v.trim() ? v.trim() : undefined;
      };
      max = header("api-version");
      osType = header("ostype")?.toLowerCase();
      if (!max) {
        // Engines before API 1.25, and some socket proxies, send no Api-Version header; /version always has it.
        const v = await dial<{ ApiVersion?: unknown; Os?: unknown }>("/version", false);
        max = typeof v.ApiVersion === "string" ? v.ApiVersion : undefined;
        osType ??= typeof v.Os === "string" ? v.Os.toLowerCase() : undefined;
      }
    } catch (e) {
      if (deadline.aborted) throw new Error(`no answer within ${Math.ceil(conn.timeoutMs / 1000)} s`, { cause: e });
      throw e;
    }
    if (!max || !/^\d+\.\d+$/.test(max))
      throw new BerthError(
        "UNAVAILABLE",
        `Docker engine "${conn.name}" at ${conn.url} did not say which API version it speaks${max ? ` ("${max}")` : ""}. Check that ${conn.url} is a Docker engine.`,
      );
    if (apiNumber(max) < apiNumber(berthMinApi))
      throw new BerthError(
        "CONFLICT",
        `Docker engine "${conn.name}" speaks Engine API ${max}, older than ${berthMinApi}, the oldest berth supports. Ask the operator to upgrade Docker on that host.`,
      );
    const version = apiNumber(max) < apiNumber(berthMaxApi) ? max : berthMaxApi;
    for (const docker of [calls, streams]) Object.assign(docker.modem, { version: `v${version}` });
    return { version, max, osType: osType ?? "linux" };
  }
  return {
    api() {
      if (pinned) return Promise.resolve(pinned);
      pending ??= ask().then(
        (api) => {
          pinned = api;
          return api;
        },
        (e: unknown) => {
          pending = undefined;
          throw e;
        },
      );
      return pending;
    },
  };
}

export function createInfo(client: Client, negotiation: Negotiation): ContainerEngine["info"] {
  const { call, get, conn } = client;
  return async (signal) => {
    const [version, info, api] = await Promise.all([
      call(signal, "reading the engine version", get<Docker.DockerVersion>("/version")),
      call(signal, "reading the engine info", get<RawInfo>("/info")),
      call(signal, "connecting to the engine", () => negotiation.api()),
    ]);
    return engineInfo(conn.name, version, info, api);
  };
}

type RawInfo = {
  OSType?: string;
  OperatingSystem?: string;
  OSVersion?: string;
  KernelVersion?: string;
  Architecture?: string;
  Isolation?: string;
  Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean };
};

const swarmStates = ["inactive", "pending", "active", "error", "locked"] as const;

function engineInfo(name: string, version: Docker.DockerVersion, info: RawInfo, api: EngineApi): EngineInfo {
  const osType = (info.OSType || version.Os || api.osType).toLowerCase();
  const windows = osType === "windows";
  const os = info.OperatingSystem ?? "";
  const kernel = info.KernelVersion ? `kernel ${info.KernelVersion}` : "";
  // "10.0 20348 (20348.1.amd64fre…)" is the Windows kernel version (§3.3); OSVersion says the same as "10.0.20348".
  const fromKernel = /^(\d+)\.(\d+) (\d+)/.exec(info.KernelVersion ?? "");
  const windowsBuild = info.OSVersion || (fromKernel ? `${fromKernel[1]}.${fromKernel[2]}.${fromKernel[3]}` : "");
  const defaultIsolation = info.Isolation === "process" || info.Isolation === "hyperv" ? info.Isolation : undefined;
  const state = swarmStates.find((s) => s === info.Swarm?.LocalNodeState) ?? "inactive";
  return {
    name,
    osType,
    // Windows: OperatingSystem already carries the build ("… (OS Build 20348.707)"); the kernel string adds nothing.
    osVersion: windows ? os || kernel : os && kernel ? `${os} (${kernel})` : os || kernel,
    osBuild: windows ? windowsBuild : (info.KernelVersion ?? ""),
    architecture: info.Architecture || version.Arch,
    engineVersion: version.Version,
    apiVersion: api.version,
    maxApiVersion: api.max,
    defaultIsolation: windows ? defaultIsolation : undefined,
    isolations: windows ? windowsIsolations(os, windowsBuild, defaultIsolation) : [],
    swarm: { state, role: state !== "active" ? undefined : info.Swarm?.ControlAvailable ? "manager" : "worker" },
  };
}

/**
 * Which isolation modes a Windows host runs, from /info (docs/reference/windows-engine.md §3.3, §5.1, §5.2). Server SKUs: process and
 * Hyper-V (whether the Hyper-V role is installed is not in /info: the hosts manifest narrows the list, and a start
 * without it fails with a clear CONFLICT). Client SKUs, whose OperatingSystem has no "Server" ("Microsoft Windows
 * Version 24H2 …", before Docker 23 "Windows 10 Pro …"): Hyper-V, plus process on Windows 11 (build 22000 on), which
 * runs Windows Server 2022 and 2025 images process-isolated; Windows 10 runs none that way.
 */
function windowsIsolations(operatingSystem: string, build: string, defaultIsolation: Isolation | undefined): Isolation[] {
  const client = operatingSystem ? !/\bServer\b/.test(operatingSystem) : defaultIsolation === "hyperv";
  if (!client) return ["process", "hyperv"];
  const number = Number(/^\d+\.\d+\.(\d+)/.exec(build)?.[1] ?? 0);
  return number >= 22000 ? ["hyperv", "process"] : ["hyperv"];
}
