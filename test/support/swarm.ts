import { execFile } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { promisify } from "node:util";

const run = promisify(execFile);
const users = "/tmp/berth-swarm-users";

/**
 * A single-node swarm on the local engine, shared by the test files that need one (they run in parallel processes).
 * Each user leaves a marker; the last one out leaves the swarm, but only if a test initialised it.
 */
export async function useSwarm(): Promise<() => Promise<void>> {
  mkdirSync(users, { recursive: true });
  const marker = `${users}/${process.pid}`;
  writeFileSync(marker, "");
  const state = async () => (await run("docker", ["info", "--format", "{{.Swarm.LocalNodeState}}"])).stdout.trim();
  if ((await state()) !== "active") {
    await run("docker", ["swarm", "init", "--advertise-addr", "127.0.0.1"]).catch(async (e: unknown) => {
      // Another test process may have initialised it a moment ago.
      if ((await state()) !== "active") throw e;
    });
    writeFileSync(`${users}/initialised-by-tests`, "");
  }
  return async () => {
    rmSync(marker, { force: true });
    const alive = readdirSync(users).filter((f) => /^\d+$/.test(f) && isAlive(Number(f)));
    if (alive.length === 0 && readdirSync(users).includes("initialised-by-tests")) {
      rmSync(`${users}/initialised-by-tests`, { force: true });
      await run("docker", ["swarm", "leave", "--force"]).catch(() => undefined);
      // swarm init creates this bridge; leaving does not remove it.
      await run("docker", ["network", "rm", "docker_gwbridge"]).catch(() => undefined);
    }
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
