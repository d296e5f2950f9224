import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { cardText, eventually, findCard, isFinished, startBerth, testImage } from "./support/berth-harness.ts";
import { blockAction, type FakeMessage, SEED, SlackFake } from "./support/slack-fake.ts";
import { useSwarm } from "./support/swarm.ts";

// Undo of a Swarm change (issue 15, item 4), on a real single-node swarm: a scale's finished card offers Undo, which
// scales back to the replicas read before the change; once someone scaled it again, the Undo refuses.

const run = promisify(execFile);
const service = `e2e-undo-${process.pid}`;
let fake: SlackFake;
let berth: Awaited<ReturnType<typeof startBerth>>;
let leave: () => Promise<void>;

const policy = `version: 1
roles:
  ops: { actions: [service.*] }
bindings:
  - { role: ops, users: [${SEED.operator}, ${SEED.approver}] }
images: ["berth-test/**"]
`;

before(async () => {
  leave = await useSwarm();
  await run("docker", [
    "service",
    "create",
    "--detach",
    "--name",
    service,
    "--label",
    "berth-test=1",
    "--replicas",
    "1",
    testImage,
    "sleep",
    "3600",
  ]);
  fake = await SlackFake.start();
  berth = await startBerth(fake, { policy });
});

after(async () => {
  await run("docker", ["service", "rm", service]).catch(() => undefined);
  await berth?.stop();
  await fake?.stop();
  await leave?.();
});

type Element = { action_id: string; value?: string; text?: { text: string } };
const undoButton = (m: FakeMessage): Element | undefined =>
  (m.blocks ?? [])
    .flatMap((b) => ((b as { type?: string }).type === "actions" ? ((b as { elements: Element[] }).elements ?? []) : []))
    .find((el) => el.action_id.startsWith("berth_choice") && el.text?.text === "Undo");

const finished = (summary: string) =>
  eventually(
    `the finished card of "${summary}"`,
    () => {
      const c = findCard(fake, SEED.incidentChannel, summary);
      return c && isFinished(c) ? c : undefined;
    },
    150_000,
  );

const replicas = async () =>
  (await run("docker", ["service", "inspect", service, "--format", "{{.Spec.Mode.Replicated.Replicas}}"])).stdout.trim();

test("service scale → Undo on its finished card scales back to the replicas it had; a second Undo after another scale refuses", async () => {
  await berth.command(`service scale ${service}=2`);
  const card = await finished(`service scale ${service}=2`);
  assert.match(cardText(card), /Converged: 2\/2/);
  const button = undoButton(card);
  assert.ok(button?.value, "the finished card offers Undo");
  await blockAction(fake, {
    url: berth.url,
    messageTs: card.ts,
    actionId: button.action_id,
    value: button.value,
    user: SEED.approver,
    channel: SEED.incidentChannel,
  });
  const back = await finished(`service scale ${service}=1`);
  assert.match(cardText(back), /Converged: 1\/1/);
  assert.equal(await replicas(), "1");

  // The first card's Undo again: the service no longer has the 2 replicas that change left, so nothing is changed.
  const seen = fake.ephemerals(SEED.operator).length;
  await blockAction(fake, {
    url: berth.url,
    messageTs: card.ts,
    actionId: button.action_id,
    value: button.value,
    user: SEED.operator,
    channel: SEED.incidentChannel,
  });
  const answer = await eventually("the refusal", () =>
    fake
      .ephemerals(SEED.operator)
      .slice(seen)
      .find((e) => /wants 1 replicas now, not 2 as the change left it/.test(e.text)),
  );
  assert.match(answer.text, /Nothing was run/);
  assert.equal(await replicas(), "1");
});
