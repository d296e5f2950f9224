import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { after, before, test } from "node:test";
import {
  cardText,
  containerCommands,
  eventually,
  findCard,
  isFinished,
  removeOwnContainers,
  startBerth,
  testImage,
  threadLines,
} from "./support/berth-harness.ts";
import { blockAction, type FakeMessage, SEED, SlackFake } from "./support/slack-fake.ts";

// Confirmations, four-eyes approvals and break-glass grants through the Slack fake, the real Bolt app and the real
// Docker engine. Time is moved with an injectable clock: nothing sleeps through a TTL.
const policy = `version: 1
roles:
  viewer: { actions: [container.list, container.logs, container.inspect] }
  operator: { inherits: [viewer], actions: [container.run, container.stop, container.start, container.restart, container.remove] }
  admin: { actions: ["*"] }
bindings:
  - { role: operator, users: [${SEED.operator}], channels: [${SEED.incidentChannel}] }
  - { role: admin, users: [${SEED.approver}] }
  - { role: viewer, users: [${SEED.nobody}] }
rules:
  - { id: local-run-four-eyes, actions: [container.run], hosts: [local], require: approval }
approvals: { ttl: 15m }
grants:
  - { role: admin, requesters: { users: [${SEED.operator}] }, approvers: [admin], maxDuration: 1h }
images: ["berth-test/**"]
redact: ["acme_live_[A-Za-z0-9]{24}"]
`;

let fake: SlackFake;
let berth: Awaited<ReturnType<typeof startBerth>>;
let offset = 0;
const advance = (ms: number) => {
  offset += ms;
};

before(async () => {
  fake = await SlackFake.start();
  berth = await startBerth(fake, { policy, clock: () => Date.now() + offset, reloadIntervalMs: 100, threadMaxMessages: 4 });
});

after(async () => {
  if (berth) await removeOwnContainers(berth.berth.store);
  await berth?.stop();
  await fake?.stop();
});

const text = (m: FakeMessage) => `${m.text} ${cardText(m)}`;
const approvalCard = (needle: string) =>
  eventually(`the approval card for ${needle}`, () =>
    fake.messages(SEED.incidentChannel).find((m) => cardText(m).includes("berth_approve") && text(m).includes(needle)),
  );
const requestIdOf = (m: FakeMessage) => /request `(r-[0-9a-f]{6})`/.exec(cardText(m))?.[1] ?? "";
const ephemeral = (user: string, pattern: RegExp) =>
  eventually(`an ephemeral to ${user} matching ${pattern}`, () =>
    fake.responses().find((r) => r.user === user && pattern.test(String((r.body as { text?: string }).text ?? ""))),
  );
const approve = (card: FakeMessage, user: string) => berth.click(card.ts, requestIdOf(card), user, SEED.incidentChannel, "berth_approve");
const deny = (card: FakeMessage, user: string) => berth.click(card.ts, requestIdOf(card), user, SEED.incidentChannel, "berth_deny");
const current = (card: FakeMessage) => fake.message(SEED.incidentChannel, card.ts) as FakeMessage;

test("a gated run waits for a second person: self-approval and a viewer are refused; a double click runs it once", async () => {
  await berth.command(`run ${testImage} echo four-eyes-ok`);
  const card = await approvalCard("four-eyes-ok");
  assert.match(cardText(card), /<@U0OPER> asks for approval/);
  assert.match(cardText(card), /\*Host:\* local \(linux/);
  assert.match(cardText(card), /\*Image:\* `berth-test\/busybox:1`/);
  assert.match(cardText(card), /can approve: <@U0APPROVER>/);
  await ephemeral(SEED.operator, /waits for approval by <@U0APPROVER>/);

  await approve(card, SEED.operator);
  await ephemeral(SEED.operator, /You cannot approve your own request/);
  await approve(card, SEED.nobody);
  await ephemeral(SEED.nobody, /You may not approve this: you are not allowed `container\.run` here yourself/);
  assert.deepEqual(
    (await containerCommands()).filter((c) => c.includes("four-eyes-ok")),
    [],
    "nothing ran yet",
  );

  await Promise.all([approve(card, SEED.approver), approve(card, SEED.approver)]);
  const job = await eventually("the job card", () => {
    const c = findCard(fake, SEED.incidentChannel, "four-eyes-ok");
    return c && isFinished(c) ? c : undefined;
  });
  assert.deepEqual(threadLines(fake, SEED.incidentChannel, job.ts), ["four-eyes-ok"]);
  await ephemeral(SEED.approver, /already approved by <@U0APPROVER>/);
  await eventually("the approval card edited", () =>
    /Approved by <@U0APPROVER>; running it now/.test(cardText(current(card))) ? true : undefined,
  );
  assert.ok(!cardText(current(card)).includes("berth_approve"), "the buttons are gone");
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await containerCommands()).filter((c) => c.includes("four-eyes-ok")).length, 1, "exactly one container");
  const approvals = (await berth.berth.store.audit.all()).filter((r) => r.type === "approval" && r.outcome === "approved");
  assert.equal(approvals.at(-1)?.approver, SEED.approver);
  assert.equal(approvals.length, 1);
});

test("a denied request runs nothing and its card says who denied it", async () => {
  await berth.command(`run ${testImage} echo should-be-denied`);
  const card = await approvalCard("should-be-denied");
  await deny(card, SEED.approver);
  await eventually("the denied card", () => (/Denied by <@U0APPROVER>/.test(cardText(current(card))) ? true : undefined));
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(
    (await containerCommands()).filter((c) => c.includes("should-be-denied")),
    [],
  );
});

test("`approve ID` typed as a command works like the button", async () => {
  await berth.command(`run ${testImage} echo typed-approval`);
  const card = await approvalCard("typed-approval");
  await berth.command(`approve ${requestIdOf(card)}`, SEED.approver);
  await eventually("the job card", () => {
    const c = findCard(fake, SEED.incidentChannel, "typed-approval");
    return c && isFinished(c) ? c : undefined;
  });
});

test("an approval clicked after its TTL is refused as expired, and nothing runs", async () => {
  await berth.command(`run ${testImage} echo too-late`);
  const card = await approvalCard("too-late");
  advance(16 * 60_000);
  await approve(card, SEED.approver);
  await ephemeral(SEED.approver, /expired at .*; ask again/);
  await eventually("the expired card", () => (/Expired at .* without a decision/.test(cardText(current(card))) ? true : undefined));
  assert.deepEqual(
    (await containerCommands()).filter((c) => c.includes("too-late")),
    [],
  );
});

test("the sweeper expires requests nobody decided and edits their cards", async () => {
  await berth.command(`run ${testImage} echo nobody-decides`);
  const card = await approvalCard("nobody-decides");
  // The card is in the channel a moment before berth hears back from Slack and records where it is: only then can
  // a sweep edit it.
  await eventually("the card's ts recorded", async () => (await berth.berth.store.pending.get(requestIdOf(card)))?.messageTs ?? undefined);
  advance(16 * 60_000);
  await berth.berth.sweepApprovals();
  await eventually("the swept card", () => (/Expired at/.test(cardText(current(card))) ? true : undefined));
  assert.ok((await berth.berth.store.audit.all()).some((r) => r.outcome === "expired"));
});

test("a dangerous action needs the requester's own tap on its preview; Cancel runs nothing", async () => {
  await berth.command(`run -d --name appr-box ${testImage} sleep 300`);
  await berth.command(`approve ${requestIdOf(await approvalCard("sleep 300"))}`, SEED.approver);
  await eventually("the detached container", () => {
    const c = findCard(fake, SEED.incidentChannel, "appr-box");
    return c && isFinished(c) ? c : undefined;
  });
  await berth.command("rm -f appr-box");
  const preview = await eventually("the rm preview", () =>
    fake
      .responses()
      .find(
        (r) =>
          r.user === SEED.operator &&
          r.ts &&
          JSON.stringify(r.body).includes("rm -f appr-box") &&
          JSON.stringify(r.body).includes("berth_deny"),
      ),
  );
  assert.match(JSON.stringify(preview.body), /Confirm before it runs/);
  const id = /request `(r-[0-9a-f]{6})`/.exec(JSON.stringify(preview.body))?.[1] ?? "";
  await berth.click(preview.ts as string, id, SEED.operator, SEED.incidentChannel, "berth_deny");
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await containerCommands()).filter((c) => c.includes("sleep 300")).length >= 1, true, "the container is still there");
  await berth.command("rm -f appr-box");
  await berth.confirm("rm -f appr-box");
  await eventually("the removal", () =>
    fake.messages(SEED.incidentChannel).some((m) => m.text.includes("removed `appr-box`")) ? true : undefined,
  );
});

test("break-glass: a grant is approved by an admin, announced, tags actions, and expires on its own", async () => {
  await berth.command("audit --since 1h");
  await ephemeral(SEED.operator, /You need permission `audit\.query`.*grant admin --for 1h/);
  await berth.command('grant admin --for 1h --reason "INC-7 db failover"');
  const card = await approvalCard("grant admin");
  assert.match(cardText(card), /\*Reason:\* INC-7 db failover/);
  await approve(card, SEED.approver);
  await eventually("the announcement", () =>
    fake
      .messages(SEED.incidentChannel)
      .find((m) => /Break-glass: <@U0OPER> has role \*admin\* for 1h 0m \(grant `g-[0-9a-f]{6}`/.test(m.text)),
  );
  await berth.command("audit --since 1h");
  await ephemeral(SEED.operator, /\*Audit log\*/);
  const tagged = (await berth.berth.store.audit.all()).filter((r) => r.type === "decision" && r.grant);
  assert.match(tagged.at(-1)?.rule ?? "", /^grant g-[0-9a-f]{6} \(role admin\)$/);
  advance(61 * 60_000);
  await berth.berth.sweepApprovals();
  await eventually("the end of the grant", () =>
    fake.messages(SEED.incidentChannel).find((m) => /Grant `g-[0-9a-f]{6}` ended: <@U0OPER> no longer has role \*admin\*/.test(m.text)),
  );
  const before = fake.responses().length;
  await berth.command("audit --since 1h");
  await eventually("the denial after expiry", () =>
    fake
      .responses()
      .slice(before)
      .find((r) => /You need permission `audit\.query`/.test(String((r.body as { text?: string }).text))),
  );
});

type Element = { action_id: string; value?: string; text?: { text: string } };
const undoButton = (m: FakeMessage): Element | undefined =>
  (m.blocks ?? [])
    .flatMap((b) => ((b as { type?: string }).type === "actions" ? ((b as { elements: Element[] }).elements ?? []) : []))
    .find((el) => el.action_id.startsWith("berth_choice") && el.text?.text === "Undo");

test("break-glass: the announcement's Undo, tapped by the approver, ends the grant at once", async () => {
  await berth.command('grant admin --for 30m --reason "INC-8 cache flush"');
  await approve(await approvalCard("INC-8 cache flush"), SEED.approver);
  const announcement = await eventually("the announcement with its Undo", () =>
    fake.messages(SEED.incidentChannel).find((m) => /Break-glass: .*INC-8 cache flush/.test(m.text) && undoButton(m)),
  );
  const id = /grant `(g-[0-9a-f]{6})`/.exec(announcement.text)?.[1];
  const button = undoButton(announcement) as Element;
  await blockAction(fake, {
    url: berth.url,
    messageTs: announcement.ts,
    actionId: button.action_id,
    value: button.value as string,
    user: SEED.approver,
    channel: announcement.channel,
  });
  await eventually("the revoke told to the channel", () =>
    fake
      .messages(SEED.incidentChannel)
      .find((m) => m.text.includes(`Grant \`${id}\` revoked by <@${SEED.approver}>: <@${SEED.operator}> no longer has role *admin*`)),
  );
  const before = fake.responses().length;
  await berth.command("audit --since 1h");
  await eventually("the denial right after the revoke", () =>
    fake
      .responses()
      .slice(before)
      .find((r) => /You need permission `audit\.query`/.test(String((r.body as { text?: string }).text))),
  );
});

test("secrets in real container output are masked in the thread and in the uploaded log", async () => {
  const secrets = [
    "xoxb-123456789012-abcdefghijkl",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnop",
    "acme_live_ABCDEFGHIJKLMNOPQRSTUVWX",
    "hunter2-from-env",
  ];
  const script = `echo token=${secrets[0]}; echo bearer ${secrets[1]}; echo key ${secrets[2]}; echo env $PASSPHRASE; echo password=s3cr3t-pw; printf -- "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkq\\n-----END PRIVATE KEY-----\\n"; seq 1 3000`;
  await berth.command(`run -e PASSPHRASE=${secrets[3]} ${testImage} sh -c '${script}'`);
  await berth.command(`approve ${requestIdOf(await approvalCard("token="))}`, SEED.approver);
  const job = await eventually("the secrets job", () => {
    const c = findCard(fake, SEED.incidentChannel, "seq 1 3000");
    return c && isFinished(c) ? c : undefined;
  });
  const file = await eventually("the uploaded log", () => fake.files().find((f) => f.title?.includes("seq 1 3000")), 20_000).catch(
    (e: unknown) => {
      throw new Error(`${(e as Error).message}; card: ${cardText(job)}; files: ${JSON.stringify(fake.files().map((f) => f.title))}`);
    },
  );
  const thread = threadLines(fake, SEED.incidentChannel, job.ts).join("\n");
  for (const where of [thread, file.content, JSON.stringify(fake.calls())]) {
    for (const s of [...secrets, "s3cr3t-pw", "MIIEvQIBADANBgkq"]) assert.ok(!where.includes(s), `${s} leaked`);
  }
  assert.match(file.content, /^token=••••$/m);
  assert.match(file.content, /^env ••••$/m);
  assert.match(file.content, /^password=••••$/m);
  assert.match(file.content, /^3000$/m);
});

/** Everything berth sent Slack since call `from` that Slack renders as mrkdwn: messages, edits, ephemerals. */
/**
 * Everything berth sent since `from` that Slack parses for markup. Inside a rich_text block a `text` element is literal
 * (mentions and links are elements of their own types), so its text is left out here and checked on its own: only
 * plain `text` elements, never a `user`, `broadcast`, `usergroup` or `link` element made from output.
 */
const sentSince = (from: number) =>
  fake
    .calls()
    .slice(from)
    .filter((c) => ["chat.postMessage", "chat.update", "chat.postEphemeral", "response_url"].includes(c.method))
    .map((c) =>
      JSON.stringify(c.args, (key, value: unknown) => {
        if (key !== "blocks" || !Array.isArray(value)) return value;
        return value.map((b: { type?: string; elements?: { elements?: { type?: string }[] }[] }) => {
          if (b.type !== "rich_text") return b;
          const kinds = (b.elements ?? []).flatMap((e) => (e.elements ?? []).map((x) => x.type));
          assert.deepEqual([...new Set(kinds)], ["text"], "output in a rich_text block is plain text elements only");
          return { type: "rich_text", elements: "(literal output)" };
        });
      }),
    )
    .join("\n");
/** A special mention, user-group mention or link Slack would act on. */
const liveMarkup = /<!(?:channel|here|everyone|subteam)|<https?:/;

test("a grant reason and a command cannot ping the channel or post a link as berth", async () => {
  const from = fake.calls().length;
  // What Slack delivers when someone types `<!channel> see <http://evil.example|docs>`: the markup as entities.
  const typed = "&lt;!channel&gt; see &lt;http://evil.example|docs&gt; &lt;!here&gt; &lt;!subteam^S0EVIL&gt;";
  await berth.command(`grant admin --for 30m --reason "${typed}"`);
  const card = await approvalCard("evil.example");
  assert.match(cardText(card), /\*Reason:\* &lt;!channel&gt; see &lt;http:\/\/evil\.example\|docs&gt;/);
  await approve(card, SEED.approver);
  const announcement = await eventually("the announcement", () =>
    fake.messages(SEED.incidentChannel).find((m) => /Break-glass: .*Reason: &lt;!channel&gt; see/.test(m.text)),
  );
  assert.match(announcement.text, /<@U0OPER> has role \*admin\*/, "berth's own mentions still work");
  await berth.command(`run ${testImage} echo ${typed.replaceAll(" ", "-")}`);
  const run = await approvalCard("evil.example|docs&gt;-&lt;!here");
  await approve(run, SEED.approver);
  const job = await eventually("the hostile echo's card", () => {
    const c = findCard(fake, SEED.incidentChannel, "evil.example");
    return c && isFinished(c) && c.ts !== run.ts ? c : undefined;
  });
  // The container's own output, shown as it is (decoded here from the entities it was sent as).
  assert.ok(
    threadLines(fake, SEED.incidentChannel, job.ts).includes("<!channel>-see-<http://evil.example|docs>-<!here>-<!subteam^S0EVIL>"),
  );
  const sent = sentSince(from);
  assert.ok(sent.includes("evil.example"), "the hostile text was shown");
  assert.doesNotMatch(sent, liveMarkup);
  // End the grant, so that the tests after this one see the operator's own roles.
  advance(31 * 60_000);
  await berth.berth.sweepApprovals();
});

test("an approval card shows hidden characters, and a command too long for it in full in its thread", async () => {
  const long = "L".repeat(3000);
  await berth.command(`run ${testImage} echo safe\u202Etxt.exe ${long}`);
  const card = await approvalCard("txt.exe");
  const shown = `${card.text} ${cardText(card)}`;
  assert.ok(!shown.includes("\u202E"), "no live direction override on the card");
  assert.match(shown, /safe⟨U\+202E⟩txt\.exe/);
  assert.match(shown, /full command in thread/);
  const replies = await eventually("the full command in the card's thread", () => {
    const r = fake.thread(SEED.incidentChannel, card.ts);
    return r.length >= 2 ? r : undefined;
  });
  assert.match(replies[0]?.text ?? "", new RegExp(`^Full request \`${requestIdOf(card)}\`, exactly as it will run`));
  const body = replies.map((m) => m.text.slice(m.text.indexOf("```\n") + 4, -"\n```".length)).join("");
  // The word with the override is shell-quoted (it is not plain), like any such word on a card.
  assert.ok(body.includes(`echo 'safe⟨U+202E⟩txt.exe' ${long}`), "the whole command, every character, in order");
  await deny(card, SEED.approver);
});

test("a changed policy is applied without restart; an invalid one is refused and the old one stays", async () => {
  writeFileSync(
    berth.policyPath,
    policy.replace("  - { role: viewer, users: [U0NOBODY] }\n", "  - { role: operator, users: [U0NOBODY] }\n"),
  );
  await eventually("the reload", () => (berth.logs.some((l) => l.includes('"msg":"policy reloaded"')) ? true : undefined), 10_000);
  await berth.command("can-i restart api", SEED.nobody);
  await ephemeral(SEED.nobody, /\*Allowed:\* `restart api`, allowed by `bindings\[2\] \(role operator\)`/);
  writeFileSync(berth.policyPath, "version: 1\nroles: {}\nbindings:\n  - role: ghost\n    users: [U0NOBODY]\n# an edit that breaks it\n");
  await eventually(
    "the rejection",
    () => berth.logs.find((l) => l.includes("policy reload rejected") && l.includes('no role named \\"ghost\\"')),
    10_000,
  );
  const before = fake.responses().length;
  await berth.command("can-i restart api", SEED.nobody);
  await eventually("the old policy still answering", () =>
    fake
      .responses()
      .slice(before)
      .find((r) => /\*Allowed:\* `restart api`/.test(String((r.body as { text?: string }).text))),
  );
});
