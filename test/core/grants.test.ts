// Break-glass grants through the whole pipeline over an in-memory store: asked for, approved by a second person,
// announced with an Undo, and ended early with `grant revoke` (by whom, and what it leaves). Time is a hand-moved clock.
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { sweep } from "../../src/core/dispatch.ts";
import { plainText } from "../../src/core/message.ts";
import { approver, type GrantSetup, granted, grantSetup, holder, lead, minutes, stranger, text } from "../support/grants.ts";
import { closeOpened } from "../support/memory-store.ts";

afterEach(closeOpened);

const decisionOf = async (s: GrantSetup, requestId: string) =>
  (await s.store.audit.all()).find((r) => r.requestId === requestId && r.type === "decision");

test("the holder ends their own grant: said in the channel, audited as revoked by them, and the role is gone at once", async () => {
  const s = await grantSetup();
  const { id } = await granted(s);
  assert.match(text(await s.run("audit", holder)), /Audit log/, "the grant allows what admin allows");

  const o = await s.run(`grant revoke ${id}`, holder, "req-revoke");
  assert.equal(o.type === "reply" && o.reply.visibility, "channel", text(o));
  assert.equal(text(o), `Grant ${id} revoked by @U0OPER: @U0OPER no longer has role admin.`);
  assert.equal((await decisionOf(s, "req-revoke"))?.rule, `grant:holder (${id})`);
  const record = (await s.store.audit.all()).find((r) => r.requestId === "req-revoke" && r.type === "grant");
  assert.equal(record?.userId, holder.userId);
  assert.equal(record?.grant, id);
  assert.match(
    record?.outcome ?? "",
    /^grant revoked by U0OPER: U0OPER no longer has role admin \(it was to last until 2026-12-06T11:00:00.000Z\)$/,
  );

  // The very next command that needed the role is denied: the policy reads only active grants.
  const after = await s.run("audit", holder);
  assert.equal(after.type === "reply" && after.result, "denied", text(after));
  assert.deepEqual(await s.store.grants.active(), []);
});

test("the person who approved it may end it, and so may someone the policy allows grant.revoke", async () => {
  const s = await grantSetup();
  const first = await granted(s);
  const byApprover = await s.run(`grant revoke ${first.id}`, approver, "req-by-approver");
  assert.match(text(byApprover), new RegExp(`Grant ${first.id} revoked by @U0APPROVER: @U0OPER no longer has role admin`));
  assert.equal((await decisionOf(s, "req-by-approver"))?.rule, `grant:approver (${first.id})`);

  const second = await granted(s);
  const byLead = await s.run(`grant revoke ${second.id}`, lead, "req-by-lead");
  assert.match(text(byLead), /revoked by @U0LEAD/);
  assert.equal((await decisionOf(s, "req-by-lead"))?.rule, "bindings[2] (role lead)");
});

test("someone else without grant.revoke is denied, told whose grant it is; the grant stays", async () => {
  const s = await grantSetup();
  const { id } = await granted(s);
  const o = await s.run(`grant revoke ${id}`, stranger, "req-stranger");
  assert.equal(o.type === "reply" && o.result, "denied");
  assert.match(
    text(o),
    new RegExp(`Grant ${id} is @U0OPER's, approved by @U0APPROVER: they may end it.*You need permission grant\\.revoke`),
  );
  assert.equal((await decisionOf(s, "req-stranger"))?.decision, "deny");
  assert.deepEqual(
    (await s.store.grants.active()).map((g) => g.id),
    [id],
  );
  // can-i says the same as the pipeline.
  assert.match(text(await s.run(`can-i grant revoke ${id}`, stranger)), /^Denied:/);
  assert.match(text(await s.run(`can-i grant revoke ${id}`, lead)), /^Allowed:.*runs at once/);
});

test("revoking an unknown, a run-out or an already revoked grant changes nothing and says so", async () => {
  const s = await grantSetup();
  const unknown = await s.run("grant revoke g-000000", holder, "req-unknown");
  assert.equal(unknown.type === "reply" && [unknown.reply.visibility, unknown.result].join(), "ephemeral,refused");
  assert.match(text(unknown), /berth knows no grant g-000000\. Check the id in the grant's announcement; \/berth whoami lists/);

  const first = await granted(s);
  await s.run(`grant revoke ${first.id}`, holder);
  const again = await s.run(`grant revoke ${first.id}`, approver, "req-again");
  assert.equal(again.type === "reply" && again.result, "refused");
  assert.match(text(again), new RegExp(`Grant ${first.id} already ended at 2026-12-06T10:00:00.000Z: @U0OPER no longer has role admin`));
  const refused = (await s.store.audit.all()).find((r) => r.requestId === "req-again" && r.type === "outcome");
  assert.equal(refused?.outcome, "refused: grant already ended");

  const second = await granted(s);
  s.advance(61 * minutes);
  const late = await s.run(`grant revoke ${second.id}`, holder);
  assert.match(text(late), new RegExp(`Grant ${second.id} already ended at 2026-12-06T11:00:00.000Z`));
});

test("the sweep announces a grant that ran out, never one that was revoked", async () => {
  const s = await grantSetup();
  const revoked = await granted(s);
  const kept = await granted(s);
  await s.run(`grant revoke ${revoked.id}`, holder);
  s.advance(61 * minutes);
  const swept = await sweep(s.deps);
  assert.deepEqual(
    swept.grantsEnded.map((g) => plainText(g.text).trim()),
    [`Grant ${kept.id} ended: @U0OPER no longer has role admin.`],
  );
  assert.deepEqual((await sweep(s.deps)).grantsEnded, []);
});
