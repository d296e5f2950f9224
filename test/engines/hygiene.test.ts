/**
 * Connection hygiene of the Docker adapter: a host that never answers, a refused port and an engine that dies under
 * a call must each end in a clear UNAVAILABLE, never a hang, and must not hold up calls to other hosts. Also the
 * quiet end of a `logs -f` stream, told apart from a container that exited, against a minimal fake of the Engine API.
 * Traffic goes only to loopback and unix sockets.
 */
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createDockerEngine } from "../../src/engines/docker/engine.ts";
import type { ContainerEngine, LogLine, RunSpec } from "../../src/engines/ports.ts";
import { fails } from "../support/fails.ts";
import { ownedLabels, shellSpec, testInstallation } from "../support/run-spec.ts";
import { startTlsDaemon } from "../support/tls-daemon.ts";

const never = new AbortController().signal;
const engines: ContainerEngine[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

after(async () => {
  for (const engine of engines) engine.close();
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

function engine(name: string, url: string, timeoutMs = 10_000): ContainerEngine {
  const created = createDockerEngine({ installation: testInstallation, name, url, timeoutMs });
  engines.push(created);
  return created;
}

/** Listens on loopback (or a unix socket) and closes with every connection it ever accepted. */
async function listen<S extends net.Server>(server: S, at: number | string = 0): Promise<S> {
  const sockets = new Set<net.Socket>();
  server.on("connection", (socket: net.Socket) => {
    sockets.add(socket.on("error", () => {}));
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((r) => (typeof at === "string" ? server.listen(at, r) : server.listen(at, "127.0.0.1", r)));
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((r) => server.close(r));
  });
  return server;
}

const port = (server: net.Server) => (server.address() as net.AddressInfo).port;

/** Tracks whether a promise has settled yet, without turning a rejection into an unhandled one. */
function watch<T>(promise: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  return { promise, settled: () => settled };
}

describe("connection hygiene", () => {
  it("gives up on a host that accepts connections but never answers, without holding up other hosts", async () => {
    let connections = 0;
    const silent = await listen(
      net.createServer((socket) => {
        connections++;
        socket.resume(); // swallow the request, answer nothing
      }),
    );
    const url = `tcp://127.0.0.1:${port(silent)}`;

    await assert.rejects(
      engine("silent", url, 500).info(never),
      fails("UNAVAILABLE", /^Docker engine "silent" is unreachable at tcp:\/\/127\.0\.0\.1:\d+: no answer within 1 s\. Check that/),
    );
    assert.ok(connections > 0, "the request never reached the silent host");

    // A pending call on one host is no reason to wait on another: the local engine answers in the meantime.
    const cancel = new AbortController();
    const pending = watch(engine("silent-long", url, 120_000).info(cancel.signal));
    const local = engine("local", "unix:///var/run/docker.sock");
    assert.equal((await local.info(never)).name, "local");
    await local.list({ all: true }, never);
    assert.equal(pending.settled(), false, "the silent host's call ended before the local calls did");
    cancel.abort();
    await assert.rejects(pending.promise, fails("CANCELLED", /^Cancelled while reading the engine/));
  });

  it("says connection refused for a port nobody listens on", async () => {
    const probe = await listen(net.createServer());
    const url = `tcp://127.0.0.1:${port(probe)}`;
    await new Promise((r) => probe.close(r)); // now nobody listens on it
    await assert.rejects(
      engine("refused", url, 5000).info(never),
      fails(
        "UNAVAILABLE",
        /^Docker engine "refused" is unreachable at tcp:\/\/127\.0\.0\.1:\d+: connection refused\. Check that the engine/,
      ),
    );
  });

  it("rejects a wait() whose engine dies while it waits, instead of hanging", async () => {
    const daemon = await startTlsDaemon();
    cleanups.push(() => daemon.stop());
    // A plain-HTTP proxy to the daemon's unix socket shows when the wait request has reached the engine.
    const waiting = Promise.withResolvers<void>();
    const proxy = await listen(
      net.createServer((client) => {
        const upstream = net.connect(daemon.socket);
        upstream.on("error", () => client.destroy());
        client.on("data", (chunk: Buffer) => {
          if (/^POST \S*\/containers\/[0-9a-f]+\/wait/m.test(chunk.toString("latin1"))) waiting.resolve();
        });
        client.pipe(upstream).pipe(client);
        client.on("close", () => upstream.destroy());
        upstream.on("close", () => client.destroy());
      }),
      join(daemon.dir, "proxy.sock"),
    );
    const remote = engine("dying", `unix://${proxy.address() as string}`);
    const { name } = await remote.run(spec("trap 'exit 0' TERM; sleep 300 & wait"), never);
    const wait = remote.wait(name, never);
    wait.catch(() => {}); // asserted below, after the kill
    await waiting.promise;
    await daemon.kill();
    await assert.rejects(wait, fails("UNAVAILABLE", /^Docker engine "dying" is unreachable at unix:\/\/.*: the connection was dropped\./));
  });

  describe("a `logs -f` stream that the engine ends without an error", () => {
    const id = "f0".repeat(32);
    const startedAt = "2026-01-02T03:04:05.000000006Z";
    /** The engine's state once the stream has ended: gone, or answering with this container state. */
    type After = "gone" | { Running: boolean; StartedAt: string };

    /** Just enough of the Engine API for resolve → inspect → logs → inspect; the logs answer two lines, then ends. */
    async function fakeEngine(afterwards: After): Promise<string> {
      let ended = false;
      const server: http.Server = await listen(
        http.createServer((req, res) => {
          const path = (req.url ?? "").replace(/^\/v[\d.]+/, "").replace(/\?.*$/, "");
          const json = (body: unknown) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
          if (path === "/_ping") return void res.writeHead(200, { "api-version": "1.41" }).end("OK");
          if (path === "/containers/json") {
            const labels = ownedLabels();
            return json([{ Id: id, Names: ["/fake"], Image: "img", State: "running", Status: "Up", Created: 0, Labels: labels }]);
          }
          if (path === `/containers/${id}/json`) {
            const state = ended && afterwards !== "gone" ? afterwards : { Running: true, StartedAt: startedAt };
            return json({ Id: id, Name: "/fake", RestartCount: 0, Config: { Tty: false, Env: [] }, HostConfig: {}, State: state });
          }
          if (path === `/containers/${id}/logs`) {
            res.writeHead(200, { "content-type": "application/vnd.docker.raw-stream" });
            for (const text of ["first\n", "second\n"]) {
              const header = Buffer.alloc(8);
              header.writeUInt8(1, 0);
              header.writeUInt32BE(text.length, 4);
              res.write(Buffer.concat([header, Buffer.from(text)]));
            }
            ended = true;
            if (afterwards === "gone") server.close(); // before the end: the check after it must find nobody
            return void res.end();
          }
          return void res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ message: `no route ${path}` }));
        }),
      );
      return `tcp://127.0.0.1:${port(server)}`;
    }

    async function follow(url: string): Promise<string[]> {
      const seen: LogLine[] = [];
      for await (const line of engine("quiet", url).logs({ container: "fake", follow: true }, never)) seen.push(line);
      return seen.map((l) => l.text);
    }

    const lost = /^Lost the connection to host "quiet" while following the logs of "fake"; the stream ended\. Run the command again/;

    it("is UNAVAILABLE when the engine no longer answers", async () => {
      const url = await fakeEngine("gone");
      await assert.rejects(follow(url), fails("UNAVAILABLE", lost));
    });

    it("is UNAVAILABLE when the engine answers and the same run of the container is still going", async () => {
      const url = await fakeEngine({ Running: true, StartedAt: startedAt });
      await assert.rejects(follow(url), fails("UNAVAILABLE", lost));
    });

    it("is the normal end when the container exited", async () => {
      const url = await fakeEngine({ Running: false, StartedAt: startedAt });
      assert.deepEqual(await follow(url), ["first", "second"]);
    });

    it("is the normal end when the container was restarted, as with `docker logs -f`", async () => {
      const url = await fakeEngine({ Running: true, StartedAt: "2026-01-02T03:09:00.000000000Z" });
      assert.deepEqual(await follow(url), ["first", "second"]);
    });
  });
});

function spec(cmd: string): RunSpec {
  return shellSpec(cmd, { name: "hygiene-wait" });
}
