/**
 * The ports the core owns and the engine adapters implement. Nothing in here knows about dockerode; the adapter in
 * `docker.ts` is the only importer of the SDK. Every call takes an AbortSignal; every failure is a BerthError.
 */

/** Labels berth puts on every container it creates; `ps` and friends only act on containers carrying `managed`. */
export const labels = {
  managed: "io.berth.managed",
  user: "io.berth.user",
  channel: "io.berth.channel",
  job: "io.berth.job",
} as const;

export type LogLine = { stream: "stdout" | "stderr"; text: string };

export type EngineInfo = {
  name: string; // the host name in berth's manifest
  osType: string; // "linux" | "windows"
  osVersion: string;
  engineVersion: string;
  apiVersion: string;
};

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
  /** Host paths bound into the container (allowed by policy before they get here). */
  mounts: readonly { source: string; target: string; readOnly: boolean }[];
  autoRemove: boolean;
  tty: boolean;
  platform?: string | undefined;
  isolation?: string | undefined;
};

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
};

export type ExecHandle = { lines: AsyncIterable<LogLine>; exitCode: () => Promise<number> };

export interface ContainerEngine {
  readonly name: string;
  info(signal: AbortSignal): Promise<EngineInfo>;
  hasImage(image: string, signal: AbortSignal): Promise<boolean>;
  /** Pulls an image; yields progress; throws UNAVAILABLE/NOT_FOUND with a readable message when the pull fails. */
  pull(image: string, signal: AbortSignal): AsyncIterable<PullProgress>;
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
};
