/**
 * A runbook as one job: its steps in order, each authorized again as the person just before it runs (the job may
 * take minutes, and the policy may change), audited under the runbook's request id, and carried out by the step's own
 * handler. The card's status is the checklist; a step's answer is a line under it (and in full in the thread), a
 * step that is a job streams into the runbook's thread. The first step that fails stops the runbook, the rest stay
 * unchecked.
 */
import type { Action, ActionKind } from "./action.ts";
import { auditDecision, auditOutcome } from "./audit.ts";
import { publicMessage } from "./errors.ts";
import type { JobEvent, Text } from "./events.ts";
import type { Handler, HandlerContext } from "./handlers/handler.ts";
import { code, join, type Message, msg, type Part, tone } from "./message.ts";
import type { Outcome } from "./pipeline-types.ts";
import type { Expanded } from "./runbook.ts";
import { authorizeStep } from "./runbook-authorize.ts";

type StepState = { status: "todo" | "running" | "done" | "failed"; note?: Message | undefined };

const mark = { todo: "todo", running: "waiting", done: "success", failed: "failure" } as const;

/** The checklist: one line per step, its mark and its command, and what it said under it. */
export function checklist(steps: readonly { line: string }[], states: readonly StepState[]): Message {
  return join(
    steps.map((s, i) => {
      const state = states[i] as StepState;
      const note = state.note?.length ? msg`\n      ${state.note}` : [];
      return msg`${tone(mark[state.status])} ${code(s.line)}${note}`;
    }),
  );
}

/** A message's first line (what fits under a checklist step); the whole of it goes to the thread. */
export function firstLine(message: Message, max = 200): Message {
  const out: Part[] = [];
  let length = 0;
  for (const p of message) {
    if (typeof p === "string") {
      const cut = p.split("\n")[0] as string;
      const room = Math.max(0, max - length);
      out.push(cut.length > room ? `${cut.slice(0, room)}…` : cut);
      length += cut.length;
      if (cut !== p || length >= max) break;
    } else {
      out.push(p);
      length += 10;
    }
  }
  return out;
}

type StepResult = { ok: boolean; note?: Message | undefined };

export async function* runRunbook(
  expanded: Expanded,
  c: HandlerContext,
  handlerFor: (action: Action) => Handler<ActionKind>,
  signal: AbortSignal,
): AsyncGenerator<JobEvent> {
  const { steps, runbook } = expanded;
  const states: StepState[] = steps.map(() => ({ status: "todo" }));
  const status = (): JobEvent => ({ type: "status", text: checklist(steps, states) });
  for (const [i, step] of steps.entries()) {
    if (signal.aborted) {
      yield { type: "end", outcome: "cancelled", text: msg`${checklist(steps, states)}\nStopped before step ${i + 1}.` };
      return;
    }
    const state = states[i] as StepState;
    state.status = "running";
    yield status();
    yield { type: "notice", text: msg`Step ${i + 1}/${steps.length}: ${code(step.line)}` };
    let result: StepResult;
    try {
      result = yield* runStep(step.action, c, handlerFor, signal, (note) => {
        state.note = note;
      });
    } catch (error) {
      result = { ok: false, note: msg`${publicMessage(error, c.requestId.slice(0, 8))}` };
    }
    state.status = result.ok ? "done" : "failed";
    state.note = result.note;
    if (!result.ok) {
      const cancelled = signal.aborted;
      const rest = steps.length - i - 1;
      const why = rest ? msg` The ${rest} step${rest === 1 ? "" : "s"} after it did not run.` : [];
      yield {
        type: "end",
        outcome: cancelled ? "cancelled" : "failed",
        text: msg`${checklist(steps, states)}\n${tone("failure")} ${code(runbook.name)} stopped at step ${i + 1}.${why}`,
      };
      return;
    }
    yield status();
  }
  yield {
    type: "end",
    outcome: "succeeded",
    text: msg`${checklist(steps, states)}\n${tone("success")} ${code(runbook.name)}: all ${steps.length} steps done.`,
  };
}

/** One step: authorized again as the person where it runs, audited, then its own handler; its events pass through. */
async function* runStep(
  action: Action,
  c: HandlerContext,
  handlerFor: (action: Action) => Handler<ActionKind>,
  signal: AbortSignal,
  setNote: (note: Message) => void,
): AsyncGenerator<JobEvent, StepResult> {
  const { deps, actor, requestId } = c;
  const { decision, host } = await authorizeStep({ line: "", action }, actor, c.subject, deps);
  await auditDecision(deps, { requestId, actor, action, host, decision });
  if (!decision.allow) return { ok: false, note: msg`${tone("denied")} ${decision.reason}` };
  // The runbook was confirmed (or approved) once, for every step, before it started; a step that needs more now
  // (the policy changed while it ran) does not run on an older yes.
  if (decision.gate !== "none" && !c.approval) {
    return { ok: false, note: msg`${tone("locked")} this step now needs a ${decision.gate}; run the runbook again.` };
  }
  const outcome: Outcome = await handlerFor(action).execute(action, { ...c, host, signal });
  switch (outcome.type) {
    case "reply": {
      yield { type: "notice", text: outcome.reply.text };
      const failed = outcome.result !== undefined;
      return { ok: !failed, note: firstLine(outcome.reply.text) };
    }
    case "job": {
      const plan = outcome.plan;
      let end: Extract<JobEvent, { type: "end" }> | undefined;
      try {
        for await (const event of plan.run(signal)) {
          switch (event.type) {
            case "line":
            case "mask":
            case "notice":
              yield event;
              break;
            case "drain":
              yield { type: "notice", text: event.text };
              break;
            case "status":
              setNote(firstLine(event.text));
              break;
            case "end":
              end = event;
              break;
            case "resumable":
              break;
          }
        }
      } catch (error) {
        await auditOutcome(deps, { requestId, actor, action, host, outcome: "failed", approver: c.approval?.approver });
        throw error;
      }
      const result = end?.outcome ?? "failed";
      const exit = end?.exitCode === undefined ? "" : ` (exit ${end.exitCode})`;
      await auditOutcome(deps, { requestId, actor, action, host, outcome: `${result}${exit}`, approver: c.approval?.approver });
      const text: Text = end?.text ?? msg`ended without saying how`;
      return { ok: result === "succeeded", note: firstLine(text) };
    }
    default:
      return { ok: false, note: msg`this step cannot run inside a runbook; run it on its own.` };
  }
}
