/**
 * A second, real Docker daemon for tests of remote hosts: TLS with client certificates on a loopback TCP port, plus a
 * unix socket for setup. It has its own data-root, exec-root (and so its own containerd), pidfile and certificates,
 * all in one temp dir, and gets the test image from the first daemon with `docker save | docker load` (no registry).
 *
 * Callers must `after(() => daemon.stop())`: stop removes the daemon's containers, ends every process it started
 * (dockerd, its containerd and shims) and deletes the dir, also after `kill()`.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { closeSync, openSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, stat, writeFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);
const image = "berth-test/busybox:1";

export type Pems = { ca: string; cert: string; key: string };

/**
 * `ca`, `cert` and `key` are what a client needs: the CA and a client certificate it issued. With
 * `startTlsDaemon({ server })` the caller brought its own CA and issues its own client certificates: then `ca` is that CA,
 * and `cert`, `key` and the `wrong` PEMs are empty strings.
 */
export type TlsDaemon = Pems & {
  /** tcp://127.0.0.1:PORT, TLS with client certificates required. */
  url: string;
  /** The daemon's own unix socket (no TLS), for setup and cleanup with the docker CLI. */
  socket: string;
  dir: string;
  /** A second CA that signed neither the server nor the client certificate, and a client certificate it issued. */
  wrong: Pems;
  /** SIGTERM, wait for the exit, then clean up everything (idempotent). */
  stop(): Promise<void>;
  /** Stops dockerd (gracefully if it runs) and starts it again on the same data-root, port and certificates. */
  restart(): Promise<void>;
  /** SIGKILL to dockerd, as in a crash; containerd and the shims may live on until restart() or stop(). */
  kill(): Promise<void>;
};

export type TlsDaemonOptions = {
  /** The daemon's CA, certificate and key (PEM) instead of the openssl-made ones; see TlsDaemon for what it returns. */
  server?: Pems | undefined;
  /** Listen on this port of 127.0.0.1 instead of one the kernel picks when dockerd binds (port 0). */
  port?: number | undefined;
  /** dockerd --live-restore: containers keep running while dockerd restarts (restart()). */
  liveRestore?: boolean | undefined;
};

export async function startTlsDaemon(options: TlsDaemonOptions = {}): Promise<TlsDaemon> {
  // Short: containerd's shim and the plugin sockets live under exec-root, and unix socket paths are limited to 107 bytes.
  const dir = await mkdtemp("/tmp/bd2-");
  const socket = join(dir, "docker.sock");
  // Port 0: the kernel picks a free port when dockerd binds and dockerd logs it. A port picked here, released and bound
  // later by dockerd could be taken in between by any other process under load ("address already in use").
  let port = options.port ?? 0;
  const { server } = options;
  const pems = await (server ? writeServerPems(join(dir, "tls"), server) : makeCertificates(join(dir, "tls"))).catch(async (e: unknown) => {
    await rm(dir, { recursive: true, force: true });
    // .ci/run installs openssl; without it the tests must fail, not pass without having run.
    const what = server ? "write the given certificates" : "make the test certificates with openssl";
    throw new Error(`Could not ${what}: ${(e as Error).message}`);
  });
  const args = () => [
    "--tlsverify",
    `--tlscacert=${join(dir, "tls", "ca.pem")}`,
    `--tlscert=${join(dir, "tls", "server.pem")}`,
    `--tlskey=${join(dir, "tls", "server-key.pem")}`,
    `-H=tcp://127.0.0.1:${port}`,
    `-H=unix://${socket}`,
    `--data-root=${join(dir, "d")}`,
    `--exec-root=${join(dir, "x")}`,
    `--pidfile=${join(dir, "docker.pid")}`,
    "--bridge=none",
    "--iptables=false",
    "--ip6tables=false",
    ...(options.liveRestore ? ["--live-restore"] : []),
  ];
  let child: ChildProcess | undefined;
  let stopped = false;
  // A test process that dies without its after() hooks must not leave a daemon behind.
  const onExit = () => child?.kill("SIGKILL");
  process.on("exit", onExit);

  /**
   * Starts dockerd and waits for both listeners. Once the port is known (a restart, or a port the caller chose) it can
   * be taken by someone else while dockerd is down: dockerd failing on that is retried on the same port, 5 times
   * within about 10 s, for callers hold the URL.
   */
  async function launch(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const log = join(dir, "dockerd.log");
      const from = (await stat(log).catch(() => undefined))?.size ?? 0;
      const failure = await launchOnce(log, from);
      if (!failure) return;
      const said = await logSince(log, from);
      if (!(failure.exited && /address already in use/.test(said) && attempt < 5)) {
        throw new Error(`${failure.why}; the end of its log:\n${said.slice(-3000)}`);
      }
      await reapContainerd();
      await sleep(2000);
    }
  }

  /** One dockerd start: undefined once it answers, else why not (and whether it exited). */
  async function launchOnce(log: string, from: number): Promise<{ why: string; exited: boolean } | undefined> {
    const out = openSync(log, "a");
    const proc = spawn("dockerd", args(), { stdio: ["ignore", out, out] });
    closeSync(out);
    child = proc;
    let ended: string | undefined;
    proc.once("exit", (code, sig) => (ended = `dockerd exited (${sig ?? code})`));
    proc.once("error", (e) => (ended = `dockerd could not start: ${e.message}`));
    for (const deadline = Date.now() + 60_000; ; await sleep(100)) {
      if (port === 0) port = await listenedPort(log, from);
      if (port !== 0 && (await ping({ socketPath: socket }, pems)) && (await ping({ port }, pems))) return undefined;
      if (ended) return { why: ended, exited: true };
      if (Date.now() > deadline) return { why: "dockerd did not answer within 60 s", exited: false };
    }
  }

  async function terminate(signal: "SIGTERM" | "SIGKILL"): Promise<void> {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, "exit");
    proc.kill(signal);
    await exited;
  }

  /** dockerd's own containerd dies with it (parent-death signal), but not at once; a restart must not find it alive. */
  async function reapContainerd(): Promise<void> {
    const pid = Number(await readFile(join(dir, "x", "containerd", "containerd.pid"), "utf8").catch(() => ""));
    if (!Number.isInteger(pid) || pid <= 0) return;
    // The pid file can outlive its process, and the pid can be reused: only a process running from our dir is ours.
    // Until init reaps it, a dead containerd is a zombie without a command line, and dockerd takes it for alive.
    const ours = async () => (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).includes(`${dir}/`);
    const zombie = async () => /\) Z /.test(await readFile(`/proc/${pid}/stat`, "utf8").catch(() => ""));
    for (const deadline = Date.now() + 10_000; (await ours()) || (await zombie()); await sleep(50)) {
      if (Date.now() > deadline) {
        if (await ours()) sendSignal(pid, "SIGKILL");
        else throw new Error(`containerd (pid ${pid}) of the second daemon is still a zombie after 10 s; dockerd cannot restart`);
      }
    }
  }

  const daemon: TlsDaemon = {
    /** Read after startTlsDaemon resolves: the port is dockerd's from then on, the same across restart(). */
    get url() {
      return `tcp://127.0.0.1:${port}`;
    },
    socket,
    dir,
    ...(pems.client ?? { ...none, ca: server?.ca ?? "" }),
    wrong: pems.wrong,
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        // Through the daemon, even after kill(): it knows its containers, and dockerd would otherwise give each its
        // stop timeout while shutting down.
        if (!child) await launch().catch(() => undefined);
        const ids = (await cli(socket, "ps", "-aq").catch(() => "")).split("\n").filter(Boolean);
        if (ids.length > 0) await cli(socket, "rm", "-f", ...ids).catch(() => undefined);
        await terminate("SIGTERM");
        await reapContainerd();
      } finally {
        await sweep(dir);
        process.off("exit", onExit);
        await rm(dir, { recursive: true, force: true });
      }
    },
    async restart() {
      await terminate("SIGTERM");
      await reapContainerd();
      await launch();
    },
    async kill() {
      await terminate("SIGKILL");
      await reapContainerd();
    },
  };
  try {
    await launch();
    await loadImage(socket);
  } catch (e) {
    await daemon.stop();
    throw e;
  }
  return daemon;
}

/** The docker CLI against this daemon's unix socket. */
export async function cli(socket: string, ...args: string[]): Promise<string> {
  return (await execFileAsync("docker", ["-H", `unix://${socket}`, ...args])).stdout.trim();
}

/** The TCP port dockerd bound, from its log line `API listen on 127.0.0.1:PORT` after `from`; 0 until it says so. */
async function listenedPort(log: string, from: number): Promise<number> {
  const m = /API listen on 127\.0\.0\.1:(\d+)/.exec(await logSince(log, from));
  return m ? Number(m[1]) : 0;
}

/** What dockerd wrote to its log after byte `from` (the start of this launch). */
async function logSince(log: string, from: number): Promise<string> {
  return ((await readFile(log).catch(() => undefined)) ?? Buffer.alloc(0)).subarray(from).toString("utf8");
}

/**
 * True when /_ping answers 200, over the unix socket or over TLS on the port with the client certificate. Without a
 * client certificate (the caller brought the server's), a TCP connection to the port is all that can be checked.
 */
function ping(where: { socketPath: string } | { port: number }, pems: { client?: Pems | undefined }): Promise<boolean> {
  const { client } = pems;
  if ("port" in where && !client) return listening(where.port);
  return new Promise((resolve) => {
    const options = { path: "/_ping", timeout: 2000 };
    const done = (res: http.IncomingMessage) => {
      res.resume();
      resolve(res.statusCode === 200);
    };
    const req =
      "socketPath" in where
        ? http.get({ ...options, socketPath: where.socketPath }, done)
        : https.get({ ...options, host: "127.0.0.1", port: where.port, ...client, agent: false }, done);
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
  });
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
  });
}

async function loadImage(socket: string): Promise<void> {
  const save = spawn("docker", ["save", image], { stdio: ["ignore", "pipe", "pipe"] });
  const load = spawn("docker", ["-H", `unix://${socket}`, "load", "-q"], { stdio: ["pipe", "ignore", "pipe"] });
  save.stdout.pipe(load.stdin);
  let errors = "";
  save.stderr.on("data", (d: Buffer) => (errors += d));
  load.stderr.on("data", (d: Buffer) => (errors += d));
  const [[saved], [loaded]] = await Promise.all([once(save, "close"), once(load, "close")]);
  if (saved !== 0 || loaded !== 0) throw new Error(`Could not copy ${image} into the second daemon: ${errors.trim()}`);
}

function sendSignal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The last resort when the daemon could not remove its containers: SIGKILL what is left that belongs to this dir (the
 * container processes, found by their cgroup, and the containerd and shims, which carry the exec-root in their
 * command line), then unmount what is still mounted under the dir so that it can be deleted.
 */
async function sweep(dir: string): Promise<void> {
  const containers = await readdir(join(dir, "d", "containers")).catch(() => []);
  const procs = await Promise.all(
    containers.map((id) => readFile(`/sys/fs/cgroup/pids/docker/${id}/cgroup.procs`, "utf8").catch(() => "")),
  );
  const pids = [...procs.join("\n").split("\n").filter(Boolean).map(Number), ...(await pidsMentioning(dir))];
  for (const pid of pids) sendSignal(pid, "SIGKILL");
  // runc would have removed the containers' cgroups; a cgroup can only go once its processes are gone.
  for (const deadline = Date.now() + 5000; pids.some(alive) && Date.now() < deadline; ) await sleep(50);
  const controllers = await readdir("/sys/fs/cgroup").catch(() => []);
  for (const id of containers) for (const c of controllers) await rmdir(`/sys/fs/cgroup/${c}/docker/${id}`).catch(() => undefined);
  const mounts = (await readFile("/proc/self/mountinfo", "utf8"))
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .filter((point) => point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length); // deepest first
  for (const point of mounts) await execFileAsync("umount", ["-l", point]).catch(() => undefined);
}

async function pidsMentioning(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (cmdline.includes(`${dir}/`)) pids.push(pid);
  }
  return pids;
}

const none: Pems = { ca: "", cert: "", key: "" };

/** Where dockerd's arguments expect them; no client certificate exists (see TlsDaemon). */
async function writeServerPems(dir: string, server: Pems): Promise<{ client?: Pems; wrong: Pems }> {
  await mkdir(dir);
  await writeFile(join(dir, "ca.pem"), server.ca);
  await writeFile(join(dir, "server.pem"), server.cert);
  await writeFile(join(dir, "server-key.pem"), server.key, { mode: 0o600 });
  return { wrong: none };
}

async function makeCertificates(dir: string): Promise<{ client: Pems; wrong: Pems }> {
  await mkdir(dir);
  const openssl = (...args: string[]) => execFileAsync("openssl", args, { cwd: dir });
  const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const ca = (name: string) =>
    openssl(
      "req",
      "-x509",
      ...newKey,
      "-keyout",
      `${name}-key.pem`,
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-subj",
      `/CN=berth test ${name}`,
    );
  const issue = async (name: string, by: string, extensions: string) => {
    await writeFile(join(dir, `${name}.ext`), extensions);
    await openssl("req", "-new", ...newKey, "-keyout", `${name}-key.pem`, "-out", `${name}.csr`, "-subj", `/CN=berth test ${name}`);
    await openssl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${by}.pem`,
      "-CAkey",
      `${by}-key.pem`,
      "-set_serial",
      String(Date.now()),
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.pem`,
    );
  };
  await Promise.all([ca("ca"), ca("wrong-ca")]);
  await issue("server", "ca", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  await issue("client", "ca", "extendedKeyUsage=clientAuth\n");
  await issue("wrong-client", "wrong-ca", "extendedKeyUsage=clientAuth\n");
  const pem = (file: string) => readFile(join(dir, file), "utf8");
  return {
    client: { ca: await pem("ca.pem"), cert: await pem("client.pem"), key: await pem("client-key.pem") },
    wrong: { ca: await pem("wrong-ca.pem"), cert: await pem("wrong-client.pem"), key: await pem("wrong-client-key.pem") },
  };
}
