import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { eventually, removeOwnContainers, startBerth, testImage } from "./support/berth-harness.ts";
import { blockAction, type FakeMessage, SEED, SlackFake } from "./support/slack-fake.ts";

// Undo (issue 15, item 4): a stop told to the channel carries an Undo button there; a tap by anyone allowed starts the
// container again; a tap after someone else started it, or after the policy's window, is refused and runs nothing.
// Real berth, the Slack emulator, the real engine, and an injected clock for the window.

const docker = promisify(execFile);
let fake: SlackFake;
let berth: Awaited<ReturnType<typeof startBerth>>;
const tag = randomBytes(3).toString("hex");
let offset = 0;
const clock = () => Date.now() + offset;

before(async () => {
  fake = await SlackFake.start();
  berth = await startBerth(fake, { clock });
});

after(async () => {
  if (berth) await removeOwnContainers(berth.berth.store);
  await berth?.stop();
  await fake?.stop();
});

type Element = { action_id: string; value?: string; text?: { text: string } };
const undoButton = (m: FakeMessage): Element | undefined =>
  (m.blocks ?? [])
    .flatMap((b) => ((b as { type?: string }).type === "actions" ? ((b as { elements: Element[] }).elements ?? []) : []))
    .find((el) => el.action_id.startsWith("berth_choice") && el.text?.text === "Undo");

const running = async (name: string) => (await docker("docker", ["inspect", "-f", "{{.State.Running}}", name])).stdout.trim();

async function detached(name: string): Promise<void> {
  await berth.command(`run -d --name ${name} ${testImage} sleep 600`);
  await eventually(`${name} running`, async () => ((await running(name).catch(() => "")) === "true" ? true : undefined));
}

/** `stop NAME` by the operator: the channel message saying so, with its Undo button. */
async function stopped(name: string): Promise<{ message: FakeMessage; button: Element }> {
  await berth.command(`stop ${name}`);
  const message = await eventually("the stop told to the channel, with Undo", () =>
    fake.messages(SEED.incidentChannel).find((m) => m.text.includes(`stopped \`${name}\``) && undoButton(m)),
  );
  assert.equal(await running(name), "false");
  return { message, button: undoButton(message) as Element };
}

const tap = (m: FakeMessage, b: Element, user: string) =>
  blockAction(fake, { url: berth.url, messageTs: m.ts, actionId: b.action_id, value: b.value as string, user, channel: m.channel });

const answerTo = (user: string, seen: number, pattern: RegExp) =>
  eventually(`an answer to ${user} matching ${pattern}`, () =>
    fake
      .ephemerals(user)
      .slice(seen)
      .find((e) => pattern.test(e.text)),
  );

test("stop → Undo tapped by someone else in the channel: the container runs again, and the audit links the two", async () => {
  const name = `undo-${tag}-a`;
  await detached(name);
  const { message, button } = await stopped(name);
  await tap(message, button, SEED.approver);
  await eventually(`${name} running again`, async () => ((await running(name)) === "true" ? true : undefined));
  await eventually("the channel hears who started it", () =>
    fake.messages(SEED.incidentChannel).find((m) => m.text.includes(`<@${SEED.approver}> started \`${name}\``)),
  );
  const records = await berth.berth.store.audit.all();
  const undo = records.find((r) => (r.action as { kind: string }).kind === "undo" && r.userId === SEED.approver);
  assert.ok(undo?.outcome?.startsWith("undoes "), JSON.stringify(undo));
  if (!undo) return;
  const original = records.find((r) => r.requestId === undo.outcome?.slice("undoes ".length));
  assert.equal((original?.action as { kind: string } | undefined)?.kind, "container.stop", "the undo names the stop's request");
  assert.equal(undo.messageTs, message.ts, "the undo's record links to the message whose Undo was tapped");
  assert.equal(undo.channelId, message.channel);
  const start = records.find((r) => r.requestId === undo.requestId && r.type === "decision");
  assert.equal((start?.action as { kind: string } | undefined)?.kind, "container.start");
});

test("Undo after someone else started the container is refused, and nothing is run", async () => {
  const name = `undo-${tag}-b`;
  await detached(name);
  const { message, button } = await stopped(name);
  await docker("docker", ["start", name]); // someone outside berth
  const startedAt = (await docker("docker", ["inspect", "-f", "{{.State.StartedAt}}", name])).stdout.trim();
  const seen = fake.ephemerals(SEED.operator).length;
  await tap(message, button, SEED.operator);
  const answer = await answerTo(SEED.operator, seen, /is running now, not stopped as the change left it/);
  assert.match(answer.text, /Nothing was run/);
  const now = (await docker("docker", ["inspect", "-f", "{{.State.StartedAt}}", name])).stdout.trim();
  assert.equal(now, startedAt, "berth did not touch it");
});

test("Undo after the policy's window is refused with when it expired, and the container stays stopped", async () => {
  const name = `undo-${tag}-c`;
  await detached(name);
  const { message, button } = await stopped(name);
  offset += 16 * 60_000;
  const seen = fake.ephemerals(SEED.operator).length;
  await tap(message, button, SEED.operator);
  const answer = await answerTo(SEED.operator, seen, /This Undo expired at/);
  assert.match(answer.text, /undo\.window is 15m\); nothing was run/);
  assert.equal(await running(name), "false");
});
