import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { cardText, eventually, findCard, isFinished, removeOwnContainers, startBerth, testImage } from "./support/berth-harness.ts";
import { SEED, SlackFake } from "./support/slack-fake.ts";

// `timeline` through the Slack fake, the real Bolt app and the real Docker engine: a denied request, an approved run
// with a secret in its environment, then the channel's timeline as a summary with links and a Markdown file.
const policy = `version: 1
roles:
  operator: { actions: [container.run, container.list, audit.timeline] }
  admin: { actions: ["*"] }
bindings:
  - { role: operator, users: [${SEED.operator}], channels: [${SEED.incidentChannel}] }
  - { role: admin, users: [${SEED.approver}] }
rules:
  - { id: local-run-four-eyes, actions: [container.run], hosts: [local], require: approval }
images: ["berth-test/**"]
redact: ["acme_live_[A-Za-z0-9]{24}"]
`;

let fake: SlackFake;
let berth: Awaited<ReturnType<typeof startBerth>>;

before(async () => {
  fake = await SlackFake.start();
  berth = await startBerth(fake, { policy });
});

after(async () => {
  if (berth) await removeOwnContainers(berth.berth.store);
  await berth?.stop();
  await fake?.stop();
});

const secret = "s3cr3t-timeline-value";
const key = `acme_live_${"a".repeat(24)}`;

test("timeline: a denied and an approved request in order, with card links, and the Markdown file without secrets", async () => {
  await berth.command("rm api");
  await eventually("the denial", () =>
    fake.responses().find((r) => r.user === SEED.operator && /container\.remove/.test(JSON.stringify(r.body))),
  );

  await berth.command(`run -e DB_PASSWORD=${secret} ${testImage} echo ${key}`);
  const approval = await eventually("the approval card", () =>
    fake.messages(SEED.incidentChannel).find((m) => cardText(m).includes("berth_approve") && cardText(m).includes("busybox")),
  );
  const requestId = /request `(r-[0-9a-f]{6})`/.exec(cardText(approval))?.[1] ?? "";
  await berth.click(approval.ts, requestId, SEED.approver, SEED.incidentChannel, "berth_approve");
  const job = await eventually("the job card, finished", () => {
    const c = findCard(fake, SEED.incidentChannel, "busybox");
    return c && isFinished(c) ? c : undefined;
  });
  await eventually("the job's outcome in the audit log", async () =>
    (await berth.berth.store.audit.all()).some((r) => r.type === "outcome" && r.messageTs === job.ts) ? true : undefined,
  );

  await berth.command("timeline --since 1h");
  const summary = await eventually("the timeline summary", () =>
    fake.messages(SEED.incidentChannel).find((m) => m.text.startsWith("*Timeline*")),
  );
  const lines = summary.text.split("\n");
  assert.match(lines[0] ?? "", /^\*Timeline\* of <#C0INCIDENT>, .* UTC: 2 commands, 1 approval, 1 denied, 0 failed$/);
  const entries = lines.filter((l) => /^[•✗] /.test(l));
  assert.equal(entries.length, 2, summary.text);
  assert.match(entries[0] ?? "", /^✗ \d\d:\d\d <@U0OPER> rm api on local — denied by policy/);
  assert.match(
    entries[1] ?? "",
    /^• \d\d:\d\d <@U0OPER> run berth-test\/busybox:1 echo .* — approved by <@U0APPROVER> — succeeded \(exit 0\)/,
  );
  const link = `https://berth-test.slack.com/archives/${SEED.incidentChannel}/p${job.ts.replace(".", "")}`;
  assert.ok(entries[1]?.endsWith(` <${link}|card>`), entries[1]);
  assert.ok(!summary.text.includes("timeline --since"), "asking for the timeline is not part of it");

  const file = await eventually("the Markdown file in the summary's thread", () =>
    fake.files().find((f) => f.completed && f.thread_ts === summary.ts),
  );
  const date = new Date().toISOString().slice(0, 10);
  assert.equal(file.name, `timeline-${SEED.incidentChannel}-${date}.md`);
  const md = file.content;
  assert.match(md, /^# Timeline of #C0INCIDENT\n/);
  assert.match(md, /2 commands, 1 approval, 1 denied, 0 failed\./);
  const rows = md.split("\n").filter((l) => /^\| \d\d:\d\d /.test(l));
  assert.equal(rows.length, 2, md);
  assert.match(rows[0] ?? "", /\| @U0OPER \| rm api on local \| denied by policy .* ✗ \| {2}\|$/);
  assert.match(
    rows[1] ?? "",
    /\| @U0OPER \| run berth-test\/busybox:1 echo .* \| approved by @U0APPROVER — succeeded \(exit 0\) \| \[card\]\(https:\/\/berth-test\.slack\.com\/archives\/C0INCIDENT\/p\d+\) \|$/,
  );
  assert.ok(rows[1]?.includes(`[card](${link})`), "the job's card, not the approval card");
  for (const text of [md, summary.text]) {
    assert.ok(!text.includes(secret), "no environment value");
    assert.ok(!text.includes(key), "the policy's redact patterns apply");
    assert.ok(!/<@|<#|<http/.test(text === md ? md : ""), "no Slack markup in the file");
  }
});
