import type { types } from "@slack/bolt";
import { formatDuration } from "../core/duration.ts";
import { type Message, plainText, type Tone } from "../core/message.ts";
import { codeBlock, fit, slackLimits } from "./limits.ts";
import { escapeMrkdwn, mention, neutralizeMrkdwn, showInvisible, unescapeMrkdwn } from "./mrkdwn-escape.ts";
import { choiceButtons, type RenderedChoice } from "./render-choices.ts";

type KnownBlock = types.KnownBlock;

/** The one place a tone becomes a glyph. */
export const toneEmoji: Record<Tone, string> = {
  success: ":white_check_mark:",
  failure: ":x:",
  denied: ":no_entry:",
  warning: ":warning:",
  waiting: ":hourglass_flowing_sand:",
  expired: ":alarm_clock:",
  removed: ":wastebasket:",
  alert: ":rotating_light:",
  locked: ":lock:",
  healthy: ":large_green_circle:",
  unreachable: ":red_circle:",
  idle: ":white_circle:",
  extended: ":hourglass:",
  todo: ":white_large_square:",
};

/**
 * A core message as Slack mrkdwn: literal text escaped (it can never become a mention or a link), code in backticks,
 * users, user groups and channels as mentions (only well-formed IDs), commands with the configured slash command.
 */
export function toMrkdwn(message: Message, slash = "/berth"): string {
  return message
    .map((p) => {
      if (typeof p === "string") return escapeMrkdwn(p);
      if ("code" in p) return inlineCode(p.code);
      if ("strong" in p) return `*${escapeMrkdwn(p.strong)}*`;
      if ("pre" in p) return codeBlock(p.pre.split("\n"), slackLimits.sectionChars);
      if ("user" in p) return mention(p.user);
      if ("usergroup" in p) return /^S[A-Z0-9]{2,}$/.test(p.usergroup) ? `<!subteam^${p.usergroup}>` : escapeMrkdwn(p.usergroup);
      if ("channel" in p) return /^[CGD][A-Z0-9]{2,}$/.test(p.channel) ? `<#${p.channel}>` : escapeMrkdwn(p.channel);
      if ("command" in p) return p.heading ? `*${escapeMrkdwn(`${slash} ${p.command}`)}*` : inlineCode(`${slash} ${p.command}`);
      return toneEmoji[p.tone];
    })
    .join("");
}

/** Backticks inside code would end it early: Slack has no escape for them, so they are shown as a look-alike. */
const inlineCode = (text: string) => (text ? `\`${escapeMrkdwn(text.replace(/`/g, "ˋ"))}\`` : "");

export const stopActionId = "berth_stop";
export const hostExtendActionId = "berth_host_extend";

export type CardState = {
  jobId: string;
  summary: string;
  userId: string;
  host: string;
  state: "starting" | "running" | "succeeded" | "failed" | "cancelled";
  status: string;
  lines: number;
  elapsedMs: number;
  tail?: readonly string[] | undefined;
  note?: string | undefined;
  /** "Stop" unless the job says otherwise (host create: "Cancel", which also removes what was made); null: no button. */
  stopLabel?: string | null | undefined;
  /** Once the job ended: what one may do next, as buttons (the job's own choices, their values ready). */
  followUps?: readonly RenderedChoice[] | undefined;
};

const icons: Record<CardState["state"], string> = {
  starting: ":hourglass_flowing_sand:",
  running: ":arrow_forward:",
  succeeded: ":white_check_mark:",
  failed: ":x:",
  cancelled: ":black_square_for_stop:",
};

/**
 * The job card: one message in the channel that says who ran what where, its status, and, while it runs, a Stop
 * button. A short summary first (it is what a phone's notification shows); details live in the thread. Status lines
 * and notes are berth's own words around engine and user text: neutralizeMrkdwn leaves berth's user mentions live and
 * escapes every other `<`, `>`, `&`.
 */
export function renderCard(card: CardState): { text: string; blocks: KnownBlock[] } {
  const running = card.state === "starting" || card.state === "running";
  const title = shortTitle(card.summary, "full command in thread");
  const headline = fit(
    neutralizeMrkdwn(`${icons[card.state]} *${escapeMrkdwn(title)}* · ${mention(card.userId)}`),
    slackLimits.sectionChars,
  );
  const facts = [
    `job \`${card.jobId}\``,
    `host ${escapeMrkdwn(card.host)}`,
    `${card.lines.toLocaleString("en")} line${card.lines === 1 ? "" : "s"}`,
    formatDuration(card.elapsedMs),
  ].join(" · ");
  const blocks: KnownBlock[] = [
    { type: "section", text: { type: "mrkdwn", text: headline } },
    { type: "section", text: { type: "mrkdwn", text: fit(neutralizeMrkdwn(card.status), slackLimits.sectionChars) } },
    { type: "context", elements: [{ type: "mrkdwn", text: facts }] },
  ];
  if (card.tail?.length) {
    blocks.push({ type: "section", text: { type: "mrkdwn", text: codeBlock(card.tail, slackLimits.sectionChars) } });
  }
  if (card.note) {
    blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: fit(neutralizeMrkdwn(card.note), slackLimits.sectionChars) }] });
  }
  if (running && card.stopLabel !== null) {
    blocks.push({
      type: "actions",
      block_id: `job:${card.jobId}`,
      elements: [
        {
          type: "button",
          action_id: stopActionId,
          text: { type: "plain_text", text: card.stopLabel ?? "Stop" },
          style: "danger",
          value: card.jobId,
          accessibility_label: `${card.stopLabel ?? "Stop"} job ${card.jobId}`,
        },
      ],
    });
  }
  if (!running && card.followUps?.length) blocks.push(choiceButtons(card.followUps, `next:${card.jobId}`));
  const text = fit(neutralizeMrkdwn(`${title} — ${card.status}`), slackLimits.textChars);
  return { text, blocks };
}

/**
 * Beyond this, a card's title shows the start of its summary, an ellipsis and where the rest is: titles are read at a
 * glance (and in a phone's notification), and the full command goes below the card.
 */
const titleChars = 300;

/** A card's title: the summary as it is (its command shell-quoted, so it can be copied), or its start and `… (where)`. */
function shortTitle(summary: string, where: string): string {
  const chars = Array.from(summary);
  return chars.length > titleChars ? `${chars.slice(0, titleChars).join("")}… (${where})` : summary;
}

/**
 * What a job card's title could not hold: its full summary, the command as it ran (shell-quoted), in code blocks that
 * each fit one message, for the first replies in the job's thread. Each says what it is, so none reads as output.
 * Empty when the title shows it all.
 */
export function renderJobOverflow(summary: string): string[] {
  if (Array.from(summary).length <= titleChars) return [];
  // A code block ends at the first ```; one inside is broken by a zero-width space.
  // Each piece leaves room for its label and fences: a reply stays within a section's limit.
  const pieces = splitEscaped(summary.replace(/```/g, "``\u200b`"), slackLimits.sectionChars - 48);
  return pieces.map(
    (piece, i) => `Full command${pieces.length > 1 ? ` (part ${i + 1} of ${pieces.length})` : ""}:\n\`\`\`\n${piece}\n\`\`\``,
  );
}

export const approveActionId = "berth_approve";
export const denyActionId = "berth_deny";

type GateCard = {
  id: string;
  gate: "confirm" | "approval";
  requester: string;
  summary: string;
  expiresAt: number;
  gateRule: string;
  preview?: readonly string[];
  approvers?: readonly Message[];
  dangerous?: boolean;
  /** Set once decided: the outcome replaces the buttons. */
  outcome?: string;
};

/**
 * The card of a request that waits: a preview of exactly what will run, then Run/Cancel (confirm, shown only to the
 * requester) or Approve/Deny (approval, in the channel). Once decided, the outcome replaces the buttons.
 */
export function renderGateCard(card: GateCard): { text: string; blocks: KnownBlock[] } {
  const asks = card.gate === "confirm" ? "Confirm before it runs" : `${mention(card.requester)} asks for approval`;
  const icon = card.outcome ? ":ballot_box_with_check:" : card.gate === "confirm" ? ":question:" : ":raised_hand:";
  const where = card.gate === "confirm" ? "full command in the next message" : "full command in thread";
  const summary = showInvisible(card.summary);
  const shortSummary = shortTitle(summary, where);
  const headline = neutralizeMrkdwn(`${icon} ${asks}: *${escapeMrkdwn(shortSummary)}*`);
  const blocks: KnownBlock[] = [{ type: "section", text: { type: "mrkdwn", text: fit(headline, slackLimits.sectionChars) } }];
  if (card.preview?.length) {
    const preview = gatePreview(card.preview);
    blocks.push({
      type: "section",
      text: { type: "mrkdwn", text: fit(preview, slackLimits.sectionChars, `… _(${where})_`) },
    });
  }
  const facts = [`request \`${card.id}\``, `rule \`${escapeMrkdwn(card.gateRule)}\``];
  if (!card.outcome) facts.push(`expires ${new Date(card.expiresAt).toISOString().slice(11, 16)} UTC`);
  if (!card.outcome && card.approvers)
    facts.push(`can approve: ${card.approvers.length ? card.approvers.map((a) => toMrkdwn(a)).join(", ") : "nobody bound here"}`);
  blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: fit(facts.join(" · "), slackLimits.sectionChars) }] });
  if (card.outcome) {
    blocks.push({ type: "section", text: { type: "mrkdwn", text: fit(neutralizeMrkdwn(card.outcome), slackLimits.sectionChars) } });
  } else {
    const confirm = card.dangerous
      ? {
          confirm: {
            title: { type: "plain_text" as const, text: "Are you sure?" },
            text: { type: "mrkdwn" as const, text: fit(escapeMrkdwn(shortSummary), 300) },
            confirm: { type: "plain_text" as const, text: card.gate === "confirm" ? "Run it" : "Approve" },
            deny: { type: "plain_text" as const, text: "Back" },
            style: "danger" as const,
          },
        }
      : {};
    blocks.push({
      type: "actions",
      block_id: `gate:${card.id}`,
      elements: [
        {
          type: "button",
          action_id: approveActionId,
          text: { type: "plain_text", text: card.gate === "confirm" ? "Run" : "Approve" },
          style: "primary",
          value: card.id,
          ...confirm,
        },
        {
          type: "button",
          action_id: denyActionId,
          text: { type: "plain_text", text: card.gate === "confirm" ? "Cancel" : "Deny" },
          value: card.id,
        },
      ],
    });
  }
  const text = fit(
    neutralizeMrkdwn(
      `${card.gate === "confirm" ? "Confirm" : "Approval needed"}: ${shortSummary}${card.outcome ? ` — ${card.outcome}` : ""}`,
    ),
    slackLimits.textChars,
  );
  return { text, blocks };
}

const gatePreview = (preview: readonly string[]) => preview.map((line) => neutralizeMrkdwn(showInvisible(line))).join("\n");

/**
 * What a gate card could not hold: the full request, invisible characters shown, in code blocks that each fit one
 * message. Posted in the approval card's thread (or after a confirm card); empty when the card shows it all.
 */
export function renderGateOverflow(card: Pick<GateCard, "id" | "summary" | "preview">): string[] {
  const preview = card.preview ?? [];
  if (Array.from(showInvisible(card.summary)).length <= titleChars && gatePreview(preview).length <= slackLimits.sectionChars) return [];
  // A code block ends at the first ```; one inside is broken by a zero-width space (shown ones are ⟨U+200B⟩).
  // The preview's values were escaped for mrkdwn where they were composed; here they are shown as the text they are.
  const full = [card.summary, ...preview.map(unescapeMrkdwn)].map(showInvisible).join("\n").replace(/```/g, "``\u200b`");
  const pieces = splitEscaped(full, slackLimits.sectionChars - 8);
  return pieces.map(
    (piece, i) =>
      `${i === 0 ? `Full request \`${card.id}\`, exactly as it will run${pieces.length > 1 ? ` (${pieces.length} parts)` : ""}:\n` : ""}\`\`\`\n${piece}\n\`\`\``,
  );
}

/** Splits text into escaped pieces of at most `max` characters each, without losing or splitting a character. */
function splitEscaped(text: string, max: number): string[] {
  const pieces: string[] = [];
  let piece = "";
  for (const c of text) {
    const escaped = escapeMrkdwn(c);
    if (piece.length + escaped.length > max) {
      pieces.push(piece);
      piece = "";
    }
    piece += escaped;
  }
  if (piece || !pieces.length) pieces.push(piece);
  return pieces;
}

export const hostPickActionId = "berth_host";

/** Asks which host to use, one button per host the person may use; each carries the remembered request's id. */
export function renderHostPicker(p: { id: string; text: string; hosts: readonly string[] }): { text: string; blocks: KnownBlock[] } {
  const buttons = p.hosts.slice(0, 25); // Slack's limit for one actions block
  const rest = p.hosts.slice(buttons.length);
  const blocks: KnownBlock[] = [
    { type: "section", text: { type: "mrkdwn", text: fit(neutralizeMrkdwn(p.text), slackLimits.sectionChars) } },
    {
      type: "actions",
      block_id: `pick:${p.id}`,
      elements: buttons.map((host) => ({
        type: "button" as const,
        action_id: `${hostPickActionId}:${host}`,
        text: { type: "plain_text" as const, text: fit(host, 75) },
        value: `${p.id} ${host}`,
      })),
    },
  ];
  if (rest.length) blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: fit(`Also: ${rest.join(", ")} (use -H)`, 3000) }] });
  return { text: fit(neutralizeMrkdwn(`${p.text} ${p.hosts.join(", ")}`), slackLimits.textChars), blocks };
}

export const notifyLogsActionId = "berth_notify_logs";
export const notifyRestartActionId = "berth_notify_restart";

export type NotificationCard = {
  host: string;
  id: string;
  image: string;
  /** What happened, as notifications.ts says it: "`api` on local exited with code 3". */
  headline: Message;
  count: number;
  firstAt: number;
  lastAt: number;
  startedBy?: string | undefined;
  /** The typed actions behind the buttons, as JSON (parsed and authorized again on click). */
  logsAction: string;
  restartAction: string;
};

/** A crash/OOM/unhealthy notification; repeats edit the same card (the counter), they never post again. */
export function renderNotification(n: NotificationCard): { text: string; blocks: KnownBlock[] } {
  const times = n.count > 1 ? ` · ${n.count}× since ${clock(n.firstAt)}, last ${clock(n.lastAt)} UTC` : ` · ${clock(n.lastAt)} UTC`;
  const headline = neutralizeMrkdwn(`${toneEmoji.alert} ${toMrkdwn(n.headline)}`);
  const facts = [
    `container ${escapeMrkdwn(n.id)}`,
    `image \`${escapeMrkdwn(n.image)}\``,
    ...(n.startedBy ? [`started by ${mention(n.startedBy)}`] : []),
  ];
  return {
    text: fit(escapeMrkdwn(`${plainText(n.headline)}${n.count > 1 ? ` (${n.count}×)` : ""}`), slackLimits.textChars),
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: fit(`${headline}${times}`, slackLimits.sectionChars) } },
      { type: "context", elements: [{ type: "mrkdwn", text: fit(facts.join(" · "), slackLimits.sectionChars) }] },
      {
        type: "actions",
        block_id: `notify:${n.host}:${n.id}`,
        elements: [
          { type: "button", action_id: notifyLogsActionId, text: { type: "plain_text", text: "Logs" }, value: n.logsAction },
          { type: "button", action_id: notifyRestartActionId, text: { type: "plain_text", text: "Restart" }, value: n.restartAction },
        ],
      },
    ],
  };
}

const clock = (ms: number) => new Date(ms).toISOString().slice(11, 19);

/** A host's lifetime reminder (host-lifetime.ts) and a button that extends it by the policy's default lifetime. */
export function renderHostReminder(
  reminder: Message,
  host: { name: string; extendBy: string },
  slash: string,
): { text: string; blocks: KnownBlock[] } {
  const text = toMrkdwn(reminder, slash);
  return {
    text,
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: fit(text, slackLimits.sectionChars) } },
      {
        type: "actions",
        block_id: `host-extend:${host.name}`,
        elements: [
          {
            type: "button",
            action_id: hostExtendActionId,
            text: { type: "plain_text", text: `Extend by ${host.extendBy}` },
            value: host.name,
            accessibility_label: `Extend host ${host.name} by ${host.extendBy}`,
          },
        ],
      },
    ],
  };
}
