import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { eventually, findCard, removeOwnContainers, startBerth, testImage, testPolicy } from "./support/berth-harness.ts";
import { blockAction, type FakeEphemeral, SEED, SlackFake } from "./support/slack-fake.ts";

// `changes` (issue 15, item 2) end to end: real berth, the Slack emulator, the real engine. A container restarted
// through berth is one counted line with a Logs button beside it, and berth's own records are there for someone allowed
// the audit log; a tap on Logs runs `logs` as the tapper; --since past what the engine keeps is refused.

let fake: SlackFake;
let berth: Awaited<ReturnType<typeof startBerth>>;
const name = `chg-${randomBytes(3).toString("hex")}`;
// The operator may read changes but not the audit log; the approver is an admin.
const policy = testPolicy.replace("container.inspect]", "container.inspect, events.changes]");

before(async () => {
  fake = await SlackFake.start();
  berth = await startBerth(fake, { policy });
});

after(async () => {
  if (berth) await removeOwnContainers(berth.berth.store);
  await berth?.stop();
  await fake?.stop();
});

type Section = { type: string; text?: { text: string }; accessory?: { action_id: string; value: string; text: { text: string } } };
const sections = (e: FakeEphemeral) => (e.blocks ?? []) as Section[];

async function answer(user: string, text: string, match: RegExp): Promise<FakeEphemeral> {
  const seen = fake.ephemerals(user).length;
  await berth.command(text, user);
  return eventually(`the answer to ${text}`, () =>
    fake
      .ephemerals(user)
      .slice(seen)
      .find((e) => match.test(e.text)),
  );
}

test("a container restarted twice through berth is one line with Logs; the tap runs logs as the tapper", async () => {
  await berth.command(`run -d --name ${name} ${testImage} sh -c "trap 'exit 3' TERM; sleep 600 & wait"`);
  await eventually(`${name} started`, () => fake.messages(SEED.incidentChannel).find((m) => m.text.includes(name)));
  for (let i = 1; i <= 2; i++) {
    const before = fake.messages(SEED.incidentChannel).filter((m) => m.text.includes(`restarted \`${name}\``)).length;
    await berth.command(`restart ${name}`);
    await eventually(`restart ${i} announced`, () =>
      fake.messages(SEED.incidentChannel).filter((m) => m.text.includes(`restarted \`${name}\``)).length > before ? true : undefined,
    );
  }

  const lead = await answer(SEED.approver, "changes --since 10m", /Changes on local\* in the last 10m/);
  const rows = sections(lead).slice(1);
  const loop = rows.filter((s) => s.text?.text.includes(`\`${name}\` restarted 2× (last exit 3)`));
  assert.equal(loop.length, 1, `one line for the restarts: ${rows.map((s) => s.text?.text).join(" | ")}`);
  const ours = rows.find((s) => s.text?.text.includes(`<@${SEED.operator}> restart \`${name}\` 2× through berth → ok`));
  assert.ok(ours, `berth's record, counted: ${rows.map((s) => s.text?.text).join(" | ")}`);
  const logs = loop[0]?.accessory;
  assert.equal(logs?.text.text, "Logs");
  assert.ok(logs?.action_id.startsWith("berth_choice:"));

  await blockAction(fake, {
    url: berth.url,
    messageTs: lead.ts,
    actionId: logs?.action_id as string,
    channel: lead.channel,
    user: SEED.approver,
  });
  const card = await eventually("the logs card", () => findCard(fake, SEED.incidentChannel, `logs ${name} on local`));
  assert.ok(card.ts);
  const records = await berth.berth.store.audit.all();
  assert.ok(
    records.some((r) => r.userId === SEED.approver && (r.action as { kind?: string }).kind === "container.logs"),
    "the tap was authorized and audited as the approver",
  );
});

test("without the audit permission, the engine's side only, and it says so", async () => {
  const viewer = await answer(SEED.operator, "changes --since 10m", /Changes on local/);
  assert.match(viewer.text, /berth's own records are left out: they are shown to those allowed `audit` on local/);
  assert.ok(!viewer.text.includes("through berth"), viewer.text);
  assert.ok(viewer.text.includes(`\`${name}\` restarted 2×`), viewer.text);
});

test("--since past what the engine keeps is refused, saying what it keeps, and nothing is read", async () => {
  const refused = await answer(SEED.operator, "changes --since 3d", /looks back at most 24h/);
  assert.match(refused.text, /Docker keeps only its last 256 events, in memory/);
  assert.equal(sections(refused).filter((s) => s.accessory).length, 0);
});
