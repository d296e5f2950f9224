import type { AuditRecord } from "../store/audit-log.ts";
import type { ActionOf } from "./action.ts";
import { code, join, type Message, msg, strong, user } from "./message.ts";

/** `audit [--since] [--user] [--host]`: the newest matching records, one line each, newest last. */
export function auditReport(records: readonly AuditRecord[], q: ActionOf<"audit.query">, now: number, limit = 25): Message {
  const since = q.sinceSeconds === undefined ? 0 : now - q.sinceSeconds * 1000;
  const matching = records.filter((r) => r.at >= since && (!q.user || r.userId === q.user) && (!q.host || r.host === q.host));
  if (!matching.length) return msg`No audit records match.`;
  const shown = matching.slice(-limit);
  const lines = shown.map((r) => {
    const kind = (r.action as { kind?: string } | null)?.kind ?? "?";
    const verdict: Message =
      r.type === "outcome"
        ? msg`→ ${String(r.outcome)}`
        : r.type === "approval"
          ? msg`${String(r.outcome)} by ${user(String(r.approver))}`
          : r.type === "grant" || r.type === "policy"
            ? msg`${String(r.outcome)}`
            : msg`${String(r.decision)} (${String(r.rule)})`;
    return msg`${code(`#${r.seq}`)} ${new Date(r.at).toISOString().slice(0, 19)}Z ${user(r.userId)} ${kind}${r.host ? ` on ${r.host}` : ""} ${verdict}${r.grant ? ` [grant ${r.grant}]` : ""}`;
  });
  const more =
    matching.length > shown.length ? msg`\n…and ${matching.length - shown.length} older; narrow with --since, --user or --host.` : [];
  return msg`${strong("Audit log")} (${matching.length} record${matching.length === 1 ? "" : "s"})\n${join(lines)}${more}`;
}
