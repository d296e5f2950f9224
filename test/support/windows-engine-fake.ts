/**
 * A fake Docker Engine API of a Windows host, for testing berth's Docker adapter without Windows. Built from
 * docs/reference/windows-engine.md (cited as §n): the request → response table of §7.2, the bodies of
 * §2.2 (/version), §3.4 (/info), §4.3 (image inspect) and §4.2 (container inspect), and the exact error strings of §6.
 *
 * It listens on a unix socket or on loopback TCP, keeps containers and images in memory, and records every request.
 * Nothing leaves the process: a "pull" only succeeds for images listed in the profile's `registry`.
 *
 * Deliberately independent of src/core/windows.ts: the start-time build check below is written from hcsshim's rule (§5.4)
 * again, so a bug there does not hide behind the same bug here.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type Isolation = "process" | "hyperv";
export type WindowsHostKind = "ws2019" | "ws2022" | "ws2025" | "win11";

export type FakeImage = {
  /** "mcr.microsoft.com/windows/nanoserver:ltsc2022", "busybox:1" (a missing tag means :latest). */
  ref: string;
  os: "windows" | "linux";
  /** Windows images: the full "10.0.<build>.<ubr>" of the image config's os.version (§4.1). */
  osVersion?: string | undefined;
  architecture?: string | undefined;
  /** Registry images: a manifest list (most MCR and Docker Hub images) or a single-platform manifest (§6 E7–E9). */
  manifestList?: boolean | undefined;
  cmd?: readonly string[] | undefined;
  user?: string | undefined;
};

export type WindowsEngineProfile = {
  listen: { socketPath: string } | { port?: number | undefined };
  /** "27.5.1" (default), "28.5.2", "20.10.7" …: drives the API range and the error formats (§1.3, §6). */
  engineVersion?: string | undefined;
  /** Overrides the maximum API version derived from engineVersion. */
  apiVersion?: string | undefined;
  platformName?: string | undefined;
  host?: WindowsHostKind | undefined;
  ubr?: number | undefined;
  /** Default "process" on Server hosts, "hyperv" on win11 (§3.3 Isolation). */
  defaultIsolation?: Isolation | undefined;
  hyperv?: "ok" | "not-installed" | "no-hypervisor" | undefined;
  /** Images on the host. Default: nanoserver:ltsc2022 and :1809, and a Linux busybox:1 (see defaultImages). */
  images?: readonly FakeImage[] | undefined;
  /** What a pull can fetch; anything else is "manifest unknown" (§6 E10). */
  registry?: readonly FakeImage[] | undefined;
  /** How long a started container runs before exiting 0; null = until stopped. Default 300 ms. */
  runMs?: number | null | undefined;
  /** The §5.5 failure: an image whose UBR is newer than the host's fails to start (observed on WS2025). */
  strictUbr?: boolean | undefined;
  swarm?: { state: "inactive" | "active"; manager: boolean } | undefined;
};

export type FakeRequest = { method: string; path: string; body: unknown };

export type FakeContainer = {
  id: string;
  name: string;
  image: FakeImage;
  imageRef: string; // as the client wrote it
  config: Record<string, unknown>; // the create body minus HostConfig
  hostConfig: Record<string, unknown>; // as sent, with Isolation replaced by the effective one
  isolation: Isolation;
  state: "created" | "running" | "exited";
  exitCode: number;
  error: string;
  created: Date;
  startedAt: Date | undefined;
  finishedAt: Date | undefined;
  output: { stream: "stdout" | "stderr"; text: string }[];
};

export type WindowsEngine = {
  /** unix:///… or tcp://127.0.0.1:port, ready for berth's DockerConnection. */
  url: string;
  requests: FakeRequest[];
  containers: Map<string, FakeContainer>;
  images: Map<string, FakeImage>;
  addImage(image: FakeImage): void;
  /** The API version range and message generation this fake speaks. */
  readonly maxApiVersion: string;
  readonly minApiVersion: string;
  close(): Promise<void>;
};

/** Host rows of §3.4's profile table. */
const hostRows: Record<WindowsHostKind, { build: number; ubr: number; server: boolean; display: string; kernel: string; oldName: string }> =
  {
    ws2019: {
      build: 17763,
      ubr: 316, // gitlab-runner fixture "17763.316"
      server: true,
      display: "1809",
      kernel: "10.0 17763 (17763.1.amd64fre.rs5_release.180914-1434)",
      oldName: "Windows Server 2019 Datacenter",
    },
    ws2022: {
      build: 20348,
      ubr: 707, // docker/cli docs sample
      server: true,
      display: "21H2",
      kernel: "10.0 20348 (20348.1.amd64fre.fe_release.210507-1500)",
      oldName: "Windows Server 2022 Datacenter",
    },
    ws2025: {
      build: 26100,
      ubr: 2894, // actions/runner-images#11582
      server: true,
      display: "24H2",
      kernel: "10.0 26100 (26100.1.amd64fre.ge_release.240331-1435)",
      oldName: "Windows Server 2025 Datacenter",
    },
    win11: {
      build: 26100,
      ubr: 2894,
      server: false,
      display: "24H2",
      kernel: "10.0 26100 (26100.1.amd64fre.ge_release.240331-1435)",
      oldName: "Windows 10 Pro", // the pre-23.0 bug of moby#43284: Windows 11 called itself Windows 10
    },
  };

export const defaultImages: readonly FakeImage[] = [
  { ref: "mcr.microsoft.com/windows/nanoserver:ltsc2022", os: "windows", osVersion: "10.0.20348.3566" },
  { ref: "mcr.microsoft.com/windows/nanoserver:1809", os: "windows", osVersion: "10.0.17763.7249" },
  { ref: "busybox:1", os: "linux", cmd: ["sh"], user: "" },
];

/** §1.3: maximum API per engine release (27.0–27.3 spoke 1.46; 28.x grew 1.48 → 1.51). */
function apiRange(engine: string): { max: string; min: string } {
  const [major = 0, minor = 0] = engine.split(/[.-]/).map(Number);
  const max =
    major === 20
      ? "1.41"
      : major === 23
        ? "1.42"
        : major === 24
          ? "1.43"
          : major === 25
            ? "1.44"
            : major === 26
              ? "1.45"
              : major === 27
                ? minor >= 4
                  ? "1.47"
                  : "1.46"
                : major === 28
                  ? `1.${Math.min(48 + minor, 51)}`
                  : major === 29
                    ? `1.${52 + minor}`
                    : undefined;
  if (!max) throw new Error(`windows-engine-fake: no API version known for engine ${engine}; pass apiVersion`);
  // §1.3: MinAPIVersion 1.24 up to 28.x, 1.44 in 29.0–29.2, 1.40 from 29.3.
  const min = major < 29 ? "1.24" : minor <= 2 ? "1.44" : "1.40";
  return { max, min };
}

const apiNumber = (v: string) => {
  const [a = 0, b = 0] = v.split(".").map(Number);
  return a * 1000 + b;
};

/** Docker's reference normalisation, enough for the fake: docker.io/library/ prefixes dropped, :latest added. */
export function normalizeRef(ref: string): string {
  let r = ref.replace(/^docker\.io\//, "").replace(/^library\//, "");
  if (r.includes("@")) return r;
  if (r.lastIndexOf(":") <= r.lastIndexOf("/")) r += ":latest";
  return r;
}

const hex = (bytes: number) => randomBytes(bytes).toString("hex");
const buildOf = (v: string | undefined) => {
  const m = /^10\.0\.(\d+)(?:\.(\d+))?$/.exec(v ?? "");
  return m ? { build: Number(m[1]), ubr: m[2] === undefined ? undefined : Number(m[2]) } : undefined;
};

/** hcsshim `CheckHostAndContainerCompat` (§5.4), restated for the fake. */
function hcsCompatible(host: number, image: number): boolean {
  if (host < 20348) return host === image;
  let oldest = 20348;
  for (const ltsc of [26100, 20348]) {
    if (host > ltsc) {
      oldest = ltsc;
      break;
    }
  }
  return oldest <= image && image <= host;
}

export async function startWindowsEngine(profile: WindowsEngineProfile): Promise<WindowsEngine> {
  const engineVersion = profile.engineVersion ?? "27.5.1";
  const [major = 0] = engineVersion.split(/[.-]/).map(Number);
  const range = apiRange(engineVersion);
  const maxApi = profile.apiVersion ?? range.max;
  const minApi = range.min;
  const kind = profile.host ?? "ws2022";
  const row = hostRows[kind];
  const ubr = profile.ubr ?? row.ubr;
  const defaultIsolation: Isolation = profile.defaultIsolation ?? (row.server ? "process" : "hyperv");
  const hyperv = profile.hyperv ?? "ok";
  const runMs = profile.runMs === undefined ? 300 : profile.runMs;
  const hostOs = `10.0.${row.build}`;
  // §6 E1: "hcs::" since Docker 23 (hcsshim internal/hcs), "hcsshim::" in 19.03/20.10.
  const hcsOp = major >= 23 ? "hcs::CreateComputeSystem" : "hcsshim::CreateComputeSystem";

  const requests: FakeRequest[] = [];
  const containers = new Map<string, FakeContainer>();
  const images = new Map<string, FakeImage>();
  const registry = new Map<string, FakeImage>();
  for (const i of profile.images ?? defaultImages) images.set(normalizeRef(i.ref), i);
  for (const i of profile.registry ?? []) registry.set(normalizeRef(i.ref), i);
  const timers = new Set<NodeJS.Timeout>();
  const exitWaiters = new Map<string, (() => void)[]>();
  const removeWaiters = new Map<string, (() => void)[]>();
  let nameCounter = 0;

  const notify = (map: Map<string, (() => void)[]>, id: string) => {
    for (const f of map.get(id) ?? []) f();
    map.delete(id);
  };
  const waitFor = (map: Map<string, (() => void)[]>, id: string) =>
    new Promise<void>((resolve) => map.set(id, [...(map.get(id) ?? []), resolve]));

  function remove(c: FakeContainer) {
    containers.delete(c.id);
    notify(removeWaiters, c.id);
  }

  function exit(c: FakeContainer, code: number) {
    if (c.state !== "running") return;
    c.state = "exited";
    c.exitCode = code;
    c.finishedAt = new Date();
    notify(exitWaiters, c.id);
    if (c.hostConfig.AutoRemove === true) remove(c);
  }

  // ---- responses ----------------------------------------------------------------------------------------------------

  /** moby's version middleware stamps these on every response (§1.1). */
  function stamp(res: ServerResponse) {
    res.setHeader("Api-Version", maxApi);
    res.setHeader("Ostype", "windows");
    res.setHeader("Docker-Experimental", "false");
    res.setHeader("Server", `Docker/${engineVersion} (windows)`);
  }
  function json(res: ServerResponse, status: number, body: unknown) {
    const text = JSON.stringify(body);
    res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
    res.end(text);
  }
  const error = (res: ServerResponse, status: number, message: string) => json(res, status, { message });
  const empty = (res: ServerResponse, status: number) => {
    res.writeHead(status);
    res.end();
  };

  function ping(req: IncomingMessage, res: ServerResponse) {
    // §1.1 pingHandler: Builder-Version and Swarm appear from 23.0.
    if (major >= 23) {
      res.setHeader("Builder-Version", "1");
      res.setHeader("Swarm", profile.swarm?.state === "active" ? (profile.swarm.manager ? "active/manager" : "active/worker") : "inactive");
    }
    res.setHeader("Cache-Control", "no-cache, no-store, must-revalidate");
    res.setHeader("Pragma", "no-cache");
    res.setHeader("Content-Type", "text/plain; charset=utf-8");
    if (req.method === "HEAD") {
      res.setHeader("Content-Length", "0");
      res.writeHead(200);
      res.end();
      return;
    }
    res.writeHead(200);
    res.end("OK");
  }

  function operatingSystem(): string {
    // §3.3: the format changed in 23.0 (moby 9aacaeb667); ReleaseId is frozen at 2009 after 20H2 on the old format.
    if (major >= 23) return `Microsoft Windows${row.server ? " Server" : ""} Version ${row.display} (OS Build ${row.build}.${ubr})`;
    const release = row.build >= 19042 ? "2009" : row.display;
    return `${row.oldName} Version ${release} (OS Build ${row.build}.${ubr})`;
  }

  const gitCommit = engineVersion.startsWith("27.5.1") ? "4c9b3b0" : engineVersion.startsWith("20.10.7") ? "e1bf5b9c13" : "0000000";
  const goVersion = engineVersion.startsWith("20.10") ? "go1.13.15" : "go1.22.11";

  function version() {
    // §2.2: one Engine component, no containerd/runc on Windows; Experimental omitted when false.
    const details = {
      ApiVersion: maxApi,
      Arch: "amd64",
      BuildTime: "2025-01-22T13:41:16.000000000+00:00", // placeholder (§2.2)
      Experimental: "false",
      GitCommit: gitCommit,
      GoVersion: goVersion,
      KernelVersion: row.kernel,
      MinAPIVersion: minApi,
      Os: "windows",
    };
    return {
      Platform: { Name: profile.platformName ?? "Docker Engine - Community" },
      Components: [{ Name: "Engine", Version: engineVersion, Details: details }],
      Version: engineVersion,
      ApiVersion: maxApi,
      MinAPIVersion: minApi,
      GitCommit: gitCommit,
      GoVersion: goVersion,
      Os: "windows",
      Arch: "amd64",
      KernelVersion: row.kernel,
      BuildTime: details.BuildTime,
    };
  }

  function info() {
    const all = [...containers.values()];
    const running = all.filter((c) => c.state === "running").length;
    const swarm = profile.swarm ?? { state: "inactive", manager: false };
    const commit = major >= 28 ? { ID: "" } : { ID: "", Expected: "" };
    // §3.4, with the profile row of §3.3; counts, memory, name and ID are the reference's placeholders.
    return {
      ID: "2880d38d-464e-4d01-91bd-c76f33ba3981",
      Containers: all.length,
      ContainersRunning: running,
      ContainersPaused: 0,
      ContainersStopped: all.length - running,
      Images: images.size,
      Driver: "windowsfilter",
      DriverStatus: [["Windows", ""]],
      Plugins: {
        Volume: ["local"],
        Network: ["ics", "internal", "l2bridge", "l2tunnel", "nat", "null", "overlay", "private", "transparent"],
        Authorization: null,
        Log: ["awslogs", "etwlogs", "fluentd", "gcplogs", "gelf", "json-file", "local", "splunk", "syslog"],
      },
      MemoryLimit: false,
      SwapLimit: false,
      CpuCfsPeriod: false,
      CpuCfsQuota: false,
      CPUShares: false,
      CPUSet: false,
      PidsLimit: false,
      IPv4Forwarding: true,
      BridgeNfIptables: false,
      BridgeNfIp6tables: false,
      Debug: false,
      NFd: -1,
      OomKillDisable: false,
      NGoroutines: 39,
      SystemTime: new Date().toISOString(),
      LoggingDriver: "json-file",
      CgroupDriver: "",
      NEventsListener: 0,
      KernelVersion: row.kernel,
      OperatingSystem: operatingSystem(),
      OSVersion: hostOs,
      OSType: "windows",
      Architecture: "x86_64",
      IndexServerAddress: "https://index.docker.io/v1/",
      RegistryConfig: {
        AllowNondistributableArtifactsCIDRs: null,
        AllowNondistributableArtifactsHostnames: null,
        InsecureRegistryCIDRs: ["127.0.0.0/8"],
        IndexConfigs: { "docker.io": { Name: "docker.io", Mirrors: [], Secure: true, Official: true } },
        Mirrors: null,
      },
      NCPU: 8,
      MemTotal: 4293898240,
      GenericResources: null,
      DockerRootDir: "C:\\ProgramData\\docker",
      HttpProxy: "",
      HttpsProxy: "",
      NoProxy: "",
      Name: "WIN-V0V70C0LU5P",
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: engineVersion,
      Runtimes: null,
      DefaultRuntime: "",
      Swarm: {
        NodeID: swarm.state === "active" ? "n0d3" : "",
        NodeAddr: "",
        LocalNodeState: swarm.state,
        ControlAvailable: swarm.state === "active" && swarm.manager,
        Error: "",
        RemoteManagers: null,
      },
      LiveRestoreEnabled: false,
      Isolation: defaultIsolation,
      InitBinary: "",
      ContainerdCommit: commit,
      RuncCommit: commit,
      InitCommit: commit,
      SecurityOptions: null,
      CDISpecDirs: [],
      Warnings: null,
    };
  }

  function imageInspect(ref: string, img: FakeImage) {
    const id = `sha256:${hex(32)}`;
    const repo = ref.slice(0, ref.lastIndexOf(":"));
    const windows = img.os === "windows";
    // §4.3 (Windows) / the Linux field set; digests, Created and Size are placeholders.
    return {
      Id: id,
      RepoTags: [ref],
      RepoDigests: [`${repo}@sha256:${hex(32)}`],
      Parent: "",
      Comment: "",
      Created: "2025-04-09T19:39:47.123Z",
      DockerVersion: "",
      Author: "",
      Config: {
        User: img.user ?? (windows ? "ContainerUser" : ""),
        Env: windows ? null : ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        Cmd: img.cmd ?? (windows ? ["c:\\windows\\system32\\cmd.exe"] : ["sh"]),
        Volumes: null,
        WorkingDir: "",
        Entrypoint: null,
        Labels: null,
      },
      Architecture: img.architecture ?? "amd64",
      Os: img.os,
      ...(img.osVersion ? { OsVersion: img.osVersion } : {}), // omitempty (§4.1)
      Size: windows ? 296000000 : 4261574,
      GraphDriver: windows
        ? { Name: "windowsfilter", Data: { dir: `C:\\ProgramData\\docker\\windowsfilter\\${hex(32)}` } }
        : { Name: "overlay2", Data: null },
      RootFS: { Type: "layers", Layers: [`sha256:${hex(32)}`] },
      Metadata: { LastTagTime: "0001-01-01T00:00:00Z" },
    };
  }

  // ---- containers ---------------------------------------------------------------------------------------------------

  function find(ref: string): FakeContainer | undefined {
    const want = decodeURIComponent(ref).replace(/^\//, "");
    const byId = containers.get(want);
    if (byId) return byId;
    for (const c of containers.values()) if (c.name === want) return c;
    const hits = [...containers.values()].filter((c) => c.id.startsWith(want));
    return hits.length === 1 ? hits[0] : undefined;
  }

  function status(c: FakeContainer): string {
    const ago = (d: Date | undefined) => {
      const s = Math.max(1, Math.round((Date.now() - (d?.getTime() ?? Date.now())) / 1000));
      return s === 1 ? "Less than a second" : `${s} seconds`;
    };
    if (c.state === "running") return `Up ${ago(c.startedAt)}`;
    if (c.state === "exited") return `Exited (${c.exitCode}) ${ago(c.finishedAt)} ago`;
    return "Created";
  }

  function network(c: FakeContainer) {
    const mode = String(c.hostConfig.NetworkMode || "nat");
    // §4.2: Windows containers land on "nat" unless told otherwise.
    const name = mode === "default" ? "nat" : mode;
    return { [name]: { NetworkID: hex(32), EndpointID: c.state === "running" ? hex(32) : "", IPAddress: "", MacAddress: "" } };
  }

  function summary(c: FakeContainer) {
    return {
      Id: c.id,
      Names: [`/${c.name}`],
      Image: c.imageRef,
      ImageID: `sha256:${hex(32)}`,
      Command: (c.config.Cmd as string[] | undefined)?.join(" ") ?? "c:\\windows\\system32\\cmd.exe",
      Created: Math.floor(c.created.getTime() / 1000),
      Ports: [],
      Labels: (c.config.Labels as Record<string, string> | undefined) ?? {},
      State: c.state,
      Status: status(c),
      HostConfig: { NetworkMode: String(c.hostConfig.NetworkMode || "nat") },
      NetworkSettings: { Networks: network(c) },
      Mounts: [],
    };
  }

  function inspect(c: FakeContainer) {
    const cmd = (c.config.Cmd as string[] | undefined) ?? c.image.cmd ?? ["c:\\windows\\system32\\cmd.exe"];
    const zero = "0001-01-01T00:00:00Z";
    // §4.2 real sample: Driver windowsfilter, Platform windows, the effective Isolation in HostConfig, network nat.
    return {
      Id: c.id,
      Created: c.created.toISOString(),
      Path: cmd[0] ?? "",
      Args: cmd.slice(1),
      State: {
        Status: c.state,
        Running: c.state === "running",
        Paused: false,
        Restarting: false,
        OOMKilled: false,
        Dead: false,
        Pid: c.state === "running" ? 4242 : 0,
        ExitCode: c.exitCode,
        Error: c.error,
        StartedAt: c.startedAt?.toISOString() ?? zero,
        FinishedAt: c.finishedAt?.toISOString() ?? zero,
      },
      Image: `sha256:${hex(32)}`,
      ResolvConfPath: "",
      HostnamePath: "",
      HostsPath: "",
      LogPath: `C:\\ProgramData\\docker\\containers\\${c.id}\\${c.id}-json.log`,
      Name: `/${c.name}`,
      RestartCount: 0,
      Driver: "windowsfilter",
      Platform: "windows",
      MountLabel: "",
      ProcessLabel: "",
      AppArmorProfile: "",
      ExecIDs: null,
      HostConfig: { ...c.hostConfig, Isolation: c.isolation },
      GraphDriver: { Name: "windowsfilter", Data: { dir: `C:\\ProgramData\\docker\\windowsfilter\\${c.id}` } },
      Mounts: [],
      Config: {
        Hostname: c.id.slice(0, 12),
        Domainname: "",
        User: (c.config.User as string | undefined) || (c.image.user ?? "ContainerUser"),
        AttachStdin: false,
        AttachStdout: false,
        AttachStderr: false,
        Tty: c.config.Tty === true,
        OpenStdin: false,
        StdinOnce: false,
        Env: (c.config.Env as string[] | undefined) ?? null,
        Cmd: cmd,
        Image: c.imageRef,
        Volumes: null,
        WorkingDir: "",
        Entrypoint: null,
        OnBuild: null,
        Labels: (c.config.Labels as Record<string, string> | undefined) ?? {},
      },
      NetworkSettings: { Networks: network(c) },
    };
  }

  /** §6 E12/E17: runconfig validation — 400 from Docker 28 (InvalidArgument), a plain error (500) before. */
  const validationStatus = major >= 28 ? 400 : 500;

  function create(res: ServerResponse, query: URLSearchParams, body: Record<string, unknown>) {
    const hc = (body.HostConfig ?? {}) as Record<string, unknown>;
    const { HostConfig: _, ...config } = body;
    const isolation = typeof hc.Isolation === "string" ? hc.Isolation : "";
    const iso = isolation.toLowerCase();
    if (!["", "default", "process", "hyperv"].includes(iso))
      return error(
        res,
        validationStatus,
        major >= 28
          ? `invalid isolation (${isolation}): Windows supports 'default', 'process', or 'hyperv'`
          : `Invalid isolation: "${isolation}". Windows supports 'default', 'process', or 'hyperv'`,
      );
    if (hc.Privileged === true)
      return error(res, validationStatus, "invalid option: privileged mode is not supported for Windows containers");
    if (hc.ReadonlyRootfs === true)
      return error(res, validationStatus, "invalid option: read-only mode is not supported for Windows containers");
    // §6 E16 verifyPlatformContainerResources: InvalidParameter, 400 on every version.
    const unsupported: [string, boolean][] = [
      ["CPUPeriod", Number(hc.CpuPeriod ?? 0) !== 0],
      ["CpusetCpus", Boolean(hc.CpusetCpus)],
      ["CpusetMems", Boolean(hc.CpusetMems)],
      ["BlkioWeight", Number(hc.BlkioWeight ?? 0) > 0],
      ["KernelMemory", Number(hc.KernelMemory ?? 0) !== 0],
      ["MemoryReservation", Number(hc.MemoryReservation ?? 0) !== 0],
      ["MemorySwap", Number(hc.MemorySwap ?? 0) !== 0],
      ["MemorySwappiness", hc.MemorySwappiness !== undefined && hc.MemorySwappiness !== null],
      ["OomKillDisable", hc.OomKillDisable === true],
      ["PidsLimit", hc.PidsLimit !== undefined && hc.PidsLimit !== null && hc.PidsLimit !== 0],
      ["Ulimits", Array.isArray(hc.Ulimits) && hc.Ulimits.length > 0],
    ];
    const bad = unsupported.find(([, yes]) => yes);
    if (bad) return error(res, 400, `invalid option: Windows does not support ${bad[0]}`);
    const imageRef = String(body.Image ?? "");
    const image = images.get(normalizeRef(imageRef));
    if (!image) return error(res, 404, `No such image: ${normalizeRef(imageRef)}`); // §6 E11
    const id = hex(32);
    const wanted = query.get("name")?.replace(/^\//, "");
    if (wanted) {
      const taken = [...containers.values()].find((c) => c.name === wanted);
      if (taken)
        return error(
          res,
          409,
          `Conflict. The container name "/${wanted}" is already in use by container "${taken.id}". You have to remove (or rename) that container to be able to reuse that name.`,
        );
    }
    const name = wanted || `fake_windows_${++nameCounter}`;
    // createContainerOSSpecificSettings writes the daemon default into the HostConfig (§4.2, §7.2).
    const effective: Isolation = iso === "process" || iso === "hyperv" ? iso : defaultIsolation;
    const build = buildOf(image.osVersion);
    containers.set(id, {
      id,
      name,
      image,
      imageRef,
      config,
      hostConfig: { ...hc, Isolation: effective },
      isolation: effective,
      state: "created",
      exitCode: 0,
      error: "",
      created: new Date(),
      startedAt: undefined,
      finishedAt: undefined,
      output: [
        { stream: "stdout", text: `Microsoft Windows [Version 10.0.${build?.build ?? row.build}.${build?.ubr ?? ubr}]` },
        { stream: "stdout", text: "(c) Microsoft Corporation. All rights reserved." },
      ],
    });
    // moby (containerCreate, v24+) warns rather than refuses when the image's platform is not the host's.
    const warnings =
      image.os === "windows"
        ? []
        : [
            `The requested image's platform (${image.os}/${image.architecture ?? "amd64"}) does not match the detected host platform (windows/amd64) and no specific platform was requested`,
          ];
    return json(res, 201, { Id: id, Warnings: warnings });
  }

  /** Why HCS refuses to start `c`, or undefined (§7.2 start rows, §6 E1/E3/E4/E6). */
  function startFailure(c: FakeContainer): string | undefined {
    const mismatch = `${hcsOp} ${c.id}: The container operating system does not match the host operating system.`;
    // A Linux image cannot reach HCS as a Windows container; the exact wording is a guess (not in the reference).
    if (c.image.os !== "windows") return mismatch;
    const img = buildOf(c.image.osVersion);
    if (c.isolation === "hyperv") {
      if (hyperv === "not-installed")
        return `${hcsOp} ${c.id}: The virtual machine could not be started because a required feature is not installed.`;
      if (hyperv === "no-hypervisor") return `${hcsOp} ${c.id}: No hypervisor is present on this system.`;
      // "cannot normally happen (pull blocked). If seeded anyway, 500 with the mismatch message (guess)".
      if (img && img.build > row.build) return mismatch;
      return undefined;
    }
    if (img && !hcsCompatible(row.build, img.build)) return mismatch;
    if (profile.strictUbr && img?.ubr !== undefined && img.build === row.build && img.ubr > ubr)
      return `container ${c.id} encountered an error during hcs::System::Start: failure in a Windows system call: The virtual machine or container exited unexpectedly. (0xc0370106)`;
    return undefined;
  }

  function start(res: ServerResponse, c: FakeContainer) {
    if (c.state === "running") return empty(res, 304);
    const failure = startFailure(c);
    if (failure) {
      // daemon/start.go: the container stays "created" with exit code 128 and the error recorded.
      c.exitCode = 128;
      c.error = failure;
      return error(res, 500, failure);
    }
    c.state = "running";
    c.error = "";
    c.exitCode = 0;
    c.startedAt = new Date();
    c.finishedAt = undefined;
    if (runMs !== null) {
      const t = setTimeout(() => {
        timers.delete(t);
        exit(c, 0);
      }, runMs);
      timers.add(t);
    }
    return empty(res, 204);
  }

  async function wait(res: ServerResponse, c: FakeContainer, condition: string) {
    // moby flushes the 200 header at once and writes the body when the condition is met.
    res.writeHead(200, { "Content-Type": "application/json" });
    res.flushHeaders();
    if (condition === "removed") await waitFor(removeWaiters, c.id);
    else if (condition === "next-exit" || c.state === "running") await waitFor(exitWaiters, c.id);
    res.end(`${JSON.stringify({ StatusCode: c.exitCode, Error: null })}\n`);
  }

  function frame(stream: "stdout" | "stderr", text: string): Buffer {
    const payload = Buffer.from(`${text}\r\n`);
    const header = Buffer.alloc(8);
    header.writeUInt8(stream === "stderr" ? 2 : 1, 0);
    header.writeUInt32BE(payload.length, 4);
    return Buffer.concat([header, payload]);
  }

  async function logs(res: ServerResponse, c: FakeContainer, query: URLSearchParams, api: number) {
    const on = (k: string) => ["1", "true"].includes(query.get(k) ?? "");
    const tty = c.config.Tty === true;
    const lines = c.startedAt ? c.output.filter((l) => (l.stream === "stdout" ? on("stdout") : on("stderr"))) : [];
    const tail = query.get("tail");
    const shown = tail && tail !== "all" ? lines.slice(Math.max(0, lines.length - Number(tail))) : lines;
    res.writeHead(200, {
      "Content-Type": tty || api < 1042 ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream",
    });
    for (const l of shown) res.write(tty ? Buffer.from(`${l.text}\r\n`) : frame(l.stream, l.text));
    if (on("follow") && c.state === "running") await Promise.race([waitFor(exitWaiters, c.id), waitFor(removeWaiters, c.id)]);
    res.end();
  }

  function stop(res: ServerResponse, c: FakeContainer) {
    if (c.state !== "running") return empty(res, 304);
    exit(c, 0);
    return empty(res, 204);
  }

  function del(res: ServerResponse, c: FakeContainer, query: URLSearchParams) {
    if (c.state === "running") {
      if (!["1", "true"].includes(query.get("force") ?? ""))
        return error(
          res,
          409,
          `cannot remove container "/${c.name}": container is running: stop the container before removing or force remove`,
        );
      exit(c, 0);
    }
    remove(c);
    return empty(res, 204);
  }

  function list(res: ServerResponse, query: URLSearchParams) {
    const all = ["1", "true"].includes(query.get("all") ?? "");
    // dockerode encodes filters as JSON: {"label":["io.berth.managed=true"]}.
    const filters = JSON.parse(query.get("filters") || "{}") as Record<string, string[] | Record<string, boolean>>;
    const labelFilter = filters.label;
    const wanted = Array.isArray(labelFilter) ? labelFilter : Object.keys(labelFilter ?? {});
    const out = [...containers.values()]
      .filter((c) => all || c.state === "running")
      .filter((c) => {
        const have = (c.config.Labels as Record<string, string> | undefined) ?? {};
        return wanted.every((f) => {
          const at = f.indexOf("=");
          return at < 0 ? f in have : have[f.slice(0, at)] === f.slice(at + 1);
        });
      })
      .sort((a, b) => b.created.getTime() - a.created.getTime())
      .map(summary);
    json(res, 200, out);
  }

  // ---- images -------------------------------------------------------------------------------------------------------

  function pull(res: ServerResponse, query: URLSearchParams) {
    const from = query.get("fromImage") ?? "";
    const tag = query.get("tag");
    const ref = normalizeRef(tag ? `${from}:${tag}` : from);
    const at = ref.lastIndexOf(":");
    const repo = ref.slice(0, at);
    const t = ref.slice(at + 1);
    const img = registry.get(ref);
    // §6 E10: an unknown tag fails before anything is streamed, so it is a plain 404.
    if (!img) return error(res, 404, `manifest for ${repo}:${t} not found: manifest unknown: manifest tagged by "${t}" is not found`);
    // The progress "Pulling from" names the repository path without the registry host; Docker Hub adds library/.
    const first = repo.split("/")[0] ?? "";
    const registryHost = repo.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
    const path = registryHost ? repo.slice(first.length + 1) : repo.includes("/") ? repo : `library/${repo}`;
    res.writeHead(200, { "Content-Type": "application/json" });
    const line = (o: unknown) => res.write(`${JSON.stringify(o)}\r\n`);
    line({ status: `Pulling from ${path}`, id: t });
    const noMatch =
      major >= 28
        ? `no matching manifest for windows(${hostOs})/amd64 in the manifest list entries` // §6 E7b
        : `no matching manifest for windows/amd64 ${hostOs} in the manifest list entries`; // §6 E7a
    const fail = (message: string) => {
      line({ errorDetail: { message }, error: message });
      res.end();
    };
    if (img.os !== "windows") {
      if (img.manifestList !== false) return fail(noMatch);
      // §6 E8: the ": operating system is not supported" suffix arrived with 24.0.
      return fail(
        `image operating system "${img.os}" cannot be used on this platform${major >= 24 ? ": operating system is not supported" : ""}`,
      );
    }
    const b = buildOf(img.osVersion);
    if (b && b.build > row.build) {
      if (img.manifestList !== false) return fail(noMatch); // §6 E9b: filterManifests skips the newer entry
      return fail(`a Windows version 10.0.${b.build}-based image is incompatible with a ${hostOs} host`); // §6 E9
    }
    if (images.has(ref)) {
      line({ status: `Digest: sha256:${hex(32)}` });
      line({ status: `Status: Image is up to date for ${ref}` });
      return res.end();
    }
    const layer = hex(6);
    line({ status: "Pulling fs layer", progressDetail: {}, id: layer });
    line({ status: "Downloading", progressDetail: { current: 1048576, total: 117440512 }, progress: "[>    ]", id: layer });
    line({ status: "Download complete", progressDetail: {}, id: layer });
    line({ status: "Extracting", progressDetail: { current: 117440512, total: 117440512 }, id: layer });
    line({ status: "Pull complete", progressDetail: {}, id: layer });
    line({ status: `Digest: sha256:${hex(32)}` });
    line({ status: `Status: Downloaded newer image for ${ref}` });
    images.set(ref, img);
    res.end();
  }

  // ---- routing ------------------------------------------------------------------------------------------------------

  async function readBody(req: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    if (!text) return undefined;
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const body = await readBody(req);
    const method = req.method ?? "GET";
    const raw = req.url ?? "/";
    requests.push({ method, path: raw, body });
    stamp(res);
    const url = new URL(raw, "http://fake");
    let path = url.pathname;
    let api = apiNumber(maxApi);
    const versioned = /^\/v(\d+\.\d+)(\/.*)$/.exec(path);
    if (versioned) {
      const v = versioned[1] ?? "";
      path = versioned[2] ?? "/";
      api = apiNumber(v);
      const tooOld = `client version ${v} is too old. Minimum supported API version is ${minApi}, please upgrade your client to a newer version`;
      if (api < apiNumber("1.24")) {
        // §1.2: below 1.24 the error is plain text, not JSON.
        res.writeHead(400, { "Content-Type": "text/plain; charset=utf-8" });
        return res.end(`${tooOld}\n`);
      }
      if (api < apiNumber(minApi)) return error(res, 400, tooOld);
      if (api > apiNumber(maxApi)) return error(res, 400, `client version ${v} is too new. Maximum supported API version is ${maxApi}`);
    }
    const q = url.searchParams;
    const route = `${method} ${path}`;
    if (path === "/_ping" && (method === "GET" || method === "HEAD")) return ping(req, res);
    if (route === "GET /version") return json(res, 200, version());
    if (route === "GET /info") return json(res, 200, info());
    if (route === "GET /containers/json") return list(res, q);
    if (route === "POST /containers/create") return create(res, q, (body ?? {}) as Record<string, unknown>);
    if (route === "POST /images/create") return pull(res, q);
    const image = /^\/images\/(.+)\/json$/.exec(path);
    if (image && method === "GET") {
      const ref = normalizeRef(decodeURIComponent(image[1] ?? ""));
      const img = images.get(ref);
      return img ? json(res, 200, imageInspect(ref, img)) : error(res, 404, `No such image: ${ref}`);
    }
    const container = /^\/containers\/([^/]+)(?:\/(json|start|stop|wait|logs))?$/.exec(path);
    if (container) {
      const [, ref = "", action] = container;
      const c = find(ref);
      const op = `${method} ${action ?? ""}`;
      const known = ["GET json", "POST start", "POST stop", "POST wait", "GET logs", "DELETE "].includes(op);
      if (known && !c) return error(res, 404, `No such container: ${decodeURIComponent(ref)}`);
      if (c) {
        if (op === "GET json") return json(res, 200, inspect(c));
        if (op === "POST start") return start(res, c);
        if (op === "POST stop") return stop(res, c);
        if (op === "POST wait") return wait(res, c, q.get("condition") ?? "not-running");
        if (op === "GET logs") return logs(res, c, q, api);
        if (op === "DELETE ") return del(res, c, q);
      }
    }
    return error(res, 404, "page not found");
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) error(res, 500, String(e));
      else res.destroy();
    });
  });
  const listen = profile.listen;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    if ("socketPath" in listen) server.listen(listen.socketPath, resolve);
    else server.listen(listen.port ?? 0, "127.0.0.1", resolve);
  });
  const url = "socketPath" in listen ? `unix://${listen.socketPath}` : `tcp://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    requests,
    containers,
    images,
    maxApiVersion: maxApi,
    minApiVersion: minApi,
    addImage(image) {
      images.set(normalizeRef(image.ref), image);
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      // Release anyone parked on wait or a followed log, then drop the sockets.
      for (const id of [...exitWaiters.keys()]) notify(exitWaiters, id);
      for (const id of [...removeWaiters.keys()]) notify(removeWaiters, id);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
