import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, before, test } from "node:test";
import { cli } from "../src/cli.ts";
import { readAnchors } from "../src/store/audit-anchor.ts";
import type { AuditEntry } from "../src/store/port.ts";
import { eventually, startBerth, testPolicy } from "./support/berth-harness.ts";
import { SEED, SlackFake } from "./support/slack-fake.ts";

// The audit channel (BERTH_AUDIT_CHANNEL) and the anchor file, through the real Bolt app's Web API client and the
// Slack fake: anchors of the audit head, policy reloads applied or refused, and an alarm when the chain breaks.
const auditChannel = "C0AUDIT";
const key = "k1:0123456789abcdef-e2e-audit-key";
const policy = `${testPolicy}rules:\n  - { id: local-run-four-eyes, actions: [container.run], hosts: [local], require: approval }\n`;

let fake: SlackFake;
let berth: Awaited<ReturnType<typeof startBerth>>;
let stopped = false;
const anchorFile = () => join(berth.dir, "anchors.jsonl");
const channelTexts = () => fake.messages(auditChannel).map((m) => m.text);
const entry = (n: number): AuditEntry => ({
  requestId: `e2e-${n}`,
  type: "decision",
  userId: SEED.operator,
  channelId: SEED.incidentChannel,
  action: { kind: "container.list", all: false },
  host: "local",
  decision: "allow",
  rule: "bindings[0] (role operator)",
  outcome: null,
  messageTs: null,
});

before(async () => {
  fake = await SlackFake.start();
  fake.addChannel({ id: auditChannel, name: "berth-audit", members: [SEED.botUserId] });
  const dir = mkdtempSync(join(tmpdir(), "berth-audit-e2e-"));
  berth = await startBerth(fake, {
    dir,
    policy,
    // The watcher stays out of the way: these tests reload on demand, so each reload is the one they look at.
    reloadIntervalMs: 3_600_000,
    policySettleMs: 20,
    env: { BERTH_AUDIT_KEY: key, BERTH_AUDIT_CHANNEL: auditChannel, BERTH_AUDIT_ANCHOR_FILE: join(dir, "anchors.jsonl") },
  });
});

after(async () => {
  if (!stopped) await berth?.stop();
  await fake?.stop();
});

test("the audit head is anchored in the audit channel and the anchor file (0600); a head that has not moved is not", async () => {
  await berth.berth.store.audit.append(entry(1));
  const head = await berth.berth.store.audit.head();
  const outcome = await berth.berth.anchorAudit();
  assert.equal(outcome.type, "anchored");
  assert.ok(channelTexts().some((t) => t.includes(`berth audit anchor: seq ${head?.seq} hash ${head?.hash} key k1 at `)));
  assert.deepEqual(
    readAnchors(anchorFile()).anchors.map((a) => [a.seq, a.hash, a.keyId]),
    [[head?.seq, head?.hash, "k1"]],
  );
  assert.equal(statSync(anchorFile()).mode & 0o777, 0o600);

  const posts = channelTexts().length;
  assert.equal((await berth.berth.anchorAudit()).type, "unchanged");
  assert.equal(channelTexts().length, posts);
  assert.equal(readAnchors(anchorFile()).anchors.length, 1);

  await berth.berth.store.audit.append(entry(2));
  assert.equal((await berth.berth.anchorAudit()).type, "anchored");
  assert.equal(readAnchors(anchorFile()).anchors.length, 2, "appended, not rewritten");
});

test("a reload that drops the approval rule and widens a binding is applied, audited, logged and posted loudly", async () => {
  const loosened = policy
    .replace(/rules:\n {2}- \{ id: local-run-four-eyes.*\n/, "")
    .replace("  - { role: viewer, usergroups: [S0VIEWERS] }\n", '  - { role: viewer, users: ["*"] }\n');
  writeFileSync(berth.policyPath, loosened);
  const result = await berth.berth.reloadPolicy();
  assert.equal(result.type, "applied");
  assert.deepEqual(berth.berth.policy().rules, []);

  const record = (await berth.berth.store.audit.all()).at(-1);
  assert.equal(record?.type, "policy");
  assert.match(record?.outcome ?? "", /^applied: REMOVES GATE, WIDENS: /);
  const { changes } = (record?.action ?? { changes: [] }) as { changes: { ids: string[]; effect: string }[] };
  assert.ok(changes.some((c) => c.effect === "removes-gate" && c.ids.includes("rules.local-run-four-eyes")));
  assert.ok(changes.some((c) => c.effect === "widens" && c.ids.includes("role:viewer")));

  const post = await eventually("the reload in the audit channel", () => channelTexts().find((t) => t.includes("Policy reloaded")));
  assert.match(post, /This reload REMOVES GATES/);
  assert.match(post, /This reload WIDENS the rules/);
  assert.match(post, /REMOVES GATE: rule `local-run-four-eyes` removed/);
  assert.match(post, /WIDENS: binding added: role viewer, users \* — to EVERYONE/);
  const line = berth.logs.find((l) => l.includes('"msg":"policy reloaded"'));
  assert.match(line ?? "", /"level":"error".*"summary":"REMOVES GATE, WIDENS: /);
});

test("a refused reload says where the file is wrong, that the previous policy stays and that berth would not start", async () => {
  const before = berth.berth.policy();
  writeFileSync(
    berth.policyPath,
    readFileSync(berth.policyPath, "utf8").replace("bindings:\n", "bindings:\n  - { role: ghost, users: [U0NOBODY] }\n"),
  );
  const result = await berth.berth.reloadPolicy();
  assert.equal(result.type, "refused");
  assert.equal(berth.berth.policy(), before);

  const record = (await berth.berth.store.audit.all()).at(-1);
  assert.equal(record?.type, "policy");
  assert.equal(record?.outcome, "refused: the previous policy stays in force");
  const { reason } = (record?.action ?? { reason: "" }) as { reason: string };
  assert.match(reason, /no role named "ghost"/);

  const post = await eventually("the refusal in the audit channel", () => channelTexts().find((t) => t.includes("REFUSED")));
  assert.match(post, /line \d+ \(bindings\.\d+\.role\): no role named "ghost"/);
  assert.match(post, /The previous policy stays in force.*berth will refuse to START with this file: fix it now/s);
});

test("at shutdown the head is anchored once more, and `audit verify` agrees with every anchor", async () => {
  const head = await berth.berth.store.audit.head();
  await berth.stop();
  stopped = true;
  const anchors = readAnchors(anchorFile()).anchors;
  assert.deepEqual([anchors.at(-1)?.seq, anchors.at(-1)?.hash], [head?.seq, head?.hash]);
  const out: string[] = [];
  const err: string[] = [];
  const code = await cli(
    ["audit", "verify", "--data-dir", join(berth.dir, "data"), "--anchors", anchorFile()],
    { BERTH_AUDIT_KEY: key },
    { write: (t: string) => out.push(t) },
    { write: (t: string) => err.push(t) },
  );
  assert.equal(code, 0, err.join(""));
  assert.match(out.join(""), new RegExp(`head: seq ${head?.seq}, hash ${head?.hash}, key k1`));
});

test("a chain broken behind berth's back is not anchored: the audit channel gets an alarm", async () => {
  const other = await startBerth(fake, {
    policy,
    env: { BERTH_AUDIT_KEY: key, BERTH_AUDIT_CHANNEL: auditChannel },
  });
  try {
    for (let i = 1; i <= 3; i++) await other.berth.store.audit.append(entry(i));
    assert.equal((await other.berth.anchorAudit()).type, "anchored");
    const db = new DatabaseSync(join(other.dir, "data", "berth.db"));
    db.exec("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 3");
    db.close();
    const outcome = await other.berth.anchorAudit();
    assert.equal(outcome.type, "refused");
    const alarm = await eventually("the alarm", () => channelTexts().find((t) => t.includes("TAMPERED")));
    assert.match(alarm, /berth audit log TAMPERED\*: record 3 is gone: the log was cut off after it was anchored/);
  } finally {
    await other.stop();
  }
});
