import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { promisify } from "node:util";
import {
  cardText,
  eventually,
  findCard,
  isFinished,
  processEnv,
  testHosts,
  testImage,
  testPolicy,
  threadLines,
} from "./support/berth-harness.ts";
import { slashCommand } from "./support/slack-driver.ts";
import { SEED, SlackFake } from "./support/slack-fake.ts";

// A runbook outlives the process like any job (issue 15): berth killed (-9) or told to stop (SIGTERM) while a step
// streams, the next berth on the same data dir carries the runbook on in its card: the step's container is followed
// from the cursor (no line lost or twice), the steps after it run once, the done ones not again. Real processes, the
// real engine, the Slack emulator.

const docker = promisify(execFile);
const total = 300;

const policy = `${testPolicy}runbooks:
  - name: drill
    summary: a long step, then a short one
    params:
      - { name: tag, type: string }
    steps:
      - run --name rbd-{{tag}}-1 ${testImage} sh -c 'for i in $(seq 1 ${total}); do echo line-$i; sleep 0.03; done'
      - run --name rbd-{{tag}}-2 ${testImage} echo second-step-done
`;

type Berth = { child: ChildProcess; port: number; exited: Promise<number | null> };

async function startBerth(fake: SlackFake, dir: string): Promise<Berth> {
  const child = spawn(process.execPath, ["src/main.ts"], {
    env: processEnv(fake, dir, join(dir, "data")),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const port = await eventually("berth to start", () => {
    if (child.exitCode !== null) throw new Error(`berth exited: ${output}`);
    const m = /"msg":"berth started".*"port":(\d+)/.exec(output);
    return m ? Number(m[1]) : undefined;
  });
  return { child, port, exited };
}

const named = async (name: string) =>
  (await docker("docker", ["ps", "-aq", "--filter", `name=^/${name}$`])).stdout.split("\n").filter(Boolean);

async function interruptedRunbook(t: TestContext, interrupt: (b: Berth) => Promise<void>) {
  const tag = randomBytes(3).toString("hex");
  const fake = await SlackFake.start();
  const dir = mkdtempSync(join(tmpdir(), "berth-runbook-"));
  writeFileSync(join(dir, "policy.yaml"), policy);
  writeFileSync(join(dir, "hosts.yaml"), testHosts);
  const started: Berth[] = [];
  t.after(async () => {
    for (const b of started) if (b.child.exitCode === null && b.child.signalCode === null) b.child.kill("SIGKILL");
    await Promise.all(started.map((b) => b.exited));
    await fake.stop();
    const ids = [...(await named(`rbd-${tag}-1`)), ...(await named(`rbd-${tag}-2`))];
    if (ids.length) await docker("docker", ["rm", "-f", ...ids]);
  });
  const first = await startBerth(fake, dir);
  started.push(first);
  const res = await slashCommand(fake, {
    url: `http://127.0.0.1:${first.port}/slack/events`,
    command: "/berth",
    text: `runbook drill ${tag}`,
  });
  assert.equal(res.status, 200);
  const card = await eventually("the runbook's card", () => findCard(fake, SEED.incidentChannel, `runbook drill ${tag}`));
  const lines = () => threadLines(fake, SEED.incidentChannel, card.ts).filter((l) => /^line-\d+$/.test(l));
  await eventually("line 60 of step 1 in the thread", () => (lines().includes("line-60") ? true : undefined), 60_000);
  await interrupt(first);
  const shown = lines().length;
  const second = await startBerth(fake, dir);
  started.push(second);
  await eventually("step 1 to go on in the same thread", () => (lines().length > shown ? true : undefined), 60_000);
  const final = await eventually(
    "the runbook's card in its final state",
    () => {
      const m = fake.message(SEED.incidentChannel, card.ts);
      return m && isFinished(m) ? m : undefined;
    },
    120_000,
  );
  const file = await eventually("the uploaded full log", () => fake.files().find((f) => f.thread_ts === card.ts));
  second.child.kill("SIGTERM");
  assert.equal(await second.exited, 0);
  const thread = lines();
  const seen = new Set<string>();
  const twice = thread.filter((l) => seen.has(l) || !seen.add(l));
  assert.deepEqual(twice, [], "no line twice in the thread");
  const all = new Set([...thread, ...file.content.split("\n")]);
  const missing = Array.from({ length: total }, (_, i) => `line-${i + 1}`).filter((l) => !all.has(l));
  assert.deepEqual(missing, [], "every line of the step is in the thread or the full log");
  assert.match(cardText(final), /`drill`: all 2 steps done/, cardText(final));
  assert.equal(
    fake.messages(SEED.incidentChannel).filter((m) => cardText(m).includes(`runbook drill ${tag}`) && cardText(m).includes("job `j-"))
      .length,
    1,
    "one card: the runbook went on in the same one",
  );
  assert.equal((await named(`rbd-${tag}-1`)).length, 1, "step 1's container made once");
  assert.equal((await named(`rbd-${tag}-2`)).length, 1, "step 2 ran once");
  const secondStep = threadLines(fake, SEED.incidentChannel, card.ts).filter((l) => l === "second-step-done");
  assert.equal(secondStep.length, 1, "step 2's output once");
}

test("kill -9 while a runbook step streams: the next berth carries the runbook on, nothing lost, repeated or left running", async (t) => {
  await interruptedRunbook(t, async (b) => {
    b.child.kill("SIGKILL");
    await b.exited;
  });
});

test("SIGTERM while a runbook step streams: berth drains, and the next one carries the runbook on from there", async (t) => {
  await interruptedRunbook(t, async (b) => {
    b.child.kill("SIGTERM");
    assert.equal(await b.exited, 0);
  });
});
