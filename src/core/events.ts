import type { LogLine } from "../engines/ports.ts";
import type { Action } from "./action.ts";
import type { Message, Tone } from "./message.ts";

/** What berth says in an event or reply: structured parts that only the Slack renderer turns into markup. */
export type Text = Message;

/** What a running job reports, in order; the Slack layer renders these into the job card and its thread. */
export type JobEvent =
  | { type: "status"; text: Text } // replaces the card's status line ("Pulling busybox:1 — 3.1/10 MiB")
  | { type: "line"; line: LogLine }
  | { type: "notice"; text: Text } // a note in the thread (a timeout, a cap, the container was removed)
  | { type: "mask"; values: readonly string[] } // secrets to redact from every line that follows (never shown)
  // The container has exited: what is left goes to the full log at once instead of at Slack's pace.
  | { type: "drain"; text: Text }
  // What a restarted berth needs to carry this job on (its container, what it was asked): stored with the job.
  | { type: "resumable"; resume: JobResume }
  | {
      type: "end";
      outcome: "succeeded" | "failed" | "cancelled";
      exitCode?: number | undefined;
      text: Text;
      /** What one may do next with what the job touched, as taps on the finished card (each authorized as its tapper). */
      choices?: readonly Choice[] | undefined;
    };

/** How a job is carried on after berth restarts (see core/resume.ts): a container's, or a runbook's. */
export type JobResume = ContainerResume | RunbookResume;

/** A runbook step's place on its checklist. */
export type RunbookStepState = { status: "todo" | "running" | "done" | "failed"; note?: Text | undefined };

/** Where a runbook stands (core/runbook-job.ts): each step's state, and the running step's own job once it has one. */
export type RunbookResume = {
  kind: "runbook.run";
  /** The steps' lines as expanded when it started, hashed: a runbook changed in the policy since is not carried on. */
  steps: string;
  states: RunbookStepState[];
  /** How many output lines the runbook had shown when its running step began (that step's own come after). */
  linesBefore: number;
  /** The running step's container job, once its container exists: carried on like a job of its own. */
  inner?: ContainerResume | undefined;
  /** The approval or confirmation the runbook runs on (its request's id): what the steps still to run go on with. */
  pendingId?: string | undefined;
  /** The person's workspace, as their request said: what their roles are judged by when the steps go on. */
  teamId?: string | undefined;
  homeTeam?: boolean | undefined;
};

/** How a container job is carried on after berth restarts. */
export type ContainerResume =
  | {
      kind: "container.run";
      container: string;
      name: string;
      autoRemove: boolean;
      /** When berth stops the container (epoch ms): the run-time limit holds across restarts. */
      deadline: number;
      timeoutSeconds: number;
      startedAt: number;
    }
  | {
      kind: "container.logs";
      container: string;
      name: string;
      follow: boolean;
      tail?: number | undefined;
      sinceSeconds?: number | undefined;
      /** The time of the stream's first line, once shown: where its full log starts when read again. */
      firstAt?: string | undefined;
      /** `--until`, as the time it meant when the command ran (epoch seconds): a read carried on ends where it would have. */
      until?: number | undefined;
      /** `-t`: each line shown with its time. */
      timestamps?: boolean | undefined;
    };

/**
 * A follow-up the person taps instead of typing (a picked container, a corrected command, a named fix): the action it
 * runs through the whole pipeline again, as whoever taps it. `label` is plain text, short (a button's face).
 */
export type Choice = { label: string; action: Action };

/** One line of a list answer, with the one tap that belongs to it (a Logs beside a container's line). */
export type Row = { text: Text; choice?: Choice | undefined };

/** A short answer to a command that is not a job; shown to the requester alone unless `visibility` is channel. */
export type Reply = {
  visibility: "ephemeral" | "channel";
  text: Text;
  tone?: Tone | undefined;
  choices?: readonly Choice[] | undefined;
  /** Lines below `text`, each with its own tap (shown to the requester alone, like choices: a tap runs as the tapper). */
  rows?: readonly Row[] | undefined;
};
