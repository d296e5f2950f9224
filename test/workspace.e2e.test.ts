import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { notifyLogsActionId } from "../src/slack/render.ts";
import { eventually, startBerth } from "./support/berth-harness.ts";
import { signSlackRequest } from "./support/slack-driver.ts";
import { SEED, SlackFake } from "./support/slack-fake.ts";

// berth serves one Slack workspace: signed requests that come from another (an app shared or distributed into it)
// are refused before policy sees them, through the real Bolt app and the Slack fake. Nothing here touches Docker.

const policy = `version: 1
roles:
  everyone: { actions: [host.list, container.logs] }
bindings:
  - { role: everyone, users: ["*"] }
`;

let fake: SlackFake;
let berth: Awaited<ReturnType<typeof startBerth>>;

before(async () => {
  fake = await SlackFake.start();
  // BERTH_SLACK_TEAM_ID unset: berth learns its workspace (the fake's, T0BERTH) from auth.test at start.
  berth = await startBerth(fake, { policy });
});

after(async () => {
  await berth?.stop();
  await fake?.stop();
});

const textOf = (r: { body: unknown }) => String((r.body as { text?: unknown }).text ?? "");

/** A slash command as Slack would sign and send it, with its team (and organization) replaced. */
async function commandFrom(url: string, text: string, origin: { team_id: string; enterprise_id?: string }, user: string = SEED.operator) {
  const payload = { ...fake.buildSlashCommand({ command: "/berth", text, user }), ...origin };
  const body = new URLSearchParams(Object.entries(payload)).toString();
  const res = await fetch(url, { method: "POST", headers: { ...signSlackRequest(fake.signingSecret, body) }, body });
  await res.text();
  return { status: res.status, payload };
}

test("a slash command from another workspace is refused, told why, logged and audited, and nothing is done", async () => {
  const before = (await berth.berth.store.audit.all()).length;
  const { status, payload } = await commandFrom(berth.url, "hosts", { team_id: "T0ELSEWHERE" });
  assert.equal(status, 200, "acked like any command");
  const reply = await eventually("the refusal", () =>
    fake.responses().find((r) => r.user === SEED.operator && /another \(T0ELSEWHERE\)/.test(textOf(r))),
  );
  assert.match(textOf(reply), /This berth serves one Slack workspace \(T0BERTH\), and this request came from another \(T0ELSEWHERE\)/);
  assert.equal((reply.body as { response_type?: string }).response_type, "ephemeral");
  await berth.berth.slack.idle();
  const records = (await berth.berth.store.audit.all()).slice(before);
  assert.deepEqual(
    records.map((r) => [r.decision, r.rule, (r.action as { kind?: string }).kind]),
    [["deny", "slack:workspace (from T0ELSEWHERE)", "host.list"]],
    "one denial, and no decision by policy",
  );
  assert.ok(
    berth.logs.some((l) => l.includes("request from another workspace refused") && l.includes("T0ELSEWHERE")),
    "the refusal is logged",
  );
  assert.deepEqual(
    fake
      .responses()
      .filter((r) => r.url === payload.response_url)
      .map(textOf),
    [textOf(reply)],
    "the refusal is the only answer: no host list",
  );
});

test("the same command from berth's own workspace is answered", async () => {
  await commandFrom(berth.url, "hosts", { team_id: SEED.teamId }, SEED.nobody);
  const reply = await eventually("an answer", () => fake.responses().find((r) => r.user === SEED.nobody));
  assert.match(textOf(reply), /local/, "the host list");
});

test("a button click through another workspace is refused too", async () => {
  const card = fake.postAsUser({
    channel: SEED.incidentChannel,
    user: SEED.operator,
    text: "a card",
    blocks: [
      {
        type: "actions",
        elements: [{ type: "button", action_id: "berth_stop", value: "j-000001", text: { type: "plain_text", text: "Stop" } }],
      },
    ],
  });
  const payload = fake.buildBlockAction({ messageTs: card.ts, actionId: "berth_stop", user: SEED.operator });
  const forged = { ...payload, team: { id: "T0ELSEWHERE", domain: "elsewhere" } };
  const body = `payload=${encodeURIComponent(JSON.stringify(forged))}`;
  const res = await fetch(berth.url, { method: "POST", headers: { ...signSlackRequest(fake.signingSecret, body) }, body });
  assert.equal(res.status, 200);
  await eventually("the refusal", () =>
    fake.responses().find((r) => r.user === SEED.operator && r.url === payload.response_url && /another \(T0ELSEWHERE\)/.test(textOf(r))),
  );
});

test("a Slack Connect guest (another team, clicking in berth's workspace) is not matched by users: ['*']", async () => {
  const value = JSON.stringify({ kind: "container.logs", host: "local", container: "ghost", follow: false });
  const card = fake.postAsUser({
    channel: SEED.incidentChannel,
    user: SEED.operator,
    text: "a crash notice",
    blocks: [
      { type: "actions", elements: [{ type: "button", action_id: notifyLogsActionId, value, text: { type: "plain_text", text: "Logs" } }] },
    ],
  });
  const payload = fake.buildBlockAction({ messageTs: card.ts, actionId: notifyLogsActionId, user: SEED.nobody });
  const guest = { ...payload, user: { ...(payload.user as object), team_id: "T0PARTNER" } };
  const body = `payload=${encodeURIComponent(JSON.stringify(guest))}`;
  await fetch(berth.url, { method: "POST", headers: { ...signSlackRequest(fake.signingSecret, body) }, body }).then((r) => r.text());
  const reply = await eventually("the denial", () => fake.responses().find((r) => r.url === payload.response_url));
  assert.match(textOf(reply), /You need permission `container\.logs`/);
});

test("BERTH_SLACK_TEAM_ID and BERTH_SLACK_ENTERPRISE_ID: only that workspace of that organization is served", async () => {
  const pinned = await startBerth(fake, { policy, env: { BERTH_SLACK_TEAM_ID: SEED.teamId, BERTH_SLACK_ENTERPRISE_ID: "E0ORG" } });
  try {
    await commandFrom(pinned.url, "hosts", { team_id: SEED.teamId }, SEED.approver);
    await eventually("the refusal of a request from outside the organization", () =>
      fake
        .responses()
        .find((r) => r.user === SEED.approver && /one Slack organization \(E0ORG\), and this request came from outside it/.test(textOf(r))),
    );
    await commandFrom(pinned.url, "hosts", { team_id: SEED.teamId, enterprise_id: "E0ORG" }, SEED.approver);
    await eventually("an answer inside the organization", () =>
      fake.responses().find((r) => r.user === SEED.approver && !/Slack organization/.test(textOf(r))),
    );
  } finally {
    await pinned.stop();
  }
});
