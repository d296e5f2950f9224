// A private PostgreSQL cluster for tests (recipe: docs/reference/ci-recipes.md, "PostgreSQL"): initdb in a temporary
// directory, on a port the OS hands out, as the postgres user when the tests run as root (PostgreSQL refuses root).
// Nothing is skipped: without PostgreSQL's binaries the tests fail and say how to install them.
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Client } from "pg";

const run = promisify(execFile);

export type TestPostgres = {
  /** The cluster's maintenance database; use `createDatabase()` for a database of a test's own. */
  url: string;
  createDatabase(): Promise<string>;
  /** `pg_ctl restart -m fast`, the failover fault; `whileDown` runs while the server is stopped. */
  restart(options?: { whileDown?: () => Promise<void> }): Promise<void>;
  stop(): Promise<void>;
};

function binaries(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, "bin", "initdb")))
        .sort((a, b) => Number(a) - Number(b))
    : [];
  const newest = versions.at(-1);
  if (newest === undefined) {
    throw new Error(
      "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): the store tests need a real one. Install it with `apt-get install -y postgresql` (.ci/run does this in CI).",
    );
  }
  return join(root, newest, "bin");
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = binaries();
  const dir = mkdtempSync(join(tmpdir(), "berth-pg-"));
  const data = join(dir, "data");
  const log = join(dir, "log");
  // PostgreSQL will not run as root: as root, everything runs as the postgres user in a directory it owns.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }));
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }));
    chownSync(dir, uid, gid);
  }
  const command = (tool: string, args: string[]): [string, string[]] =>
    asRoot ? ["runuser", ["-u", "postgres", "--", join(bin, tool), ...args]] : [join(bin, tool), args];
  const pgCtl = (...args: string[]) => run(...command("pg_ctl", ["-D", data, ...args]));

  await run(...command("initdb", ["-D", data, "-A", "trust", "-U", "berth", "--no-sync", "--no-instructions"]));
  let port = 0;
  let running = false;
  const start = () => pgCtl("-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, "-l", log, "-w", "-t", "60", "start");
  // The port is free when asked for and taken a moment later by PostgreSQL; another process may take it in between.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await start();
      break;
    } catch (error) {
      if (attempt === 3) {
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`PostgreSQL did not start: ${existsSync(log) ? readFileSync(log, "utf8") : String(error)}`);
      }
    }
  }
  running = true;
  // A test process that dies still stops its cluster.
  const onExit = () => {
    if (running) spawnSync(...command("pg_ctl", ["-D", data, "-m", "immediate", "stop"]));
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", onExit);

  const url = `postgres://berth@127.0.0.1:${port}/postgres`;
  let databases = 0;
  return {
    url,
    async createDatabase() {
      const name = `berth_test_${++databases}`;
      const client = new Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`); // a name of our own making: CREATE DATABASE takes no parameters
      } finally {
        await client.end();
      }
      return `postgres://berth@127.0.0.1:${port}/${name}`;
    },
    async restart(options = {}) {
      await pgCtl("-m", "fast", "-w", "stop");
      running = false;
      try {
        await options.whileDown?.();
      } finally {
        await start();
        running = true;
      }
    },
    async stop() {
      if (running) await pgCtl("-m", "fast", "-w", "stop");
      running = false;
      process.off("exit", onExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
