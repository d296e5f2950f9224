/**
 * The Docker adapter against a second, real engine reached over TCP with TLS and client certificates on loopback
 * (test/support/tls-daemon.ts): the happy path, each way the TLS handshake can fail, and the engine dying under a
 * `logs -f` or an exec stream. Everything created here lives in that daemon, which `after` deletes, pass or fail.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createDockerEngine } from "../../src/engines/docker/engine.ts";
import type { ContainerEngine, DockerConnection, LogLine, RunSpec } from "../../src/engines/ports.ts";
import { fails } from "../support/fails.ts";
import { shellSpec, testInstallation } from "../support/run-spec.ts";
import { startTlsDaemon, type TlsDaemon } from "../support/tls-daemon.ts";

const never = new AbortController().signal;
let daemon: TlsDaemon;
let engine: ContainerEngine;
const others: ContainerEngine[] = [];

before(async () => {
  daemon = await startTlsDaemon();
  engine = createDockerEngine({ installation: testInstallation, name: "remote", url: daemon.url, tls: pems(), timeoutMs: 10_000 });
});

after(async () => {
  engine?.close();
  for (const other of others) other.close();
  await daemon?.stop();
});

const pems = () => ({ ca: daemon.ca, cert: daemon.cert, key: daemon.key });

function connect(name: string, tls: DockerConnection["tls"]): ContainerEngine {
  const other = createDockerEngine({ installation: testInstallation, name, url: daemon.url, tls, timeoutMs: 10_000 });
  others.push(other);
  return other;
}

let counter = 0;
function spec(cmd: string): RunSpec {
  return shellSpec(cmd, { name: `remote-${++counter}` });
}

/** Prints a numbered line every 200 ms until stopped; exits at once on SIGTERM (sh as PID 1 would ignore it). */
const ticker = "trap 'exit 0' TERM; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done";

describe("a remote engine over TLS", () => {
  it("answers info, runs a container, follows its logs to the end and lists it", async () => {
    const info = await engine.info(never);
    assert.equal(info.name, "remote");
    assert.equal(info.osType, "linux");
    assert.match(info.engineVersion, /^\d+\.\d+/);

    const { name } = await engine.run(spec("echo one; echo two >&2; echo three"), never);
    const lines: LogLine[] = [];
    for await (const line of engine.logs({ container: name, follow: true }, never)) lines.push(line);
    // The engine keeps order within a stream, not across stdout and stderr.
    const texts = (stream: LogLine["stream"]) => lines.filter((l) => l.stream === stream).map((l) => l.text);
    assert.deepEqual(texts("stdout"), ["one", "three"]);
    assert.deepEqual(texts("stderr"), ["two"]);
    assert.equal((await engine.wait(name, never)).exitCode, 0);

    const listed = (await engine.list({ all: true }, never)).find((c) => c.name === name);
    assert.ok(listed, `${name} is not in the list`);
    assert.equal(listed.state, "exited");
    assert.equal(listed.image, "berth-test/busybox:1");
  });

  it("says the engine's certificate is not signed by the host's CA when berth has the wrong CA", async () => {
    const wrongCa = connect("remote", { ...pems(), ca: daemon.wrong.ca });
    await assert.rejects(
      wrongCa.info(never),
      fails(
        "UNAVAILABLE",
        /^Docker engine "remote" is unreachable at tcp:\/\/127\.0\.0\.1:\d+: the TLS handshake failed: the engine's certificate is not signed by the CA in berth's hosts file for this host\. Check the TLS CA, certificate and key for this host in berth's hosts file/,
      ),
    );
  });

  it("says the engine refused berth's client certificate when it is missing or issued by another CA", async () => {
    const refused =
      /^Docker engine "remote" is unreachable at .*: the TLS handshake failed: the engine refused berth's client certificate: it is missing, or not signed by a CA the engine trusts\. Check the TLS/;
    await assert.rejects(connect("remote", { ca: daemon.ca, cert: "", key: "" }).info(never), fails("UNAVAILABLE", refused));
    const foreign = connect("remote", { ca: daemon.ca, cert: daemon.wrong.cert, key: daemon.wrong.key });
    await assert.rejects(foreign.info(never), fails("UNAVAILABLE", refused));
  });

  it("says the engine speaks TLS when berth connects to it without TLS", async () => {
    await assert.rejects(
      connect("remote", undefined).info(never),
      fails(
        "UNAVAILABLE",
        /^Docker engine "remote" is unreachable at .*: the engine speaks TLS, and berth's hosts file has no TLS certificates for this host\. Check the TLS/,
      ),
    );
  });

  it("ends `logs -f` with UNAVAILABLE when the engine dies mid-stream, and the same engine answers once it is back", async () => {
    const { name } = await engine.run(spec(ticker), never);
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const line of engine.logs({ container: name, follow: true }, never)) {
          seen.push(line.text);
          if (seen.length === 3) await daemon.kill(); // no more lines can come: the engine is gone
        }
      })(),
      fails(
        "UNAVAILABLE",
        /^Lost the connection to host "remote" while following the logs of "remote-\d+"; the stream ended\. Run the command again when the host is back\.$/,
      ),
    );
    // Lines already in flight when the engine died may still arrive; none may be lost or repeated before that.
    assert.ok(seen.length >= 3);
    assert.deepEqual(
      seen,
      seen.map((_, i) => `tick ${i + 1}`),
    );

    await daemon.restart();
    assert.equal((await engine.info(never)).name, "remote");
    // Same data-root: the container is still known, stopped by the engine's restart.
    assert.notEqual((await engine.inspect(name, never)).state, "running");
  });

  it("ends an exec stream with UNAVAILABLE when the engine dies mid-stream, and answers again after a restart", async () => {
    const { name } = await engine.run(spec("trap 'exit 0' TERM; sleep 300 & wait"), never);
    const exec = await engine.exec(name, ["sh", "-c", ticker], never);
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const line of exec.lines) {
          seen.push(line.text);
          if (seen.length === 2) await daemon.kill();
        }
      })(),
      fails("UNAVAILABLE", /^Lost the connection to host "remote" while running a command in "remote-\d+"; the stream ended\. Run/),
    );
    assert.ok(seen.length >= 2);
    assert.deepEqual(
      seen,
      seen.map((_, i) => `tick ${i + 1}`),
    );
    await assert.rejects(exec.exitCode(), fails("UNAVAILABLE", /^Docker engine "remote" is unreachable at .*: connection refused\./));

    await daemon.restart();
    const { name: next } = await engine.run(spec("echo back"), never);
    const lines: string[] = [];
    for await (const line of engine.logs({ container: next, follow: true }, never)) lines.push(line.text);
    assert.deepEqual(lines, ["back"]);
  });
});
