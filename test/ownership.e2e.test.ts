import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { labels } from "../src/engines/ports.ts";
import {
  cardText,
  eventually,
  findCard,
  isFinished,
  jobIdOf,
  removeOwnContainers,
  startBerth,
  testImage,
} from "./support/berth-harness.ts";
import { SEED, SlackFake } from "./support/slack-fake.ts";

// Any image, and anyone with the Docker CLI, can label a container io.berth.managed=true, even copying a real job id
// from a Slack card. berth must not list, touch or announce such a container: only its installation id makes one its own.

const docker = async (...args: string[]) => (await promisify(execFile)("docker", args)).stdout.trim();
const suffix = `${process.pid}-${Date.now().toString(36)}`;
const idler = `lookalike-idle-${suffix}`;
const crasher = `lookalike-crash-${suffix}`;
let fake: SlackFake;
let berth: Awaited<ReturnType<typeof startBerth>>;

before(async () => {
  fake = await SlackFake.start();
  berth = await startBerth(fake);
});

after(async () => {
  await docker("rm", "-f", idler, crasher).catch(() => undefined);
  if (berth) await removeOwnContainers(berth.berth.store);
  await berth?.stop();
  await fake?.stop();
});

const textOf = (r: { body: unknown }) => String((r.body as { text?: unknown }).text ?? "");
const reply = (pattern: RegExp) =>
  eventually(`a reply matching ${pattern}`, () => fake.responses().find((r) => r.user === SEED.operator && pattern.test(textOf(r))));
const notices = () => fake.messages(SEED.incidentChannel).filter((m) => cardText(m).includes("berth_notify_logs"));

test("a container carrying berth's labels and a real job id, but not this installation's id, is not berth's", async () => {
  await berth.command(`run ${testImage} echo real-job`);
  const card = await eventually("the real job's card", () => {
    const c = findCard(fake, SEED.incidentChannel, "echo real-job");
    return c && isFinished(c) ? c : undefined;
  });
  const job = jobIdOf(card) ?? "";
  const lookalike = {
    [labels.managed]: "true",
    [labels.installation]: "another-berth",
    [labels.job]: job,
    [labels.host]: "local",
    [labels.channel]: SEED.incidentChannel,
    [labels.user]: SEED.operator,
  };
  const flags = Object.entries(lookalike).flatMap(([k, v]) => ["--label", `${k}=${v}`]);
  await docker("run", "-d", "--name", idler, ...flags, "--network", "none", testImage, "sleep", "300");
  await docker("run", "-d", "--name", crasher, ...flags, "--network", "none", testImage, "sh", "-c", "exit 3");
  await docker("wait", crasher);

  await berth.command("ps -a");
  const listing = textOf(await reply(/berth containers on local|berth has no containers on local/));
  assert.ok(!listing.includes(idler) && !listing.includes(crasher), listing);

  await berth.command(`stop ${idler}`);
  await reply(new RegExp(`Container "${idler}" on host local was not started by berth`));
  assert.equal(await docker("inspect", "--format", "{{.State.Running}}", idler), "true");

  // A crash of berth's own comes after the look-alike's in the engine's event stream: once it is announced, the
  // look-alike's would have been too.
  await berth.command(`run -d --name own-crash-${suffix} ${testImage} sh -c 'exit 4'`);
  await eventually("the notification of berth's own crash", () => notices().find((m) => cardText(m).includes(`own-crash-${suffix}`)));
  assert.deepEqual(
    notices().filter((m) => cardText(m).includes(crasher)),
    [],
    "no crash notification for the look-alike",
  );
});
