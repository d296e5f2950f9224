/**
 * `pastEvents` against real engines: a berth container stopped and started a few times is one counted line, another
 * container's events are not berth's business, and an image tag is a host-wide fact. The container part runs on a
 * private dockerd of its own: Docker keeps only its last 256 events, and on the shared engine the rest of the suite
 * (running alongside) can push this test's events out of that buffer before they are read back.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, it } from "node:test";
import { promisify } from "node:util";
import { engineLines } from "../../src/core/changes.ts";
import { plainText } from "../../src/core/message.ts";
import { createDockerEngine } from "../../src/engines/docker/engine.ts";
import { shellSpec, testInstallation } from "../support/run-spec.ts";
import { useSwarm } from "../support/swarm.ts";
import { cli, startTlsDaemon, type TlsDaemon } from "../support/tls-daemon.ts";

const docker = async (...args: string[]) => (await promisify(execFile)("docker", args)).stdout.trim();
const engine = createDockerEngine({ installation: testInstallation, name: "local", url: "unix:///var/run/docker.sock", timeoutMs: 15_000 });
const signal = new AbortController().signal;
const prefix = `berth-past-${process.pid}-${Date.now().toString(36)}`;
const tag = `berth-test/busybox:${prefix}`;

let leave: (() => Promise<void>) | undefined;
let own: TlsDaemon;
let quiet: ReturnType<typeof createDockerEngine>;

before(async () => {
  own = await startTlsDaemon();
  quiet = createDockerEngine({
    installation: testInstallation,
    name: "quiet",
    url: own.url,
    tls: { ca: own.ca, cert: own.cert, key: own.key },
    timeoutMs: 15_000,
  });
});

after(async () => {
  await docker("service", "rm", `${prefix}-svc`).catch(() => "");
  await leave?.();
  quiet?.close();
  await own?.stop();
  engine.close();
});

it("reads back a berth container's stops and starts as one line, leaves others' out, and keeps an image tag", async () => {
  const since = Date.now() - 1000;
  await quiet.run(shellSpec("trap 'exit 3' TERM; sleep 300 & wait", { name: `${prefix}-ours` }), signal);
  await cli(own.socket, "run", "-d", "--name", `${prefix}-theirs`, "--network", "none", "berth-test/busybox:1", "sleep", "300");
  for (let i = 0; i < 3; i++) {
    await quiet.stop(`${prefix}-ours`, signal);
    await quiet.start(`${prefix}-ours`, signal);
  }
  await cli(own.socket, "tag", "berth-test/busybox:1", tag);
  const history = await quiet.pastEvents({ since, until: Date.now() + 1000 }, signal);

  const names = new Set(history.changes.filter((c) => c.type === "container").map((c) => c.name));
  assert.deepEqual([...names], [`${prefix}-ours`], "only berth's container");
  const actions = history.changes.filter((c) => c.name === `${prefix}-ours`).map((c) => c.action);
  assert.deepEqual(actions.slice(0, 2), ["create", "start"]);
  assert.equal(actions.filter((a) => a === "die").length, 3);
  assert.ok(
    history.changes.some((c) => c.type === "image" && c.action === "tag" && c.name === tag),
    "the tag is there",
  );
  assert.ok(history.seen >= history.changes.length);
  assert.ok(history.oldestAt !== undefined && history.oldestAt >= since - 1000);

  const lines = engineLines(history.changes).map((l) => plainText(l.text));
  const ours = lines.filter((l) => l.includes(`${prefix}-ours`));
  assert.equal(ours.length, 2, `created, then one line for the restarts: ${ours.join(" | ")}`);
  assert.match(ours[1] as string, new RegExp(`${prefix}-ours restarted 3× \\(last exit 3\\)`));
  // Oldest first out of engineLines; the handler sorts newest first.
  assert.match(ours[0] as string, /created$/);

  // An engine whose clock is a minute behind berth's would hold the stream open for that minute (past the call's
  // 15 s deadline): what it remembers is still the answer.
  const skewed = await quiet.pastEvents({ since, until: Date.now() + 60_000 }, signal);
  assert.equal(skewed.changes.filter((c) => c.name === `${prefix}-ours` && c.action === "die").length, 3);
});

it("a Swarm service's scale is a host-wide line that says what changed", async () => {
  leave = await useSwarm(); // shared with the other test files that need a swarm: the last one out leaves it
  const since = Date.now() - 1000;
  const service = `${prefix}-svc`;
  await docker("service", "create", "--quiet", "--detach", "--name", service, "--replicas", "1", "berth-test/busybox:1", "sleep", "3600");
  await docker("service", "scale", "--detach", `${service}=2`);
  const history = await engine.pastEvents({ since, until: Date.now() + 1000 }, signal);
  const ours = history.changes.filter((c) => c.type === "service" && c.name === service);
  assert.deepEqual(
    ours.map((c) => c.action),
    ["create", "update"],
  );
  assert.match(ours[1]?.detail ?? "", /replicas 1 → 2/);
  const lines = engineLines(ours).map((l) => plainText(l.text));
  assert.deepEqual(
    lines.map((l) => l.replace(/^\S+ /, "")),
    [`service ${service} created`, `service ${service} updated (replicas 1 → 2)`],
  );
});
