// The Home view renderer (issue 14): Slack's limits for a Home view, the buttons' ids and values, safe text.
import assert from "node:assert/strict";
import { test } from "node:test";
import { validateBlocks } from "@berth/slack-emulator";
import { ActionSchema } from "../../src/core/action.ts";
import type { HomeContent } from "../../src/core/home.ts";
import { msg } from "../../src/core/message.ts";
import { homeLimits, renderHome } from "../../src/slack/render-home.ts";

const at = Date.UTC(2026, 11, 6, 12, 0);
const valid = (blocks: unknown[]) => assert.deepEqual(validateBlocks(blocks as never, { pointer: "/view/blocks", maxBlocks: 100 }), []);
type Element = { action_id?: string; value?: string; confirm?: unknown };
const elements = (blocks: unknown[]) =>
  blocks.flatMap((b) => ((b as { type: string }).type === "actions" ? ((b as { elements: Element[] }).elements ?? []) : []));

test("someone with no role gets a short view with only the explanation", () => {
  const view = renderHome({ type: "no-role", userId: "U1", text: msg`No role is bound to you.` }, "/berth");
  assert.equal(view.type, "home");
  assert.equal(view.blocks.length, 2);
  valid(view.blocks);
  assert.equal(elements(view.blocks).length, 0);
});

test("a crowded Home stays within 100 blocks and says what it left out; every button carries what its click needs", () => {
  const logs = ActionSchema.parse({ kind: "container.logs", host: "local", container: "web", follow: true });
  const content: HomeContent = {
    type: "home",
    userId: "U1",
    at,
    hosts: [
      { name: "local", healthy: true, detail: msg`linux` },
      { name: "down", healthy: false, detail: msg`unreachable` },
    ],
    jobs: {
      all: true,
      list: Array.from({ length: 40 }, (_, i) => ({
        id: `j-${i}`,
        summary: `run busybox:1 sleep ${i} on local`,
        userId: "U1",
        channelId: "C0INCIDENT",
        host: "local",
        startedAt: at - 60_000,
        stoppable: i % 2 === 0,
        logs: logs.kind === "container.logs" ? logs : undefined,
      })),
    },
    approvals: Array.from({ length: 40 }, (_, i) => ({
      id: `r-${i}`,
      summary: "stop web on local <!channel>",
      requester: "U2",
      channelId: "C0INCIDENT",
      host: "local",
      expiresAt: at + 600_000,
    })),
    grants: {
      held: [{ id: "g-1", userId: "U1", role: "breakglass", approvedBy: "U2", expiresAt: at + 3_600_000, reason: "INC-1" }],
      given: [],
    },
  };
  const view = renderHome(content, "/berth", "Stopping job `j-1`.");
  assert.ok(view.blocks.length <= homeLimits.blocks);
  valid(view.blocks);
  const text = JSON.stringify(view.blocks);
  assert.match(text, /Running jobs \(everyone's\)/);
  assert.match(text, /…and 25 more: `\/berth jobs` lists them all\./);
  assert.match(text, /Stopping job/, "the last tap's answer is shown");
  assert.doesNotMatch(text, /<!channel>/, "no special mention gets out");
  const stops = elements(view.blocks).filter((e) => e.action_id === "berth_stop");
  assert.deepEqual(stops.map((e) => e.value).slice(0, 3), ["j-0", "j-2", "j-4"], "Stop only where it is offered, its value the job id");
  const logButton = elements(view.blocks).find((e) => e.action_id === "berth_notify_logs");
  assert.deepEqual(JSON.parse(logButton?.value ?? "{}"), logs, "Logs carries the typed logs -f action");
  const approve = elements(view.blocks).find((e) => e.action_id === "berth_approve");
  assert.equal(approve?.value, "r-0");
  assert.ok(approve?.confirm, "Approve asks first: Home shows only the request's title");
  assert.equal(elements(view.blocks).find((e) => e.action_id === "berth_deny")?.value, "r-0");
});

test("without host.list there is no Hosts section, and an empty job list says so", () => {
  const view = renderHome(
    { type: "home", userId: "U1", at, hosts: undefined, jobs: { all: false, list: [] }, approvals: [], grants: { held: [], given: [] } },
    "/ops",
  );
  valid(view.blocks);
  const text = JSON.stringify(view.blocks);
  assert.doesNotMatch(text, /Hosts/);
  assert.match(text, /None of your jobs is running/);
  assert.match(text, /`\/ops help`/, "the configured slash command");
});
