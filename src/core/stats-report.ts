/**
 * `stats` and `top`: what is using the CPU and memory, and what runs inside a container. `stats` is a job (a card
 * and a thread) rather than an answer to one person: in an incident the whole channel wants the same snapshot, and
 * the card holds the ten busiest containers while its thread holds the rest, as the issue asks ("the rest in the
 * thread"). `top` is a short answer to the requester, like `inspect`.
 */
import type { ContainerStats, ProcessTable, StatsSnapshot } from "../engines/ports.ts";
import { type ActionOf, ActionSchema } from "./action.ts";
import { formatBytes } from "./duration.ts";
import type { Choice, JobEvent, Reply } from "./events.ts";
import type { JobContext } from "./job-context.ts";
import { code, command, join, type Message, msg, pre, strong } from "./message.ts";
import { safeRegExp } from "./policy.ts";
import { createRedactor } from "./redact.ts";
import type { Answer } from "./reply.ts";

/** How many containers the card shows; the rest go to its thread. */
export const statsOnCard = 10;
/** The most "no such berth container" lines the card shows. */
const maxProblems = 5;
/** The widest name column: a longer name is cut with an ellipsis (the thread and `ps` have it whole). */
const nameChars = 28;
/** What stands for a figure the engine did not give (Windows has no memory limit, no pids). */
export const unknown = "—";

/** Busiest first; a container whose CPU is unknown goes last, ties by name. */
export function byCpu(a: ContainerStats, b: ContainerStats): number {
  return (b.cpuPercent ?? -1) - (a.cpuPercent ?? -1) || a.name.localeCompare(b.name);
}

/** Memory as the docker CLI writes it: binary units ("12.3MiB"). */
const binary = (n: number | undefined) => (n === undefined ? unknown : formatBytes(n).replace(" ", ""));
/** Network and block I/O as the docker CLI writes them: decimal units, 3 significant digits ("1.23kB"). */
export function decimal(n: number | undefined): string {
  if (n === undefined) return unknown;
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(3))}${units[i]}`;
}
const percent = (n: number | undefined) => (n === undefined ? unknown : `${n.toFixed(2)}%`);
const pair = (a: string, b: string) => (a === unknown && b === unknown ? unknown : `${a} / ${b}`);
const cut = (text: string, max: number) =>
  Array.from(text).length > max
    ? `${Array.from(text)
        .slice(0, max - 1)
        .join("")}…`
    : text;

/** Columns padded to line up, the last one left as it is. */
function columns(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => Array.from(r[i] ?? "").length))) ?? [];
  return rows.map((r) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell + " ".repeat((widths[i] ?? 0) - Array.from(cell).length)))
      .join("  ")
      .trimEnd(),
  );
}

/** The `docker stats --no-stream` table: a header, then one row per container in the order given. */
export function statsTable(stats: readonly ContainerStats[]): string[] {
  return columns([
    ["NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"],
    ...stats.map((s) => [
      cut(s.name, nameChars),
      percent(s.cpuPercent),
      s.memoryBytes === undefined ? unknown : `${binary(s.memoryBytes)} / ${binary(s.memoryLimitBytes)}`,
      percent(s.memoryPercent),
      pair(decimal(s.netRxBytes), decimal(s.netTxBytes)),
      pair(decimal(s.blockReadBytes), decimal(s.blockWriteBytes)),
      s.pids === undefined ? unknown : String(s.pids),
    ]),
  ]);
}

const problemLine = (s: Exclude<StatsSnapshot, { stats: ContainerStats }>): Message =>
  s.problem === "not-found"
    ? msg`• ${code(s.ref)} — no such berth container (${command("ps -a")} lists them)`
    : s.problem === "not-running"
      ? msg`• ${code(s.ref)} — not running (${s.detail})`
      : msg`• ${code(s.ref)} — no stats: ${s.detail}`;

/** `stats`: one snapshot, busiest first: ten on the card, the rest as a table in the thread. */
export async function* containerStats(action: ActionOf<"container.stats">, ctx: JobContext, signal: AbortSignal): AsyncGenerator<JobEvent> {
  const named = action.containers.length;
  yield {
    type: "status",
    text: msg`Reading the stats of ${named ? `${named} container${named === 1 ? "" : "s"}` : "berth's running containers"} on ${ctx.host}…`,
  };
  const snapshots = await ctx.engine.stats(action.containers, signal);
  const read = snapshots.flatMap((s) => ("stats" in s ? [s.stats] : [])).sort(byCpu);
  const problems = snapshots.flatMap((s) => ("stats" in s ? [] : [problemLine(s)]));
  if (!snapshots.length) {
    yield {
      type: "end",
      outcome: "succeeded",
      text: msg`No berth containers are running on ${ctx.host}. ${command("ps -a")} lists the stopped ones.`,
    };
    return;
  }
  const shown = read.slice(0, statsOnCard);
  const rest = read.slice(statsOnCard);
  if (rest.length) for (const text of statsTable(rest)) yield { type: "line", line: { stream: "stdout", text } };
  const at = new Date((ctx.clock ?? Date.now)()).toISOString().slice(11, 19);
  const lines: Message[] = [];
  if (read.length)
    lines.push(msg`${strong(`${read.length} container${read.length === 1 ? "" : "s"} on ${ctx.host}`)}, busiest first, at ${at} UTC:`, [
      pre(statsTable(shown)),
    ]);
  // The card's status is one Slack section (3,000 characters): the table first, then at most a few of these.
  lines.push(...problems.slice(0, maxProblems));
  if (problems.length > maxProblems) lines.push(msg`…and ${problems.length - maxProblems} more named containers without stats.`);
  if (rest.length) lines.push(msg`…and ${rest.length} more in the thread.`);
  const busiest = shown[0];
  yield {
    type: "end",
    outcome: read.length ? "succeeded" : "failed",
    text: join(lines),
    choices: busiest ? topChoice(busiest.name, ctx.host) : undefined,
  };
}

/** The busiest container's processes, one tap away. */
function topChoice(container: string, host: string): Choice[] {
  const action = ActionSchema.safeParse({ kind: "container.top", container, host });
  return action.success ? [{ label: `Top ${cut(container, 40)}`, action: action.data }] : [];
}

/** The most processes `top` shows, and the characters of the table (a reply is one message: 4,000 characters). */
const topRows = 50;
const topChars = 2800;
const commandChars = 100;

/** The process table, cut to what one answer holds (the command column cut first, then rows), and what was left out. */
export function processLines(table: ProcessTable): { lines: string[]; left: number } {
  const rows = columns([
    table.titles,
    ...table.processes.map((p) => p.map((cell, i) => (i === p.length - 1 ? cut(cell, commandChars) : cell))),
  ]);
  const lines: string[] = [];
  let chars = 0;
  for (const row of rows) {
    if (lines.length > topRows || chars + row.length + 1 > topChars) break;
    lines.push(row);
    chars += row.length + 1;
  }
  return { lines, left: rows.length - lines.length };
}

/**
 * `top CONTAINER`: its processes as the engine lists them (`docker top`). Command lines carry secrets as often as
 * output does (`--password=…`, a token in a URL), so they are masked like `logs`: the container's environment values
 * and the policy's patterns.
 */
export const containerTop: Answer<"container.top"> = async (action, ctx, signal): Promise<Reply> => {
  const engine = ctx.engine();
  const [found, values] = await Promise.all([engine.top(action.container, signal), engine.secretValues(action.container, signal)]);
  const redact = createRedactor(
    values,
    ctx.policy.redact.flatMap((p) => safeRegExp(p) ?? []),
  );
  const table: ProcessTable = { titles: found.titles, processes: found.processes.map((row) => row.map((cell) => redact(cell))) };
  const n = table.processes.length;
  const head = msg`${strong(`Processes of ${action.container} on ${ctx.host ?? ""}`)} (${n})`;
  if (!n) return { visibility: "ephemeral", text: msg`${head}: none.` };
  const { lines, left } = processLines(table);
  return {
    visibility: "ephemeral",
    text: join([
      head,
      [pre(lines)],
      ...(left ? [msg`…and ${left} more process${left === 1 ? "" : "es"}, not shown: one answer holds no more.`] : []),
    ]),
  };
};
