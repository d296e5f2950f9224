import { BerthError } from "../src/core/errors.ts";
import { command } from "../src/core/message.ts";
import type {
  ContainerDetails,
  ContainerEngine,
  ContainerEvent,
  ContainerStats,
  ContainerSummary,
  Convergence,
  EngineHistory,
  EngineInfo,
  ExecHandle,
  ExitStatus,
  ImagePlatform,
  LogLine,
  LogQuery,
  ProcessTable,
  PullProgress,
  RegistryAuth,
  RunSpec,
  ServiceChange,
  ServiceLogQuery,
  ServiceSummary,
  ServiceTask,
  StatsSnapshot,
} from "../src/engines/ports.ts";

/** A hand-written ContainerEngine for core tests: records every call, serves scripted containers and lines. */
export class FakeEngine implements ContainerEngine {
  readonly name: string;
  calls: { method: string; args: unknown[] }[] = [];
  lines: LogLine[] = [];
  unreachable = false;
  imagePresent = true;
  pullSteps: PullProgress[] = [{ status: "Already exists" }];
  containers: ContainerDetails[] = [];
  /** What info() reports besides the name: a Linux engine unless a test makes it a Windows host. */
  host: Omit<EngineInfo, "name"> = {
    osType: "linux",
    osVersion: "test",
    osBuild: "6.1.0-test",
    architecture: "x86_64",
    engineVersion: "0",
    apiVersion: "1.41",
    maxApiVersion: "1.41",
    defaultIsolation: undefined,
    isolations: [],
    swarm: { state: "inactive", role: undefined },
  };
  /** imagePlatform() answers per image; any other present (or pulled) image is a Linux amd64 image. */
  imagePlatforms = new Map<string, ImagePlatform>();
  private pulled = new Set<string>();

  constructor(name = "local") {
    this.name = name;
  }

  private record(method: string, ...args: unknown[]) {
    this.calls.push({ method, args });
    if (this.unreachable)
      throw new BerthError(
        "UNAVAILABLE",
        `Docker engine "${this.name}" is unreachable at unix:///nowhere: connect ENOENT. Check that the engine is running and berth can reach it.`,
      );
  }

  private find(ref: string): ContainerDetails {
    const c = this.containers.find((x) => x.name === ref || x.id.startsWith(ref));
    if (!c)
      throw new BerthError("NOT_FOUND", [
        `No berth container "${ref}" on host ${this.name}. Run `,
        command("ps -a"),
        " to see berth's containers.",
      ]);
    return c;
  }

  async info(): Promise<EngineInfo> {
    this.record("info");
    return { name: this.name, ...this.host };
  }
  async imagePlatform(image: string): Promise<ImagePlatform | undefined> {
    this.record("imagePlatform", image);
    const known = this.imagePlatforms.get(image);
    if (known) return known;
    return this.imagePresent || this.pulled.has(image) ? { os: "linux", osVersion: undefined, architecture: "amd64" } : undefined;
  }
  async hasImage(image: string): Promise<boolean> {
    this.record("hasImage", image);
    return this.imagePresent;
  }
  async *pull(image: string, _signal?: AbortSignal, auth?: RegistryAuth): AsyncIterable<PullProgress> {
    this.record("pull", image, auth);
    yield* this.pullSteps;
    this.pulled.add(image);
  }
  async run(spec: RunSpec): Promise<{ id: string; name: string }> {
    this.record("run", spec);
    const c = details({ id: "abc123def456", name: spec.name ?? "fake_1", image: spec.image, labels: spec.labels });
    this.containers.push(c);
    return { id: c.id, name: c.name };
  }
  async list(): Promise<ContainerSummary[]> {
    this.record("list");
    return this.containers;
  }
  async inspect(container: string): Promise<ContainerDetails> {
    this.record("inspect", container);
    return this.find(container);
  }
  async secretValues(container: string): Promise<string[]> {
    this.record("secretValues", container);
    return this.find(container).envNames.map((n) => `value-of-${n}`);
  }
  private logsRead = Promise.withResolvers<void>();
  async *logs(query: LogQuery): AsyncIterable<LogLine> {
    this.record("logs", query);
    yield* this.lines;
    this.logsRead.resolve();
  }
  async wait(container: string): Promise<ExitStatus> {
    this.record("wait", container);
    // Like a real container that prints and exits: it is done once its output has been read.
    await this.logsRead.promise;
    return { exitCode: 0, oomKilled: false };
  }
  async stop(container: string): Promise<void> {
    this.record("stop", container);
    this.find(container);
  }
  async start(container: string): Promise<void> {
    this.record("start", container);
    this.find(container);
  }
  async restart(container: string): Promise<void> {
    this.record("restart", container);
    this.find(container);
  }
  async remove(container: string): Promise<void> {
    this.record("remove", container);
    this.find(container);
  }
  async exec(container: string, cmd: readonly string[]): Promise<ExecHandle> {
    this.record("exec", container, cmd);
    const lines = this.lines;
    return {
      lines: (async function* () {
        yield* lines;
      })(),
      exitCode: async () => 0,
    };
  }
  /** What stats() reports per container name; a running container without an entry answers with every figure unknown. */
  statsByName = new Map<string, Partial<ContainerStats>>();
  async stats(refs: readonly string[]): Promise<StatsSnapshot[]> {
    this.record("stats", refs);
    const snapshot = (c: ContainerDetails): StatsSnapshot => ({
      ref: c.name,
      stats: {
        id: c.id,
        name: c.name,
        cpuPercent: undefined,
        memoryBytes: undefined,
        memoryLimitBytes: undefined,
        memoryPercent: undefined,
        netRxBytes: undefined,
        netTxBytes: undefined,
        blockReadBytes: undefined,
        blockWriteBytes: undefined,
        pids: undefined,
        ...this.statsByName.get(c.name),
      },
    });
    if (!refs.length) return this.containers.filter((c) => c.state === "running").map(snapshot);
    return refs.map((ref) => {
      const c = this.containers.find((x) => x.name === ref || x.id.startsWith(ref));
      if (!c) return { ref, problem: "not-found", detail: "no such berth container" };
      if (c.state !== "running") return { ref, problem: "not-running", detail: `${c.state}: ${c.status}` };
      return { ...snapshot(c), ref };
    });
  }
  /** What top() answers for a running container. */
  processes: ProcessTable = { titles: ["PID", "USER", "TIME", "COMMAND"], processes: [["1", "root", "0:00", "sleep 300"]] };
  async top(container: string): Promise<ProcessTable> {
    this.record("top", container);
    const c = this.find(container);
    if (c.state !== "running") throw new BerthError("CONFLICT", `Container "${container}" is not running on host ${this.name}.`);
    return this.processes;
  }
  serviceList: ServiceSummary[] = [];
  tasks: ServiceTask[] = [];
  /** What watchService yields after a change, in order. */
  convergence: Convergence[] = [];
  async services(): Promise<ServiceSummary[]> {
    this.record("services");
    return this.serviceList;
  }
  async serviceTasks(service: string): Promise<ServiceTask[]> {
    this.record("serviceTasks", service);
    return this.tasks;
  }
  /** A service's environment values, as serviceSecretValues reads them from its spec. */
  serviceEnv: string[] = [];
  async serviceSecretValues(service: string): Promise<string[]> {
    this.record("serviceSecretValues", service);
    return this.serviceEnv;
  }
  async *serviceLogs(query: ServiceLogQuery): AsyncIterable<LogLine> {
    this.record("serviceLogs", query);
    yield* this.lines;
  }
  async updateService(service: string, change: ServiceChange): Promise<{ warnings: string[] }> {
    this.record("updateService", service, change);
    return { warnings: [] };
  }
  /** What previousServiceImage() answers: the image a rollback would bring back. */
  previousImage: string | undefined = undefined;
  async previousServiceImage(service: string): Promise<string | undefined> {
    this.record("previousServiceImage", service);
    return this.previousImage;
  }
  async *watchService(service: string): AsyncIterable<Convergence> {
    this.record("watchService", service);
    yield* this.convergence;
  }
  async *events(options: { sinceNano?: bigint | undefined }, signal: AbortSignal): AsyncIterable<ContainerEvent> {
    this.record("events", options);
    // No events unless a test scripts them: wait like a quiet engine until the caller stops listening.
    await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
  }
  /** What pastEvents() answers: the engine's remembered events, as a test scripts them. */
  history: EngineHistory = { changes: [], seen: 0, oldestAt: undefined };
  async pastEvents(window: { since: number; until: number }): Promise<EngineHistory> {
    this.record("pastEvents", window);
    const changes = this.history.changes.filter((c) => c.at >= window.since && c.at <= window.until);
    return { ...this.history, changes };
  }
  close(): void {}
}

export function details(d: Partial<ContainerDetails> & { id: string; name: string }): ContainerDetails {
  return {
    image: "busybox:1",
    state: "running",
    status: "Up 1 second",
    createdAt: new Date(0),
    labels: {},
    cmd: [],
    envNames: [],
    exitCode: null,
    startedAt: null,
    finishedAt: null,
    restartCount: 0,
    oomKilled: false,
    tty: false,
    memoryBytes: 0,
    nanoCpus: 0,
    pidsLimit: 0,
    networkMode: "none",
    privileged: false,
    ...d,
  };
}
