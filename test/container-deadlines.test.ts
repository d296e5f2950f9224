import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { deadlineOf, stopOverdue } from "../src/container-deadlines.ts";
import { createDockerEngine } from "../src/engines/docker/engine.ts";
import { labels } from "../src/engines/ports.ts";
import { eventually, findCard, removeOwnContainers, startBerth, testImage } from "./support/berth-harness.ts";
import { ownedLabels, shellSpec, testInstallation } from "./support/run-spec.ts";
import { SEED, SlackFake } from "./support/slack-fake.ts";

// Run-time limits that hold for detached runs and across restarts: the deadline is a label on the container, and a
// sweep stops what is past it. Real engine; time is an injected clock, moved by the tests, never waited for.

const docker = async (...args: string[]) => (await promisify(execFile)("docker", args)).stdout.trim();
const state = (name: string) => docker("inspect", "--format", "{{.State.Status}}", name);
const never = new AbortController().signal;
const prefix = `berth-deadline-${process.pid}-${Date.now().toString(36)}`;
const names: string[] = [];
const uniqueName = (what: string) => {
  const name = `${prefix}-${what}-${names.length + 1}`;
  names.push(name);
  return name;
};
const idle = "trap 'exit 0' TERM; sleep 300 & wait";

after(async () => {
  if (names.length) await docker("rm", "-f", ...names).catch(() => undefined);
});

describe("stopOverdue on the real engine", () => {
  const engine = createDockerEngine({
    installation: testInstallation,
    name: "local",
    url: "unix:///var/run/docker.sock",
    timeoutMs: 15_000,
  });
  after(() => engine.close());

  it("stops (does not remove) a container once its deadline has come, and leaves the others", async () => {
    const t0 = Date.now();
    const due = uniqueName("due");
    const later = uniqueName("later");
    const none = uniqueName("none");
    await engine.run(shellSpec(idle, { name: due, labels: { [labels.deadline]: String(t0 + 1000) } }), never);
    await engine.run(shellSpec(idle, { name: later, labels: { [labels.deadline]: String(t0 + 60_000) } }), never);
    await engine.run(shellSpec(idle, { name: none }), never);
    // A look-alike that is not this berth's is never touched, overdue or not.
    const foreign = uniqueName("foreign");
    const lookalike = { ...ownedLabels(), [labels.installation]: "another-berth", [labels.deadline]: String(t0) };
    const flags = Object.entries(lookalike).flatMap(([k, v]) => ["--label", `${k}=${v}`]);
    await docker("run", "-d", "--name", foreign, ...flags, "--network", "none", testImage, "sleep", "300");

    const early = await stopOverdue(engine, t0 + 999, never);
    assert.deepEqual(
      early.stopped.filter((s) => names.includes(s.container.name)),
      [],
      "nothing is due a millisecond early",
    );
    assert.equal(await state(due), "running");

    const swept = await stopOverdue(engine, t0 + 1000, never);
    const mine = swept.stopped.filter((s) => names.includes(s.container.name));
    assert.deepEqual(
      mine.map((s) => [s.container.name, s.deadline]),
      [[due, t0 + 1000]],
    );
    assert.equal(await state(due), "exited", "stopped, and still there for logs and inspect");
    for (const name of [later, none, foreign]) assert.equal(await state(name), "running", name);
    assert.deepEqual(swept.failed, []);
  });

  it("reads only a well-formed deadline", () => {
    assert.equal(deadlineOf({ labels: { [labels.deadline]: "1700000000000" } }), 1700000000000);
    for (const bad of ["", "soon", "1e12", "-5", "9".repeat(20)])
      assert.equal(deadlineOf({ labels: { [labels.deadline]: bad } }), undefined);
    assert.equal(deadlineOf({ labels: {} }), undefined);
  });
});

describe("a detached run through berth", () => {
  let fake: SlackFake;
  let berth: Awaited<ReturnType<typeof startBerth>>;
  let now = Date.now();
  before(async () => {
    fake = await SlackFake.start();
    berth = await startBerth(fake, { clock: () => now });
  });
  after(async () => {
    if (berth) await removeOwnContainers(berth.berth.store);
    await berth?.stop();
    await fake?.stop();
  });

  it("is stopped by the sweep once its --timeout has passed, after a restart of berth, said in its thread and audited", async () => {
    const name = uniqueName("detached");
    await berth.command(`run -d --timeout 1s --name ${name} ${testImage} sh -c "${idle}"`);
    const card = await eventually("the detached run's card", () => {
      const c = findCard(fake, SEED.incidentChannel, name);
      return c && /berth stops it after 1\.0 s/.test(JSON.stringify(c.blocks)) ? c : undefined;
    });
    assert.equal(await state(name), "running");
    const deadline = Number(await docker("inspect", "--format", `{{index .Config.Labels "${labels.deadline}"}}`, name));
    assert.equal(deadline, now + 1000, "the deadline is the run's start plus its timeout, on berth's clock");

    await berth.berth.sweepDeadlines();
    assert.equal(await state(name), "running", "not before its deadline");

    // berth restarts in between: the deadline is on the container, and the new process (same store) enforces it.
    await berth.stop();
    berth = await startBerth(fake, { clock: () => now, dir: berth.dir });
    now = deadline;
    await berth.berth.sweepDeadlines();
    assert.equal(await state(name), "exited");
    const notice = await eventually("the notice in the run's thread", () =>
      fake.thread(SEED.incidentChannel, card.ts).find((m) => m.text.includes("run-time limit")),
    );
    assert.match(
      notice.text,
      new RegExp(`Stopped \`${name}\` .* on local: its run-time limit ended at ${new Date(deadline).toISOString()}`),
    );
    const audit = (await berth.berth.store.audit.all()).find((a) => a.rule === "containers.timeout");
    assert.equal(audit?.type, "outcome");
    assert.equal(audit?.userId, SEED.operator);
    assert.match(audit?.outcome ?? "", /^stopped: run-time limit reached/);
  });
});
