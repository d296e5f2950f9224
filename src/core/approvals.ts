import { randomBytes } from "node:crypto";
import type { PendingRecord } from "../store/port.ts";
import { type Action, type ActionOf, type Actor, risk } from "./action.ts";
import { auditApproval, auditDecision, auditExpired, auditGrantEnded, auditGrantStarted } from "./audit.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { code, isUser, type Message, msg, strong, tone, user } from "./message.ts";
import { type DispatchDeps, now, type Outcome, type ReplyResult, replyOutcome } from "./pipeline-types.ts";
import { placeOf, subjectOf } from "./place.ts";
import { approversFor, type Decision, mayApprove, type Place } from "./policy.ts";
import { redactAction } from "./redact.ts";
import { mayApproveRunbook } from "./runbook-authorize.ts";
import { undoChoice } from "./undo.ts";

/**
 * Requests that wait for the requester's tap (confirm) or a second person (approval): their cards, the decision on a
 * click, expiry, and the break-glass grants an approval starts. An approved request goes back to the pipeline, which
 * authorizes it again and runs it; nothing here performs an action.
 */

/** What the pipeline shows on a request's card: its title and exactly what will happen. */
export type GateCard = { summary: string; preview: readonly Message[] };

/** Records a request that needs a tap or a second person, and describes its card. */
export async function gate(
  action: Action,
  actor: Actor,
  place: Place,
  decision: Extract<Decision, { allow: true }>,
  card: GateCard,
  deps: DispatchDeps,
  requestId: string,
): Promise<Outcome> {
  const policy = deps.policy();
  const id = `r-${randomBytes(3).toString("hex")}`;
  const pending = await deps.store.pending.create({
    id,
    requestId,
    gate: decision.gate === "approval" ? "approval" : "confirm",
    requester: actor.userId,
    channelId: actor.channelId,
    channelName: actor.channelName ?? null,
    host: place.host ?? null,
    summary: card.summary,
    action: redactAction(action),
    rule: decision.rule,
    gateRule: decision.gateRule ?? decision.rule,
    approvers: [...(decision.approvers ?? [])],
    expiresAt: now(deps) + (parseDuration(policy.approvals.ttl) ?? 900) * 1000,
  });
  await keepFullAction(deps, id, action);
  const approvers = decision.gate === "approval" ? approversFor(policy, { action, place, approvers: decision.approvers }) : [];
  return {
    type: "gate",
    requestId,
    view: {
      pending,
      preview: card.preview,
      approvers: approvers.filter((a) => !isUser(a, actor.userId)),
      dangerous: risk[action.kind] === "dangerous",
    },
  };
}

/** A request approved just now: the pipeline authorizes `action` again, for `requester`, and runs it. */
export type Approved = {
  pending: PendingRecord;
  action: Action;
  requester: Actor;
  place: Place;
  approver: string;
  /** Set when the card should say "Confirmed" (the requester's own tap) rather than who approved. */
  confirmed: boolean;
};

export type Decided = { type: "answer"; outcome: Outcome } | { type: "approved"; approved: Approved };

/** Approve or deny a gated request (button or `approve ID` / `deny ID`). Safe against double clicks and races. */
export async function decide(action: ActionOf<"approval.decide">, clicker: Actor, deps: DispatchDeps, requestId: string): Promise<Decided> {
  const answer = (text: Message, result?: ReplyResult): Decided => ({
    type: "answer",
    outcome: replyOutcome(requestId, text, "ephemeral", result),
  });
  const decided = (pending: PendingRecord, card: Message, extra: Partial<Extract<Outcome, { type: "decided" }>> = {}): Decided => ({
    type: "answer",
    outcome: { type: "decided", pending, card, requestId, ...extra },
  });
  const p = await deps.store.pending.get(action.id);
  if (!p) return answer(msg`No request ${code(action.id)} is waiting for a decision.`);
  if (p.state !== "pending") return answer(msg`Request ${code(p.id)} was already ${p.state}${by(p.decidedBy)}; nothing more to do.`);
  const full = await fullAction(deps, p.id);
  if (now(deps) >= p.expiresAt) {
    if (await deps.store.pending.expire(p.id)) await expired(deps, p);
    return decided({ ...p, state: "expired" }, expiredText(p), {
      reply: { visibility: "ephemeral", text: msg`Request ${code(p.id)} expired at ${new Date(p.expiresAt).toISOString()}; ask again.` },
    });
  }
  const target = full ?? (p.action as Action);
  const place = await placeOf(deps, target, { channelId: p.channelId, channelName: p.channelName ?? undefined }, p.host ?? undefined);
  let rule = "requester";
  if (p.gate === "confirm" || (action.verdict === "deny" && clicker.userId === p.requester)) {
    if (clicker.userId !== p.requester) return answer(msg`Only ${user(p.requester)} can confirm their own request.`, "denied");
  } else {
    const approver = await subjectOf(deps, clicker);
    const request = { requester: p.requester, action: target, place, approvers: p.approvers };
    // A runbook is approved as each of its steps would be (runbook.run is no permission of its own).
    const check =
      target.kind === "runbook.run"
        ? await mayApproveRunbook(
            target,
            approver,
            { ...request, channel: { channelId: p.channelId, channelName: p.channelName ?? undefined } },
            deps,
          )
        : mayApprove(deps.policy(), approver, request, now(deps));
    if (!check.ok) {
      const decision = { allow: false, rule: "approval", reason: check.reason } as const;
      await auditDecision(deps, {
        requestId: p.requestId,
        actor: clicker,
        action: target,
        host: p.host ?? undefined,
        decision,
        type: "approval",
      });
      return answer(msg`${tone("denied")} ${check.reason}`, "denied");
    }
    rule = check.rule;
  }
  const state = action.verdict === "approve" ? "approved" : clicker.userId === p.requester ? "cancelled" : "denied";
  if (!(await deps.store.pending.decide(p.id, state, clicker.userId))) {
    const later = await deps.store.pending.get(p.id);
    return answer(msg`Request ${code(p.id)} was already ${later?.state ?? "decided"}${by(later?.decidedBy)}.`);
  }
  await forgetFullAction(deps, p.id);
  await auditApproval(deps, p, { action: target, state, rule, approver: clicker.userId });
  const pending = { ...p, state, decidedBy: clicker.userId } as PendingRecord;
  const approver = user(clicker.userId);
  if (state !== "approved") return decided(pending, msg`${state === "cancelled" ? "Cancelled" : "Denied"} by ${approver}.`);
  if (!full && target.kind === "container.run" && target.env.length) {
    return decided(
      pending,
      msg`Approved by ${approver}, but berth restarted since the request and no longer holds its environment values. ${user(p.requester)}, run the command again.`,
    );
  }
  const requester: Actor = { userId: p.requester, channelId: p.channelId, channelName: p.channelName ?? undefined };
  return {
    type: "approved",
    approved: { pending, action: target, requester, place, approver: clicker.userId, confirmed: p.gate === "confirm" },
  };
}

const by = (userId: string | null | undefined): Message => (userId ? msg` by ${user(userId)}` : []);

/** The card of an approved request once the pipeline has its answer: running it, or why it no longer may. */
export function approvedCard(a: Approved, refusal?: Message): Message {
  const who = user(a.approver);
  if (refusal !== undefined) return msg`Approved by ${who}, but no longer allowed: ${refusal}`;
  return a.confirmed ? msg`Confirmed; running it now.` : msg`Approved by ${who}; running it now.`;
}

/** An approved `grant` request: the requester has the role from now until it ends, announced in the channel. */
export async function startGrant(action: ActionOf<"grant.request">, a: Approved, deps: DispatchDeps, requestId: string): Promise<Outcome> {
  const p = a.pending;
  const id = `g-${randomBytes(3).toString("hex")}`;
  const startsAt = now(deps);
  const expiresAt = startsAt + action.durationSeconds * 1000;
  await deps.store.grants.create({
    id,
    userId: p.requester,
    role: action.role,
    reason: action.reason,
    channelId: p.channelId,
    approvedBy: a.approver,
    startsAt,
    expiresAt,
  });
  await auditGrantStarted(deps, p, { action, grant: id, expiresAt, approver: a.approver });
  const until = new Date(expiresAt).toISOString();
  const text = msg`${tone("alert")} Break-glass: ${user(p.requester)} has role ${strong(action.role)} for ${formatDuration(action.durationSeconds * 1000)} (grant ${code(id)}, until ${until}), approved by ${user(a.approver)}. Reason: ${action.reason}`;
  // Its Undo ends it (`grant revoke`): for its holder, its approver, or anyone the policy allows it (undo.ts, `undone`).
  const undo = undoChoice(requestId, { kind: "grant.revoke", grant: id }, { what: "grant", grant: id }, deps.policy(), startsAt);
  return {
    type: "decided",
    pending: p,
    card: msg`Approved by ${user(a.approver)}; grant ${code(id)} is active.`,
    next: { type: "reply", reply: { visibility: "channel", text, choices: [undo] }, requestId },
    requestId,
  };
}

function expiredText(p: PendingRecord): Message {
  return msg`Expired at ${new Date(p.expiresAt).toISOString()} without a decision. ${user(p.requester)}, ask again if it is still needed.`;
}

async function expired(deps: Pick<DispatchDeps, "store" | "pendingActions">, p: PendingRecord): Promise<void> {
  await forgetFullAction(deps, p.id);
  await auditExpired(deps, p);
}

/**
 * The store keeps a request's action masked. The full one (environment values included) is kept in this process's
 * memory and, when BERTH_SECRET_KEY is set, sealed in the store's secrets so that another replica, or this berth after
 * a restart, can still run it once it is approved. Without a key it lives in memory only: the approval then asks the
 * requester to run the command again (and the log at start says so).
 */
async function keepFullAction(deps: Pick<DispatchDeps, "store" | "pendingActions">, id: string, action: Action): Promise<void> {
  deps.pendingActions.set(id, action);
  if (action.kind !== "container.run" || action.env.length === 0 || !deps.store.sealsSecrets) return;
  await deps.store.secrets.putOnce(pendingSecret(id), JSON.stringify(action));
}

async function fullAction(deps: Pick<DispatchDeps, "store" | "pendingActions">, id: string): Promise<Action | undefined> {
  const known = deps.pendingActions.get(id);
  if (known || !deps.store.sealsSecrets) return known;
  const sealed = await deps.store.secrets.get(pendingSecret(id));
  return sealed === undefined ? undefined : (JSON.parse(sealed) as Action);
}

async function forgetFullAction(deps: Pick<DispatchDeps, "store" | "pendingActions">, id: string): Promise<void> {
  deps.pendingActions.delete(id);
  if (deps.store.sealsSecrets) await deps.store.secrets.remove(pendingSecret(id));
}

const pendingSecret = (id: string) => `pending-action:${id}`;

export type SweepResult = { expired: { pending: PendingRecord; card: Message }[]; grantsEnded: { channelId: string; text: Message }[] };

/** Expires overdue requests and ends grants; the transport edits the cards and makes the announcements. */
export async function sweep(deps: Pick<DispatchDeps, "store" | "pendingActions" | "clock">): Promise<SweepResult> {
  const result: SweepResult = { expired: [], grantsEnded: [] };
  for (const p of await deps.store.pending.overdue()) {
    if (!(await deps.store.pending.expire(p.id))) continue;
    await expired(deps, p);
    result.expired.push({ pending: { ...p, state: "expired" }, card: expiredText(p) });
  }
  for (const g of await deps.store.grants.ended()) {
    if (!(await deps.store.grants.markAnnounced(g.id))) continue;
    await auditGrantEnded(deps, g);
    result.grantsEnded.push({
      channelId: g.channelId,
      text: msg`${tone("locked")} Grant ${code(g.id)} ended: ${user(g.userId)} no longer has role ${strong(g.role)}.`,
    });
  }
  return result;
}
