import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { eventually, findCard, jobIdOf, removeOwnContainers, startBerth, testImage } from "./support/berth-harness.ts";
import { type ApiCall, appHomeOpened, homeView, SEED, SlackFake, viewAction } from "./support/slack-fake.ts";

// The App Home tab (issue 14), end to end: real Bolt over signed HTTP, the real Docker engine, the Slack fake.
// Opening Home publishes the person's view; a tap in it goes through the pipeline as the tapper, in the channel of
// the job or request it concerns; a change publishes the view again.

const run = promisify(execFile);
let fake: SlackFake;
let berth: Awaited<ReturnType<typeof startBerth>>;
const name = `berth-home-${process.pid}`;

const policy = `version: 1
roles:
  operator: { actions: [container.*, host.list] }
  admin: { actions: ["*"] }
bindings:
  - { role: operator, users: [${SEED.operator}], channels: [${SEED.incidentChannel}] }
  - { role: admin, users: [${SEED.approver}] }
images: ["berth-test/**"]
rules:
  - { id: stop-approval, actions: [container.stop], require: approval }
`;

before(async () => {
  fake = await SlackFake.start();
  berth = await startBerth(fake, { policy });
});

after(async () => {
  if (berth) await removeOwnContainers(berth.berth.store);
  await run("docker", ["rm", "-f", name]).catch(() => undefined);
  await berth?.stop();
  await fake?.stop();
});

const viewText = (call: ApiCall) => JSON.stringify(call.args.view ?? {});
/** The next views.publish for `user` after `since` (the fake's clock) whose view passes `check`. */
const published = (user: string, since: number, check: (view: string) => boolean) =>
  fake.waitFor("views.publish", (c) => c.args.user_id === user && c.at >= since && check(viewText(c)), 20_000);

test("open Home: the host and a running job; Stop in Home cancels it, and Home is published again without it", async () => {
  await berth.command(`run ${testImage} sleep 300`);
  const card = await eventually("the job's card", () => findCard(fake, SEED.incidentChannel, "sleep 300"));
  const jobId = jobIdOf(card) ?? "";
  // Running, with its container known (what the Logs button follows).
  await eventually("the job running in its container", async () => {
    const job = await berth.berth.store.jobs.get(jobId);
    return job?.status === "running" && (job.resume as { point?: unknown } | null)?.point ? true : undefined;
  });

  const opened = Date.now();
  assert.equal((await appHomeOpened(fake, { url: berth.url, user: SEED.operator })).status, 200);
  const first = viewText(await published(SEED.operator, opened, (v) => v.includes(jobId)));
  assert.match(first, /:large_green_circle: \*local\*/, "the reachable host, healthy");
  assert.match(first, /:red_circle: \*down\*/, "the unreachable one");
  assert.match(first, /Your running jobs/);

  // Logs runs `logs -f` as the tapper, judged in the job's channel: Olive's role applies only in #incident-db.
  await viewAction(fake, { url: berth.url, user: SEED.operator, actionId: "berth_notify_logs", blockId: `home-job:${jobId}` });
  const logsCard = await eventually("the logs -f card in the job's channel", () => findCard(fake, SEED.incidentChannel, "logs -f"));
  assert.ok(logsCard);

  const tapped = Date.now();
  await viewAction(fake, { url: berth.url, user: SEED.operator, actionId: "berth_stop", blockId: `home-job:${jobId}` });
  await eventually("the job cancelled", async () => ((await berth.berth.store.jobs.get(jobId))?.status === "cancelled" ? true : undefined));
  const refreshed = viewText(await published(SEED.operator, tapped, (v) => !v.includes(`home-job:${jobId}`)));
  assert.match(refreshed, /None of your jobs is running/, "the stopped job is gone from Home");
  assert.match(
    JSON.stringify(homeView(fake, SEED.operator)?.blocks),
    new RegExp(`Stopping job \`${jobId}\``),
    "the tap's answer, atop Home",
  );
});

test("an approver opens Home, sees the waiting request, taps Approve, and it runs in the request's channel", async () => {
  await berth.command(`run -d --name ${name} ${testImage} sleep 300`);
  await eventually("the container running", async () => {
    const { stdout } = await run("docker", ["inspect", "-f", "{{.State.Running}}", name]).catch(() => ({ stdout: "" }));
    return stdout.trim() === "true" ? true : undefined;
  });
  await berth.command(`stop ${name}`);
  const waiting = await eventually("the approval request", async () =>
    (await berth.berth.store.pending.waiting()).find((p) => p.summary.includes(name)),
  );

  const opened = Date.now();
  await appHomeOpened(fake, { url: berth.url, user: SEED.approver });
  const view = viewText(await published(SEED.approver, opened, (v) => v.includes(waiting.id)));
  assert.match(view, /Waiting for your approval/);

  const other = Date.now();
  await appHomeOpened(fake, { url: berth.url, user: SEED.operator });
  const requester = viewText(await published(SEED.operator, other, () => true));
  assert.doesNotMatch(requester, new RegExp(waiting.id), "the requester cannot approve their own request");

  const tapped = Date.now();
  await viewAction(fake, { url: berth.url, user: SEED.approver, actionId: "berth_approve", blockId: `home-request:${waiting.id}` });
  await eventually("the container stopped", async () => {
    const { stdout } = await run("docker", ["inspect", "-f", "{{.State.Running}}", name]);
    return stdout.trim() === "false" ? true : undefined;
  });
  assert.equal((await berth.berth.store.pending.get(waiting.id))?.decidedBy, SEED.approver);
  const answer = await eventually("the stop announced in the request's channel", () =>
    fake.messages(SEED.incidentChannel).find((m) => m.text.includes("stopped") && m.text.includes(name)),
  );
  assert.ok(answer);
  await published(SEED.approver, tapped, (v) => !v.includes(`home-request:${waiting.id}`));
});

test("someone with no role sees only why", async () => {
  const opened = Date.now();
  await appHomeOpened(fake, { url: berth.url, user: SEED.nobody });
  const view = viewText(await published(SEED.nobody, opened, () => true));
  assert.match(view, /No role is bound to you/);
  assert.doesNotMatch(view, /local/);
});
