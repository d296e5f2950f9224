import type { AuditRecord } from "../store/audit-log.ts";
import { type Action, type ActionKind, ActionSchema } from "./action.ts";
import { type Message, msg, type Part, user } from "./message.ts";

/**
 * `timeline`: what was done through berth in one channel, for an incident's postmortem. Built from the audit log only
 * (what berth recorded is what happened through berth), one entry per request: its decision, approval and outcome
 * folded together, since a reader asks "what did we do", not "which records were written".
 */

/** A message berth posted (a job's card, an approval card): the Slack side turns it into a link. */
export type CardRef = { channel: string; ts: string };

export type TimelineEntry = {
  /** When it was asked (epoch ms), the time of its first record. */
  at: number;
  /** Who asked: a Slack user ID. */
  who: string;
  /** What was asked, as its card's title says it (`stop api on local`), masked like the card. */
  what: string;
  /** What became of it, in order ("approved by @ada", "ok"); empty when the log holds only that it was allowed. */
  result: Message;
  card?: CardRef | undefined;
  /** Refused (by the policy or an approver), failed, or expired: what a reader looks for first. */
  failed: boolean;
};

export type Timeline = {
  channel: string;
  from: number;
  to: number;
  entries: readonly TimelineEntry[];
  counts: { commands: number; approvals: number; denials: number; failures: number; grants: number };
};

/** What a timeline needs besides the records: whose channel, since when, and how the card titles are written. */
export type TimelineQuery = {
  channel: string;
  from: number;
  to: number;
  /** The card title of a recorded action (the handler's summary); the timeline cannot import the handlers (a circle). */
  describe: (action: Action, host: string | undefined) => string;
  /** Masks secrets in what is shown (the policy's `redact:` patterns and the built-in ones). */
  redact: (text: string) => string;
};

export const defaultTimelineSeconds = 24 * 3600;

/** Asking for information is not something done in the incident: these kinds leave no entry. */
const notDone: ReadonlySet<string> = new Set<ActionKind>(["help", "policy.explain", "job.list", "approval.decide", "audit.timeline"]);

/** Outcomes that mean it did not work: a job's failure, an engine error, a card Slack refused, a refusal. */
const failedOutcome = /^(failed|error|not run|refused|expired)|: error: /;

export function buildTimeline(records: readonly AuditRecord[], q: TimelineQuery): Timeline {
  const groups = new Map<string, AuditRecord[]>();
  for (const r of records) {
    if (r.channelId !== q.channel || r.at < q.from || r.at > q.to || r.type === "policy") continue;
    const group = groups.get(r.requestId);
    if (group) group.push(r);
    else groups.set(r.requestId, [r]);
  }
  const counts = { commands: 0, approvals: 0, denials: 0, failures: 0, grants: 0 };
  const entries: TimelineEntry[] = [];
  for (const group of groups.values()) {
    const first = group[0] as AuditRecord;
    const kind = kindOf(first.action);
    if (notDone.has(kind)) continue;
    const entry = entryOf(group, q);
    entries.push(entry);
    if (first.type === "decision") counts.commands++;
    for (const r of group) {
      if (r.type === "approval" && r.outcome === "approved" && r.approver !== r.userId) counts.approvals++;
      if (r.type === "grant" && r.decision === "allow") counts.grants++;
    }
    if (denied(group)) counts.denials++;
    else if (entry.failed) counts.failures++;
  }
  entries.sort((a, b) => a.at - b.at);
  return { channel: q.channel, from: q.from, to: q.to, entries, counts };
}

/** A record whose action no longer reads as today's (written by an older berth): its kind, container and host. */
function fallbackSummary(r: AuditRecord): string {
  const container = (r.action as { container?: unknown } | null)?.container;
  return `${kindOf(r.action)}${typeof container === "string" ? ` ${container}` : ""}${r.host ? ` on ${r.host}` : ""}`;
}

const kindOf = (action: unknown): string => String((action as { kind?: unknown } | null)?.kind ?? "?");

const denied = (group: readonly AuditRecord[]) =>
  group.some((r) => (r.type === "decision" && r.decision === "deny") || (r.type === "approval" && r.outcome === "denied"));

function entryOf(group: readonly AuditRecord[], q: TimelineQuery): TimelineEntry {
  const first = group[0] as AuditRecord;
  const parsed = ActionSchema.safeParse(first.action);
  const what = parsed.success ? q.describe(parsed.data, first.host ?? undefined) : fallbackSummary(first);
  const steps: Message[] = [];
  let failed = false;
  let card: CardRef | undefined;
  for (const r of group) {
    const step = stepOf(r, group, q.redact);
    if (step) steps.push(step);
    if (r.type === "decision" && r.decision === "deny") failed = true;
    if (r.type === "approval" && r.outcome === "denied") failed = true;
    if ((r.type === "outcome" || r.type === "grant") && failedOutcome.test(String(r.outcome))) failed = true;
    // The job's card when there is one (it has the output), else the approval card.
    if (r.messageTs && (r.type === "outcome" || !card)) card = { channel: r.channelId, ts: r.messageTs };
  }
  const result: Part[] = [];
  steps.forEach((s, i) => {
    if (i) result.push(" — ");
    result.push(...s);
  });
  return { at: first.at, who: first.userId, what: q.redact(what), result, card, failed };
}

/** One record's part of the story; undefined for a record that adds nothing a reader needs (a plain allow). */
function stepOf(r: AuditRecord, group: readonly AuditRecord[], redact: (t: string) => string): Message | undefined {
  switch (r.type) {
    case "decision": {
      if (r.decision === "deny") return msg`denied by policy (${redact(String(r.rule))})`;
      const gate = /; needs (confirm|approval)/.exec(String(r.rule))?.[1];
      // A gate nobody answered (yet): what the log knows is that it waited.
      if (gate && !group.some((o) => o.type === "approval" || o.type === "outcome" || o.type === "grant")) {
        return msg`${gate === "approval" ? "waiting for approval" : "not confirmed"}`;
      }
      return undefined;
    }
    case "approval": {
      // An approval click refused (not an approver): the request still waits; it is not a step of its own.
      if (r.outcome === null) return undefined;
      if (r.outcome === "approved" && r.approver === r.userId) return undefined; // confirmed by the requester
      if (r.outcome === "cancelled") return msg`cancelled`;
      return msg`${String(r.outcome)} by ${user(String(r.approver))}`;
    }
    case "outcome":
    case "grant":
      return msg`${redact(String(r.outcome))}`;
    default:
      return undefined;
  }
}
