/**
 * The run form's logic, without Slack calls: what a submitted modal says (read with zod from Slack's
 * `view.state.values`), the command line it stands for (parsed by the registry like a typed `run`, so the grammar stays
 * in one place), the form filled in from a typed run, and the berth command line found in a message.
 */
import { z } from "zod";
import type { Action } from "../core/action.ts";
import type { Parsed, Registry } from "../core/command.ts";
import { parseDuration } from "../core/duration.ts";
import { plainText } from "../core/message.ts";
import { normalize } from "../core/normalize.ts";
import { parse } from "../core/parse.ts";
import { quoteArgs } from "../core/shell-quote.ts";
import { tokenize } from "../core/tokenize.ts";
import { unescapeMrkdwn } from "./mrkdwn-escape.ts";

/** The ids Slack routes by: the modal's callback, the shortcuts' (manifests/slack-app.yaml) and the Home tab's button. */
export const runModalIds = {
  callbackId: "berth_run_modal",
  globalShortcut: "berth_run",
  messageShortcut: "berth_run_message",
  openButton: "berth_open_run_modal",
} as const;

/** One input block per field; each block's element has the action_id `value`. */
export const runBlocks = {
  channel: "channel",
  image: "image",
  imageRef: "image_ref",
  host: "host",
  command: "command",
  env: "env",
  detach: "detach",
  timeout: "timeout",
} as const;
export const valueActionId = "value";

export type RunFields = {
  image: string;
  host?: string | undefined;
  command: string;
  env: string[];
  detach: boolean;
  timeout?: string | undefined;
};

/** What private_metadata carries: the channel the form was opened in (absent for a global shortcut). */
export const RunMetadata = z.object({ channelId: z.string().optional(), channelName: z.string().optional() });
export type RunMetadata = z.infer<typeof RunMetadata>;

const ElementState = z.object({
  value: z.string().nullish(),
  selected_option: z.object({ value: z.string() }).nullish(),
  selected_options: z.array(z.object({ value: z.string() })).optional(),
  selected_conversation: z.string().nullish(),
});
const StateValues = z.record(z.string(), z.record(z.string(), ElementState));

/** A submission's fields, or the message to show under each block that is wrong. */
export type RunSubmission = { ok: true; fields: RunFields; channelId?: string | undefined } | { ok: false; errors: Record<string, string> };

const envLine = /^[A-Za-z_][A-Za-z0-9_]*=/;

/**
 * Reads a submitted run form. `imageProblem` says why a typed image cannot be used (the allow-list), undefined when it
 * can. Env values are never quoted back in an error: they may be secrets.
 */
export function readRunSubmission(values: unknown, imageProblem: (image: string) => string | undefined): RunSubmission {
  const state = StateValues.safeParse(values);
  if (!state.success) return { ok: false, errors: { [runBlocks.command]: "berth could not read this form; open it again." } };
  const get = (block: string) => state.data[block]?.[valueActionId];
  const text = (block: string) => get(block)?.value?.trim() || undefined;
  const errors: Record<string, string> = {};

  const typed = text(runBlocks.imageRef);
  const picked = get(runBlocks.image)?.selected_option?.value;
  const image = typed ?? picked;
  const imageBlock = typed !== undefined || get(runBlocks.image) === undefined ? runBlocks.imageRef : runBlocks.image;
  if (image === undefined) errors[imageBlock] = "Pick an image, or type a full reference.";
  else if (/\s/.test(image)) errors[imageBlock] = "An image reference has no spaces, e.g. busybox:1.36.";
  else {
    const problem = typed !== undefined ? imageProblem(image) : undefined;
    if (problem) errors[imageBlock] = problem;
  }

  const timeout = text(runBlocks.timeout);
  if (timeout !== undefined && !((parseDuration(timeout) ?? 0) > 0)) {
    errors[runBlocks.timeout] = `"${timeout}" is not a duration; write e.g. 30s, 5m or 1h30m.`;
  }

  const env = (get(runBlocks.env)?.value ?? "")
    .split("\n")
    .map((l) => l.replace(/\r$/, ""))
    .filter((l) => l.trim() !== "");
  const bad = env.findIndex((l) => !envLine.test(l));
  if (bad >= 0) {
    errors[runBlocks.env] =
      `Line ${bad + 1} is not NAME=value. Write one variable per line, e.g. LEVEL=debug (a name is letters, digits and _).`;
  }

  const channelId = get(runBlocks.channel)?.selected_conversation ?? undefined;
  if (get(runBlocks.channel) !== undefined && !channelId) errors[runBlocks.channel] = "Pick the channel to run it in.";

  if (Object.keys(errors).length > 0 || image === undefined) return { ok: false, errors };
  const fields: RunFields = {
    image,
    host: get(runBlocks.host)?.selected_option?.value,
    command: get(runBlocks.command)?.value?.trim() ?? "",
    env,
    detach: (get(runBlocks.detach)?.selected_options ?? []).length > 0,
    timeout,
  };
  return { ok: true, fields, channelId };
}

/**
 * The `run` command line the fields stand for (without the slash command). The form's own fields are quoted; the
 * command is kept as the person typed it, quotes and all, as after the image of a typed run.
 */
export function runLine(fields: RunFields): string {
  const options = [
    ...(fields.host ? ["-H", fields.host] : []),
    ...fields.env.flatMap((e) => ["-e", e]),
    ...(fields.detach ? ["-d"] : []),
    ...(fields.timeout ? ["--timeout", fields.timeout] : []),
  ];
  return ["run", quoteArgs([...options, fields.image]), fields.command].filter(Boolean).join(" ");
}

/** Parses the fields as the registry parses a typed run; a problem is shown under the command (or env) field. */
export function parseRunFields(
  fields: RunFields,
  registry: Registry,
): { parsed: Parsed & { ok: true }; line: string } | { errors: Record<string, string> } {
  const line = runLine(fields);
  const parsed = parse(line, registry);
  if (parsed.ok) return { parsed, line };
  const text = plainText(parsed.message);
  return { errors: { [/--env|NAME=value/.test(text) ? runBlocks.env : runBlocks.command]: text.slice(0, 1900) } };
}

type RunAction = Extract<Action, { kind: "container.run" }>;

/**
 * The form filled in from a typed run, when the form can say all of it; undefined when the run uses options the form
 * does not have (--rm, --memory…), which would be lost.
 */
export function prefillFrom(action: Action, registry: Registry): RunFields | undefined {
  if (action.kind !== "container.run") return undefined;
  const fields: RunFields = {
    image: action.image,
    host: action.host,
    command: quoteArgs(action.cmd),
    env: action.env.map((e) => `${e.name}=${e.value}`),
    detach: action.detach,
    timeout: action.timeoutSeconds === undefined ? undefined : `${action.timeoutSeconds}s`,
  };
  const again = parse(runLine(fields), registry);
  return again.ok && sameRun(again.action, action) ? fields : undefined;
}

const sameRun = (a: Action, b: RunAction) => JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));
const sorted = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(sorted)
    : value !== null && typeof value === "object"
      ? Object.fromEntries(
          Object.entries(value)
            .filter(([, v]) => v !== undefined)
            .sort(([x], [y]) => x.localeCompare(y))
            .map(([k, v]) => [k, sorted(v)]),
        )
      : value;

/**
 * The first berth command line in a message's text (what follows the slash command): in a code block, then in an
 * inline code span, then on a line of its own; a leading `$ ` is dropped. Undefined when there is none.
 */
export function findCommandLine(text: string, slash: string): string | undefined {
  const plain = unescapeMrkdwn(text);
  const blocks = [...plain.matchAll(/```([\s\S]*?)```/g)].flatMap((m) => (m[1] ?? "").split("\n"));
  const outside = plain.replace(/```[\s\S]*?```/g, "\n");
  const spans = [...outside.matchAll(/`([^`\n]+)`/g)].map((m) => m[1] ?? "");
  const lines = outside.split("\n");
  for (const candidate of [...blocks, ...spans, ...lines]) {
    const line = candidate.trim().replace(/^\$\s+/, "");
    const words = tokenize(normalize(line));
    if (!words.ok || words.words[0]?.toLowerCase() !== slash.toLowerCase()) continue;
    const rest = line.slice(line.toLowerCase().indexOf(slash.toLowerCase()) + slash.length).trim();
    if (rest !== "") return rest.replace(/`+$/, "").trim();
  }
  return undefined;
}
