import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { cardText, eventually, findCard, isFinished, startBerth, testImage, threadLines } from "./support/berth-harness.ts";
import { SEED, SlackFake } from "./support/slack-fake.ts";
import { useSwarm } from "./support/swarm.ts";

// Swarm services from Slack, on a real single-node swarm: list, scale and watch it converge, a bad update that
// fails with the task errors on the card, and a rollback that converges again.

const run = promisify(execFile);
const service = `e2e-web-${process.pid}`;
const talker = `e2e-talker-${process.pid}`;
const envSecret = "s3cr3t-from-the-spec-0123";
let fake: SlackFake;
let berth: Awaited<ReturnType<typeof startBerth>>;
let leave: () => Promise<void>;

const policy = `version: 1
roles:
  ops: { actions: [service.*] }
bindings:
  - { role: ops, users: [${SEED.operator}] }
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
    "--update-monitor",
    "2s",
    testImage,
    "sleep",
    "3600",
  ]);
  // A service that prints its own secret: `service logs` must mask it, as `logs` masks a container's environment.
  await run("docker", [
    "service",
    "create",
    "--detach",
    "--name",
    talker,
    "--label",
    "berth-test=1",
    "--env",
    `API_SECRET=${envSecret}`,
    testImage,
    "sh",
    "-c",
    'echo "connecting with $API_SECRET now"; sleep 3600',
  ]);
  fake = await SlackFake.start();
  berth = await startBerth(fake, { policy });
});

after(async () => {
  await run("docker", ["service", "rm", service, talker]).catch(() => undefined);
  await berth?.stop();
  await fake?.stop();
  await leave?.();
});

const textOf = (r: { body: unknown }) => String((r.body as { text?: unknown }).text ?? "");
const finished = (summary: string) =>
  eventually(
    `the finished card of "${summary}"`,
    () => {
      const c = findCard(fake, SEED.incidentChannel, summary);
      return c && isFinished(c) ? c : undefined;
    },
    150_000,
  );

test("service ls shows the service with its replicas", async () => {
  await berth.command("service ls");
  const reply = await eventually("the service list", () =>
    fake.responses().find((r) => r.user === SEED.operator && textOf(r).includes("Swarm services on local")),
  );
  assert.match(textOf(reply), new RegExp(`\`${service}\` \\w+ — \\d/1 — \`berth-test/busybox:1\``));
});

test("scale: the card follows the service until 3/3 tasks run", async () => {
  await berth.command(`service scale ${service}=3`);
  const card = await finished(`service scale ${service}=3`);
  assert.match(cardText(card), /Converged: 3\/3 tasks running/);
  const { stdout } = await run("docker", ["service", "ls", "--filter", `name=${service}`, "--format", "{{.Replicas}}"]);
  assert.equal(stdout.trim(), "3/3");
});

test("an update to an image the host cannot get fails on the card, with the task errors in the thread", async () => {
  await berth.command(`service update --image berth-test/busybox:missing ${service}`);
  const card = await finished("service update --image berth-test/busybox:missing");
  assert.match(cardText(card), /:x:/);
  assert.match(cardText(card), /Did not converge/);
  assert.match(cardText(card), /service rollback/);
  const lines = threadLines(fake, SEED.incidentChannel, card.ts);
  assert.ok(
    lines.some((l) => /^task \w+.*(rejected|failed).*(No such image|not found|does not exist|pull access denied|manifest)/i.test(l)),
    `a failed task with its error in ${JSON.stringify(lines)}`,
  );
});

test("rollback returns the service to its previous image and converges", async () => {
  await berth.command(`service rollback ${service}`);
  const card = await finished(`service rollback ${service} on local`);
  assert.match(cardText(card), /Converged: 3\/3 tasks running/);
  const { stdout } = await run("docker", ["service", "inspect", service, "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}"]);
  assert.match(stdout, /^berth-test\/busybox:1/);
});

test("an image outside the allow-list is refused before the swarm sees it", async () => {
  await berth.command(`service update --image evil/miner:1 ${service}`);
  await eventually("the denial", () =>
    fake.responses().find((r) => r.user === SEED.operator && /not on berth's image allow-list/.test(textOf(r))),
  );
});

test("service logs masks the service's environment values", async () => {
  // Set-up, not the assertion: the task has started and printed its line.
  for (const deadline = Date.now() + 60_000; ; ) {
    if ((await run("docker", ["service", "logs", talker])).stdout.includes("connecting with")) break;
    if (Date.now() > deadline) throw new Error(`${talker} printed nothing within 60 s`);
    await new Promise((r) => setTimeout(r, 500));
  }
  await berth.command(`service logs ${talker}`);
  const card = await finished(`service logs ${talker}`);
  const lines = threadLines(fake, SEED.incidentChannel, card.ts);
  assert.deepEqual(lines, ["connecting with •••• now"]);
});
