// Several real berth processes (`node src/main.ts`, HTTP mode) sharing one PostgreSQL database, the Slack emulator and
// the real engine: what the replica fault suite (test/replicas.e2e.test.ts) and its benchmark start.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { eventually, processEnv, testHosts, testPolicy } from "./berth-harness.ts";
import { startPostgres, type TestPostgres } from "./postgres.ts";
import { SlackFake, type SlackFakeOptions } from "./slack-fake.ts";

const run = promisify(execFile);

export type Replica = {
  name: string;
  child: ChildProcess;
  port: number;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
  alive: () => boolean;
};

export type Fleet = {
  fake: SlackFake;
  pg: TestPostgres;
  databaseUrl: string;
  auditKey: string;
  dir: string;
  replicas: Replica[];
  /** Starts one more replica (a new pod of a rolling deploy). */
  start(name: string): Promise<Replica>;
  /** The replica whose log says it carries `job` now (started or resumed it last). */
  owner(job: string): Replica | undefined;
  close(): Promise<void>;
};

/** A fleet of `n` replicas (HTTP mode, or each with its own Socket Mode connection); `env` is added to each one's environment. */
export async function startFleet(
  n: number,
  env: Record<string, string> = {},
  options: { socketMode?: boolean; slack?: SlackFakeOptions; hosts?: string } = {},
): Promise<Fleet> {
  const fake = await SlackFake.start(options.slack);
  const pg = await startPostgres();
  const databaseUrl = await pg.createDatabase();
  const dir = mkdtempSync(join(tmpdir(), "berth-replicas-"));
  writeFileSync(join(dir, "policy.yaml"), testPolicy);
  writeFileSync(join(dir, "hosts.yaml"), options.hosts ?? testHosts);
  const auditKey = `fleet:${randomBytes(32).toString("base64")}`;
  const replicas: Replica[] = [];

  async function start(name: string): Promise<Replica> {
    const data = join(dir, name);
    mkdirSync(data, { recursive: true, mode: 0o700 });
    const child = spawn(process.execPath, ["src/main.ts"], {
      env: {
        ...processEnv(fake, dir, data, options),
        BERTH_DATABASE_URL: databaseUrl,
        BERTH_AUDIT_KEY: auditKey,
        BERTH_LEASE_TTL: "3s",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout?.on("data", (d) => (output += d));
    child.stderr?.on("data", (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
    const port = await eventually(`replica ${name} to start`, () => {
      if (child.exitCode !== null) throw new Error(`replica ${name} exited: ${output}`);
      const m = /"msg":"berth started".*"port":(\d+)/.exec(output);
      return m ? Number(m[1]) : undefined;
    });
    const replica: Replica = {
      name,
      child,
      port,
      url: `http://127.0.0.1:${port}/slack/events`,
      output: () => output,
      exited,
      alive: () => child.exitCode === null && child.signalCode === null,
    };
    replicas.push(replica);
    return replica;
  }

  const close = async () => {
    if (process.env.BERTH_FLEET_LOGS)
      for (const r of replicas) writeFileSync(join(process.env.BERTH_FLEET_LOGS, `${r.name}.log`), r.output());
    for (const r of replicas) if (r.alive()) r.child.kill("SIGKILL");
    await Promise.all(replicas.map((r) => r.exited));
    await fake.stop();
    await pg.stop();
  };
  try {
    for (let i = 0; i < n; i++) await start(`r${i + 1}`);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    fake,
    pg,
    databaseUrl,
    auditKey,
    dir,
    replicas,
    start,
    owner(job) {
      let best: { replica: Replica; at: number } | undefined;
      for (const r of replicas) {
        if (!r.alive()) continue;
        for (const m of r.output().matchAll(/^.*"msg":"job (?:started|resumed)".*$/gm)) {
          if (!m[0].includes(`"job":"${job}"`)) continue;
          const at = Date.parse(/"time":"([^"]+)"/.exec(m[0])?.[1] ?? "") || 0;
          if (!best || at >= best.at) best = { replica: r, at };
        }
      }
      return best?.replica;
    },
    close,
  };
}

/** The containers berth started for `job` (all, running or not). */
export async function containersOf(job: string): Promise<string[]> {
  return (await run("docker", ["ps", "-aq", "--filter", `label=io.berth.job=${job}`])).stdout.split("\n").filter(Boolean);
}

export async function removeContainers(job: string | undefined): Promise<void> {
  const ids = job ? await containersOf(job) : [];
  if (ids.length) await run("docker", ["rm", "-f", ...ids]);
}
