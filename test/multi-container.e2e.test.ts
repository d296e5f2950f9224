import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { eventually, findCard, isFinished, removeOwnContainers, startBerth, testImage } from "./support/berth-harness.ts";
import { SEED, SlackFake } from "./support/slack-fake.ts";

// `stop a b c` as docker takes it, through Slack (the emulator, real Bolt) to the real engine: one message, a line each.

const docker = async (...args: string[]) => (await promisify(execFile)("docker", args)).stdout.trim();
const suffix = `${process.pid}-${Date.now().toString(36)}`;
const first = `multi-a-${suffix}`;
const second = `multi-b-${suffix}`;
const unknown = `multi-none-${suffix}`;
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

const running = async (name: string) => (await docker("inspect", "--format", "{{.State.Running}}", name)) === "true";
const channelMessage = (pattern: RegExp) =>
  eventually(`a channel message matching ${pattern}`, () =>
    fake
      .messages(SEED.incidentChannel)
      .filter((m) => pattern.test(m.text))
      .at(-1),
  );

async function runDetached(name: string) {
  // The shell ends on TERM at once, so stopping it does not wait out Docker's grace period.
  await berth.command(`run -d --name ${name} ${testImage} sh -c 'trap "exit 0" TERM; while true; do sleep 1; done'`);
  await eventually(`${name} started`, () => {
    const c = findCard(fake, SEED.incidentChannel, name);
    return c && isFinished(c) ? c : undefined;
  });
  assert.equal(await running(name), true);
}

test("stop with two berth containers and an unknown name: one message, three lines, both really stopped", async () => {
  await runDetached(first);
  await runDetached(second);
  const before = fake.messages(SEED.incidentChannel).length;

  await berth.command(`stop ${first} ${unknown} ${second}`);
  const answer = await channelMessage(/stopped 2 of 3 containers on local/);
  assert.deepEqual(answer.text.split("\n"), [
    `<@${SEED.operator}> stopped 2 of 3 containers on local:`,
    `• :white_check_mark: \`${first}\` stopped`,
    `• :x: \`${unknown}\`: no such berth container`,
    `• :white_check_mark: \`${second}\` stopped`,
  ]);
  assert.equal(fake.messages(SEED.incidentChannel).length, before + 1, "one message for the whole request");
  assert.equal(await running(first), false);
  assert.equal(await running(second), false);

  const outcome = (await berth.berth.store.audit.all()).filter((r) => r.type === "outcome").at(-1);
  assert.deepEqual(outcome?.action, { kind: "container.stop", container: first, more: [unknown, second] });
  assert.equal(outcome?.outcome, `${first}: ok; ${unknown}: error: NOT_FOUND; ${second}: ok`);
});

test("rm -f with several containers is confirmed once, on a preview that lists them all, then removes each", async () => {
  await berth.command(`rm -f ${first} ${second}`);
  const preview = await eventually("the preview card", () =>
    fake.responses().find((r) => r.user === SEED.operator && JSON.stringify(r.body).includes(`Containers (2):`)),
  );
  assert.match(JSON.stringify(preview.body), new RegExp(`\`${first}\`, \`${second}\` \\(forced, even if running\\)`));
  await berth.confirm(`rm -f ${first} ${second}`);
  const answer = await channelMessage(/removed 2 containers from local/);
  assert.deepEqual(answer.text.split("\n").slice(1), [
    `• :white_check_mark: \`${first}\` removed`,
    `• :white_check_mark: \`${second}\` removed`,
  ]);
  for (const name of [first, second]) await assert.rejects(docker("inspect", name), /No such object/);
});
