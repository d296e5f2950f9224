import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { eventually, findCard, isFinished, removeOwnContainers, startBerth, testImage } from "./support/berth-harness.ts";
import { blockAction, SEED, SlackFake } from "./support/slack-fake.ts";

// `stats` and `top` end to end (issue 15, item 1): signed slash commands through the Slack emulator, real containers on
// the real engine: one spinning a CPU, one idle. The card shows them busiest first; its Top button lists processes.

const docker = promisify(execFile);
const tag = randomBytes(3).toString("hex");
const busy = `stats-busy-${tag}`;
const idle = `stats-idle-${tag}`;
let fake: SlackFake;
let berth: Awaited<ReturnType<typeof startBerth>>;

const policy = `version: 1
roles:
  operator: { actions: ["container.*"] }
bindings:
  - { role: operator, users: [${SEED.operator}], channels: [${SEED.incidentChannel}] }
images: ["berth-test/**"]
`;

async function detached(name: string, cmd: string): Promise<void> {
  await berth.command(`run -d --name ${name} ${testImage} ${cmd}`);
  await eventually(`${name} running`, async () => {
    const { stdout } = await docker("docker", ["inspect", "-f", "{{.State.Running}}", name]).catch(() => ({ stdout: "" }));
    return stdout.trim() === "true" ? true : undefined;
  });
}

before(async () => {
  fake = await SlackFake.start();
  berth = await startBerth(fake, { policy });
  await detached(busy, `sh -c 'while :; do :; done'`);
  await detached(idle, "sleep 300");
});

after(async () => {
  if (berth) await removeOwnContainers(berth.berth.store);
  await berth?.stop();
  await fake?.stop();
});

type Element = { action_id: string; value?: string; text?: { text: string } };
const buttons = (blocks: unknown[] | undefined): Element[] =>
  (blocks ?? []).flatMap((b) => ((b as { type?: string }).type === "actions" ? ((b as { elements: Element[] }).elements ?? []) : []));
const decoded = (text: string) => text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
/** The card's status section (where a finished job's answer is) as a person reads it. */
const statusOf = (card: { blocks?: unknown[] }) =>
  decoded((card.blocks?.[1] as { text?: { text?: string } } | undefined)?.text?.text ?? "");

test("stats: one card in the channel, the spinning container first with its CPU, the idle one after; Top lists its processes", async () => {
  await berth.command("stats");
  const card = await eventually("the finished stats card", () => {
    const c = findCard(fake, SEED.incidentChannel, "stats on local");
    return c && isFinished(c) ? c : undefined;
  });
  const text = statusOf(card);
  assert.match(text, /2 containers on local\*, busiest first, at \d\d:\d\d:\d\d UTC:/);
  assert.match(text, /NAME +CPU % +MEM USAGE \/ LIMIT +MEM % +NET I\/O +BLOCK I\/O +PIDS/);
  const row = (name: string) =>
    new RegExp(`^${name} +([\\d.]+)% +[\\d.]+[KMG]?i?B \\/ [\\d.]+[KMG]iB +[\\d.]+% +— +[\\d.]+[kMG]?B \\/ [\\d.]+[kMG]?B +\\d+$`, "m");
  const hot = row(busy).exec(text);
  const cold = row(idle).exec(text);
  assert.ok(hot && cold, text);
  assert.ok(hot.index < cold.index, "busiest first");
  // Two cores shared with other test runs: the spinning one gets some of one, the idle one next to none.
  assert.ok(Number(hot[1]) > 5 && Number(hot[1]) > 5 * Number(cold[1]), `busy CPU ${hot[1]}, idle ${cold[1]}`);
  assert.deepEqual(fake.thread(SEED.incidentChannel, card.ts), [], "two containers: nothing for the thread");

  const top = buttons(card.blocks).find((b) => b.text?.text === `Top ${busy}`);
  assert.ok(top, JSON.stringify(card.blocks));
  const seen = fake.ephemerals(SEED.operator).length;
  await blockAction(fake, {
    url: berth.url,
    messageTs: card.ts,
    actionId: top.action_id,
    ...(top.value !== undefined && { value: top.value }),
    channel: SEED.incidentChannel,
  });
  const answer = await eventually("the process list", () =>
    fake
      .ephemerals(SEED.operator)
      .slice(seen)
      .find((e) => e.text.includes(`Processes of ${busy} on local`)),
  );
  assert.match(decoded(answer.text), /```\n.*PID.*\n.*while :; do :; done/);
});

test("stats NAME… answers a name that is not berth's on its own line; top of a stopped container says how to start it", async () => {
  await berth.command(`stats ${idle} nope-${tag}`);
  const card = await eventually("the named stats card", () => {
    const c = findCard(fake, SEED.incidentChannel, `stats ${idle} nope-${tag} on local`);
    return c && isFinished(c) ? c : undefined;
  });
  const text = statusOf(card);
  assert.match(text, new RegExp(`\\n${idle} +[\\d.]+%`));
  assert.match(text, new RegExp(`• \`nope-${tag}\` — no such berth container`));

  await docker("docker", ["stop", "-t", "0", idle]);
  const seen = fake.ephemerals(SEED.operator).length;
  await berth.command(`top ${idle}`);
  const answer = await eventually("the answer to top of a stopped container", () =>
    fake
      .ephemerals(SEED.operator)
      .slice(seen)
      .find((e) => e.text.includes(idle)),
  );
  assert.match(
    decoded(answer.text),
    new RegExp(`is not running on host local, so it has no processes\\. Start it with \`/berth start ${idle}\``),
  );
});
