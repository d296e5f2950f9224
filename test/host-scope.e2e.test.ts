import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { newHostRecord } from "../src/cloud/provision.ts";
import { hostExtendActionId } from "../src/slack/render.ts";
import type { CloudHostRecord } from "../src/store/records.ts";
import { eventually, startBerth } from "./support/berth-harness.ts";
import { SEED, SlackFake } from "./support/slack-fake.ts";

// A binding's `hosts:` scope and the maker of a host, for `host rm|extend` from Slack: the real Bolt app, the Slack
// fake, berth's store. Azure is configured but never called: every request here is refused (or only extends a
// lifetime in berth's store) before anything would reach it.

const policy = `version: 1
roles:
  ci: { actions: [host.create, host.extend, host.remove, host.list] }
bindings:
  - { role: ci, users: [${SEED.operator}, ${SEED.approver}], hosts: ["ci-*"] }
azure: { maxTtl: 7d, defaultTtl: 2h, reminder: 30m }
`;

let fake: SlackFake;
let berth: Awaited<ReturnType<typeof startBerth>>;
const armRequests: string[] = [];

before(async () => {
  fake = await SlackFake.start();
  berth = await startBerth(fake, {
    policy,
    env: {
      AZURE_SUBSCRIPTION_ID: "00000000-0000-0000-0000-000000000000",
      BERTH_SECRET_KEY: "host-scope-e2e-secret-key-0123456789abcdef",
      AZURE_LOCATION: "westeurope",
      // Nothing listens here: a request that reached Azure would fail loudly instead of passing unnoticed.
      AZURE_RESOURCE_MANAGER_URL: "https://127.0.0.1:9/",
      BERTH_AZURE_ALLOW_CIDR: "198.51.100.7/32",
    },
    azure: {
      credential: { getToken: async () => ({ token: "t", expiresOnTimestamp: Date.now() + 3_600_000 }) },
      onResponse: (r) => armRequests.push(JSON.stringify(r)),
    },
  });
});

after(async () => {
  await berth?.stop();
  await fake?.stop();
});

/** A ready host berth made for `maker`, expiring in ten minutes (inside the reminder window). */
async function madeBy(name: string, maker: string): Promise<CloudHostRecord> {
  const now = Date.now();
  const record: CloudHostRecord = {
    ...newHostRecord(
      {
        name,
        os: "linux",
        size: "Standard_B2s",
        region: "westeurope",
        ttlSeconds: 600,
        hyperv: false,
        private: false,
      },
      { userId: maker, channelId: SEED.incidentChannel },
      "j-000000",
      now,
    ),
    status: "ready",
  };
  await berth.berth.store.cloudHosts.put(record);
  return record;
}

const textOf = (r: { body: unknown }) => String((r.body as { text?: unknown }).text ?? "");
const replyTo = (user: string, pattern: RegExp) =>
  eventually(`a reply to ${user} matching ${pattern}`, () => fake.responses().find((r) => r.user === user && pattern.test(textOf(r))));

test("host rm of a host outside the user's hosts: scope is refused, and the host stays", async () => {
  await madeBy("prod-db", SEED.operator);
  await berth.command("host rm prod-db");
  const reply = await replyTo(SEED.operator, /host\.remove/);
  assert.match(textOf(reply), /You may not `host\.remove` in #incident-db on host prod-db\. Your role ci allows it on hosts ci-\*/);
  await berth.berth.slack.idle();
  assert.equal((await berth.berth.store.cloudHosts.get("prod-db"))?.status, "ready");
  assert.ok(!fake.responses().some((r) => r.user === SEED.operator && /Run|confirm/.test(JSON.stringify(r.body))), "no confirmation card");
  const denial = (await berth.berth.store.audit.all()).find((r) => (r.action as { kind?: string }).kind === "host.remove");
  assert.deepEqual([denial?.decision, denial?.host], ["deny", "prod-db"], "audited, with the host it concerned");
  assert.deepEqual(armRequests, []);
});

test("host rm of a host someone else made needs host.remove.any, and the denial names the maker", async () => {
  await madeBy("ci-alice", SEED.approver);
  await berth.command("host rm ci-alice");
  const reply = await replyTo(SEED.operator, /ci-alice/);
  assert.match(
    textOf(reply),
    new RegExp(
      `\`ci-alice\` was made by <@${SEED.approver}>, not you: removing a host someone else made needs permission \`host\\.remove\\.any\``,
    ),
  );
  assert.equal((await berth.berth.store.cloudHosts.get("ci-alice"))?.status, "ready");
});

test("the reminder's Extend button: refused for someone else's host, honoured for the maker", async () => {
  const record = await madeBy("ci-bob", SEED.approver);
  await berth.berth.sweepHosts();
  const reminder = await eventually("the reminder with its Extend button", () =>
    fake.messages(SEED.incidentChannel).find((m) => m.text.includes("ci-bob") && JSON.stringify(m.blocks).includes(hostExtendActionId)),
  );
  await berth.click(reminder.ts, "ci-bob", SEED.operator, SEED.incidentChannel, hostExtendActionId);
  const refused = await replyTo(SEED.operator, /ci-bob/);
  assert.match(textOf(refused), /made by <@U0APPROVER>.*`host\.extend\.any`/);
  assert.equal((await berth.berth.store.cloudHosts.get("ci-bob"))?.expiresAt, record.expiresAt, "not extended");
  await berth.click(reminder.ts, "ci-bob", SEED.approver, SEED.incidentChannel, hostExtendActionId);
  await eventually("the extension", async () => {
    const now = await berth.berth.store.cloudHosts.get("ci-bob");
    return now && now.expiresAt > record.expiresAt ? now : undefined;
  });
});
