import type { PolicyChange } from "../core/policy-diff.ts";
import type { ReloadResult } from "../core/policy-reload.ts";
import type { AuditAnchor } from "../store/audit-anchor.ts";
import type { ChainProblem } from "../store/audit-log.ts";
import type { AuditChannel } from "../store/audit-operations.ts";
import { fit, slackLimits } from "./limits.ts";
import type { Outbox } from "./outbox.ts";

/** Messages for the operators' audit channel (BERTH_AUDIT_CHANNEL). Plain text: they are read, grepped and compared. */
type ChannelMessage = { text: string };

const iso = (ms: number) => new Date(ms).toISOString();

export function renderAnchor(a: AuditAnchor): ChannelMessage {
  return {
    text: `:anchor: berth audit anchor: seq ${a.seq} hash ${a.hash} key ${a.keyId ?? "(legacy)"} at ${iso(a.at)}\n_\`npx berth audit verify\` must show a head at or after seq ${a.seq}, with this hash at seq ${a.seq}; anything else means the log was rewritten or cut._`,
  };
}

export function renderAuditAlarm(problem: ChainProblem): ChannelMessage {
  const what = problem.kind === "unknown-key" ? "CANNOT BE VERIFIED" : "TAMPERED";
  return {
    text: `:rotating_light: *berth audit log ${what}*: record ${problem.seq} ${problem.problem}. Nothing was anchored. Run \`npx berth audit verify\` on the host and compare with the last anchor above.`,
  };
}

const mark: Record<PolicyChange["effect"], string> = {
  widens: ":warning: WIDENS",
  "removes-gate": ":rotating_light: REMOVES GATE",
  narrows: "narrows",
  neutral: "",
};

export function renderPolicyReload(result: Extract<ReloadResult, { type: "applied" | "refused" }>): ChannelMessage {
  if (result.type === "refused") {
    return {
      text: fit(
        `:no_entry: *Policy reload REFUSED* — \`${result.path}\`\n${result.reason}\n*The previous policy stays in force.* berth will refuse to START with this file: fix it now.`,
        slackLimits.textChars,
      ),
    };
  }
  const { diff } = result;
  const loud = [
    diff.removesGate &&
      ":rotating_light: *This reload REMOVES GATES* (a confirmation or approval no longer applies, or more people may approve).",
    diff.widens && ":warning: *This reload WIDENS the rules* (more actions, people, images or limits).",
  ].filter(Boolean);
  const shown = diff.changes.slice(0, 40).map((c) => `• ${mark[c.effect] ? `${mark[c.effect]}: ` : ""}${c.text}`);
  const more = diff.changes.length > shown.length ? [`…and ${diff.changes.length - shown.length} more`] : [];
  return {
    text: fit(
      [
        `:scroll: *Policy reloaded* — \`${result.path}\` (sha256 ${result.sha256.slice(0, 12)}): ${diff.summary}`,
        ...loud,
        ...shown,
        ...more,
      ].join("\n"),
      slackLimits.textChars,
    ),
  };
}

/** The audit channel hook for the core (audit-operations.ts): structured values in, rendered posts out. */
export function auditChannel(outbox: Outbox, channel: string): AuditChannel {
  return {
    anchor: (a) => outbox.post(channel, renderAnchor(a)),
    alarm: (problem) => outbox.post(channel, renderAuditAlarm(problem)),
    reload: (result) => outbox.post(channel, renderPolicyReload(result)),
  };
}
