// Exactly once per Slack delivery, end to end: a real berth (Bolt, the store, the real Docker engine) and the Slack
// emulator re-sending deliveries the way Slack does: a slash command again with X-Slack-Retry-Num over HTTP (also after
// berth restarted), a Socket Mode envelope again with its id, a click again. Each must run once: one container on the
// engine, one card, one audit decision. Two commands with the same text are two deliveries, and both run.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { AuditRecord } from "../src/store/port.ts";
import {
  cardText,
  containerCommands,
  eventually,
  findCard,
  isFinished,
  jobIdOf,
  removeOwnContainers,
  startBerth,
  testImage,
} from "./support/berth-harness.ts";
import { blockAction, type FakeMessage, redeliver, SEED, SlackFake } from "./support/slack-driver.ts";

type Berth = Awaited<ReturnType<typeof startBerth>>;
const channel = SEED.incidentChannel;

/** A command that prints until stopped, and stops at once when asked (sh as PID 1 would ignore SIGTERM). */
const loop = (mark: string) => `sh -c 'trap "exit 0" TERM; while true; do echo ${mark}; sleep 0.2; done'`;
const marker = () => `once-${randomUUID().slice(0, 8)}`;
/** Containers on the real engine whose command line carries `mark`. */
const containersWith = async (mark: string) => (await containerCommands()).filter((c) => c.includes(mark)).length;
/** Job cards (top-level messages with a job id) whose blocks carry `mark`. */
const cardsWith = (fake: SlackFake, mark: string): FakeMessage[] =>
  fake.messages(channel).filter((m) => cardText(m).includes(mark) && cardText(m).includes("job `j-"));
/** The requests the audit log holds a decision for, among the records whose action carries `mark`. */
const decisionsFor = async (b: Berth, mark: string) =>
  new Set(
    (await b.berth.store.audit.all())
      .filter((r: AuditRecord) => r.type === "decision" && JSON.stringify(r.action).includes(mark))
      .map((r) => r.requestId),
  ).size;
const finishedCard = (fake: SlackFake, mark: string) =>
  eventually(`the finished card for ${mark}`, () => {
    const c = findCard(fake, channel, mark);
    return c && isFinished(c) ? c : undefined;
  });
/** The value of one sample in Prometheus text (0 when the series does not exist yet). */
const sample = (text: string, series: string) => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
};
const duplicatesLogged = (b: Berth) =>
  b.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "duplicate delivery ignored");

describe("over HTTP", () => {
  let fake: SlackFake;
  let berth: Berth;

  before(async () => {
    fake = await SlackFake.start();
    berth = await startBerth(fake);
  });
  after(async () => {
    if (berth) await removeOwnContainers(berth.berth.store);
    await berth?.stop();
    await fake?.stop();
  });

  test("a slash command Slack delivers three times (retry headers) makes one container, one card, one audit decision", async () => {
    const mark = marker();
    const first = await berth.command(`run ${testImage} echo ${mark}`);
    // Slack's first retry comes nearly at once, while the first delivery is still being handled.
    const retry1 = await redeliver(fake, first, { url: berth.url, retryNum: 1, retryReason: "http_timeout" });
    await finishedCard(fake, mark);
    // The last one after the job is done (Slack's comes minutes later).
    const retry2 = await redeliver(fake, first, { url: berth.url, retryNum: 2, retryReason: "http_timeout" });
    assert.deepEqual([first.status, retry1.status, retry2.status], [200, 200, 200], "every delivery is acked");
    await berth.berth.slack.idle();

    assert.equal(await containersWith(mark), 1, "one container on the engine");
    assert.equal(cardsWith(fake, mark).length, 1, "one card");
    assert.equal(await decisionsFor(berth, mark), 1, "one audit decision");
    const logged = duplicatesLogged(berth).filter((l) => l.delivery === `command:${first.payload.team_id}:${first.triggerId}`);
    assert.deepEqual(
      logged.map((l) => [l.kind, l.retryNum, l.retryReason]),
      [
        ["command", 1, "http_timeout"],
        ["command", 2, "http_timeout"],
      ],
    );
    assert.ok(sample(await berth.berth.metrics(), 'berth_duplicate_deliveries_total{kind="command"}') >= 2);
  });

  test("two commands with the same text are two deliveries: both run", async () => {
    const mark = marker();
    await berth.command(`run ${testImage} echo ${mark}`);
    await berth.command(`run ${testImage} echo ${mark}`);
    await eventually("two finished cards", () => (cardsWith(fake, mark).filter(isFinished).length === 2 ? true : undefined));
    await berth.berth.slack.idle();
    assert.equal(await containersWith(mark), 2);
    assert.equal(await decisionsFor(berth, mark), 2);
  });

  test("a Stop click delivered twice is one request: one audit decision, no second answer", async () => {
    const mark = marker();
    await berth.command(`run ${testImage} ${loop(mark)}`);
    const card = await eventually("a running card", () => {
      const c = findCard(fake, channel, mark);
      return c && cardText(c).includes("berth_stop") && cardText(c).includes("Running") ? c : undefined;
    });
    const job = jobIdOf(card) ?? "";
    const answersBefore = fake.responses().length;
    const click = await blockAction(fake, { url: berth.url, messageTs: card.ts, actionId: "berth_stop", value: job });
    const again = await redeliver(fake, click, { url: berth.url, retryNum: 1 });
    assert.deepEqual([click.status, again.status], [200, 200]);
    const done = await eventually("the stopped card", () => {
      const c = fake.message(channel, card.ts);
      return c && isFinished(c) ? c : undefined;
    });
    await berth.berth.slack.idle();
    assert.match(cardText(done), /Stopped by <@U0OPER>/);
    const cancels = (await berth.berth.store.audit.all()).filter(
      (r) => r.type === "decision" && JSON.stringify(r.action).includes(job) && (r.action as { kind?: string }).kind === "job.cancel",
    );
    assert.equal(cancels.length, 1, "one job.cancel decision");
    assert.deepEqual(
      fake
        .responses()
        .slice(answersBefore)
        .map((r) => (r.body as { text?: string }).text),
      [`Stopping job \`${job}\` (run ${testImage} ${loop(mark)} on local).`],
      "one answer: the duplicate click got none of its own",
    );
    assert.ok(duplicatesLogged(berth).some((l) => l.kind === "click"));
  });

  test("a retry that arrives after berth restarted is still recognised: the claim is in the store", async () => {
    const mark = marker();
    const first = await berth.command(`run ${testImage} echo ${mark}`);
    await finishedCard(fake, mark);
    await berth.berth.slack.idle();
    const dir = berth.dir;
    const store = berth.berth.store;
    await removeOwnContainers(store);
    const containersBefore = await containersWith(mark);
    await berth.stop();
    berth = await startBerth(fake, { dir });
    const retry = await redeliver(fake, first, { url: berth.url, retryNum: 1, retryReason: "http_timeout" });
    assert.equal(retry.status, 200);
    await berth.berth.slack.idle();
    assert.equal(await containersWith(mark), containersBefore, "no new container");
    assert.equal(cardsWith(fake, mark).length, 1, "no second card");
    assert.equal(await decisionsFor(berth, mark), 1, "one audit decision across both processes");
    assert.equal(duplicatesLogged(berth).length, 1);
  });
});

describe("over Socket Mode", () => {
  let fake: SlackFake;
  let berth: Berth;

  before(async () => {
    fake = await SlackFake.start();
    berth = await startBerth(fake, { socketMode: true });
    await fake.socket.waitForConnections(1);
  });
  after(async () => {
    if (berth) await removeOwnContainers(berth.berth.store);
    await berth?.stop();
    await fake?.stop();
  });

  test("the same envelope delivered twice runs once", async () => {
    const mark = marker();
    const first = await fake.socket.slashCommand({ command: "/berth", text: `run ${testImage} echo ${mark}` });
    const again = await fake.socket.redeliver(first.envelopeId);
    assert.deepEqual([first.ack, again.ack], [{}, {}], "both acked");
    await finishedCard(fake, mark);
    await berth.berth.slack.idle();
    assert.equal(await containersWith(mark), 1);
    assert.equal(cardsWith(fake, mark).length, 1);
    assert.equal(await decisionsFor(berth, mark), 1);
    const logged = duplicatesLogged(berth).filter((l) => l.envelopeId === first.envelopeId);
    assert.deepEqual(
      logged.map((l) => [l.kind, l.retryNum, l.retryReason]),
      [["command", 1, "timeout"]],
    );
  });

  test("a click's envelope delivered twice stops the job once", async () => {
    const mark = marker();
    await fake.socket.slashCommand({ command: "/berth", text: `run ${testImage} ${loop(mark)}` });
    const card = await eventually("a running card", () => {
      const c = findCard(fake, channel, mark);
      return c && cardText(c).includes("berth_stop") && cardText(c).includes("Running") ? c : undefined;
    });
    const job = jobIdOf(card) ?? "";
    const click = await fake.socket.blockAction({ messageTs: card.ts, actionId: "berth_stop", value: job });
    await fake.socket.redeliver(click.envelopeId);
    await eventually("the stopped card", () => {
      const c = fake.message(channel, card.ts);
      return c && isFinished(c) ? c : undefined;
    });
    await berth.berth.slack.idle();
    const cancels = (await berth.berth.store.audit.all()).filter(
      (r) => r.type === "decision" && (r.action as { kind?: string; job?: string }).job === job,
    );
    assert.equal(cancels.length, 1);
    assert.ok(duplicatesLogged(berth).some((l) => l.kind === "click" && l.envelopeId === click.envelopeId));
  });
});
