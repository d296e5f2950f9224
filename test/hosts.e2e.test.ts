import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
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
import { blockAction } from "./support/slack-driver.ts";
import { SEED, SlackFake } from "./support/slack-fake.ts";

// Hosts from Slack: the capability list, the host picker when no default applies, and crash notifications that
// coalesce into one card per container. Real Bolt, real Docker engine, the Slack fake.

const run = promisify(execFile);
let fake: SlackFake;
let berth: Awaited<ReturnType<typeof startBerth>>;

const policy = `version: 1
roles:
  operator: { actions: [container.*, host.list] }
bindings:
  - { role: operator, users: [${SEED.operator}] }
  - { role: operator, users: [${SEED.approver}], hosts: [alpha] }
images: ["berth-test/**"]
`;
// Two names for the one local engine, and a third that is down; no default, so berth must ask.
const hosts = `hosts:
  - { name: alpha, url: "unix:///var/run/docker.sock" }
  - { name: beta, url: "unix:///var/run/docker.sock" }
  - { name: gone, url: "tcp://127.0.0.1:1", timeout: 2000 }
`;

before(async () => {
  fake = await SlackFake.start();
  berth = await startBerth(fake, { policy, hosts });
});

after(async () => {
  if (berth) await removeOwnContainers(berth.berth.store);
  await berth?.stop();
  await fake?.stop();
});

const textOf = (r: { body: unknown }) => String((r.body as { text?: unknown }).text ?? "");
const replyTo = (user: string, pattern: RegExp) =>
  eventually(`a reply to ${user} matching ${pattern}`, () => fake.responses().find((r) => r.user === user && pattern.test(textOf(r))));

test("`hosts` shows each host's OS, Docker and API version and berth containers, and why one is unreachable", async () => {
  await berth.command("hosts");
  const reply = await replyTo(SEED.operator, /Docker hosts/);
  const text = textOf(reply);
  assert.match(text, /\*alpha\* \(unix:\/\/\/var\/run\/docker\.sock\) — linux \S+, x86_64/);
  assert.match(text, /Docker 20\.10\.\d+\S*, API 1\.41/);
  assert.match(text, /\d+ berth containers?/);
  assert.match(text, /:red_circle: \*gone\* \(tcp:\/\/127\.0\.0\.1:1\) — unreachable: .*connection refused/);
});

test("with several hosts and no default, berth asks with one button per host, and the button runs the command there", async () => {
  await berth.command("ps -a");
  const picker = await replyTo(SEED.operator, /Several hosts could run this/);
  const body = JSON.stringify(picker.body);
  for (const h of ["alpha", "beta", "gone"]) assert.ok(body.includes(`berth_host:${h}`), `a button for ${h}`);
  await blockAction(fake, {
    url: berth.url,
    messageTs: picker.ts as string,
    actionId: "berth_host:beta",
    user: SEED.operator,
    channel: SEED.incidentChannel,
  });
  await replyTo(SEED.operator, /(berth containers on beta|berth has no containers on beta)/);
  // The same button again: the choice was used up, and saying so beats running it twice.
  await blockAction(fake, {
    url: berth.url,
    messageTs: picker.ts as string,
    actionId: "berth_host:alpha",
    user: SEED.operator,
    channel: SEED.incidentChannel,
  });
  await replyTo(SEED.operator, /That choice is no longer open/);
});

test("someone allowed on only one of the hosts is not asked: the command runs there", async () => {
  await berth.command("ps", SEED.approver);
  await replyTo(SEED.approver, /(berth containers on alpha|No berth containers are running on alpha)/);
  assert.equal(
    fake.responses().some((r) => r.user === SEED.approver && /Several hosts/.test(textOf(r))),
    false,
  );
});

test("a container that crashes again and again gets one notification card whose counter goes up", async () => {
  await berth.command(`run -d -H alpha --name e2e-crasher ${testImage} sh -c 'echo boom-$RANDOM; exit 3'`);
  await eventually("the detached run card", () => {
    const c = findCard(fake, SEED.incidentChannel, "e2e-crasher");
    return c && isFinished(c) ? c : undefined;
  });
  const notices = () => fake.messages(SEED.incidentChannel).filter((m) => cardText(m).includes("berth_notify_logs"));
  const first = await eventually("the crash notification", () => notices()[0]);
  assert.match(cardText(first), /e2e-crasher.*on alpha exited with code 3/);
  // Four more crashes, as a restart policy would cause them.
  for (let i = 0; i < 4; i++) {
    await run("docker", ["start", "e2e-crasher"]);
    await run("docker", ["wait", "e2e-crasher"]);
  }
  await eventually("the counter at 5", () => (notices()[0] && /5× since/.test(cardText(notices()[0] as never)) ? true : undefined));
  assert.equal(notices().length, 1, "repeats edit the card; they never post another");
  const thread = await eventually("the last lines in the notification's thread", () =>
    fake.thread(SEED.incidentChannel, first.ts).find((m) => /Last lines/.test(m.text)),
  );
  assert.match(thread.text, /boom-\d+/);

  // Restart from the card: it crashes once more, and the same card counts it.
  await blockAction(fake, {
    url: berth.url,
    messageTs: first.ts,
    actionId: "berth_notify_restart",
    user: SEED.operator,
    channel: SEED.incidentChannel,
  });
  await eventually("the counter at 6", () => (/6× since/.test(cardText(notices()[0] as never)) ? true : undefined));
  assert.equal(notices().length, 1);
  // Logs from the card: a logs job with the container's output.
  await blockAction(fake, {
    url: berth.url,
    messageTs: first.ts,
    actionId: "berth_notify_logs",
    user: SEED.operator,
    channel: SEED.incidentChannel,
  });
  const logs = await eventually("the logs card from the Logs button", () => {
    const c = findCard(fake, SEED.incidentChannel, "logs ");
    return c && isFinished(c) ? c : undefined;
  });
  assert.match(cardText(logs), /\d+ lines/);
});

test("a run whose card shows its exit gets no second card for it; a run -d that exits later gets a notification", async () => {
  await berth.command(`run -H alpha --name e2e-card-only ${testImage} sh -c 'echo card-only-hi; exit 3'`);
  const card = await eventually("the run's final card", () => {
    const c = findCard(fake, SEED.incidentChannel, "card-only-hi");
    return c && isFinished(c) ? c : undefined;
  });
  assert.match(cardText(card), /Exited with code 3/);
  const job = jobIdOf(card);
  // The die has been handled once berth says it left it to the card: nothing more comes for it after that.
  await eventually("the notifier leaving the exit to the job card", () =>
    berth.logs.find((l) => l.includes("notification skipped: the job's card shows it") && l.includes(`"job":"${job}"`)),
  );
  const mentions = (m: { text: string }, word: string) => cardText(m as never).includes(word) || m.text.includes(word);
  const about = fake.messages(SEED.incidentChannel).filter((m) => mentions(m, "e2e-card-only") || mentions(m, "card-only-hi"));
  assert.deepEqual(
    about.map((m) => m.ts),
    [card.ts],
    "one message about the container: its job card",
  );
  assert.ok(!cardText(card).includes("berth_notify_logs"), "the job card, not a notification card");

  // A detached run's card ends at "Started": its container exiting after a moment is notified, as before.
  await berth.command(`run -d -H alpha --name e2e-later ${testImage} sh -c 'sleep 1; exit 3'`);
  const notice = await eventually("the detached run's crash notification", () =>
    fake.messages(SEED.incidentChannel).find((m) => cardText(m).includes("berth_notify_logs") && cardText(m).includes("e2e-later")),
  );
  assert.match(cardText(notice), /e2e-later.*on alpha exited with code 3/);
});

test("a notification button someone is not allowed to use is refused like the command", async () => {
  const notice = fake.messages(SEED.incidentChannel).find((m) => cardText(m).includes("berth_notify_restart"));
  assert.ok(notice, "a notification card exists from the previous test");
  await blockAction(fake, {
    url: berth.url,
    messageTs: notice.ts,
    actionId: "berth_notify_restart",
    user: SEED.nobody,
    channel: SEED.incidentChannel,
  });
  await replyTo(SEED.nobody, /:no_entry:/);
});
