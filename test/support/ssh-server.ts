/**
 * A private sshd on a loopback port and an ssh-agent holding the one key it accepts, for tests of ssh:// hosts. Over
 * it, docker-modem runs `docker system dial-stdio` on "the remote", which is this machine: the docker CLI there talks
 * to the local engine on /var/run/docker.sock.
 *
 * Callers must `after(() => server.stop())`: it ends both processes and deletes the temp dir.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { closeSync, openSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export type SshServer = {
  /** ssh://root@127.0.0.1:PORT */
  url: string;
  /** The agent's socket, for DockerConnection.sshAuthSock. */
  authSock: string;
  /** The server's public host key, as in known_hosts ("ssh-ed25519 AAAA…"). */
  hostKey: string;
  dir: string;
  stop(): Promise<void>;
};

export async function startSshServer(): Promise<SshServer> {
  const dir = await mkdtemp("/tmp/bssh-");
  const children: ChildProcess[] = [];
  const onExit = () => {
    for (const child of children) child.kill("SIGKILL");
  };
  process.on("exit", onExit);
  const stop = async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    }
    process.off("exit", onExit);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const keygen = (file: string) =>
      execFileAsync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "berth-test", "-f", join(dir, file)]);
    await Promise.all([keygen("host_key"), keygen("client_key")]);
    await writeFile(join(dir, "authorized_keys"), await readFile(join(dir, "client_key.pub")), { mode: 0o600 });
    const port = await freePort();
    const config = [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "host_key")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "AllowUsers root",
      "PermitRootLogin prohibit-password",
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      // The keys sit under /tmp, which is world-writable: strict mode checks would refuse them.
      "StrictModes no",
      "",
    ];
    await writeFile(join(dir, "sshd_config"), config.join("\n"));
    // sshd refuses to start without its privilege separation directory, which a machine without a running sshd lacks.
    await mkdir("/run/sshd", { recursive: true, mode: 0o755 });

    const log = openSync(join(dir, "sshd.log"), "a");
    const sshd = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", join(dir, "sshd_config")], { stdio: ["ignore", log, log] });
    closeSync(log);
    children.push(sshd);
    const authSock = join(dir, "agent.sock");
    const agent = spawn("ssh-agent", ["-D", "-a", authSock], { stdio: "ignore" });
    children.push(agent);

    for (const deadline = Date.now() + 20_000; !(await banner(port)); await sleep(50)) {
      if (sshd.exitCode !== null || Date.now() > deadline) {
        throw new Error(`sshd did not start: ${(await readFile(join(dir, "sshd.log"), "utf8")).slice(-2000)}`);
      }
    }
    const env = { ...process.env, SSH_AUTH_SOCK: authSock };
    for (const deadline = Date.now() + 20_000; ; await sleep(50)) {
      const added = await execFileAsync("ssh-add", ["-q", join(dir, "client_key")], { env }).then(
        () => "",
        (e: Error) => e.message,
      );
      if (!added) break;
      if (agent.exitCode !== null || Date.now() > deadline) throw new Error(`ssh-agent did not take the key: ${added}`);
    }
    const hostKey = (await readFile(join(dir, "host_key.pub"), "utf8")).split(" ").slice(0, 2).join(" ");
    return { url: `ssh://root@127.0.0.1:${port}`, authSock, hostKey, dir, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** True once something on the port greets like an SSH server. */
function banner(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.setTimeout(2000, () => socket.destroy());
    socket.once("data", (d: Buffer) => {
      resolve(d.toString("latin1").startsWith("SSH-"));
      socket.destroy();
    });
    socket.on("error", () => resolve(false));
    socket.on("close", () => resolve(false));
  });
}
