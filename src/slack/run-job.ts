import { join } from "node:path";
import type { Action } from "../core/action.ts";
import { auditOutcome, errorCode } from "../core/audit.ts";
import type { DispatchDeps, JobPlan } from "../core/dispatch.ts";
import { BerthError, publicMessage } from "../core/errors.ts";
import { suspended, takenOver } from "../core/job-context.ts";
import type { JobRegistry, LiveJob } from "../core/jobs.ts";
import { safeRegExp } from "../core/policy.ts";
import { createRedactor, redactAction } from "../core/redact.ts";
import type { StoredResume } from "../core/resume.ts";
import { cursorKeeper } from "./cursor-keeper.ts";
import { slackLimits } from "./limits.ts";
import type { Outbox } from "./outbox.ts";
import { type CardState, renderCard, renderJobOverflow, toMrkdwn } from "./render.ts";
import { backfillSpool } from "./spool-backfill.ts";
import { createThread, type ThreadResult } from "./thread.ts";

export type RunJobDeps = Pick<DispatchDeps, "store" | "policy"> & {
  slash: string;
  outbox: Outbox;
  jobs: JobRegistry;
  spoolDir: string;
  maxThreadMessages?: number;
  /** Least time between two progress edits of one card; status changes and the end are always sent. */
  cardEveryMs?: number;
  clock?: () => number;
  log?: (event: string, fields: Record<string, unknown>) => void;
  /** Seconds from an output line being read to Slack accepting the thread reply carrying it (berth_line_lag_seconds). */
  lineLag?: (seconds: number) => void;
  /** A follow-up's action as a button value (core/choices.ts); without it, finished cards offer none. */
  choiceValue?: ((action: Action, maxChars: number) => string) | undefined;
};

export type JobStart = { ok: true; done: Promise<void> } | { ok: false; error: unknown };

/**
 * Posts the job card, then runs the job and renders its events: status into the card, lines into the thread.
 * Resolves `ok: false` when the card cannot be posted (bot not in the channel…): then nothing was run.
 */
export async function runJob(plan: JobPlan, deps: RunJobDeps): Promise<JobStart> {
  const clock = deps.clock ?? Date.now;
  const slash = deps.slash;
  const resumed = plan.resumed;
  const started = resumed?.startedAt ?? clock();
  const card: CardState = {
    jobId: plan.id,
    summary: plan.summary,
    userId: plan.actor.userId,
    host: plan.host,
    state: resumed ? "running" : "starting",
    status: resumed ? "Carrying on after berth restarted…" : "Starting…",
    lines: resumed?.lines ?? 0,
    elapsedMs: clock() - started,
    stopLabel: plan.stopLabel,
    note: resumed ? resumedNote(resumed.lines) : undefined,
  };
  const channel = plan.actor.channelId;
  const record = {
    id: plan.id,
    kind: plan.action.kind,
    userId: plan.actor.userId,
    channelId: channel,
    channelName: plan.actor.channelName,
    host: plan.host,
    summary: plan.summary,
  };
  // A job carried on is taken (its lease) before its card is touched: another replica may have it already.
  let job: LiveJob | undefined;
  if (resumed) {
    job = await deps.jobs.start({ ...record, messageTs: plan.cardTs ?? null }, { resumed: true });
    if (!job) return { ok: false, error: new BerthError("CONFLICT", `Job ${plan.id} is carried by another berth replica.`) };
  }
  let ts: string;
  try {
    if (plan.cardTs) {
      ts = plan.cardTs;
      await deps.outbox.update(channel, ts, renderCard(card));
    } else {
      ts = await deps.outbox.post(channel, renderCard(card));
    }
  } catch (error) {
    if (job) await deps.jobs.release(plan.id);
    await auditOutcome(deps, {
      requestId: plan.requestId,
      actor: plan.actor,
      action: plan.action,
      host: plan.host,
      outcome: `not run: ${slackError(error)}`,
    });
    return { ok: false, error };
  }
  // What the next berth needs to carry this job on; the container's part comes with the job's "resumable" event.
  const stored: StoredResume = {
    requestId: plan.requestId,
    action: redactAction(plan.action) as StoredResume["action"],
    channelName: plan.actor.channelName,
    approvedBy: plan.approvedBy,
    messages: resumed?.messages ?? 0,
  };
  job ??= await deps.jobs.start({ ...record, messageTs: ts, resume: stored });
  if (!job) return { ok: false, error: new BerthError("INTERNAL", `Job ${plan.id} could not be registered.`) };
  const live = job;
  deps.log?.(resumed ? "job resumed" : "job started", {
    requestId: plan.requestId,
    job: plan.id,
    kind: plan.action.kind,
    host: plan.host,
    user: plan.actor.userId,
    ...(resumed && { fromLine: resumed.lines }),
  });
  const spoolPath = join(deps.spoolDir, `${plan.id}.log`);
  // Carried on from another replica (or a lost disk): the lines before the cursor are read again into the spool, so
  // the full log is whole; they are not posted again.
  if (resumed && plan.backfill) {
    await backfillSpool(spoolPath, resumed.lines, plan.backfill(live.controller.signal)).catch((error: unknown) =>
      deps.log?.("full log not rebuilt", { job: plan.id, err: error }),
    );
  }
  const durable = cursorKeeper(live, deps);
  const lag = lineLagMeter(durable.outbox, deps.lineLag);
  const thread = createThread({
    outbox: lag.outbox,
    channel,
    threadTs: ts,
    spoolPath,
    filename: `${plan.id}.log`,
    maxMessages: deps.maxThreadMessages,
    resume: resumed && { lines: resumed.lines, messages: resumed.messages },
  });
  durable.attach(thread, stored);
  const secrets = plan.action.kind === "container.run" ? plan.action.env.map((e) => e.value) : [];
  const extra = deps.policy().redact.flatMap((p) => safeRegExp(p) ?? []);
  let redact = createRedactor(secrets, extra);
  let lastCard = 0;
  const showCard = async (force: boolean): Promise<void> => {
    if (!force && clock() - lastCard < (deps.cardEveryMs ?? 5000)) return;
    lastCard = clock();
    card.elapsedMs = clock() - started;
    card.lines = thread.result.lines;
    card.tail = thread.result.capped ? thread.tail() : undefined;
    await durable.outbox.update(channel, ts, renderCard(card)).catch((error: unknown) => {
      deps.log?.("card update failed", { requestId: plan.requestId, job: plan.id, error: slackError(error) });
    });
  };

  const done = (async () => {
    let outcome: "succeeded" | "failed" | "cancelled" = "failed";
    let exitCode: number | null = null;
    let text = "";
    let end: NonNullable<StoredResume["ended"]> | undefined;
    try {
      // A title cut to fit: the full command is the thread's first reply (a resumed job's thread has it already).
      if (!resumed) await thread.preface(renderJobOverflow(plan.summary));
      for await (const event of plan.run(live.controller.signal)) {
        switch (event.type) {
          case "status":
            card.state = "running";
            card.status = redact(toMrkdwn(event.text, slash));
            void showCard(true);
            break;
          case "line": {
            const readAt = performance.now();
            const before = thread.result.drained;
            await thread.write({ stream: event.line.stream, text: redact.line(event.line) });
            durable.handed(event.line, thread.result.lines);
            if (!thread.result.capped && thread.result.drained === before) lag.buffered(readAt);
            void showCard(false);
            break;
          }
          case "resumable":
            stored.point = event.resume;
            await durable.save().catch((error: unknown) => deps.log?.("job resume details not stored", { job: plan.id, err: error }));
            break;
          case "mask":
            redact = createRedactor([...secrets, ...event.values], extra);
            break;
          case "drain":
            thread.drain(`:fast_forward: ${toMrkdwn(event.text, slash)}`);
            break;
          case "notice":
            await thread.notice(`:information_source: ${redact(toMrkdwn(event.text, slash))}`);
            break;
          case "end":
            end = { outcome: event.outcome, exitCode: event.exitCode, text: event.text, choices: event.choices };
            outcome = event.outcome;
            exitCode = event.exitCode ?? null;
            text = redact(toMrkdwn(event.text, slash));
            break;
        }
      }
    } catch (error) {
      // Stopped by berth's shutdown (a pull or a call cut short): the next berth carries the job on.
      if (!suspended(live.controller.signal)) {
        outcome = live.controller.signal.aborted ? "cancelled" : "failed";
        const said = publicMessage(error, plan.requestId.slice(0, 8));
        end = { outcome, text: said };
        text = redact(toMrkdwn(said, slash));
        deps.log?.("job failed", { job: plan.id, requestId: plan.requestId, err: error, code: errorCode(error) });
      }
    }
    if (takenOver(live.controller.signal)) {
      // Another replica carries the job on from the stored cursor: nothing more is written here, to Slack or the store.
      durable.stop();
      await thread.pause().catch(() => undefined);
      await deps.jobs.release(plan.id, { keepLease: true });
      deps.log?.("job taken over", { requestId: plan.requestId, job: plan.id, lines: thread.result.lines });
      return;
    }
    if (suspended(live.controller.signal) && !text) {
      // berth is shutting down: what was read is posted (or spooled) and the cursor recorded; the container runs on.
      await thread.pause();
      await durable.checkpoint();
      durable.stop();
      card.state = "starting";
      card.status = "berth is restarting; this job continues when it is back.";
      card.stopLabel = null;
      card.note = undefined;
      await showCard(true);
      await deps.jobs.release(plan.id);
      deps.log?.("job suspended", { requestId: plan.requestId, job: plan.id, lines: thread.result.lines });
      return;
    }
    durable.stop();
    // The end is stored before the thread closes (its full log's upload may take long, or fail and be retried): a
    // berth stopped from here on leaves the next one (or another replica) the same outcome to show and the upload to
    // finish from the spool, even when the container is gone by then (--rm). The job stays unfinished until then.
    stored.ended = end ?? { outcome, exitCode: exitCode ?? undefined, text: [outcome === "cancelled" ? "Stopped." : "Ended."] };
    await durable.save().catch((error: unknown) => deps.log?.("job end not stored", { job: plan.id, err: error }));
    const result = await thread.close(plan.summary);
    card.state = outcome;
    card.status = text || (outcome === "cancelled" ? "Stopped." : "Ended.");
    const choiceValue = deps.choiceValue;
    card.followUps =
      choiceValue && end?.choices?.map((c) => ({ label: c.label, value: choiceValue(c.action, slackLimits.buttonValueChars) }));
    const noteNow = () => [resumed && resumedNote(resumed.lines), fullLogNote(result)].filter(Boolean).join(" ") || undefined;
    card.note = noteNow();
    await showCard(true);
    if (result.uploadPending) {
      await result.uploadPending;
      // The card said "full log pending"; now it says whether the upload landed (or why berth gave up).
      card.note = noteNow();
      await showCard(true);
    }
    if (!(await deps.jobs.finish(plan.id, outcome, exitCode, card.status))) {
      deps.log?.("job outcome not recorded: another replica carries it", { requestId: plan.requestId, job: plan.id });
      return;
    }
    deps.log?.("job ended", {
      requestId: plan.requestId,
      job: plan.id,
      kind: plan.action.kind,
      host: plan.host,
      outcome,
      exitCode,
      lines: result.lines,
      ms: clock() - started,
    });
    await auditOutcome(deps, {
      requestId: plan.requestId,
      actor: plan.actor,
      action: plan.action,
      host: plan.host,
      outcome: `${outcome}${exitCode === null ? "" : ` (exit ${exitCode})`}`,
      messageTs: ts,
      approver: plan.approvedBy,
    });
  })();
  return { ok: true, done };
}

const resumedNote = (lines: number) => `Carried on after berth restarted, from line ${lines.toLocaleString("en")}.`;

/** The card's note about the full log: attached, pending, or why not (and the lines Slack or the disk did not take). */
function fullLogNote(result: ThreadResult): string | undefined {
  const unposted = result.failedPosts ? ` ${result.failedPosts} thread message(s) could not be posted.` : "";
  const unspooled = result.unspooled ? ` ${result.unspooled.toLocaleString("en")} lines could not be kept on berth's disk.` : "";
  const lines = result.lines.toLocaleString("en");
  if (result.uploaded) return `Full log (${lines} lines) attached in the thread.${unposted}${unspooled}`;
  if (result.uploadPending && !result.uploadError)
    return `Full log pending: its upload failed and berth is retrying.${unposted}${unspooled}`;
  if (result.uploadError)
    return `The full log could not be uploaded (${result.uploadError}); ${lines} lines were read.${unposted}${unspooled}`;
  return `${unposted}${unspooled}`.trim() || undefined;
}

export function slackError(error: unknown): string {
  const data = (error as { data?: { error?: unknown } }).data;
  return typeof data?.error === "string" ? data.error : (error as Error).message;
}

/**
 * Measures berth_line_lag_seconds through the thread's outbox: a line is counted once its last piece sits in the
 * thread's buffer, and the next code-block reply the thread posts carries it. Other posts (notices, the "limit
 * reached" note, which replaces the buffered lines) carry no lines, so what was waiting is dropped unmeasured.
 */
function lineLagMeter(outbox: Outbox, observe: ((seconds: number) => void) | undefined) {
  let waiting: number[] = [];
  if (!observe) return { outbox, buffered: (_readAt: number) => undefined };
  return {
    outbox: {
      ...outbox,
      post(channel: string, message: Parameters<Outbox["post"]>[1]) {
        const carried = waiting;
        waiting = [];
        const posted = outbox.post(channel, message);
        if (message.text.startsWith("```")) {
          void posted.then(
            () => {
              const now = performance.now();
              for (const at of carried) observe((now - at) / 1000);
            },
            () => undefined,
          );
        }
        return posted;
      },
    } satisfies Outbox,
    buffered: (readAt: number) => {
      waiting.push(readAt);
    },
  };
}
