import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  cardText,
  containersWithLabel,
  eventually,
  findCard,
  isFinished,
  jobIdOf,
  removeOwnContainers,
  startBerth,
  testImage,
  threadLines,
} from "./support/berth-harness.ts";
import { SEED, SlackFake } from "./support/slack-fake.ts";

// End to end: signed slash commands → the real Bolt app → policy → the real Docker engine → the Slack fake, with
// Slack's rate limits enforced. Containers are labelled by job, and this file removes what it created.

let fake: SlackFake;
let berth: Awaited<ReturnType<typeof startBerth>>;
const metricsToken = "e2e-metrics-token-0123456789";

before(async () => {
  fake = await SlackFake.start();
  fake.addUserGroup({ id: "S0VIEWERS", users: [SEED.nobody] });
  berth = await startBerth(fake, { env: { BERTH_METRICS_TOKEN: metricsToken } });
});

after(async () => {
  if (berth) await removeOwnContainers(berth.berth.store);
  await berth?.stop();
  await fake?.stop();
});

const ephemeralFor = (user: string, pattern: RegExp) =>
  eventually(`an ephemeral reply matching ${pattern}`, () =>
    fake.responses().find((r) => r.user === user && pattern.test(String((r.body as { text?: unknown }).text ?? ""))),
  ).catch((e: unknown) => {
    const recent = fake
      .responses()
      .filter((r) => r.user === user)
      .slice(-3)
      .map((r) => (r.body as { text?: unknown }).text);
    throw new Error(`${(e as Error).message}; the last replies to ${user} were: ${JSON.stringify(recent)}`);
  });

test("a run streams every one of 2,000 numbered lines into the thread (or its uploaded log), with no 429", async () => {
  const res = await berth.command(`run ${testImage} sh -c 'seq 1 2000 | sed s/^/line-/'`);
  assert.equal(res.status, 200);
  const card = await eventually("the finished run card", () => {
    const c = findCard(fake, SEED.incidentChannel, "seq 1 2000");
    return c && isFinished(c) ? c : undefined;
  });
  assert.match(cardText(card), /Exited with code 0/);
  assert.match(cardText(card), /2,000 lines/);
  const fromThread = threadLines(fake, SEED.incidentChannel, card.ts);
  assert.deepEqual(fromThread.slice(0, 3), ["line-1", "line-2", "line-3"]);
  const file = await eventually("the uploaded full log", () => fake.files().find((f) => f.title?.includes("seq 1 2000")));
  const fromFile = file.content.trimEnd().split("\n");
  const expected = Array.from({ length: 2000 }, (_, i) => `line-${i + 1}`);
  assert.deepEqual(fromFile, expected, "the full log holds every line in order");
  assert.deepEqual(fromThread, expected.slice(0, fromThread.length), "the thread shows the first lines, in order");
  if (fromThread.length < 2000) {
    const notice = fake.thread(SEED.incidentChannel, card.ts).find((m) => m.text.includes("went straight to the full log"));
    assert.match(notice?.text ?? "", new RegExp(`\\(${(2000 - fromThread.length).toLocaleString("en")} more lines\\)`));
  }
  assert.deepEqual(fake.rateLimited, [], "berth caused no 429");
  const replies = fake.thread(SEED.incidentChannel, card.ts);
  assert.ok(replies.every((m) => m.text.length <= 4000));
});

test("logs -f follows a container until the Stop button is pressed", async () => {
  await berth.command(`run -d --name e2e-ticker ${testImage} sh -c 'i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done'`);
  await eventually("the detached run card", () => {
    const c = findCard(fake, SEED.incidentChannel, "e2e-ticker");
    return c && isFinished(c) && /Started `e2e-ticker`/.test(cardText(c)) ? c : undefined;
  });
  await berth.command("logs -f e2e-ticker");
  const card = await eventually("the logs card with a Stop button", () => {
    const c = findCard(fake, SEED.incidentChannel, "logs -f e2e-ticker");
    return c && cardText(c).includes("berth_stop") ? c : undefined;
  });
  await eventually("tick lines in the thread", () =>
    threadLines(fake, SEED.incidentChannel, card.ts).some((l) => l.startsWith("tick-")) ? true : undefined,
  );
  const jobId = jobIdOf(card);
  assert.ok(jobId);
  const click = await berth.click(card.ts, jobId);
  assert.equal(click.status, 200);
  const done = await eventually("the stopped card", () => {
    const c = fake.message(SEED.incidentChannel, card.ts);
    return c && isFinished(c) ? c : undefined;
  });
  assert.match(cardText(done), /Stopped following after [\d,]+ lines? \(by <@U0OPER>\)/);
  assert.ok(!cardText(done).includes("berth_stop"), "the Stop button is gone");
  const lines = threadLines(fake, SEED.incidentChannel, card.ts).filter((l) => l.startsWith("tick-"));
  const numbers = lines.map((l) => Number(l.slice(5)));
  assert.deepEqual(
    numbers,
    numbers.slice().sort((a, b) => a - b),
    "lines arrive in order",
  );
  await berth.command("rm -f e2e-ticker");
  await berth.confirm("rm -f e2e-ticker");
  await eventually("the container to be removed", () =>
    fake.messages(SEED.incidentChannel).some((m) => m.text.includes("removed `e2e-ticker`")) ? true : undefined,
  );
});

test("a user without a binding is denied, told why, and no container is created", async () => {
  const res = await berth.command(`run ${testImage} echo should-not-run`, SEED.nobody);
  assert.equal(res.status, 200);
  const reply = await ephemeralFor(SEED.nobody, /You need permission `container\.run`/);
  assert.equal((reply.body as { response_type?: string }).response_type, "ephemeral");
  assert.deepEqual(await containersWithLabel(`io.berth.user=${SEED.nobody}`), []);
  assert.equal(findCard(fake, SEED.incidentChannel, "should-not-run"), undefined);
});

test("text typed on a phone runs like text typed on a desktop", async () => {
  await berth.command(`Run \u2014rm ${testImage} sh -c \u201Cecho phone-ok &amp;&amp; echo done\u201D`);
  const card = await eventually("the phone run card", () => {
    const c = findCard(fake, SEED.incidentChannel, "phone-ok");
    return c && isFinished(c) ? c : undefined;
  });
  assert.match(cardText(card), /Exited with code 0/);
  assert.deepEqual(threadLines(fake, SEED.incidentChannel, card.ts), ["phone-ok", "done"]);
});

test("an image that is not present is pulled; a failed pull ends the card with a clear message", async () => {
  await berth.command("run berth-test/not-here:1 echo never");
  const card = await eventually("the failed pull card", () => {
    const c = findCard(fake, SEED.incidentChannel, "berth-test/not-here:1");
    return c && isFinished(c) ? c : undefined;
  });
  assert.match(cardText(card), /:x:/);
  assert.match(cardText(card), /Could not pull image `berth-test\/not-here:1` on host local: registry `docker.io` cannot be reached/);
});

test("exec, inspect and ps act on berth's containers", async () => {
  await berth.command(`run -d --name e2e-box -e SECRET_TOKEN=hunter2hunter2 ${testImage} sleep 300`);
  await eventually("the detached card", () => {
    const c = findCard(fake, SEED.incidentChannel, "e2e-box");
    return c && isFinished(c) ? c : undefined;
  });
  await berth.command("exec e2e-box sh -c 'echo from-exec; echo $SECRET_TOKEN; exit 3'");
  await berth.confirm("exec e2e-box");
  const card = await eventually("the exec card", () => {
    const c = findCard(fake, SEED.incidentChannel, "exec e2e-box");
    return c && isFinished(c) ? c : undefined;
  });
  assert.match(cardText(card), /Exited with code 3/);
  assert.deepEqual(threadLines(fake, SEED.incidentChannel, card.ts), ["from-exec", "••••"], "env values are masked in output");
  await berth.command("inspect e2e-box");
  const inspect = await ephemeralFor(SEED.operator, /\*e2e-box\* \([0-9a-f]{12}\) on local — running/);
  const text = String((inspect.body as { text?: string }).text);
  assert.match(text, /env: .*`SECRET_TOKEN`.*\(values are never shown\)/);
  assert.doesNotMatch(text, /hunter2/);
  assert.match(text, /limits: 256 MiB, 1 CPU, 256 pids, network none/);
  await berth.command("ps");
  await ephemeralFor(SEED.operator, /`e2e-box` [0-9a-f]{12} — Up/);
  await berth.command("rm -f e2e-box");
  await berth.confirm("rm -f e2e-box");
  await eventually("removal", () =>
    fake.messages(SEED.incidentChannel).some((m) => m.text.includes("removed `e2e-box`")) ? true : undefined,
  );
});

test("membership of a Slack user group grants the bound role (usergroups.users.list)", async () => {
  await berth.command("ps", SEED.nobody);
  await ephemeralFor(SEED.nobody, /(No berth containers are running on local|berth containers on local)/);
  assert.ok(fake.calls("usergroups.users.list").some((c) => c.args.usergroup === "S0VIEWERS"));
  await berth.command("whoami", SEED.nobody);
  await ephemeralFor(SEED.nobody, /\*viewer\* everywhere \(applies here\): container\.list, container\.logs, container\.inspect/);
});

const badInput: [string, string, RegExp][] = [
  ["empty text", "", /Tell berth what to do, for example `\/berth ps`/],
  ["unknown command", "lgos api", /berth has no command `lgos`\. Did you mean `logs`\?/],
  ["unknown option", "logs --folow api", /`logs` has no option `--folow`\. Did you mean `--follow`\?\nUsage: `\/berth logs/],
  // (`run` alone opens the run form: test/run-modal.e2e.test.ts)
  ["missing image", "run -d", /`run`: missing IMAGE/],
  ["malformed -e", `run -e FOO ${testImage}`, /`FOO` is not NAME=value/],
  ["unbalanced quotes", `run ${testImage} sh -c 'echo`, /Unbalanced quote/],
  ["10 kB of text", `run ${testImage} echo ${"x".repeat(10_240)}`, /characters long; berth accepts up to 4,000/],
  ["image not allowed", "run alpine:3 echo hi", /The image `alpine:3` is not on berth's image allow-list/],
  ["unknown host", "ps -H nowhere", /berth knows no host `nowhere`\. Hosts: `local`, `down`/],
  ["unknown container", "stop no-such-container", /No berth container "no-such-container" on host local/],
  ["engine unreachable", "ps -H down", /Docker engine "down" is unreachable/],
];

for (const [name, text, message] of badInput) {
  test(`bad input answered in Slack: ${name}`, async () => {
    const res = await berth.command(text);
    assert.equal(res.status, 200, "acknowledged like any command");
    await ephemeralFor(SEED.operator, message);
  });
}

test("a bad or stale signature is refused with 401 and nothing happens", async () => {
  const { slashCommand } = await import("./support/slack-driver.ts");
  const posts = fake.calls("chat.postMessage").length;
  const audited = (await berth.berth.store.audit.all()).length;
  const bad = await slashCommand(fake, { url: berth.url, command: "/berth", text: "ps", badSignature: true });
  const stale = await slashCommand(fake, { url: berth.url, command: "/berth", text: "ps", timestampOffsetSec: -360 });
  assert.equal(bad.status, 401);
  assert.equal(stale.status, 401);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(fake.calls("chat.postMessage").length, posts);
  assert.equal((await berth.berth.store.audit.all()).length, audited, "nothing was decided");
  assert.equal(fake.responses().filter((r) => r.url === bad.responseUrl || r.url === stale.responseUrl).length, 0);
});

test("Slack answering 429 is waited out (Retry-After) and the card still arrives", async () => {
  fake.fail({ method: "chat.postMessage", status: 429, retryAfter: 1, times: 1 });
  await berth.command(`run ${testImage} echo after-429`);
  const card = await eventually("the card after a 429", () => {
    const c = findCard(fake, SEED.incidentChannel, "after-429");
    return c && isFinished(c) ? c : undefined;
  });
  assert.deepEqual(threadLines(fake, SEED.incidentChannel, card.ts), ["after-429"]);
  assert.equal(fake.rateLimited.filter((r) => r.injected).length, 1);
});

test("Slack answering 500 for the card: the card is sent again with backoff and the job runs", async () => {
  fake.fail({ method: "chat.postMessage", status: 500, times: 1 });
  await berth.command(`run ${testImage} echo after-500`);
  const card = await eventually("the card after a 500", () => {
    const c = findCard(fake, SEED.incidentChannel, "after-500");
    return c && isFinished(c) ? c : undefined;
  });
  assert.deepEqual(threadLines(fake, SEED.incidentChannel, card.ts), ["after-500"]);
  assert.equal(fake.calls("chat.postMessage").filter((c) => c.status === 500).length, 1);
});

test("the full log's upload failing: the card says it is pending, then that it is attached", async () => {
  fake.fail({ method: "upload", status: 500, times: 1 });
  await berth.command(`run ${testImage} sh -c 'seq 1 1500 | sed s/^/pend-/'`);
  const card = await eventually("the card with the full log attached", () => {
    const c = findCard(fake, SEED.incidentChannel, "seq 1 1500");
    return c && /Full log \(1,500 lines\) attached/.test(cardText(c)) ? c : undefined;
  });
  assert.ok(isFinished(card));
  const edits = fake.calls("chat.update").filter((c) => c.args.ts === card.ts && c.status === 200);
  assert.ok(
    edits.some((c) => JSON.stringify(c.args).includes("Full log pending")),
    "while the upload was retried, the finished card said so",
  );
  const file = fake.files().find((f) => f.title?.includes("seq 1 1500"));
  assert.equal(file?.content.trimEnd().split("\n").length, 1500);
});

test("a channel the bot is not in: the user learns how to invite it, and nothing runs", async () => {
  await berth.command(`run ${testImage} echo not-in-channel`, SEED.approver, SEED.randomChannel);
  await ephemeralFor(SEED.approver, /berth is not a member of this channel.*\/invite @berth/);
  assert.deepEqual(await containersWithLabel(`io.berth.channel=${SEED.randomChannel}`), []);
});

test("GET /healthz?details reports Slack and each engine without failing for an unreachable one", async () => {
  const res = await fetch(`http://127.0.0.1:${berth.port}/healthz?details`, { headers: { authorization: `Bearer ${metricsToken}` } });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { ok: boolean; engines: Record<string, { reachable: boolean }> };
  assert.equal(body.ok, true);
  assert.equal(body.engines.local?.reachable, true);
  assert.equal(body.engines.down?.reachable, false);
});

test("every decision and outcome is in the audit log, and the chain verifies", async () => {
  const records = await berth.berth.store.audit.all();
  assert.ok(records.some((r) => r.decision === "deny" && r.userId === SEED.nobody));
  assert.ok(records.some((r) => r.type === "outcome" && /^succeeded \(exit 0\)$/.test(r.outcome ?? "")));
  assert.equal(await berth.berth.store.audit.verify(), undefined);
});
