import { tmpdir } from "node:os";
import type { Action, Actor } from "../core/action.ts";
import type { JobPlan, Outcome, SweepResult } from "../core/dispatch.ts";
import type { Reply, Text } from "../core/events.ts";
import { code, join, type Message, msg } from "../core/message.ts";
import type { CommandOutcome } from "../metrics.ts";
import type { PendingRecord, StorePort } from "../store/port.ts";
import { deliverTimeline } from "./deliver-timeline.ts";
import { fit, slackLimits } from "./limits.ts";
import { neutralizeMrkdwn } from "./mrkdwn-escape.ts";
import type { Outbox } from "./outbox.ts";
import { renderGateCard, renderGateOverflow, renderHostPicker, renderHostReminder, toMrkdwn } from "./render.ts";
import { maxChoiceButtons, renderChoices } from "./render-choices.ts";
import { renderRows } from "./render-rows.ts";
import { type JobStart, slackError } from "./run-job.ts";
import type { WorkQueue } from "./work-queue.ts";

/** Slack's response_url for one request or click: ephemeral answers to the person who asked. */
export type Respond = (message: {
  response_type: "ephemeral";
  text: string;
  replace_original?: boolean;
  blocks?: unknown[];
}) => Promise<unknown>;

export type DeliverDeps = {
  outbox: Outbox;
  store: Pick<StorePort, "pending">;
  slash: string;
  usergroups: () => readonly string[];
  log: (event: string, fields: Record<string, unknown>) => void;
  /** Posts a job's card and starts it (run-job.ts). */
  runJob: (plan: JobPlan) => Promise<JobStart>;
  work: Pick<WorkQueue, "keep">;
  /** A choice's action as a value that fits `maxChars` (core/choices.ts). */
  choiceValue: (action: Action, maxChars: number) => string;
  /** The workspace's URL, for links to cards in a timeline (deliver-timeline.ts). */
  workspaceUrl?: (() => Promise<string | undefined>) | undefined;
  /** Where a timeline's file is written before its upload (the spool directory). */
  scratchDir?: string | undefined;
};

const notInChannel = ["not_in_channel", "channel_not_found", "is_archived"];

/** Why Slack refused berth's message, and what to do about it. */
export const refusal = (error: unknown): Message => {
  const why = slackError(error);
  return notInChannel.includes(why)
    ? msg`berth is not a member of this channel, so it cannot post here (${why}). Invite it with ${code("/invite @berth")} and try again.`
    : msg`Slack refused berth's message (${why}). Try again; if it persists, tell the operator.`;
};

/** How a request ended, for berth_commands_total and its closing log line. */
export function classify(outcome: Outcome): CommandOutcome {
  switch (outcome.type) {
    case "reply":
      return outcome.result ?? "reply";
    case "job":
      return "job";
    case "gate":
      return "gate";
    case "pick":
    case "timeline":
      return "reply";
    case "decided":
      return outcome.next ? classify(outcome.next) : "reply";
  }
}

const decidedCard = (p: PendingRecord, outcome: string) =>
  renderGateCard({
    id: p.id,
    gate: p.gate,
    requester: p.requester,
    summary: p.summary,
    expiresAt: p.expiresAt,
    gateRule: p.gateRule,
    outcome,
  });

/** Turns what the core decided into Slack calls: ephemeral answers, channel posts, gate cards, job cards. */
export function createDeliver(deps: DeliverDeps) {
  const { outbox } = deps;
  const mrkdwn = (text: Text) => toMrkdwn(text, deps.slash);
  // Whatever the core composed is checked once more here: no special mention or link gets out under berth's name.
  const safe = (text: Text) => fit(neutralizeMrkdwn(mrkdwn(text), deps.usergroups()), slackLimits.textChars);

  // A tap runs as the tapper, whoever sees it.
  const withChoices = (reply: Reply) => {
    const choices = reply.choices ?? [];
    const max = choices.length <= maxChoiceButtons ? slackLimits.buttonValueChars : slackLimits.optionValueChars;
    return renderChoices(
      safe(reply.text),
      choices.map((c) => ({ label: c.label, value: deps.choiceValue(c.action, max) })),
    );
  };

  // A list whose lines each carry a tap (`changes`): to the person who asked alone, like choices.
  const withRows = (reply: Reply) =>
    renderRows(
      safe(reply.text),
      (reply.rows ?? []).map((r) => ({
        text: safe(r.text),
        choice: r.choice && { label: r.choice.label, value: deps.choiceValue(r.choice.action, slackLimits.buttonValueChars) },
      })),
    );

  /**
   * Renders a pipeline outcome into Slack. `fromCard` is set when a button on a gate card was clicked. Resolves false
   * when nothing happened because Slack refused berth's message (not in the channel…).
   */
  async function outcome(o: Outcome, actor: Actor, respond: Respond, fromCard = false): Promise<boolean | undefined> {
    const ephemeral = (text: Text) => respond({ response_type: "ephemeral", replace_original: false, text: safe(text) });
    if (o.type === "gate") {
      const { view } = o;
      const card = renderGateCard({
        ...view.pending,
        preview: view.preview.map(mrkdwn),
        dangerous: view.dangerous,
        approvers: view.pending.gate === "approval" ? view.approvers : undefined,
      });
      // A request too long for its card is shown in full right after it: an approver sees exactly what will run.
      const overflow = renderGateOverflow({ ...view.pending, preview: view.preview.map(mrkdwn) });
      if (view.pending.gate === "confirm") {
        await respond({ response_type: "ephemeral", replace_original: false, ...card });
        for (const text of overflow) await respond({ response_type: "ephemeral", replace_original: false, text });
        return;
      }
      try {
        const ts = await outbox.post(actor.channelId, card);
        await deps.store.pending.setMessageTs(view.pending.id, ts);
        // Not shown in full, not approvable: a failure here cancels the request like a failed card.
        for (const text of overflow) await outbox.post(actor.channelId, { text, thread_ts: ts });
        const by = view.approvers.length ? join(view.approvers, ", ") : ["a second person"];
        await ephemeral(msg`Your request ${code(view.pending.id)} waits for approval by ${by}; the card above shows its state.`);
      } catch (error) {
        await deps.store.pending.decide(view.pending.id, "cancelled", "berth").catch(() => false);
        await ephemeral(msg`Nothing was requested. ${refusal(error)}`);
        return false;
      }
      return;
    }
    if (o.type === "pick") {
      const picker = renderHostPicker({ id: o.id, text: mrkdwn(o.text), hosts: o.hosts });
      return void (await respond({ response_type: "ephemeral", replace_original: false, ...picker }));
    }
    if (o.type === "decided") {
      const p = o.pending;
      const card = decidedCard(p, mrkdwn(o.card));
      if (fromCard && p.gate === "confirm") await respond({ response_type: "ephemeral", replace_original: true, ...card });
      else if (p.messageTs)
        await outbox
          .update(p.channelId, p.messageTs, card)
          .catch((e: unknown) => deps.log("card update failed", { requestId: o.requestId, error: slackError(e) }));
      if (o.reply) await ephemeral(o.reply.text);
      else if (!fromCard) await ephemeral(o.card);
      if (o.next) return outcome(o.next, { ...actor, channelId: p.channelId, channelName: p.channelName ?? undefined }, respond);
      return;
    }
    if (o.type === "reply") {
      if (o.reply.rows?.length) return void (await respond({ response_type: "ephemeral", replace_original: false, ...withRows(o.reply) }));
      // A change told to the channel offers its taps there (an Undo anyone allowed may press); other answers' taps
      // are for the person who asked.
      const inChannel = o.reply.visibility === "channel";
      if (o.reply.choices?.length && !inChannel)
        return void (await respond({ response_type: "ephemeral", replace_original: false, ...withChoices(o.reply) }));
      if (o.reply.visibility === "ephemeral") return void (await ephemeral(o.reply.text));
      try {
        await outbox.post(actor.channelId, o.reply.choices?.length ? withChoices(o.reply) : { text: safe(o.reply.text) });
      } catch (error) {
        await ephemeral(msg`${o.reply.text}\n${refusal(error)}`);
      }
      return;
    }
    if (o.type === "timeline") {
      const timelineDeps = { ...deps, scratchDir: deps.scratchDir ?? tmpdir() };
      return deliverTimeline(o.timeline, actor, timelineDeps, ephemeral, refusal, o.requestId);
    }
    const started = await deps.runJob(o.plan);
    if (!started.ok) {
      deps.log("job could not start", { requestId: o.plan.requestId, job: o.plan.id, error: slackError(started.error) });
      await ephemeral(msg`Nothing was run. ${refusal(started.error)}`);
      return false;
    }
    // The job streams on its own; its slot among the concurrent requests is freed now.
    deps.work.keep(started.done);
    return true;
  }

  return {
    outcome,
    /** Starts a job berth itself begins (not a command): its card is posted, or `plan.cardTs` is carried on. */
    async startJob(plan: JobPlan): Promise<void> {
      const run = deps.runJob(plan).then((started) => {
        if (!started.ok) deps.log("job could not start", { requestId: plan.requestId, job: plan.id, error: slackError(started.error) });
        return started;
      });
      deps.work.keep(run.then((started) => (started.ok ? started.done : undefined)));
      // Resolves once the job has its lease (or could not start): the scheduler's next scan may offer it again then.
      await run.then(() => undefined);
    },
    /** Edits the cards of requests that expired and announces grants that ended. */
    async swept(result: SweepResult): Promise<void> {
      await Promise.allSettled([
        ...result.expired
          .filter((e) => e.pending.messageTs)
          .map((e) => outbox.update(e.pending.channelId, e.pending.messageTs as string, decidedCard(e.pending, mrkdwn(e.card)))),
        ...result.grantsEnded.map((g) => outbox.post(g.channelId, { text: neutralizeMrkdwn(mrkdwn(g.text)) })),
      ]);
    },
    /** A message berth posts on its own (a deadline reached), in a thread when one is given. */
    async post(channel: string, text: Message, threadTs?: string | null): Promise<string> {
      return outbox.post(channel, { text: safe(text), ...(threadTs && { thread_ts: threadTs }) });
    },
    /** A host's lifetime reminder, with its Extend button, in the host's thread. */
    async remind(channel: string, threadTs: string | null, text: Message, host: { name: string; extendBy: string }): Promise<string> {
      return outbox.post(channel, { ...renderHostReminder(text, host, deps.slash), ...(threadTs && { thread_ts: threadTs }) });
    },
  };
}

export type Deliver = ReturnType<typeof createDeliver>;
