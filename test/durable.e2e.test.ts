// Jobs outlive the process (issue 13, items 1 and 2): a real berth (`node src/main.ts`) against the Slack emulator and
// the real engine is killed (-9) or sent SIGTERM while a `run` streams, and a new berth on the same data dir carries
// the job on in the same card and thread, from its cursor.
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
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
  jobIdOf,
  processEnv,
  testHosts,
  testImage,
  testPolicy,
  threadLines,
} from "./support/berth-harness.ts";
import { slashCommand } from "./support/slack-driver.ts";
import { type FakeMessage, SEED, SlackFake } from "./support/slack-fake.ts";

const run = promisify(execFile);
const total = 600;
const expected = Array.from({ length: total }, (_, i) => `line-${i + 1}`);

type Berth = { child: ChildProcess; port: number; output: () => string; exited: Promise<number | null> };

/** `node src/main.ts` with the runtime contract pointed at the emulator, on `dir`'s data dir. */
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
  return { child, port, output: () => output, exited };
}

const containers = async (job: string) =>
  (await run("docker", ["ps", "-aq", "--filter", `label=io.berth.job=${job}`])).stdout.split("\n").filter(Boolean);

/**
 * Starts berth, runs 600 numbered lines and, at each of `cuts` (a line shown in the thread), interrupts berth with
 * `interrupt` and starts a new one on the same data dir; then waits for the card's final state. Returns what the scenario's asserts need.
 */
async function interrupted(t: TestContext, interrupt: (current: Berth) => Promise<void>, name: string, cuts: number[] = [100]) {
  const fake = await SlackFake.start();
  const dir = mkdtempSync(join(tmpdir(), "berth-durable-"));
  writeFileSync(join(dir, "policy.yaml"), testPolicy);
  writeFileSync(join(dir, "hosts.yaml"), testHosts);
  const started: Berth[] = [];
  let jobId: string | undefined;
  t.after(async () => {
    for (const b of started) if (b.child.exitCode === null && b.child.signalCode === null) b.child.kill("SIGKILL");
    await Promise.all(started.map((b) => b.exited));
    await fake.stop();
    if (jobId) {
      const ids = await containers(jobId);
      if (ids.length) await run("docker", ["rm", "-f", ...ids]);
    }
  });
  const first = await startBerth(fake, dir);
  started.push(first);
  const script = `for i in $(seq 1 ${total}); do echo line-$i; sleep 0.05; done; exit 3`;
  const res = await slashCommand(fake, {
    url: `http://127.0.0.1:${first.port}/slack/events`,
    command: "/berth",
    text: `run --name ${name} ${testImage} sh -c '${script}'`,
  });
  assert.equal(res.status, 200);
  const card = await eventually("the card with its first line", () => {
    const c = findCard(fake, SEED.incidentChannel, name);
    return c && threadLines(fake, SEED.incidentChannel, c.ts).length > 0 ? c : undefined;
  });
  jobId = jobIdOf(card);
  assert.ok(jobId, "the card names its job");
  let current = first;
  let continuedMs = 0;
  for (const at of cuts) {
    await eventually(`line ${at} in the thread`, () =>
      threadLines(fake, SEED.incidentChannel, card.ts).includes(`line-${at}`) ? true : undefined,
    );
    await interrupt(current);
    const shownBefore = threadLines(fake, SEED.incidentChannel, card.ts).length;
    const restartedAt = performance.now();
    current = await startBerth(fake, dir);
    started.push(current);
    await eventually("the stream to continue in the same thread", () =>
      threadLines(fake, SEED.incidentChannel, card.ts).length > shownBefore ? true : undefined,
    );
    continuedMs = Math.max(continuedMs, performance.now() - restartedAt);
  }
  const second = current;
  const final = await eventually(
    "the same card's final state",
    () => {
      const m = fake.message(SEED.incidentChannel, card.ts);
      return m && isFinished(m) && /Full log/.test(cardText(m)) ? m : undefined;
    },
    120_000,
  );
  const file = await eventually("the uploaded full log", () => fake.files().find((f) => f.thread_ts === card.ts));
  second.child.kill("SIGTERM");
  assert.equal(await second.exited, 0);
  return {
    fake,
    card: final as FakeMessage,
    thread: threadLines(fake, SEED.incidentChannel, card.ts),
    file: file.content.trimEnd().split("\n"),
    jobId,
    continuedMs,
    cards: fake.messages(SEED.incidentChannel).filter((m) => cardText(m).includes(`job \`${jobId}\``)).length,
  };
}

function assertCarriedOn(r: Awaited<ReturnType<typeof interrupted>>): void {
  const seen = new Set<string>();
  const twice = r.thread.filter((l) => seen.has(l) || !seen.add(l));
  assert.deepEqual(twice, [], "no line twice in the thread");
  assert.deepEqual(r.file, expected, "the full log holds every line once, in order");
  const missing = expected.filter((l) => !seen.has(l) && !r.file.includes(l));
  assert.deepEqual(missing, [], "every line is in the thread or the full log");
  const numbers = r.thread.map((l) => Number(l.slice("line-".length)));
  assert.ok(
    numbers.every((n, i) => i === 0 || n > (numbers[i - 1] as number)),
    "the thread is in order",
  );
  assert.match(cardText(r.card), /Exited with code 3/, "the program's own exit code");
  assert.match(cardText(r.card), /Carried on after berth restarted/);
  assert.equal(r.cards, 1, "one card: the job went on in the same one");
}

test("kill -9 of berth mid-stream, twice: each next berth carries the run on in the same card, nothing lost or repeated", async (t) => {
  const r = await interrupted(
    t,
    async (current) => {
      current.child.kill("SIGKILL");
      await current.exited;
    },
    "durable-kill",
    [100, 350],
  );
  assertCarriedOn(r);
  assert.equal((await containers(r.jobId)).length, 1, "one container");
  process.stdout.write(`# kill -9: stream continued ${Math.round(r.continuedMs)} ms after the new berth was started\n`);
});

test("SIGTERM drains: the container keeps running, the card says berth is restarting, the next berth finishes the job", async (t) => {
  let state = "";
  let card = "";
  const r = await interrupted(
    t,
    async (first) => {
      first.child.kill("SIGTERM");
      assert.equal(await first.exited, 0, "berth exits cleanly");
      const job = /"msg":"job suspended".*"job":"(j-[0-9a-f]{6})"/.exec(first.output());
      assert.ok(job, `the job was suspended: ${first.output()}`);
      state = (await run("docker", ["inspect", "-f", "{{.State.Status}}", ...(await containers(job[1] as string))])).stdout.trim();
      card = first.output();
    },
    "durable-term",
  );
  assert.equal(state, "running", "berth did not stop the user's container");
  assert.doesNotMatch(card, /Stopped by/);
  const restarting = r.fake
    .calls("chat.update")
    .some((c) => JSON.stringify(c.args).includes("berth is restarting; this job continues when it is back"));
  assert.ok(restarting, "the card said berth is restarting");
  assertCarriedOn(r);
  assert.equal((await containers(r.jobId)).length, 1, "one container");
  process.stdout.write(`# SIGTERM: stream continued ${Math.round(r.continuedMs)} ms after the new berth was started\n`);
});

/**
 * A Slack fake and a data dir for berths started one after another on it (`start`); after the test, every berth is
 * killed, the fake stopped, and the containers of the job `setJob` names (and any named `names`) removed.
 */
async function scenario(t: TestContext, names: string[] = []) {
  const fake = await SlackFake.start();
  const dir = mkdtempSync(join(tmpdir(), "berth-durable-"));
  writeFileSync(join(dir, "policy.yaml"), testPolicy);
  writeFileSync(join(dir, "hosts.yaml"), testHosts);
  const started: Berth[] = [];
  let jobId: string | undefined;
  t.after(async () => {
    for (const b of started) if (b.child.exitCode === null && b.child.signalCode === null) b.child.kill("SIGKILL");
    await Promise.all(started.map((b) => b.exited));
    await fake.stop();
    const ids = jobId ? await containers(jobId) : [];
    // By name too: the job may not be known when the test failed early.
    if (ids.length || names.length) await run("docker", ["rm", "-f", ...ids, ...names]).catch(() => undefined);
  });
  return {
    fake,
    async start(): Promise<Berth> {
      const berth = await startBerth(fake, dir);
      started.push(berth);
      return berth;
    },
    setJob(id: string | undefined): void {
      jobId = id;
    },
  };
}

test("the run-time limit holds across a restart: the resumed job stops its container at the original deadline", async (t) => {
  const { fake, start, setJob } = await scenario(t);
  const first = await start();
  await slashCommand(fake, {
    url: `http://127.0.0.1:${first.port}/slack/events`,
    command: "/berth",
    text: `run --timeout 8s --name durable-deadline ${testImage} sh -c 'echo up; sleep 300'`,
  });
  const card = await eventually("the card with its first line", () => {
    const c = findCard(fake, SEED.incidentChannel, "durable-deadline");
    return c && threadLines(fake, SEED.incidentChannel, c.ts).includes("up") ? c : undefined;
  });
  setJob(jobIdOf(card));
  first.child.kill("SIGKILL");
  await first.exited;
  await start();
  const final = await eventually("the card's final state", () => {
    const m = fake.message(SEED.incidentChannel, card.ts);
    return m && isFinished(m) ? m : undefined;
  });
  assert.match(cardText(final), /timeout of 8\.0 s reached; exited with code 1[34][37]/);
  assert.deepEqual(threadLines(fake, SEED.incidentChannel, card.ts), ["up"], "the line is not repeated");
});

test("kill -9 while the full log's upload is pending: the next berth uploads it and ends the card with the same outcome", async (t) => {
  const { fake, start, setJob } = await scenario(t, ["durable-upload"]);
  const first = await start();
  fake.fail({ method: "files.getUploadURLExternal", status: 500, times: 1_000_000 });
  const lines = Array.from({ length: 2000 }, (_, i) => `line-${i + 1}`);
  // --rm: the container is gone by the time the next berth starts, so only the stored end can say how it ended.
  await slashCommand(fake, {
    url: `http://127.0.0.1:${first.port}/slack/events`,
    command: "/berth",
    text: `run --rm --name durable-upload ${testImage} sh -c 'for i in $(seq 1 2000); do echo line-$i; done; exit 3'`,
  });
  const pending = await eventually(
    "the card saying the full log is pending",
    () => {
      const c = findCard(fake, SEED.incidentChannel, "seq 1 2000");
      return c && /Full log pending/.test(cardText(c)) ? c : undefined;
    },
    60_000,
  );
  const jobId = jobIdOf(pending);
  setJob(jobId);
  assert.match(cardText(pending), /Exited with code 3/);
  first.child.kill("SIGKILL");
  await first.exited;
  assert.deepEqual(await containers(jobId as string), [], "the container removed itself (--rm)");
  fake.clearFaults();
  await start();
  const final = await eventually(
    "the same card, its full log attached",
    () => {
      const m = fake.message(SEED.incidentChannel, pending.ts);
      return m && isFinished(m) && /Full log \(2,000 lines\) attached/.test(cardText(m)) ? m : undefined;
    },
    60_000,
  );
  assert.match(cardText(final), /Exited with code 3/, "the outcome it had before berth was killed");
  const files = fake.files().filter((f) => f.thread_ts === pending.ts);
  assert.equal(files.length, 1, "one full log");
  assert.deepEqual(files[0]?.content.trimEnd().split("\n"), lines, "every line once, in order");
  const thread = threadLines(fake, SEED.incidentChannel, pending.ts);
  assert.equal(new Set(thread).size, thread.length, "no line twice in the thread");
  const cards = fake.messages(SEED.incidentChannel).filter((m) => cardText(m).includes(`job \`${jobId}\``));
  assert.equal(cards.length, 1, "one card");
});
