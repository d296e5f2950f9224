import { join } from "node:path";
import { auditOutcome, errorCode } from "../core/audit.ts";
import type { DispatchDeps, JobPlan } from "../core/dispatch.ts";
import { publicMessage } from "../core/errors.ts";
import type { JobRegistry } from "../core/jobs.ts";
import { safeRegExp } from "../core/policy.ts";
import { createRedactor } from "../core/redact.ts";
import type { Outbox } from "./outbox.ts";
import { type CardState, renderCard, toMrkdwn } from "./render.ts";
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
};

export type JobStart = { ok: true; done: Promise<void> } | { ok: false; error: unknown };

/**
 * Posts the job card, then runs the job and renders its events: status into the card, lines into the thread.
 * Resolves `ok: false` when the card cannot be posted (bot not in the channel…): then nothing was run.
 */
export async function runJob(plan: JobPlan, deps: RunJobDeps): Promise<JobStart> {
  const clock = deps.clock ?? Date.now;
  const slash = deps.slash;
  const started = clock();
  const card: CardState = {
    jobId: plan.id,
    summary: plan.summary,
    userId: plan.actor.userId,
    host: plan.host,
    state: "starting",
    status: "Starting…",
    lines: 0,
    elapsedMs: 0,
    stopLabel: plan.stopLabel,
  };
  const channel = plan.actor.channelId;
  let ts: string;
  try {
    if (plan.cardTs) {
      ts = plan.cardTs;
      await deps.outbox.update(channel, ts, renderCard(card));
    } else {
      ts = await deps.outbox.post(channel, renderCard(card));
    }
  } catch (error) {
    auditOutcome(deps, {
      requestId: plan.requestId,
      actor: plan.actor,
      action: plan.action,
      host: plan.host,
      outcome: `not run: ${slackError(error)}`,
    });
    return { ok: false, error };
  }
  const job = deps.jobs.start({
    id: plan.id,
    kind: plan.action.kind,
    userId: plan.actor.userId,
    channelId: channel,
    channelName: plan.actor.channelName,
    host: plan.host,
    summary: plan.summary,
    messageTs: ts,
  });
  deps.log?.("job started", { requestId: plan.requestId, job: plan.id, kind: plan.action.kind, host: plan.host, user: plan.actor.userId });
  const lag = lineLagMeter(deps.outbox, deps.lineLag);
  const thread = createThread({
    outbox: lag.outbox,
    channel,
    threadTs: ts,
    spoolPath: join(deps.spoolDir, `${plan.id}.log`),
    filename: `${plan.id}.log`,
    maxMessages: deps.maxThreadMessages,
  });
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
    await deps.outbox.update(channel, ts, renderCard(card)).catch((error: unknown) => {
      deps.log?.("card update failed", { requestId: plan.requestId, job: plan.id, error: slackError(error) });
    });
  };

  const done = (async () => {
    let outcome: "succeeded" | "failed" | "cancelled" = "failed";
    let exitCode: number | null = null;
    let text = "";
    try {
      for await (const event of plan.run(job.controller.signal)) {
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
            if (!thread.result.capped && thread.result.drained === before) lag.buffered(readAt);
            void showCard(false);
            break;
          }
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
            outcome = event.outcome;
            exitCode = event.exitCode ?? null;
            text = redact(toMrkdwn(event.text, slash));
            break;
        }
      }
    } catch (error) {
      outcome = job.controller.signal.aborted ? "cancelled" : "failed";
      text = redact(toMrkdwn(publicMessage(error, plan.requestId.slice(0, 8)), slash));
      deps.log?.("job failed", { job: plan.id, requestId: plan.requestId, err: error, code: errorCode(error) });
    }
    const result = await thread.close(plan.summary);
    card.state = outcome;
    card.status = text || (outcome === "cancelled" ? "Stopped." : "Ended.");
    card.note = fullLogNote(result);
    await showCard(true);
    deps.jobs.finish(plan.id, outcome, exitCode, card.status);
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
    auditOutcome(deps, {
      requestId: plan.requestId,
      actor: plan.actor,
      action: plan.action,
      host: plan.host,
      outcome: `${outcome}${exitCode === null ? "" : ` (exit ${exitCode})`}`,
      messageTs: ts,
      approver: plan.approvedBy,
    });
    // The card said "full log pending"; once the upload landed (or berth gave up), it says which.
    if (result.uploadPending) {
      await result.uploadPending;
      card.note = fullLogNote(result);
      await showCard(true);
    }
  })();
  return { ok: true, done };
}

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
