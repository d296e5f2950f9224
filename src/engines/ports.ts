/**
 * The ports the core owns and the engine adapters implement. Nothing in here knows about dockerode; the adapter in
 * `docker/` is the only importer of the SDK. Every call takes an AbortSignal; every failure is a BerthError.
 */

/** Labels berth puts on every container it creates. Which of them make a container berth's: see `isOwned`. */
export const labels = {
  managed: "io.berth.managed",
  /** This berth's installation id (kept in its store): any image can carry `managed`, none can guess this. */
  installation: "io.berth.installation",
  user: "io.berth.user",
  channel: "io.berth.channel",
  job: "io.berth.job",
  host: "io.berth.host",
  /** When berth stops the container (epoch ms), even a detached one, even after berth restarted. */
  deadline: "io.berth.deadline",
  /** "true" on a `run -d` container: its job ends once it started, so no job card shows how it ends. */
  detached: "io.berth.detached",
} as const;

/**
 * The one test of "this container is berth's": `managed`, this installation's id, and a job. Every list, lookup,
 * action and event goes through it (the engine filters with `ownerFilters`, the same three).
 */
export function isOwned(l: Readonly<Record<string, string>> | undefined, installation: string): boolean {
  return installation !== "" && l?.[labels.managed] === "true" && l[labels.installation] === installation && !!l[labels.job];
}

/** `isOwned` as Docker label filters (all must match; a bare key matches any value). */
export const ownerFilters = (installation: string) => [`${labels.managed}=true`, `${labels.installation}=${installation}`, labels.job];

export type LogLine = {
  stream: "stdout" | "stderr";
  text: string;
  /** A piece of a line cut for length: the line goes on in the next piece of this stream (the redactor needs both). */
  continued?: boolean;
  /**
   * When the engine logged the line: Docker's timestamp, RFC 3339 with 9 fractional digits (so that two compare as
   * text). A stream carries on after it with `LogQuery.after` (a restart, a lost connection). Absent for exec output.
   */
  at?: string | undefined;
};

export type Isolation = "process" | "hyperv";

export type EngineInfo = {
  name: string; // the host name in berth's manifest
  osType: string; // "linux" | "windows"
  /** Human-readable OS, e.g. "Microsoft Windows Server Version 21H2 (OS Build 20348.707)" or "Debian GNU/Linux 12 (kernel 6.1.0)". */
  osVersion: string;
  /** Windows: "10.0.<build>" from /info OSVersion (no revision); Linux: the kernel version. */
  osBuild: string;
  architecture: string; // x86_64, aarch64
  engineVersion: string;
  /** The API version berth speaks to this engine: min(engine's maximum, berth's maximum), negotiated from /_ping. */
  apiVersion: string;
  /** The newest API version the engine supports. */
  maxApiVersion: string;
  /** Windows only: the engine's default isolation ("process" on Server, "hyperv" on client SKUs); undefined on Linux. */
  defaultIsolation: Isolation | undefined;
  /** Isolation modes berth may request on this host ([] on Linux, where only the default exists). */
  isolations: readonly Isolation[];
  swarm: { state: "inactive" | "pending" | "active" | "error" | "locked"; role: "manager" | "worker" | undefined };
};

/** What an image on a host was built for (from image inspect). */
export type ImagePlatform = { os: string; osVersion: string | undefined; architecture: string };

/** A berth-managed container event the notifier cares about. `time` is the engine's nanosecond timestamp. */
export type ContainerEvent = {
  kind: "die" | "oom" | "unhealthy";
  id: string; // 12-char short id
  name: string;
  image: string;
  exitCode: number | undefined; // die only
  labels: Readonly<Record<string, string>>;
  timeNano: bigint;
};

/**
 * One past event of the engine, for `changes`: a berth container's create/start/die/oom/kill/…, or a host-wide fact
 * (an image pulled or tagged, a Swarm service or node changed). `at` is epoch ms.
 */
export type EngineChange = {
  type: "container" | "image" | "service" | "node";
  action: string;
  /** 12-char short id (an image's or service's as the engine names it). */
  id: string;
  /** The container's, service's or node's name; an image's reference. */
  name: string;
  at: number;
  exitCode?: number | undefined;
  /** kill: the signal sent. */
  signal?: string | undefined;
  /** A container's image. */
  image?: string | undefined;
  /** service update/scale: what changed, as the engine said it (`replicas.new`, `image.new`…), when it did. */
  detail?: string | undefined;
};

/**
 * What the engine still remembers of a window. `seen` counts every event it returned (before berth's own were picked
 * out) and `oldestAt` is the oldest of them: Docker answers from a buffer of its last 256 events (see `eventBuffer`),
 * so a full buffer whose oldest event is newer than the window's start means the rest was forgotten.
 */
export type EngineHistory = { changes: EngineChange[]; seen: number; oldestAt: number | undefined };

/** Docker's in-memory event buffer (docker/docs PR 21130: "Only the last 256 log events are returned"). */
export const eventBuffer = 256;

export type ServiceSummary = {
  id: string; // 12-char short id
  name: string;
  image: string; // without the @sha256 digest
  mode: "replicated" | "global";
  desired: number | undefined; // replicated: Spec.Mode.Replicated.Replicas; global: undefined
  running: number;
  /** UpdateStatus.State when an update or rollback ran: updating, paused, completed, rollback_started, … */
  updateState: string | undefined;
  updateMessage: string | undefined;
};

export type ServiceTask = {
  id: string; // 12-char short id
  slot: number | undefined;
  node: string | undefined; // hostname when known, else node id
  image: string;
  state: string; // Status.State: new, pending, running, failed, rejected, shutdown, complete…
  desiredState: string;
  message: string; // Status.Message
  error: string | undefined; // Status.Err
  exitCode: number | undefined;
  updatedAt: Date;
};

export type ServiceChange =
  | { kind: "scale"; replicas: number }
  | { kind: "image"; image: string }
  /** `expect`: roll back only if the previous spec still runs this image (the one berth checked), else CONFLICT. */
  | { kind: "rollback"; expect?: string | undefined };

/** One observation of a service converging after a change. */
export type Convergence = {
  running: number; // tasks running for the current spec
  desired: number;
  failed: readonly ServiceTask[]; // failed/rejected tasks since the change began, newest first
  updateState: string | undefined;
  updateMessage: string | undefined;
  /** done = converged (ok) or given up (failed: update paused, rollback paused, …). */
  done: boolean;
  ok: boolean;
};

export type ServiceLogQuery = { service: string; follow: boolean; tail?: number | undefined; sinceSeconds?: number | undefined };

export type RunSpec = {
  image: string;
  cmd: readonly string[]; // empty = the image's default command
  name?: string | undefined;
  env: readonly { name: string; value: string }[];
  labels: Readonly<Record<string, string>>;
  memoryBytes: number;
  nanoCpus: number;
  pidsLimit: number;
  networkMode: string;
  privileged: boolean;
  /** Operator-defined host directories (resolved from mount names by the policy), bound into the container. */
  mounts: readonly { source: string; target: string; readOnly: boolean }[];
  autoRemove: boolean;
  tty: boolean;
  platform?: string | undefined;
  isolation?: string | undefined;
};

/**
 * A registry login as Docker's X-Registry-Auth carries it (the Engine API's AuthConfig). It goes to the engine with a
 * pull and nowhere else: never into a message, a log line or an audit record.
 */
export type RegistryAuth = { readonly username: string; readonly password: string; readonly serveraddress: string };

/** One step of an image pull, already reduced to something a person can read ("Downloading 12/40 MB"). */
export type PullProgress = { status: string; id?: string | undefined; current?: number | undefined; total?: number | undefined };

export type ContainerSummary = {
  id: string; // 12-char short id
  name: string;
  image: string;
  state: string; // running, exited, created, …
  status: string; // "Up 3 minutes", "Exited (0) 2 seconds ago"
  createdAt: Date;
  labels: Readonly<Record<string, string>>;
};

export type ContainerDetails = ContainerSummary & {
  cmd: readonly string[];
  envNames: readonly string[]; // names only: values never leave the adapter
  exitCode: number | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  restartCount: number;
  oomKilled: boolean;
  tty: boolean;
  memoryBytes: number;
  nanoCpus: number;
  pidsLimit: number;
  networkMode: string;
  privileged: boolean;
};

export type ExitStatus = { exitCode: number; oomKilled: boolean };

export type LogQuery = {
  container: string; // name or id (prefix), resolved among berth's containers
  follow: boolean;
  tail?: number | undefined; // last N lines; undefined = all
  sinceSeconds?: number | undefined; // only lines newer than now - N seconds
  /** Only lines logged before this time (epoch seconds), as Docker's `until`. */
  until?: number | undefined;
  /** Only lines logged after this `LogLine.at` (a cursor): a stream carried on, with nothing repeated. */
  after?: string | undefined;
  /** Only lines logged at or after this `LogLine.at`: a stream's full log read again from its first line. */
  from?: string | undefined;
};

/**
 * One container's resources at one moment, as `docker stats --no-stream` shows them. A figure the engine did not give
 * (Windows has no memory limit or pids, a container that just stopped has no CPU sample) is undefined, never 0.
 */
export type ContainerStats = {
  id: string; // 12-char short id
  name: string;
  cpuPercent: number | undefined;
  memoryBytes: number | undefined;
  memoryLimitBytes: number | undefined;
  memoryPercent: number | undefined;
  netRxBytes: number | undefined;
  netTxBytes: number | undefined;
  blockReadBytes: number | undefined;
  blockWriteBytes: number | undefined;
  pids: number | undefined;
};

/** A stats answer per container asked for: its figures, or why there are none (the others are still answered). */
export type StatsSnapshot =
  | { ref: string; stats: ContainerStats }
  | { ref: string; problem: "not-found" | "not-running" | "failed"; detail: string };

/** A container's processes as `docker top` shows them: the engine's column titles and one row per process. */
export type ProcessTable = { titles: readonly string[]; processes: readonly (readonly string[])[] };

export type ExecHandle = { lines: AsyncIterable<LogLine>; exitCode: () => Promise<number> };

export interface ContainerEngine {
  readonly name: string;
  info(signal: AbortSignal): Promise<EngineInfo>;
  hasImage(image: string, signal: AbortSignal): Promise<boolean>;
  /** The image's OS, OS build and architecture, or undefined when the image is not on the host. */
  imagePlatform(image: string, signal: AbortSignal): Promise<ImagePlatform | undefined>;
  /**
   * Pulls an image, with the registry login when given; yields progress; throws UNAVAILABLE/NOT_FOUND, or FORBIDDEN
   * when the registry refused, with a readable message naming the registry when the pull fails.
   */
  pull(image: string, signal: AbortSignal, auth?: RegistryAuth): AsyncIterable<PullProgress>;
  /** Creates and starts a container; returns its short id and name. */
  run(spec: RunSpec, signal: AbortSignal): Promise<{ id: string; name: string }>;
  list(options: { all: boolean }, signal: AbortSignal): Promise<ContainerSummary[]>;
  /** Resolves a name or id prefix among berth's containers; NOT_FOUND (with a hint) otherwise. */
  inspect(container: string, signal: AbortSignal): Promise<ContainerDetails>;
  logs(query: LogQuery, signal: AbortSignal): AsyncIterable<LogLine>;
  /**
   * The container's environment values, for one purpose only: masking them in output shown in Slack. Callers hand
   * them to the redactor and never render them.
   */
  secretValues(container: string, signal: AbortSignal): Promise<string[]>;
  wait(container: string, signal: AbortSignal): Promise<ExitStatus>;
  stop(container: string, signal: AbortSignal): Promise<void>;
  start(container: string, signal: AbortSignal): Promise<void>;
  restart(container: string, signal: AbortSignal): Promise<void>;
  remove(container: string, options: { force: boolean }, signal: AbortSignal): Promise<void>;
  exec(container: string, cmd: readonly string[], signal: AbortSignal): Promise<ExecHandle>;
  /**
   * One resource snapshot per container named (name or id prefix, among berth's), or of every running berth container
   * when none is named; read concurrently with a bound. A name that matches none is answered as `not-found`.
   */
  stats(containers: readonly string[], signal: AbortSignal): Promise<StatsSnapshot[]>;
  /** The running container's processes; CONFLICT when it is not running. */
  top(container: string, signal: AbortSignal): Promise<ProcessTable>;
  /**
   * die (non-zero exit), oom and health_status: unhealthy events of berth-managed containers, from `since` (ns) on.
   * Ends with UNAVAILABLE when the engine goes away; the caller reconnects with the last `timeNano` it saw.
   */
  events(options: { sinceNano?: bigint | undefined }, signal: AbortSignal): AsyncIterable<ContainerEvent>;
  /**
   * The engine's past events between `since` and `until` (epoch ms), read once (not followed): berth's containers'
   * events and the host's image, service and node events, oldest first. UNAVAILABLE when the engine cannot be reached.
   */
  pastEvents(window: { since: number; until: number }, signal: AbortSignal): Promise<EngineHistory>;
  /** Swarm services. All throw CONFLICT with a clear message when the host is not a swarm manager. */
  services(signal: AbortSignal): Promise<ServiceSummary[]>;
  serviceTasks(service: string, signal: AbortSignal): Promise<ServiceTask[]>;
  serviceLogs(query: ServiceLogQuery, signal: AbortSignal): AsyncIterable<LogLine>;
  /** The service's environment values (from its spec), for masking in its logs only, like secretValues. */
  serviceSecretValues(service: string, signal: AbortSignal): Promise<string[]>;
  /** Applies a change; returns the engine's warnings. The caller follows it with watchService. */
  updateService(service: string, change: ServiceChange, signal: AbortSignal): Promise<{ warnings: string[] }>;
  /** The image of the service's previous spec, which a rollback brings back; undefined when there is none. */
  previousServiceImage(service: string, signal: AbortSignal): Promise<string | undefined>;
  /** Polls the service after a change until it converges or fails; yields on every visible change. */
  watchService(service: string, signal: AbortSignal): AsyncIterable<Convergence>;
  close(): void;
}

/** How to reach one Docker engine. PEM material is already read from files/env by the config loader. */
export type DockerConnection = {
  name: string;
  /** unix:///var/run/docker.sock, tcp://host:2376, or ssh://user@host */
  url: string;
  tls?: { ca: string; cert: string; key: string } | undefined;
  /** per-call timeout for non-streaming calls */
  timeoutMs: number;
  /** ssh:// hosts: the SSH agent's socket (SSH_AUTH_SOCK, read by main.ts). */
  sshAuthSock?: string | undefined;
  /** ssh:// hosts: the pinned host key ("ssh-ed25519 AAAA…" or "SHA256:…"); connections to any other key fail. */
  sshHostKey?: string | undefined;
  /**
   * berth's installation id (see `isOwned`), put on every container it runs. Without one the engine sees no
   * containers as berth's and runs none (enough for `hosts check`, which only asks the engine what it is).
   */
  installation?: string | undefined;
};
