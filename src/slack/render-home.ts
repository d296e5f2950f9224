import type { types } from "@slack/bolt";
import { formatDuration } from "../core/duration.ts";
import type { HomeContent, HomeJob, HomeRequest } from "../core/home.ts";
import { channel, code, command, type Message, msg, user } from "../core/message.ts";
import { fit, slackLimits } from "./limits.ts";
import { neutralizeMrkdwn } from "./mrkdwn-escape.ts";
import { approveActionId, denyActionId, notifyLogsActionId, stopActionId, toMrkdwn, toneEmoji } from "./render.ts";

type KnownBlock = types.KnownBlock;

/** A Home view: Slack allows 100 blocks (docs/reference/slack-platform.md §5.1). */
export const homeLimits = { blocks: 100, jobs: 15, approvals: 15, grants: 10 } as const;

/** The block_id of a Home job's buttons: a click names the job it came from (app.ts authorizes it in that job's channel). */
export const homeJobBlock = (jobId: string) => `home-job:${jobId}`;
export const homeRequestBlock = (id: string) => `home-request:${id}`;

export type HomeView = { type: "home"; blocks: KnownBlock[] };

/**
 * The Home tab of one person, phone-first: one section per thing with its buttons right under it, no columns. `notice`
 * is the answer to their last tap in Home (mrkdwn already rendered): Home has no place for an ephemeral reply.
 */
export function renderHome(content: HomeContent, slash: string, notice?: string): HomeView {
  const md = (m: Message) => neutralizeMrkdwn(toMrkdwn(m, slash));
  const section = (text: string): KnownBlock => ({ type: "section", text: { type: "mrkdwn", text: fit(text, slackLimits.sectionChars) } });
  const context = (text: string): KnownBlock => ({
    type: "context",
    elements: [{ type: "mrkdwn", text: fit(text, slackLimits.sectionChars) }],
  });
  const heading = (text: string): KnownBlock => ({
    type: "header",
    text: { type: "plain_text", text: fit(text, slackLimits.headerChars) },
  });
  const blocks: KnownBlock[] = [heading("berth")];
  if (notice) blocks.push(section(fit(notice, slackLimits.sectionChars)));
  if (content.type === "no-role") {
    blocks.push(section(md(content.text)));
    return { type: "home", blocks };
  }
  const at = content.at;
  blocks.push(context(`Updated ${clock(at)} UTC · ${md(msg`${command("help")} lists every command`)}`));

  if (content.hosts) {
    blocks.push({ type: "divider" }, heading("Hosts"));
    const lines = content.hosts.map((h) => `${toneEmoji[h.healthy ? "healthy" : "unreachable"]} *${md([h.name])}* — ${md(h.detail)}`);
    blocks.push(section(lines.length ? lines.join("\n") : "No hosts are configured."));
  }

  blocks.push({ type: "divider" }, heading(content.jobs.all ? "Running jobs (everyone's)" : "Your running jobs"));
  if (!content.jobs.list.length) blocks.push(context(content.jobs.all ? "No jobs are running." : "None of your jobs is running."));
  for (const j of content.jobs.list.slice(0, homeLimits.jobs)) blocks.push(...jobBlocks(j, at, md));
  more(blocks, content.jobs.list.length - homeLimits.jobs, md(msg`${command("jobs")} lists them all`), context);

  if (content.approvals.length) {
    blocks.push({ type: "divider" }, heading("Waiting for your approval"));
    for (const r of content.approvals.slice(0, homeLimits.approvals)) blocks.push(...requestBlocks(r, md));
    more(blocks, content.approvals.length - homeLimits.approvals, "see their cards in their channels", context);
  }

  const { held, given } = content.grants;
  if (held.length || given.length) {
    blocks.push({ type: "divider" }, heading("Break-glass grants"));
    const lines = [
      ...held.map((g) =>
        md(msg`${code(g.id)} you have role ${code(g.role)} until ${clock(g.expiresAt)} UTC (${left(g.expiresAt, at)} left) — ${g.reason}`),
      ),
      ...given.map((g) =>
        md(msg`${code(g.id)} ${user(g.userId)} has role ${code(g.role)}, approved by you, until ${clock(g.expiresAt)} UTC`),
      ),
    ];
    blocks.push(section(lines.slice(0, homeLimits.grants).join("\n")));
  }
  return { type: "home", blocks: blocks.slice(0, homeLimits.blocks) };
}

function jobBlocks(j: HomeJob, at: number, md: (m: Message) => string): KnownBlock[] {
  // The summary is the card's title, which already names the host.
  const text = md(msg`${code(j.id)} ${j.summary} — ${user(j.userId)} in ${channel(j.channelId)}, ${formatDuration(at - j.startedAt)}`);
  const buttons: types.Button[] = [];
  if (j.stoppable) {
    buttons.push({
      type: "button",
      action_id: stopActionId,
      text: { type: "plain_text", text: "Stop" },
      style: "danger",
      value: j.id,
      accessibility_label: `Stop job ${j.id}`,
    });
  }
  if (j.logs) {
    buttons.push({
      type: "button",
      action_id: notifyLogsActionId,
      text: { type: "plain_text", text: "Logs" },
      value: fit(JSON.stringify(j.logs), slackLimits.buttonValueChars, ""),
      accessibility_label: `Follow the logs of ${j.logs.container}`,
    });
  }
  const out: KnownBlock[] = [{ type: "section", text: { type: "mrkdwn", text: fit(text, slackLimits.sectionChars) } }];
  if (buttons.length) out.push({ type: "actions", block_id: homeJobBlock(j.id), elements: buttons });
  return out;
}

function requestBlocks(r: HomeRequest, md: (m: Message) => string): KnownBlock[] {
  const text = md(
    msg`${code(r.id)} ${r.summary} — asked by ${user(r.requester)} in ${channel(r.channelId)}, expires ${clock(r.expiresAt)} UTC`,
  );
  return [
    { type: "section", text: { type: "mrkdwn", text: fit(text, slackLimits.sectionChars) } },
    {
      type: "actions",
      block_id: homeRequestBlock(r.id),
      elements: [
        {
          type: "button",
          action_id: approveActionId,
          text: { type: "plain_text", text: "Approve" },
          style: "primary",
          value: r.id,
          // Home shows the request's title only; its card, in its channel, shows all of it.
          confirm: {
            title: { type: "plain_text", text: "Approve it?" },
            text: { type: "mrkdwn", text: fit(md(msg`${code(r.id)} ${r.summary}`), 300) },
            confirm: { type: "plain_text", text: "Approve" },
            deny: { type: "plain_text", text: "Back" },
          },
        },
        { type: "button", action_id: denyActionId, text: { type: "plain_text", text: "Deny" }, style: "danger", value: r.id },
      ],
    },
  ];
}

function more(blocks: KnownBlock[], hidden: number, what: string, context: (text: string) => KnownBlock): void {
  if (hidden > 0) blocks.push(context(`…and ${hidden} more: ${what}.`));
}

const clock = (ms: number) => new Date(ms).toISOString().slice(11, 16);
const left = (until: number, at: number) => formatDuration(Math.max(0, until - at));
