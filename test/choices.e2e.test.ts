import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { eventually, findCard, removeOwnContainers, startBerth, testImage } from "./support/berth-harness.ts";
import { blockAction, type FakeEphemeral, SEED, SlackFake } from "./support/slack-fake.ts";

// Every follow-up a tap (issue 14, items 1 and 2): a mistyped command offers its correction as a button, a command
// without its container offers the candidates, a name matching none offers the close ones, and more than five are a
// menu. Real berth, the Slack emulator, the real engine; each tap runs as the person who taps it.

const docker = promisify(execFile);
let fake: SlackFake;
let berth: Awaited<ReturnType<typeof startBerth>>;
const tag = randomBytes(3).toString("hex");

before(async () => {
  fake = await SlackFake.start();
  berth = await startBerth(fake);
});

after(async () => {
  if (berth) await removeOwnContainers(berth.berth.store);
  await berth?.stop();
  await fake?.stop();
});

type Element = {
  type: string;
  action_id: string;
  value?: string;
  text?: { text: string };
  options?: { text: { text: string }; value: string }[];
};
const elements = (e: FakeEphemeral): Element[] =>
  (e.blocks ?? []).flatMap((b) => ((b as { type?: string }).type === "actions" ? ((b as { elements: Element[] }).elements ?? []) : []));

/** The newest ephemeral shown to the operator after `seen` that offers choices. */
async function offered(seen: number, what: string): Promise<FakeEphemeral> {
  return eventually(what, () =>
    fake
      .ephemerals(SEED.operator)
      .slice(seen)
      .findLast((e) => elements(e).some((el) => el.action_id.startsWith("berth_choice"))),
  );
}

const tap = (e: FakeEphemeral, el: Element, value = el.value) =>
  blockAction(fake, { url: berth.url, messageTs: e.ts, actionId: el.action_id, ...(value !== undefined && { value }), channel: e.channel });

async function detached(name: string): Promise<void> {
  await berth.command(`run -d --name ${name} ${testImage} sleep 600`);
  await eventually(`${name} running`, async () => {
    const { stdout } = await docker("docker", ["inspect", "-f", "{{.State.Running}}", name]).catch(() => ({ stdout: "" }));
    return stdout.trim() === "true" ? true : undefined;
  });
}

const running = async (name: string) => (await docker("docker", ["inspect", "-f", "{{.State.Running}}", name])).stdout.trim();

test("a mistyped command is answered with the corrected line as a button, and the tap runs it", async () => {
  const name = `dym-${tag}`;
  await detached(name);
  const seen = fake.ephemerals(SEED.operator).length;
  await berth.command(`lgos --tial 5 ${name}`);
  const answer = await offered(seen, "the correction");
  assert.match(answer.text, /berth has no command `lgos`\. Did you mean `logs`/);
  const [button] = elements(answer);
  assert.equal(button?.type, "button");
  assert.equal(button?.text?.text, `Run: logs --tail 5 ${name}`);
  await tap(answer, button as Element);
  const card = await eventually("the logs card", () => findCard(fake, SEED.incidentChannel, `logs ${name} on local`));
  assert.ok(card.ts);
});

test("stop without a container offers the running ones as buttons; a tap stops that one", async () => {
  const a = `pick-${tag}-a`;
  const b = `pick-${tag}-b`;
  await detached(a);
  await detached(b);
  const seen = fake.ephemerals(SEED.operator).length;
  await berth.command("stop");
  const picker = await offered(seen, "the container picker");
  assert.match(picker.text, /Which container on local\? Newest first/);
  const buttons = elements(picker);
  const labels = buttons.map((el) => el.text?.text ?? "");
  // Newest first: b was started after a.
  assert.ok(
    labels.indexOf(labels.find((l) => l.startsWith(b)) ?? "") < labels.indexOf(labels.find((l) => l.startsWith(a)) ?? ""),
    labels.join(),
  );
  const forA = buttons.find((el) => el.text?.text.startsWith(`${a} · Up`));
  assert.ok(forA, `a button for ${a}: ${labels.join(" | ")}`);
  await tap(picker, forA);
  await eventually(`${a} stopped`, async () => ((await running(a)) === "false" ? true : undefined));
  assert.equal(await running(b), "true", "only the tapped one is stopped");
  await eventually("the channel hears who stopped it", () =>
    fake.messages(SEED.incidentChannel).find((m) => m.text.includes(`stopped \`${a}\``)),
  );
});

test("a name that matches none exactly offers the close ones; more than five candidates are one menu", async () => {
  const names = Array.from({ length: 6 }, (_, i) => `many-${tag}-${i}`);
  for (const n of names) await detached(n);
  let seen = fake.ephemerals(SEED.operator).length;
  await berth.command(`restart many-${tag}`);
  const close = await offered(seen, "the close names");
  assert.match(close.text, /No berth container is called `many-[0-9a-f]+` on local; 6 have a close name/);
  const [menu] = elements(close);
  assert.equal(menu?.type, "static_select");
  assert.deepEqual(menu?.options?.map((o) => o.text.text.split(" · ")[0]).sort(), names);

  seen = fake.ephemerals(SEED.operator).length;
  await berth.command(`inspect many-${tag}-3`);
  const inspected = await eventually("the inspect answer", () =>
    fake
      .ephemerals(SEED.operator)
      .slice(seen)
      .find((e) => e.text.includes(`many-${tag}-3`)),
  );
  assert.equal(elements(inspected).length, 0, "an exact name is answered directly");

  const option = menu?.options?.find((o) => o.text.text.startsWith(`many-${tag}-4 `));
  assert.ok(option);
  const before = (await docker("docker", ["inspect", "-f", "{{.State.StartedAt}}", `many-${tag}-4`])).stdout.trim();
  await tap(close, menu as Element, option.value);
  await eventually("many-4 restarted", async () => {
    const now = (await docker("docker", ["inspect", "-f", "{{.State.StartedAt}}", `many-${tag}-4`])).stdout.trim();
    return now !== before ? true : undefined;
  });
});
