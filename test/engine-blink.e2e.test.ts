// Engines that blink (issue 13, item 3): berth reaches the real engine through a TCP proxy the test cuts and restores
// (real sockets: every open connection is reset and new ones are refused while cut), as a restart with --live-restore
// looks to a client. A stream carries on from its cursor once the engine is back; it ends only after the window.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import {
  cardText,
  eventually,
  findCard,
  isFinished,
  jobIdOf,
  removeOwnContainers,
  startBerth,
  testImage,
  threadLines,
} from "./support/berth-harness.ts";
import { engineProxy } from "./support/engine-proxy.ts";
import { SEED, SlackFake } from "./support/slack-fake.ts";
import { cli, startTlsDaemon } from "./support/tls-daemon.ts";

const run = promisify(execFile);

let fake: SlackFake;
let proxy: Awaited<ReturnType<typeof engineProxy>>;
before(async () => {
  fake = await SlackFake.start();
  proxy = await engineProxy();
});
after(async () => {
  await proxy.close();
  await fake.stop();
});

const hosts = () => `hosts:\n  - { name: blinky, url: "${proxy.url}", timeout: 3000 }\ndefault: blinky\n`;
const cardStatuses = (ts: string) =>
  fake
    .calls("chat.update")
    .filter((c) => (c.args as { ts?: string }).ts === ts)
    .map((c) => JSON.stringify(c.args));

test("a lost engine connection mid-run is retried, the card says so, and the stream goes on from its cursor", async (t) => {
  const berth = await startBerth(fake, { hosts: hosts(), env: { BERTH_ENGINE_RECONNECT: "2m" } });
  t.after(async () => {
    proxy.restore();
    await removeOwnContainers(berth.berth.store);
    await berth.stop();
  });
  await berth.command(`run --name blink-run ${testImage} sh -c 'for i in $(seq 1 300); do echo line-$i; sleep 0.05; done; exit 4'`);
  const card = await eventually("line 50 in the thread", () => {
    const c = findCard(fake, SEED.incidentChannel, "blink-run");
    return c && threadLines(fake, SEED.incidentChannel, c.ts).includes("line-50") ? c : undefined;
  });
  proxy.cut();
  await eventually("the card to say berth is reconnecting", () =>
    cardStatuses(card.ts).some((s) => s.includes("reconnecting for up to 2m 0s")) ? true : undefined,
  );
  const shown = threadLines(fake, SEED.incidentChannel, card.ts).length;
  const restoredAt = performance.now();
  proxy.restore();
  await eventually("the stream to go on", () => (threadLines(fake, SEED.incidentChannel, card.ts).length > shown ? true : undefined));
  const continuedMs = performance.now() - restoredAt;
  const final = await eventually("the card's final state", () => {
    const m = fake.message(SEED.incidentChannel, card.ts);
    return m && isFinished(m) ? m : undefined;
  });
  assert.match(cardText(final), /Exited with code 4/, "the program's own exit code: berth did not stop it");
  const thread = threadLines(fake, SEED.incidentChannel, card.ts);
  const file =
    fake
      .files()
      .find((f) => f.thread_ts === card.ts)
      ?.content.trimEnd()
      .split("\n") ?? [];
  const expected = Array.from({ length: 300 }, (_, i) => `line-${i + 1}`);
  const seen = new Set<string>();
  assert.deepEqual(
    thread.filter((l) => seen.has(l) || !seen.add(l)),
    [],
    "no line twice in the thread",
  );
  assert.deepEqual(
    expected.filter((l) => !seen.has(l) && !file.includes(l)),
    [],
    "every line in the thread or the full log",
  );
  assert.ok(
    fake.thread(SEED.incidentChannel, card.ts).some((m) => /Reconnected to blinky after/.test(m.text)),
    "the thread says the stream reconnected",
  );
  const lost = expected.length - seen.size;
  process.stdout.write(
    `# engine blink: stream continued ${Math.round(continuedMs)} ms after the engine came back; ${lost} lines only in the full log, 0 repeated\n`,
  );
  const job = jobIdOf(final) as string;
  assert.equal((await run("docker", ["ps", "-aq", "--filter", `label=io.berth.job=${job}`])).stdout.trim().split("\n").length, 1);
});

test("an engine that stays away past the window ends the stream with the message", async (t) => {
  const berth = await startBerth(fake, { hosts: hosts(), env: { BERTH_ENGINE_RECONNECT: "3s" } });
  t.after(async () => {
    proxy.restore();
    await removeOwnContainers(berth.berth.store);
    await berth.stop();
  });
  await berth.command(`run --name blink-gone ${testImage} sh -c 'echo started; sleep 300'`);
  const card = await eventually("the first line in the thread", () => {
    const c = findCard(fake, SEED.incidentChannel, "blink-gone");
    return c && threadLines(fake, SEED.incidentChannel, c.ts).includes("started") ? c : undefined;
  });
  proxy.cut();
  const final = await eventually("the card's final state", () => {
    const m = fake.message(SEED.incidentChannel, card.ts);
    return m && isFinished(m) ? m : undefined;
  });
  assert.ok(cardStatuses(card.ts).some((s) => s.includes("reconnecting for up to 3.0 s")));
  assert.match(cardText(final), /blinky\W+ is unreachable|Lost the connection to host/, "the stream ends with the message");
});

test("a real engine restart with --live-restore: the run goes on in its card from its cursor, with its own exit code", async (t) => {
  const daemon = await startTlsDaemon({ liveRestore: true });
  t.after(() => daemon.stop());
  const berth = await startBerth(fake, {
    hosts: `hosts:
  - name: restarting
    url: "${daemon.url}"
    tls: { ca: "env:R_CA", cert: "env:R_CERT", key: "env:R_KEY" }
default: restarting
`,
    env: { R_CA: daemon.ca, R_CERT: daemon.cert, R_KEY: daemon.key, BERTH_ENGINE_RECONNECT: "2m" },
  });
  t.after(() => berth.stop());
  await berth.command(`run --name live-restore ${testImage} sh -c 'for i in $(seq 1 300); do echo line-$i; sleep 0.05; done; exit 5'`);
  const card = await eventually("line 50 in the thread", () => {
    const c = findCard(fake, SEED.incidentChannel, "live-restore");
    return c && threadLines(fake, SEED.incidentChannel, c.ts).includes("line-50") ? c : undefined;
  });
  const restartedAt = performance.now();
  await daemon.restart();
  const backAt = performance.now();
  const shown = threadLines(fake, SEED.incidentChannel, card.ts).length;
  await eventually("the stream to go on", () => (threadLines(fake, SEED.incidentChannel, card.ts).length > shown ? true : undefined));
  const continuedMs = performance.now() - backAt;
  const final = await eventually("the card's final state", () => {
    const m = fake.message(SEED.incidentChannel, card.ts);
    return m && isFinished(m) ? m : undefined;
  });
  assert.match(cardText(final), /Exited with code 5/, "the container lived through the restart and exited by itself");
  assert.ok(
    cardStatuses(card.ts).some((s) => s.includes("reconnecting")),
    "the card said it was reconnecting",
  );
  const thread = threadLines(fake, SEED.incidentChannel, card.ts);
  const file =
    fake
      .files()
      .find((f) => f.thread_ts === card.ts)
      ?.content.trimEnd()
      .split("\n") ?? [];
  const seen = new Set<string>();
  assert.deepEqual(
    thread.filter((l) => seen.has(l) || !seen.add(l)),
    [],
    "no line twice in the thread",
  );
  const expected = Array.from({ length: 300 }, (_, i) => `line-${i + 1}`);
  assert.deepEqual(
    expected.filter((l) => !seen.has(l) && !file.includes(l)),
    [],
    "every line in the thread or the full log",
  );
  assert.equal((await cli(daemon.socket, "ps", "-aq")).split("\n").filter(Boolean).length, 1, "one container");
  process.stdout.write(
    `# live-restore: dockerd down for ${Math.round(backAt - restartedAt)} ms; stream continued ${Math.round(continuedMs)} ms after it answered again; ${expected.length - seen.size} lines only in the full log, 0 repeated\n`,
  );
});

test("berth restarting while the engine is away: the resumed run waits for the engine, then goes on from its cursor", async (t) => {
  const env = { BERTH_ENGINE_RECONNECT: "2m" };
  const first = await startBerth(fake, { hosts: hosts(), env });
  let second: Awaited<ReturnType<typeof startBerth>> | undefined;
  t.after(async () => {
    proxy.restore();
    await removeOwnContainers((second ?? first).berth.store);
    await second?.stop();
  });
  await first.command(`run --name blink-both ${testImage} sh -c 'for i in $(seq 1 200); do echo line-$i; sleep 0.05; done; exit 6'`);
  const card = await eventually("line 30 in the thread", () => {
    const c = findCard(fake, SEED.incidentChannel, "blink-both");
    return c && threadLines(fake, SEED.incidentChannel, c.ts).includes("line-30") ? c : undefined;
  });
  await first.stop();
  proxy.cut();
  second = await startBerth(fake, { hosts: hosts(), env, dir: first.dir });
  const restarted = second;
  await eventually("the job to be resumed", () => (restarted.logs.some((l) => l.includes('"msg":"resuming job"')) ? true : undefined));
  await eventually("the resumed card", () =>
    cardStatuses(card.ts).some((s) => s.includes("Carrying on after berth restarted")) ? true : undefined,
  );
  // The resumed run has tried the engine and been refused a few times (it retries): only then is the engine back.
  const before = proxy.refused();
  await eventually("the resumed run to try the engine while it is away", () => (proxy.refused() >= before + 3 ? true : undefined));
  proxy.restore();
  const final = await eventually("the card's final state", () => {
    const m = fake.message(SEED.incidentChannel, card.ts);
    return m && isFinished(m) ? m : undefined;
  });
  assert.match(cardText(final), /Exited with code 6/);
  const thread = threadLines(fake, SEED.incidentChannel, card.ts);
  const file =
    fake
      .files()
      .find((f) => f.thread_ts === card.ts)
      ?.content.trimEnd()
      .split("\n") ?? [];
  assert.deepEqual(
    file,
    Array.from({ length: 200 }, (_, i) => `line-${i + 1}`),
    "the full log holds every line once",
  );
  assert.equal(new Set(thread).size, thread.length, "no line twice in the thread");
});
