import type { AuditRecord } from "../store/store.ts";
import type { ActionOf } from "./action.ts";

/** `audit [--since] [--user] [--host]`: the newest matching records, one line each, newest last. */
export function auditReport(records: readonly AuditRecord[], q: ActionOf<"audit.query">, now: number, limit = 25): string {
  const since = q.sinceSeconds === undefined ? 0 : now - q.sinceSeconds * 1000;
  const matching = records.filter((r) => r.at >= since && (!q.user || r.userId === q.user) && (!q.host || r.host === q.host));
  if (!matching.length) return "No audit records match.";
  const shown = matching.slice(-limit);
  const lines = shown.map((r) => {
    const kind = (r.action as { kind?: string } | null)?.kind ?? "?";
    const verdict =
      r.type === "outcome"
        ? `→ ${r.outcome}`
        : r.type === "approval"
          ? `${r.outcome} by <@${r.approver}>`
          : r.type === "grant" || r.type === "policy"
            ? `${r.outcome}`
            : `${r.decision} (${r.rule})`;
    return `\`#${r.seq}\` ${new Date(r.at).toISOString().slice(0, 19)}Z <@${r.userId}> ${kind}${r.host ? ` on ${r.host}` : ""} ${verdict}${r.grant ? ` [grant ${r.grant}]` : ""}`;
  });
  const more =
    matching.length > shown.length ? `\n…and ${matching.length - shown.length} older; narrow with --since, --user or --host.` : "";
  return `*Audit log* (${matching.length} record${matching.length === 1 ? "" : "s"})\n${lines.join("\n")}${more}`;
}
