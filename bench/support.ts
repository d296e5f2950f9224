import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { promisify } from "node:util";
import { SEED, type SlackFake } from "@berth/slack-emulator";

export { threadLines } from "../test/support/berth-harness.ts";

export const run = promisify(execFile);
export const image = "berth-test/busybox:1";

/** A policy for benchmarks: the operator may do anything berth does without a gate, in every channel. */
export const benchPolicy = `version: 1
roles:
  operator: { actions: [container.run, container.list, container.logs, container.stop, container.inspect, container.start, container.restart] }
bindings:
  - { role: operator, users: [${SEED.operator}] }
images: ["berth-test/**"]
containers: { timeout: 2h }
`;

export type Child = { child: ChildProcess; pid: number; port: number; url: string; output: string[]; stop(): Promise<void> };

/**
 * Starts a process and waits for it to print a port (berth's "berth started" log, or the bare app's line); `cpus`
 * pins it to those cores (taskset's list, e.g. "0"), so that two measurements can be given the same CPU.
 */
export async function spawnWithPort(args: string[], env: Record<string, string>, portPattern: RegExp, cpus?: string): Promise<Child> {
  const [command, argv] = cpus ? ["taskset", ["-c", cpus, process.execPath, ...args]] : [process.execPath, args];
  const child = spawn(command, argv, { env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    let seen = "";
    const onData = (d: Buffer) => {
      seen += d;
      output.push(String(d));
      const m = portPattern.exec(seen);
      if (m) resolve(Number(m[1]));
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (d) => output.push(String(d)));
    child.on("exit", (code) => reject(new Error(`process exited (${code}) before listening: ${output.join("")}`)));
  });
  return {
    child,
    pid: child.pid as number,
    port,
    url: `http://127.0.0.1:${port}/slack/events`,
    output,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
      }),
  };
}

/** Pins every thread of this process to `cpus` (taskset's list), as `spawnWithPort` pins a child. */
export async function pinSelf(cpus: string): Promise<void> {
  await run("taskset", ["-a", "-p", "-c", cpus, String(process.pid)]);
}

/** berth itself, as an operator runs it: `node src/main.ts` with the runtime contract pointed at the fake. */
export async function spawnBerth(
  fake: SlackFake,
  options: { socketMode?: boolean; threadMaxMessages?: number } = {},
): Promise<Child & { dataDir: string }> {
  const dir = mkdtempSync(join(tmpdir(), "berth-bench-"));
  writeFileSync(join(dir, "policy.yaml"), benchPolicy);
  const child = await spawnWithPort(
    startArgs(),
    {
      SLACK_BOT_TOKEN: fake.botToken,
      ...(options.socketMode ? { SLACK_APP_TOKEN: fake.appToken } : { SLACK_SIGNING_SECRET: fake.signingSecret }),
      SLACK_API_URL: fake.apiUrl,
      PORT: "0",
      HOST: "127.0.0.1",
      BERTH_POLICY: join(dir, "policy.yaml"),
      BERTH_DATA_DIR: join(dir, "data"),
      BERTH_THREAD_MAX_MESSAGES: String(options.threadMaxMessages ?? 100),
      LOG_LEVEL: "info",
    },
    /"msg":"berth started".*"port":(\d+)/,
  );
  return { ...child, dataDir: join(dir, "data") };
}

/**
 * The labels that make a container one of the berth on `dataDir` (its installation id, read from its berth.db
 * read-only), for benchmarks that start containers directly so that only berth's streams are measured.
 */
export function ownedLabels(dataDir: string, job: string): string[] {
  const db = new DatabaseSync(join(dataDir, "berth.db"), { readOnly: true });
  try {
    const installation = String(db.prepare("SELECT value FROM secrets WHERE name = 'installation'").get()?.value ?? "");
    if (!installation) throw new Error(`no installation id in ${dataDir}/berth.db yet`);
    return ["--label", "io.berth.managed=true", "--label", `io.berth.installation=${installation}`, "--label", `io.berth.job=${job}`];
  } finally {
    db.close();
  }
}

/** The arguments `npm start` gives node (its flags and src/main.ts), so benchmarks run berth exactly as operators do. */
export function startArgs(): string[] {
  const start = (JSON.parse(readFileSync("package.json", "utf8")) as { scripts: { start: string } }).scripts.start;
  const [node, ...args] = start.split(/\s+/);
  if (node !== "node") throw new Error(`unexpected start script: ${start}`);
  return args;
}

const clockTicks = 100; // Linux USER_HZ; /proc/<pid>/stat counts CPU time in these

/** Resident memory now and at its peak (VmHWM), and CPU time used so far, from /proc. */
export function procStats(pid: number): { rssMB: number; peakRssMB: number; cpuMs: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const cpu = Number(fields[11]) + Number(fields[12]); // utime + stime
  return { rssMB: kb("VmRSS") / 1024, peakRssMB: kb("VmHWM") / 1024, cpuMs: (cpu / clockTicks) * 1000 };
}

/** Samples a process's RSS every `ms` until stopped; returns the highest seen and the samples. */
export function sampleRss(pid: number, ms = 250) {
  const samples: { at: number; rssMB: number }[] = [];
  const timer = setInterval(() => {
    try {
      samples.push({ at: Date.now(), rssMB: procStats(pid).rssMB });
    } catch {
      // the process ended
    }
  }, ms);
  return {
    samples,
    stop(): number {
      clearInterval(timer);
      return Math.max(0, ...samples.map((s) => s.rssMB));
    },
  };
}

export function percentile(values: readonly number[], p: number): number {
  if (!values.length) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

export const median = (values: readonly number[]) => percentile(values, 50);
export const round = (n: number, digits = 1) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : n);

/** Runs `task` over `items` with at most `concurrency` in flight. */
export async function pool<T, R>(items: readonly T[], concurrency: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await task(items[i] as T, i);
      }
    }),
  );
  return results;
}

export async function machine() {
  const engine = await run("docker", ["version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}})"]).then(
    (r) => r.stdout.trim(),
    () => "unavailable",
  );
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    memoryGiB: round(totalmem() / 1024 ** 3, 1),
    node: process.version,
    engine,
    date: new Date().toISOString(),
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function removeLabelled(label: string): Promise<void> {
  const { stdout } = await run("docker", ["ps", "-aq", "--filter", `label=${label}`]);
  const ids = stdout.split("\n").filter(Boolean);
  for (let i = 0; i < ids.length; i += 50) await run("docker", ["rm", "-f", ...ids.slice(i, i + 50)]).catch(() => undefined);
}

export async function removeByName(prefix: string): Promise<void> {
  const { stdout } = await run("docker", ["ps", "-aq", "--filter", `name=${prefix}`]);
  const ids = stdout.split("\n").filter(Boolean);
  for (let i = 0; i < ids.length; i += 50) await run("docker", ["rm", "-f", ...ids.slice(i, i + 50)]).catch(() => undefined);
}
