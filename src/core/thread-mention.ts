/**
 * `@berth stop` written in a job's thread: what the mention asks for, as the command line the person would have typed
 * with the job's container (and host) filled in. The line then goes through the pipeline as any typed command, as the
 * person who wrote it: nothing here authorizes, it only completes the text.
 */
import { z } from "zod";
import type { JobRecord } from "../store/records.ts";
import type { Parsed, Registry } from "./command.ts";
import { code, command, type Message, msg } from "./message.ts";
import { normalize } from "./normalize.ts";
import { parse } from "./parse.ts";
import { quoteArgs } from "./shell-quote.ts";
import { tokenize } from "./tokenize.ts";

/** The job whose card a thread hangs from, as a mention in that thread needs it. */
export type ThreadJob = {
  id: string;
  running: boolean;
  /** Where the job ran; `-H` of the command made. */
  host: string | null;
  /** The container's name (or id); undefined for a job without one (a host being made, a run that never started). */
  container: string | undefined;
};

/**
 * What a stored job's resume data (resume.ts, StoredResume) says about its container: the name its run or logs
 * stream reported, else an exec's target. Read as untrusted data: an older berth's record simply has no container.
 */
const StoredContainer = z.object({
  point: z.object({ container: z.string(), name: z.string().optional() }).optional(),
  action: z.object({ kind: z.string(), container: z.unknown() }).partial().optional(),
});

/** The thread's job as a mention sees it, from the job as stored. */
export function threadJobOf(job: Pick<JobRecord, "id" | "status" | "host" | "kind"> & { resume: unknown }): ThreadJob {
  const stored = StoredContainer.safeParse(job.resume);
  const point = stored.success ? stored.data.point : undefined;
  const action = stored.success ? stored.data.action : undefined;
  const exec = action?.kind === "container.exec" && typeof action.container === "string" ? action.container : undefined;
  const container = job.kind.startsWith("host.") ? undefined : point?.name || point?.container || exec;
  return { id: job.id, running: job.status === "running", host: job.host, container };
}

export type MentionRequest =
  /** Send `text` through the pipeline (already parsed once, here). */
  | { type: "command"; text: string; parsed: Parsed }
  /** Nothing to run: tell the person how mentions work. */
  | { type: "help"; text: Message };

/** Commands whose one CONTAINER a job's thread can fill in; `exec` takes it before its command. */
const takesContainer = new Set(["stop", "start", "restart", "rm", "inspect", "logs"]);

const hostGiven = (words: readonly string[]) => words.some((w) => w === "-H" || w === "--host" || w.startsWith("--host="));

const usage = (): Message =>
  msg`Write ${code("@berth stop")}, ${code("@berth logs -f")} or ${code("@berth restart")} in the thread of a job's card to act on that job's container. Anywhere else, use ${command("help")}.`;

/**
 * The request a mention makes. `job` is the job whose card the thread hangs from (undefined outside such a thread).
 * In a job's thread: `stop` of a running job cancels the job (its card's Stop button); a command that takes a
 * container and was written without one gets the job's container and host; `cancel` alone cancels the job; anything
 * else runs as typed.
 */
export function mentionRequest(text: string, job: ThreadJob | undefined, registry: Registry): MentionRequest {
  if (!job) return { type: "help", text: usage() };
  const typed = (line: string): MentionRequest => ({ type: "command", text: line, parsed: parse(line, registry) });
  const tokens = tokenize(normalize(text));
  const [first, ...rest] = tokens.ok ? tokens.words : [];
  const name = first === undefined ? undefined : registry.find(first.toLowerCase())?.name;
  if (first === undefined) return { type: "help", text: usage() };
  // `cancel` alone: this thread's job, whatever it is (the card's Stop or Cancel button).
  if (name === "cancel" && rest.length === 0) return typed(quoteArgs(["cancel", job.id]));
  if (name === undefined || !(takesContainer.has(name) || name === "exec")) return typed(text);
  const { container } = job;
  if (name === "stop" && rest.length === 0 && job.running && container !== undefined) return typed(quoteArgs(["cancel", job.id]));
  if (container === undefined) {
    const asTyped = parse(text, registry);
    if (asTyped.ok) return { type: "command", text, parsed: asTyped };
    return { type: "help", text: msg`This job has no container to act on. ${usage()}` };
  }
  const host = job.host && !hostGiven(rest) ? ["-H", job.host] : [];
  if (name === "exec") {
    // In a job's thread `exec ls -l` means ls in the job's container: the words after the options are the command.
    let at = 0;
    while (at < rest.length && (rest[at] === "-H" || rest[at] === "--host" || rest[at]?.startsWith("--host="))) {
      at += rest[at]?.includes("=") ? 1 : 2;
    }
    if (at >= rest.length || rest[at] === container) return typed(text);
    return typed(quoteArgs([name, ...host, ...rest.slice(0, at), container, ...rest.slice(at)]));
  }
  const asTyped = parse(text, registry);
  if (asTyped.ok) return { type: "command", text, parsed: asTyped };
  const line = quoteArgs([name, ...rest, container, ...host]);
  const filled = parse(line, registry);
  return filled.ok ? { type: "command", text: line, parsed: filled } : { type: "command", text, parsed: asTyped };
}
