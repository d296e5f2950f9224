import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { registry } from "../../commands/index.ts";
import { PolicySchema } from "../../src/core/policy.ts";
import { containerInspect, containerList, hostList, type ReplyContext } from "../../src/core/reply.ts";
import { details, FakeEngine } from "../fakes.ts";
import { closeOpened, memoryStore, testJobs } from "../support/memory-store.ts";
import { mrkdwn } from "../support/text.ts";

// Answers quote what engines report (names, images, commands, states, errors): none of it may become markup.
const hostile = "<!channel> <http://evil.example|docs> <!subteam^S0EVIL> <@U0VICTIM>";

afterEach(closeOpened);

async function context(engine: FakeEngine): Promise<ReplyContext> {
  return {
    engine: () => engine,
    host: "local",
    registry,
    policy: PolicySchema.parse({ version: 1, roles: {} }),
    subject: { userId: "U0OPER", groups: new Set(), grants: [], homeTeam: true },
    actor: { userId: "U0OPER", channelId: "C0INCIDENT" },
    jobs: testJobs(await memoryStore()),
    hosts: async () => [
      { name: "local", url: "unix:///var/run/docker.sock", reachable: true, info: { name: "local", ...engine.host }, containers: 1 },
      { name: "down", url: "tcp://10.0.0.9:2376", reachable: false, error: `Docker said: ${hostile}` },
    ],
  };
}

test("ps, inspect and hosts show engine text as text: no special mention, user-group ping, link or user ping", async () => {
  const engine = new FakeEngine();
  engine.host = { ...engine.host, osVersion: hostile };
  engine.containers = [
    details({
      id: "abc123def456",
      name: "web",
      image: `busybox:1 ${hostile}`,
      status: hostile,
      cmd: ["echo", hostile],
      labels: { "io.berth.user": "U1><!channel" },
    }),
  ];
  const ctx = await context(engine);
  const signal = AbortSignal.timeout(5000);
  const answers = {
    "container.list": () => containerList({ kind: "container.list", all: true }, ctx, signal),
    "container.inspect": () => containerInspect({ kind: "container.inspect", container: "web" }, ctx, signal),
    "host.list": () => hostList({ kind: "host.list" }, ctx, signal),
  };
  for (const [kind, answer] of Object.entries(answers)) {
    const action = { kind };
    const text = mrkdwn((await answer()).text);
    assert.ok(text.includes("&lt;!channel&gt;"), `${action.kind} shows the text: ${text}`);
    assert.doesNotMatch(text, /<!|<http|<@U0VICTIM/, `${action.kind}: ${text}`);
  }
});
