// A break-glass grant through the whole pipeline over an in-memory store, for the tests of grants and their Undo:
// asked for by the holder and approved by a second person, on a hand-moved clock. Stores close with closeOpened.
import assert from "node:assert/strict";
import { registry } from "../../commands/index.ts";
import type { Actor } from "../../src/core/action.ts";
import { type DispatchDeps, dispatch, type Outcome } from "../../src/core/dispatch.ts";
import type { Choice } from "../../src/core/events.ts";
import { plainText } from "../../src/core/message.ts";
import { PolicySchema } from "../../src/core/policy.ts";
import { FakeEngine } from "../fakes.ts";
import { memoryStore, testJobs } from "./memory-store.ts";

export const channel = "C0INCIDENT";
export const holder: Actor = { userId: "U0OPER", channelId: channel };
export const approver: Actor = { userId: "U0APPROVER", channelId: channel };
export const lead: Actor = { userId: "U0LEAD", channelId: channel };
export const stranger: Actor = { userId: "U0OTHER", channelId: channel };
export const minutes = 60_000;

/** On call may ask for admin; approvers approve and may do nothing else; a lead may end anyone's grant. */
export async function grantSetup(extra: Record<string, unknown> = {}) {
  let t = Date.parse("2026-12-06T10:00:00Z");
  const clock = () => t;
  const policy = PolicySchema.parse({
    version: 1,
    roles: {
      ops: { actions: ["container.list"] },
      approver: { actions: ["container.list"] },
      lead: { actions: ["grant.revoke"] },
      admin: { actions: ["*"] },
    },
    bindings: [
      { role: "ops", users: [holder.userId, stranger.userId] },
      { role: "approver", users: [approver.userId] },
      { role: "lead", users: [lead.userId] },
    ],
    grants: [{ role: "admin", requesters: { users: [holder.userId] }, approvers: ["approver"], maxDuration: "1h" }],
    ...extra,
  });
  const store = await memoryStore(clock);
  const deps: DispatchDeps = {
    registry,
    policy: () => policy,
    hosts: { connections: [{ name: "local", url: "unix:///x", timeoutMs: 1000 }], channels: {}, default: "local" },
    engine: () => new FakeEngine(),
    store,
    jobs: testJobs(store),
    pendingActions: new Map(),
    groupsOf: async () => new Set(),
    clock,
  };
  const run = (text: string, actor: Actor, requestId?: string) =>
    dispatch({ text, actor, ...(requestId && { requestId }) }, deps, AbortSignal.timeout(5000));
  return { deps, store, run, advance: (ms: number) => (t += ms), now: clock };
}

export type GrantSetup = Awaited<ReturnType<typeof grantSetup>>;

export const text = (o: Outcome | undefined): string =>
  (o?.type === "reply" ? plainText(o.reply.text) : o?.type === "decided" ? plainText(o.card) : JSON.stringify(o)).trim();

/** `grant admin` asked for by the holder and approved: the grant's id and its announcement (with its Undo). */
export async function granted(s: GrantSetup): Promise<{ id: string; announced: Outcome; undo: Choice }> {
  const asked = await s.run('grant admin --for 1h --reason "INC-9 db down"', holder, "req-grant");
  assert.equal(asked.type, "gate", text(asked));
  if (asked.type !== "gate") throw new Error("no gate");
  const approved = await s.run(`approve ${asked.view.pending.id}`, approver);
  assert.equal(approved.type, "decided", text(approved));
  const announced = approved.type === "decided" ? approved.next : undefined;
  assert.ok(announced?.type === "reply" && announced.reply.visibility === "channel", text(announced));
  const id = /grant (g-[0-9a-f]{6})/.exec(text(announced))?.[1];
  assert.ok(id, text(announced));
  const undo = announced.reply.choices?.find((c) => c.label === "Undo");
  assert.ok(undo, "the announcement offers an Undo");
  return { id, announced, undo };
}
