import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import {
  cardText,
  eventually,
  findCard,
  isFinished,
  removeOwnContainers,
  startBerth,
  testImage,
  threadLines,
} from "./support/berth-harness.ts";
import { type FakeMessage, redeliver, SEED, SlackFake, userMessage } from "./support/slack-fake.ts";

// `@berth stop` written in a job's thread acts on that job's container, through the pipeline, as the person who wrote
// it (issue 14, "Act in the thread"): the real engine, berth over HTTP and Socket Mode, the Slack emulator.

const C = SEED.incidentChannel;
const mention = (text: string) => `<@${SEED.botUserId}> ${text}`;
const docker = promisify(execFile);
const containerState = async (name: string) => (await docker("docker", ["inspect", "--format", "{{.State.Status}}", name])).stdout.trim();

/** The container a job's card stands for, once berth has stored it (what a mention in its thread reads). */
async function containerOf(berth: Awaited<ReturnType<typeof startBerth>>, card: FakeMessage): Promise<string> {
  return eventually("the job's container stored with it", async () => {
    const resume = (await berth.berth.store.jobs.byCard(C, card.ts))?.resume as { point?: { name?: string } } | null;
    return resume?.point?.name;
  });
}

describe("mentions over HTTP", () => {
  let fake: SlackFake;
  let berth: Awaited<ReturnType<typeof startBerth>>;

  before(async () => {
    fake = await SlackFake.start();
    berth = await startBerth(fake);
  });
  after(async () => {
    if (berth) await removeOwnContainers(berth.berth.store);
    await berth?.stop();
    await fake?.stop();
  });

  test("@berth stop in a running job's thread cancels the job and stops its container; a retried event runs once", async () => {
    const summary = `run ${testImage} sh -c 'while true; do echo tick; sleep 1; done'`;
    await berth.command(`run ${testImage} sh -c 'while true; do echo tick; sleep 1; done'`);
    const card = await eventually("the loop's card", () => findCard(fake, C, summary));
    await eventually("a tick in the thread", () => (threadLines(fake, C, card.ts).includes("tick") ? true : undefined));
    const container = await containerOf(berth, card);

    const { delivery } = await userMessage(fake, { url: berth.url, text: mention("stop"), threadTs: card.ts });
    assert.equal(delivery?.status, 200);
    const final = await eventually("the card final", () => {
      const c = findCard(fake, C, summary);
      return c && isFinished(c) ? c : undefined;
    });
    assert.match(cardText(final), /Stopped by/);
    await eventually("the job recorded as cancelled", async () =>
      (await berth.berth.store.jobs.byCard(C, card.ts))?.status === "cancelled" ? true : undefined,
    );
    assert.equal(await containerState(container), "exited");

    // Slack sends the same event again (it did not see the ack): acked, and nothing runs a second time.
    assert.ok(delivery);
    const again = await redeliver(fake, delivery, { url: berth.url, retryNum: 1, retryReason: "http_timeout" });
    assert.equal(again.status, 200);
    await eventually("the retry dropped", () => (berth.logs.some((l) => l.includes("duplicate delivery ignored")) ? true : undefined));
    const cancels = (await berth.berth.store.audit.all()).filter(
      (r) => r.type === "decision" && (r.action as { kind?: string }).kind === "job.cancel",
    );
    assert.equal(cancels.length, 1, "one decision recorded for the one mention");
    assert.equal(cancels[0]?.userId, SEED.operator, "authorized and audited as the person who wrote it");
  });

  test("@berth logs in the thread of an ended run shows that container's logs on a new card", async () => {
    await berth.command(`run ${testImage} sh -c 'echo first; echo second'`);
    const card = await eventually("the run's final card", () => {
      const c = findCard(fake, C, `run ${testImage} sh -c 'echo first; echo second'`);
      return c && isFinished(c) ? c : undefined;
    });
    const container = await containerOf(berth, card);
    await userMessage(fake, { url: berth.url, text: mention("logs --tail 1"), threadTs: card.ts });
    const logs = await eventually("the logs card", () => {
      const c = findCard(fake, C, `logs ${container} on local`);
      return c && isFinished(c) ? c : undefined;
    });
    assert.deepEqual(threadLines(fake, C, logs.ts), ["second"], "--tail 1 of that container's output");
    assert.equal(logs.thread_ts ?? logs.ts, logs.ts, "a new card in the channel, not a reply in the run's thread");
  });

  test("a mention outside a job's thread gets the help answer, to its writer alone", async () => {
    const before = fake.ephemerals(SEED.operator).length;
    await userMessage(fake, { url: berth.url, text: mention("ps") });
    const answer = await eventually("the help answer", () => fake.ephemerals(SEED.operator).slice(before).at(0));
    assert.equal(answer.via, "chat.postEphemeral");
    assert.match(answer.text, /in the thread of a job's card/);
    assert.equal(answer.thread_ts, undefined);
  });

  test("a mention in a thread is answered in the thread, and refused as for the slash command", async () => {
    await berth.command(`run ${testImage} echo hi`);
    const card = await eventually("the run's final card", () => {
      const c = findCard(fake, C, `run ${testImage} echo hi`);
      return c && isFinished(c) ? c : undefined;
    });
    await containerOf(berth, card);
    // U0NOBODY has no role in the test policy: the same denial as for `/berth restart`, in the thread, to them alone.
    await userMessage(fake, { url: berth.url, user: SEED.nobody, text: mention("restart"), threadTs: card.ts });
    const denied = await eventually("the denial", () => fake.ephemerals(SEED.nobody).at(-1));
    assert.equal(denied.thread_ts, card.ts);
    assert.match(denied.text, /:no_entry:|not allowed|denied/i);
  });
});

describe("mentions over Socket Mode", () => {
  let fake: SlackFake;
  let berth: Awaited<ReturnType<typeof startBerth>>;

  before(async () => {
    fake = await SlackFake.start();
    berth = await startBerth(fake, { socketMode: true });
  });
  after(async () => {
    if (berth) await removeOwnContainers(berth.berth.store);
    await berth?.stop();
    await fake?.stop();
  });

  test("@berth restart in a run's thread restarts its container", async () => {
    await fake.socket.slashCommand({ command: "/berth", text: `run ${testImage} sh -c 'echo up; sleep 30'` });
    const card = await eventually("the run's card", () => findCard(fake, C, `run ${testImage} sh -c 'echo up; sleep 30'`));
    const container = await containerOf(berth, card);
    const { delivery } = await fake.socket.userMessage({ text: mention("restart"), threadTs: card.ts });
    assert.equal(delivery?.type, "events_api");
    await eventually("the restart recorded", async () =>
      (await berth.berth.store.audit.all()).find(
        (r) =>
          r.type === "decision" &&
          (r.action as { kind?: string; container?: string }).container === container &&
          (r.action as { kind?: string }).kind === "container.restart",
      ),
    );
    await eventually("the container running again", async () => ((await containerState(container)) === "running" ? true : undefined));
  });
});
