import { channel, type Message, msg, plainText, strong, user } from "../core/message.ts";
import type { CardRef, Timeline, TimelineEntry } from "../core/timeline.ts";
import { neutralizeMrkdwn } from "./mrkdwn-escape.ts";
import { toMrkdwn } from "./render.ts";

/**
 * A channel's timeline for Slack: the summary posted in the channel (mrkdwn, with links to the cards) and the Markdown
 * file for the postmortem (no Slack markup: people as `@U…`, channels as `#C…`, links as Markdown links).
 */

/**
 * A message's permalink, from the workspace's URL (auth.test's `url`) in the form chat.getPermalink answers for a
 * message outside a thread: `https://team.slack.com/archives/C…/p` + its ts without the dot. Built rather than asked
 * for: one call per card would spend Slack's budget on a list that can have hundreds. Undefined for anything that is
 * not a channel ID and a ts, so a link never carries text from elsewhere.
 */
export function permalink(workspaceUrl: string | undefined, ref: CardRef): string | undefined {
  if (!workspaceUrl || !/^https:\/\/[a-z0-9.-]+\/?$/i.test(workspaceUrl)) return undefined;
  if (!/^[CGD][A-Z0-9]{2,}$/.test(ref.channel) || !/^\d+\.\d+$/.test(ref.ts)) return undefined;
  return `${workspaceUrl.replace(/\/?$/, "/")}archives/${ref.channel}/p${ref.ts.replace(".", "")}`;
}

/** The file's name: "timeline-", the channel ID, the UTC day the timeline ends, then ".md". */
export const timelineFilename = (t: Timeline): string => `timeline-${t.channel}-${iso(t.to).slice(0, 10)}.md`;

const iso = (at: number) => new Date(at).toISOString();
const stamp = (at: number) => iso(at).slice(0, 16).replace("T", " ");

/** `12:03`, or `2026-12-05 23:58` when the timeline spans more than one UTC day (a bare time would be ambiguous). */
const timeOf = (t: Timeline, at: number) => (iso(t.from).slice(0, 10) === iso(t.to).slice(0, 10) ? iso(at).slice(11, 16) : stamp(at));

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** "5 commands, 1 approval, 1 denied, 2 failed, 0 grants": what a reader wants to know before reading on. */
function countsLine(t: Timeline): string {
  const c = t.counts;
  return [
    plural(c.commands, "command"),
    plural(c.approvals, "approval"),
    `${c.denials} denied`,
    `${c.failures} failed`,
    ...(c.grants ? [plural(c.grants, "grant")] : []),
  ].join(", ");
}

const entryMessage = (t: Timeline, e: TimelineEntry): Message =>
  msg`${timeOf(t, e.at)} ${user(e.who)} ${e.what}${e.result.length ? msg` — ${e.result}` : []}`;

/** Room left for the "…and N more" line within Slack's 4,000 characters. */
const summaryChars = 3600;

/** The summary posted in the channel: counts, then one line per entry (as many as fit), each with its card's link. */
export function renderTimelineSummary(
  t: Timeline,
  o: { slash: string; usergroups: readonly string[]; workspaceUrl: string | undefined },
): string {
  const head = neutralizeMrkdwn(
    toMrkdwn(msg`${strong("Timeline")} of ${channel(t.channel)}, ${stamp(t.from)} to ${stamp(t.to)} UTC: ${countsLine(t)}`, o.slash),
    o.usergroups,
  );
  const lines: string[] = [];
  let size = head.length;
  for (const e of t.entries) {
    const link = e.card && permalink(o.workspaceUrl, e.card);
    // Everything but the link went through the escaping every message gets; the link is built from IDs only.
    const line = `${e.failed ? "✗ " : "• "}${neutralizeMrkdwn(toMrkdwn(entryMessage(t, e), o.slash), o.usergroups)}${link ? ` <${link}|card>` : ""}`;
    if (size + line.length + 1 > summaryChars) break;
    lines.push(line);
    size += line.length + 1;
  }
  const rest = t.entries.length - lines.length;
  const more = rest
    ? `\n…and ${rest} more: the file in this thread has all ${t.entries.length}.`
    : "\nThe whole timeline, ready for a postmortem, is the file in this thread.";
  return `${head}\n${lines.join("\n")}${more}`;
}

/** Markdown that reads as plain text wherever it is pasted: its own syntax escaped, line breaks flattened. */
const markdownText = (text: string) => text.replace(/\s*\n\s*/g, " ").replace(/[\\`*_[\]<>|#]/g, (c) => `\\${c}`);

/** The Markdown file: a heading, the counts, and a table of every entry (time, who, what, outcome, card). */
export function renderTimelineMarkdown(t: Timeline, o: { slash: string; workspaceUrl: string | undefined }): string {
  const rows = t.entries.map((e) => {
    const link = e.card && permalink(o.workspaceUrl, e.card);
    const card = link ? `[card](${link})` : e.card ? `message ${e.card.ts}` : "";
    return `| ${timeOf(t, e.at)} | @${markdownText(e.who)} | ${markdownText(e.what)} | ${markdownText(plainText(e.result, o.slash))}${e.failed ? " ✗" : ""} | ${card} |`;
  });
  return [
    `# Timeline of #${t.channel}`,
    "",
    `From ${stamp(t.from)} to ${stamp(t.to)} UTC, from berth's audit log. ${countsLine(t)}.`,
    "People are shown by Slack member ID (@U…): Slack shows each one's name in their profile.",
    "",
    "| Time (UTC) | Who | What | Outcome | Card |",
    "|---|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
}
