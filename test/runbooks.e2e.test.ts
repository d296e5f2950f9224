import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import {
  cardText,
  eventually,
  findCard,
  isFinished,
  removeOwnContainers,
  startBerth,
  testImage,
  testPolicy,
  threadLines,
} from "./support/berth-harness.ts";
import { SEED, SlackFake } from "./support/slack-fake.ts";

// Runbooks from the policy (issue 15, item 5): `/berth runbook NAME ARGS` runs its steps as one job through the real
// pipeline, the real engine and the Slack emulator; its card is the checklist.

const C = SEED.incidentChannel;
const box = `rb-box-${randomBytes(3).toString("hex")}`;
const policy = `${testPolicy}runbooks:
  - name: restart-box
    summary: Read the last lines, restart, read them again
    params: [{ name: container, type: container }]
    steps:
      - logs --tail 5 {{container}}
      - restart {{container}}
      - logs --tail 5 {{container}}
  - name: broken
    summary: Its second step names a container that does not exist
    params: [{ name: c, type: container }]
    steps:
      - inspect {{c}}
      - restart no-such-rb-box
      - logs {{c}}
  - name: probe
    summary: exec is dangerous, so the runbook asks once before it starts
    params: [{ name: c, type: container }]
    steps:
      - inspect {{c}}
      - exec {{c}} echo from-exec-rb
`;

let fake: SlackFake;
let berth: Awaited<ReturnType<typeof startBerth>>;

before(async () => {
  fake = await SlackFake.start();
  berth = await startBerth(fake, { policy });
  await berth.command(`run -d --name ${box} ${testImage} sh -c 'echo hello-rb; trap "exit 0" TERM; while true; do sleep 1; done'`);
  await eventually("the detached run's card", () => {
    const c = findCard(fake, C, box);
    return c && isFinished(c) && /Started `rb-box-/.test(cardText(c)) ? c : undefined;
  });
});
after(async () => {
  if (berth) await removeOwnContainers(berth.berth.store);
  await berth?.stop();
  await fake?.stop();
});

const finished = (summary: string) =>
  eventually(`the finished card of ${summary}`, () => {
    const c = findCard(fake, C, summary);
    return c && isFinished(c) ? c : undefined;
  });

test("a 3-step runbook runs in order as one job: the checklist card ends all done, the steps' output in its thread", async () => {
  await berth.command(`runbook restart-box ${box}`);
  const card = await finished(`runbook restart-box ${box}`);
  const text = cardText(card);
  for (const line of [`logs --tail 5 ${box}`, `restart ${box}`])
    assert.ok(text.includes(`:white_check_mark: \`${line}\``), `${line} checked`);
  assert.equal(text.match(/:white_check_mark: `(logs|restart) /g)?.length, 3);
  assert.ok(!text.includes(":white_large_square:") && !text.includes(":x:"), text);
  assert.match(text, /`restart-box`: all 3 steps done/);
  // Read before the restart (one start) and after it (two): in that order, in the runbook's thread.
  assert.equal(threadLines(fake, C, card.ts).filter((l) => l === "hello-rb").length, 3);
  const steps = (await berth.berth.store.audit.all()).filter((r) => r.type === "decision" && r.userId === SEED.operator);
  const runbook = steps.find((r) => (r.action as { kind?: string }).kind === "runbook.run");
  assert.ok(runbook);
  assert.deepEqual(
    steps.filter((r) => r.requestId === runbook.requestId).map((r) => (r.action as { kind?: string }).kind),
    ["runbook.run", "container.logs", "container.restart", "container.logs"],
  );
});

test("a failing step stops the runbook: the steps after it stay unchecked and never run", async () => {
  await berth.command(`runbook broken ${box}`);
  const card = await finished(`runbook broken ${box}`);
  const text = cardText(card);
  assert.ok(text.includes(`:white_check_mark: \`inspect ${box}\``), text);
  assert.ok(text.includes(":x: `restart no-such-rb-box`"), text);
  assert.ok(text.includes(`:white_large_square: \`logs ${box}\``), text);
  assert.match(text, /`broken` stopped at step 2\. The 1 step after it did not run\./);
  const records = await berth.berth.store.audit.all();
  const runbook = records.findLast((r) => (r.action as { kind?: string }).kind === "runbook.run");
  assert.deepEqual(
    records.filter((r) => r.requestId === runbook?.requestId && r.type === "decision").map((r) => (r.action as { kind?: string }).kind),
    ["runbook.run", "container.inspect", "container.restart"],
    "the step after the failure was never decided, let alone run",
  );
});

const replyTo = (pattern: RegExp) =>
  eventually(`an ephemeral reply matching ${pattern}`, () =>
    fake.responses().find((r) => r.user === SEED.operator && pattern.test(String((r.body as { text?: unknown }).text ?? ""))),
  );

test("bad input gets a clear answer and nothing runs; a missing container offers berth's containers", async () => {
  const before = (await berth.berth.store.audit.all()).length;
  await berth.command("runbook nope");
  await replyTo(/No runbook `nope` in the policy\. Runbooks:/);
  await berth.command("runbook restart-box -f");
  await replyTo(/`container`: `-f` is not a container name/);
  await berth.command("runbook restart-box");
  const picker = await replyTo(/`restart-box` needs `container`/);
  assert.ok(JSON.stringify(picker.body).includes(box), "the container is offered as a tap");
  // Only the picker's listing (a ps) is decided: no runbook decided, nothing restarted. (Decisions only: the previous
  // test's runbook may record its outcome a moment after its card showed the end.)
  assert.deepEqual(
    (await berth.berth.store.audit.all())
      .slice(before)
      .filter((r) => r.type === "decision")
      .map((r) => (r.action as { kind?: string }).kind),
    ["container.list"],
  );
});

test("a runbook with a dangerous step asks once before it starts, then runs every step", async () => {
  await berth.command(`runbook probe ${box}`);
  await berth.confirm(`runbook probe ${box}`);
  const card = await finished(`runbook probe ${box}`);
  const text = cardText(card);
  assert.ok(text.includes(`:white_check_mark: \`exec ${box} echo from-exec-rb\``), text);
  assert.match(text, /`probe`: all 2 steps done/);
  assert.ok(threadLines(fake, C, card.ts).includes("from-exec-rb"));
});
