/**
 * A runbook as one job: its steps in order, each authorized again as the person just before it runs (the job may
 * take minutes, and the policy may change), audited under the runbook's request id, and carried out by the step's own
 * handler. The card's status is the checklist; a step's answer is a line under it (and in full in the thread), a
 * step that is a job streams into the runbook's thread. The first step that fails stops the runbook, the rest stay
 * unchecked.
 */
import { createHash } from "node:crypto";
import { type Action, type ActionKind, repeatable } from "./action.ts";
import { auditDecision, auditOutcome } from "./audit.ts";
import { publicMessage } from "./errors.ts";
import type { ContainerResume, JobEvent, RunbookResume, RunbookStepState, Text } from "./events.ts";
import type { Handler, HandlerContext } from "./handlers/handler.ts";
import { suspended } from "./job-context.ts";
import { code, join, type Message, msg, type Part, tone } from "./message.ts";
import type { Outcome } from "./pipeline-types.ts";
import type { Expanded, RunbookStep } from "./runbook.ts";
import { authorizeStep } from "./runbook-authorize.ts";

type StepState = RunbookStepState;

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

type StepResult = { ok: boolean; note?: Message | undefined } | "suspended";

/** The steps as expanded, hashed: a runbook carried on after a restart must still be the one that started. */
export const stepsHash = (steps: readonly RunbookStep[]): string =>
  createHash("sha256")
    .update(JSON.stringify(steps.map((s) => s.line)))
    .digest("hex");

/** A runbook carried on after berth restarted: where it stood, and how its running step's own job goes on. */
export type RunbookCarry = {
  point: RunbookResume;
  /** Output lines the runbook had shown (its job's cursor): whether the running step's own job showed any yet. */
  shown: number;
  /** The running step's container job, carried on from its stored point on the step's host. */
  carryOn: (inner: ContainerResume, host: string, showedLines: boolean, signal: AbortSignal) => AsyncGenerator<JobEvent>;
};

/**
 * The runbook's job. Where it stands is stored with the job before and after each step (and with the step's own
 * container once it has one), so that after a restart it carries on (`carry`) instead of starting again: done steps
 * stay done, the step that was running goes on from its container, or runs again when that changes nothing it did
 * (`repeatable`), or else stops the runbook saying berth cannot tell whether it took effect. A shutdown ends nothing.
 */
export async function* runRunbook(
  expanded: Expanded,
  c: HandlerContext,
  handlerFor: (action: Action) => Handler<ActionKind>,
  signal: AbortSignal,
  carry?: RunbookCarry,
): AsyncGenerator<JobEvent> {
  const { steps, runbook } = expanded;
  const states: StepState[] = carry ? carry.point.states.map((s) => ({ ...s })) : steps.map(() => ({ status: "todo" }));
  const status = (): JobEvent => ({ type: "status", text: checklist(steps, states) });
  const seen = { lines: carry?.shown ?? 0 };
  let linesBefore = carry?.point.linesBefore ?? 0;
  const base = {
    kind: "runbook.run" as const,
    steps: stepsHash(steps),
    pendingId: carry ? carry.point.pendingId : c.approval?.pending.id,
    teamId: carry ? carry.point.teamId : c.actor.teamId,
    homeTeam: carry ? carry.point.homeTeam : c.actor.homeTeam,
  };
  const save = (inner?: ContainerResume): JobEvent => ({
    type: "resumable",
    resume: { ...base, states: states.map((s) => ({ ...s })), linesBefore, inner },
  });
  const first = carry ? states.findIndex((s) => s.status !== "done") : 0;
  if (!carry) yield save();
  for (let i = Math.max(first, 0); first !== -1 && i < steps.length; i++) {
    const step = steps[i] as RunbookStep;
    const state = states[i] as StepState;
    if (signal.aborted) {
      if (suspended(signal)) return;
      yield { type: "end", outcome: "cancelled", text: msg`${checklist(steps, states)}\nStopped before step ${i + 1}.` };
      return;
    }
    let result: StepResult;
    const interrupted = carry !== undefined && i === first && state.status === "running";
    try {
      if (interrupted && carry.point.inner) {
        yield status();
        yield { type: "notice", text: msg`Step ${i + 1}/${steps.length} carried on after berth restarted: ${code(step.line)}` };
        const host = await stepHost(step, c);
        const events = carry.carryOn(carry.point.inner, host, carry.shown > carry.point.linesBefore, signal);
        result = yield* followStep(events, step.action, host, c, signal, seen, save, (note) => {
          state.note = note;
        });
      } else if (interrupted && !repeatable[step.action.kind]) {
        result = {
          ok: false,
          note: msg`${tone("warning")} berth restarted while this step ran, and cannot tell whether it took effect; look before running it (and the steps after it) by hand.`,
        };
      } else {
        state.status = "running";
        state.note = undefined;
        linesBefore = seen.lines;
        yield save();
        yield status();
        const again = interrupted ? " again (berth restarted while it ran; running it again changes nothing it did)" : "";
        yield { type: "notice", text: msg`Step ${i + 1}/${steps.length}${again}: ${code(step.line)}` };
        result = yield* runStep(step.action, c, handlerFor, signal, seen, save, (note) => {
          state.note = note;
        });
      }
    } catch (error) {
      result = suspended(signal) ? "suspended" : { ok: false, note: msg`${publicMessage(error, c.requestId.slice(0, 8))}` };
    }
    // berth is shutting down: the step's state stays stored as running, and the next berth carries it on.
    if (result === "suspended") return;
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
    yield save();
    yield status();
  }
  yield {
    type: "end",
    outcome: "succeeded",
    text: msg`${checklist(steps, states)}\n${tone("success")} ${code(runbook.name)}: all ${steps.length} steps done.`,
  };
}

/** Where a step runs: its -H, the channel's host, the default (as it was authorized when the step began). */
async function stepHost(step: RunbookStep, c: HandlerContext): Promise<string> {
  const { host } = await authorizeStep(step, c.actor, c.subject, c.deps);
  return host ?? "-";
}

type Seen = { lines: number };
type Save = (inner?: ContainerResume) => JobEvent;

/** One step: authorized again as the person where it runs, audited, then its own handler; its events pass through. */
async function* runStep(
  action: Action,
  c: HandlerContext,
  handlerFor: (action: Action) => Handler<ActionKind>,
  signal: AbortSignal,
  seen: Seen,
  save: Save,
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
      const failed = outcome.result !== undefined;
      // Cut short by a shutdown: the next berth runs it again, or says it cannot tell (see runRunbook).
      if (failed && suspended(signal)) return "suspended";
      yield { type: "notice", text: outcome.reply.text };
      return { ok: !failed, note: firstLine(outcome.reply.text) };
    }
    case "job":
      return yield* followStep(outcome.plan.run(signal), action, host, c, signal, seen, save, setNote);
    default:
      return { ok: false, note: msg`this step cannot run inside a runbook; run it on its own.` };
  }
}

/** A step's own job: its lines and notices pass into the runbook's thread, its status under the step, its end audited. */
async function* followStep(
  events: AsyncIterable<JobEvent>,
  action: Action,
  host: string | undefined,
  c: HandlerContext,
  signal: AbortSignal,
  seen: Seen,
  save: Save,
  setNote: (note: Message) => void,
): AsyncGenerator<JobEvent, StepResult> {
  const { deps, actor, requestId } = c;
  let end: Extract<JobEvent, { type: "end" }> | undefined;
  try {
    for await (const event of events) {
      switch (event.type) {
        case "line":
          seen.lines++;
          yield event;
          break;
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
          if (event.resume.kind !== "runbook.run") yield save(event.resume);
          break;
      }
    }
  } catch (error) {
    if (suspended(signal)) return "suspended";
    await auditOutcome(deps, { requestId, actor, action, host, outcome: "failed", approver: c.approval?.approver });
    throw error;
  }
  // Stopped reading for a shutdown (no end): the container runs on, and the next berth follows it from here.
  if (!end && suspended(signal)) return "suspended";
  const result = end?.outcome ?? "failed";
  const exit = end?.exitCode === undefined ? "" : ` (exit ${end.exitCode})`;
  await auditOutcome(deps, { requestId, actor, action, host, outcome: `${result}${exit}`, approver: c.approval?.approver });
  const text: Text = end?.text ?? msg`ended without saying how`;
  return { ok: result === "succeeded", note: firstLine(text) };
}
