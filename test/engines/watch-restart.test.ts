/**
 * The container watch against a real engine that dies and comes back (the TLS daemon of test/support/tls-daemon.ts):
 * the watch reconnects on its own, a crash before the restart is delivered once, and one after it is delivered too.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { watchContainers } from "../../src/container-watch.ts";
import { createDockerEngine } from "../../src/engines/docker/engine.ts";
import type { ContainerEngine, ContainerEvent, RunSpec } from "../../src/engines/ports.ts";
import { eventually } from "../support/berth-harness.ts";
import { shellSpec, testInstallation } from "../support/run-spec.ts";
import { startTlsDaemon, type TlsDaemon } from "../support/tls-daemon.ts";

let daemon: TlsDaemon;
let engine: ContainerEngine;
const stop = new AbortController();
const seen: ContainerEvent[] = [];
const logs: string[] = [];
let watching: Promise<void>;

before(async () => {
  daemon = await startTlsDaemon();
  engine = createDockerEngine({
    installation: testInstallation,
    name: "remote",
    url: daemon.url,
    tls: { ca: daemon.ca, cert: daemon.cert, key: daemon.key },
    timeoutMs: 10_000,
  });
  watching = watchContainers(engine, (e) => seen.push(e), {
    signal: stop.signal,
    retry: { minMs: 100, maxMs: 1000 },
    log: (event) => logs.push(event),
  });
});

after(async () => {
  stop.abort();
  await watching;
  engine?.close();
  await daemon?.stop();
});

const crash = (name: string, code: number): RunSpec =>
  shellSpec(`exit ${code}`, { name, labels: { "io.berth.managed": "true", "io.berth.job": name } });

test("after the engine is killed and restarted, the watch reconnects and delivers each crash exactly once", async () => {
  // The watch subscribes asynchronously: keep crashing fresh containers until the first one is seen.
  let first: ContainerEvent | undefined;
  for (let i = 0; !first && i < 20; i++) {
    await engine.run(crash(`before-${i}`, 3), AbortSignal.timeout(20_000));
    first = await eventually("a die event", () => seen.find((e) => e.exitCode === 3), 3000).catch(() => undefined);
  }
  assert.ok(first, "the watch saw a crash before the restart");
  await daemon.kill();
  await eventually("the watch noticing the engine is gone", () =>
    logs.some((l) => /container events (lost|ended)/.test(l)) ? true : undefined,
  );
  await daemon.restart();
  let after: ContainerEvent | undefined;
  for (let i = 0; !after && i < 40; i++) {
    await engine.run(crash(`after-${i}`, 4), AbortSignal.timeout(20_000)).catch(() => undefined); // the engine may still be starting
    after = await eventually("a die event after the restart", () => seen.find((e) => e.exitCode === 4), 2000).catch(() => undefined);
  }
  assert.ok(after, "the watch reconnected on its own and saw a crash after the restart");
  const keys = seen.map((e) => `${e.timeNano}:${e.id}:${e.kind}`);
  assert.deepEqual(keys, [...new Set(keys)], "no event was delivered twice");
  assert.equal(seen.filter((e) => e.id === first.id && e.kind === "die").length, 1);
});
