import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { slashCommand } from "@berth/slack-emulator";
import { cardText, eventually, findCard, isFinished, removeOwnContainers, startBerth, testImage } from "./support/berth-harness.ts";
import { SEED, SlackFake } from "./support/slack-fake.ts";

// A container that prints lines crafted against the redactor must not be able to hold up berth's acks: Slack gives an
// app 3 s to ack a command before it tells the user the app failed. Real berth, real Docker, the Slack fake.

let fake: SlackFake;
let berth: Awaited<ReturnType<typeof startBerth>>;

before(async () => {
  fake = await SlackFake.start();
  berth = await startBerth(fake, { threadMaxMessages: 5 });
});

after(async () => {
  if (berth) await removeOwnContainers(berth.berth.store);
  await berth?.stop();
  await fake?.stop();
});

/** Slack's limit for acknowledging a slash command (https://api.slack.com/interactivity/slash-commands). */
const slackAckLimitMs = 3000;

test("slash commands are acked within Slack's 3 s while containers print thousands of 16 KiB lines crafted against the redactor", async () => {
  // Each line is one 16 KiB run that almost matches a secret pattern: the earlier patterns took 0.1–0.25 s per line.
  const units = ["eyJa-", "a.", "eyJa-"];
  const lines = 600;
  await Promise.all(
    units.map((unit) =>
      berth.command(
        `run ${testImage} sh -c 'l=$(yes ${unit} | head -n ${Math.floor(16_380 / unit.length)} | tr -d "\\n"); yes "$l" | head -n ${lines}'`,
      ),
    ),
  );
  const cards = () => units.map((unit) => findCard(fake, SEED.incidentChannel, `yes ${unit} |`));
  await eventually("the three run cards", () => (cards().every((c) => c) ? true : undefined));
  const running = () => cards().some((c) => c && !isFinished(c));

  const acks: Promise<{ status: number; ms: number; error?: string }>[] = [];
  const ack = (): Promise<{ status: number; ms: number; error?: string }> =>
    slashCommand(fake, { url: berth.url, command: "/berth", text: "ps", user: SEED.operator, channel: SEED.incidentChannel }).catch(
      (e: Error) => ({ status: 0, ms: Number.POSITIVE_INFINITY, error: `${e.message} (${(e.cause as Error | undefined)?.message})` }),
    );
  let whileRunning = 0;
  const started = Date.now();
  // One command every 100 ms, none waiting for the one before, until the streams end (or a minute has passed).
  while (running() && Date.now() - started < 60_000) {
    whileRunning++;
    acks.push(ack());
    await sleep(100);
  }
  const results = await Promise.all(acks);
  assert.ok(whileRunning >= 5, `only ${whileRunning} commands were sent while the containers printed`);
  const slowest = Math.max(...results.map((r) => r.ms));
  const failed = results.filter((r) => r.status !== 200);
  assert.ok(
    failed.length === 0 && slowest < slackAckLimitMs,
    `slowest ack of ${results.length}: ${Math.round(slowest)} ms (Slack's limit is ${slackAckLimitMs} ms); ${failed.length} failed: ${failed[0]?.error ?? failed[0]?.status}`,
  );
  const done = await eventually("the finished cards", () => {
    const all = cards().filter((c) => c !== undefined);
    return all.length === units.length && all.every(isFinished) ? all : undefined;
  });
  for (const card of done) assert.match(cardText(card), /Exited with code 0/);
});
