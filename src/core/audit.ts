import type { PendingRecord, StorePort } from "../store/port.ts";
import type { Action, ActionOf, Actor } from "./action.ts";
import { BerthError } from "./errors.ts";
import type { Decision } from "./policy.ts";
import { redactAction } from "./redact.ts";

/**
 * The one builder of audit records: every record of a request (its decision, an approval, a grant, how it ended) is
 * made here, with the action's secrets masked, so the audit log has one shape whatever asked.
 */
type Audited = Pick<StorePort, "audit">;

export type AuditContext = {
  requestId: string;
  actor: Actor;
  action: Action;
  host: string | undefined;
  messageTs?: string;
  approver?: string | undefined;
};

/** A BerthError's code for audit and logs; anything else is berth's own fault. */
export function errorCode(error: unknown): string {
  return error instanceof BerthError ? error.code : "INTERNAL";
}

/** What the policy decided about a request (or, with type "approval", about someone's click on its card). */
export async function auditDecision(
  deps: { store: Audited },
  c: AuditContext & { decision: Decision; type?: "decision" | "approval" },
): Promise<void> {
  await deps.store.audit.append({
    requestId: c.requestId,
    type: c.type ?? "decision",
    userId: c.actor.userId,
    channelId: c.actor.channelId,
    action: redactAction(c.action),
    host: c.host ?? null,
    decision: c.decision.allow ? "allow" : "deny",
    rule:
      c.decision.allow && c.decision.gate !== "none"
        ? `${c.decision.rule}; needs ${c.decision.gate} (${c.decision.gateRule})`
        : c.decision.rule,
    outcome: null,
    messageTs: null,
    grant: c.decision.allow ? (c.decision.grant ?? null) : null,
  });
}

/** Records how an authorized action ended (or that it could not start). */
export async function auditOutcome(deps: { store: Audited }, c: AuditContext & { outcome: string }): Promise<void> {
  await deps.store.audit.append({
    requestId: c.requestId,
    type: "outcome",
    userId: c.actor.userId,
    channelId: c.actor.channelId,
    action: redactAction(c.action),
    host: c.host ?? null,
    decision: null,
    rule: null,
    outcome: c.outcome,
    messageTs: c.messageTs ?? null,
    approver: c.approver ?? null,
  });
}

/** A request refused before it reached the policy (from another workspace): `what` is all that is known of it. */
export async function auditRefusal(
  deps: { store: Audited },
  c: { requestId: string; actor: Actor; what: { kind: string } & Record<string, unknown>; rule: string },
): Promise<void> {
  await deps.store.audit.append({
    requestId: c.requestId,
    type: "decision",
    userId: c.actor.userId,
    channelId: c.actor.channelId,
    action: c.what,
    host: null,
    decision: "deny",
    rule: c.rule,
    outcome: null,
    messageTs: null,
  });
}

/** berth stopped a container at its run-time limit (containers.timeout): recorded for the person who started it. */
export async function auditDeadline(
  deps: { store: Audited },
  c: { requestId: string; userId: string; channelId: string; host: string; container: string; at: string; messageTs: string | null },
): Promise<void> {
  await deps.store.audit.append({
    requestId: c.requestId,
    type: "outcome",
    userId: c.userId,
    channelId: c.channelId,
    action: { kind: "container.stop", host: c.host, container: c.container },
    host: c.host,
    decision: null,
    rule: "containers.timeout",
    outcome: `stopped: run-time limit reached at ${c.at}`,
    messageTs: c.messageTs,
  });
}

/** A gated request was approved, denied or cancelled by `approver`, under the gate's rule and the approver's. */
export async function auditApproval(
  deps: { store: Audited },
  p: PendingRecord,
  c: { action: Action; state: PendingRecord["state"]; rule: string; approver: string },
): Promise<void> {
  await deps.store.audit.append({
    requestId: p.requestId,
    type: "approval",
    userId: p.requester,
    channelId: p.channelId,
    action: redactAction(c.action),
    host: p.host,
    decision: c.state === "approved" ? "allow" : "deny",
    rule: `${p.gateRule}; ${c.rule}`,
    outcome: c.state,
    messageTs: p.messageTs,
    approver: c.approver,
  });
}

/** A gated request nobody decided in time. */
export async function auditExpired(deps: { store: Audited }, p: PendingRecord): Promise<void> {
  await deps.store.audit.append({
    requestId: p.requestId,
    type: "outcome",
    userId: p.requester,
    channelId: p.channelId,
    action: p.action,
    host: p.host,
    decision: null,
    rule: p.gateRule,
    outcome: "expired",
    messageTs: p.messageTs,
  });
}

/** A break-glass grant that starts now, approved on its request's card. */
export async function auditGrantStarted(
  deps: { store: Audited },
  p: PendingRecord,
  c: { action: ActionOf<"grant.request">; grant: string; expiresAt: number; approver: string },
): Promise<void> {
  await deps.store.audit.append({
    requestId: p.requestId,
    type: "grant",
    userId: p.requester,
    channelId: p.channelId,
    action: c.action,
    host: null,
    decision: "allow",
    rule: p.gateRule,
    outcome: `granted ${c.action.role} until ${new Date(c.expiresAt).toISOString()}`,
    messageTs: p.messageTs,
    approver: c.approver,
    grant: c.grant,
  });
}

/** A grant whose time is up. */
export async function auditGrantEnded(
  deps: { store: Audited },
  g: { id: string; userId: string; channelId: string; role: string },
): Promise<void> {
  await deps.store.audit.append({
    requestId: g.id,
    type: "grant",
    userId: g.userId,
    channelId: g.channelId,
    action: { kind: "grant.request", role: g.role },
    host: null,
    decision: null,
    rule: null,
    outcome: `grant ended (${g.role})`,
    messageTs: null,
    grant: g.id,
  });
}

/** A grant ended before its time by `actor` (its holder, its approver, or someone the policy allows it). */
export async function auditGrantRevoked(
  deps: { store: Audited },
  c: { requestId: string; actor: Actor; grant: { id: string; userId: string; role: string; expiresAt: number } },
): Promise<void> {
  const g = c.grant;
  await deps.store.audit.append({
    requestId: c.requestId,
    type: "grant",
    userId: c.actor.userId,
    channelId: c.actor.channelId,
    action: { kind: "grant.revoke", grant: g.id },
    host: null,
    decision: null,
    rule: null,
    outcome: `grant revoked by ${c.actor.userId}: ${g.userId} no longer has role ${g.role} (it was to last until ${new Date(g.expiresAt).toISOString()})`,
    messageTs: null,
    grant: g.id,
  });
}
