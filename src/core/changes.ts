import type { EngineChange } from "../engines/ports.ts";
import type { AuditRecord } from "../store/audit-log.ts";
import { type ActionOf, risk } from "./action.ts";
import { code, type Message, msg, user } from "./message.ts";

/**
 * "What changed?": the engine's events and berth's own records of a window, merged into one list, newest first, with
 * runs of the same thing counted so that a crash loop is one line ("api restarted 14× 12:00–12:20 (last exit 137,
 * OOM)") and not fifty. Pure: the handler reads the engine and the audit log, this decides what the lines say.
 */
export type ChangeLine = {
  /** The newest moment of the line (the order of the list). */
  at: number;
  /** The oldest moment of the line (where a Logs button starts reading). */
  from: number;
  text: Message;
  /** The container the line is about, for a Logs button (only when it still exists). */
  container?: string | undefined;
};

/** What stops a container or starts it again: a run of these is one line, a crash loop one "restarted N×". */
const lifecycle = new Set(["start", "restart", "die", "kill", "oom", "stop"]);

const verbs: Record<string, string> = {
  create: "created",
  destroy: "removed",
  pause: "paused",
  unpause: "unpaused",
  update: "updated",
  rename: "renamed",
  unhealthy: "unhealthy",
  pull: "pulled",
  tag: "tagged",
  untag: "untagged",
  delete: "deleted",
  import: "imported",
  load: "loaded",
  remove: "removed",
};

/**
 * "12:04" or "12:00–12:20" (UTC), the span of a counted line; a day other than `today`'s is named ("Jan 4 23:50"), so
 * a window across midnight reads right.
 */
export function span(from: number, to: number, today: number = to): string {
  const day = (t: number) => new Date(t).toISOString().slice(0, 10);
  const hm = (t: number) =>
    `${day(t) === day(today) ? "" : `${new Date(t).toLocaleString("en-US", { month: "short", day: "numeric", timeZone: "UTC" })} `}${new Date(t).toISOString().slice(11, 16)}`;
  return hm(from) === hm(to) ? hm(to) : `${hm(from)}–${hm(to)}`;
}

/** A window as typed: 3600 → "1h", 5400 → "1h30m", 90 → "1m30s". */
export function windowText(seconds: number): string {
  const parts = [
    [Math.floor(seconds / 3600), "h"],
    [Math.floor((seconds % 3600) / 60), "m"],
    [seconds % 60, "s"],
  ] as const;
  return parts.map(([n, unit]) => (n ? `${n}${unit}` : "")).join("") || "0s";
}

const times = (n: number) => (n > 1 ? ` ${n}×` : "");

/** The engine's events as lines: each container's own sequence cut into runs, image/service/node repeats counted. */
export function engineLines(changes: readonly EngineChange[], today?: number): ChangeLine[] {
  const sorted = [...changes].sort((a, b) => a.at - b.at);
  const lines: ChangeLine[] = [];
  // The open run of each subject (a container's lifecycle events, or the same action repeated), closed by anything else.
  const open = new Map<string, { key: string; events: EngineChange[] }>();
  const close = (subject: string) => {
    const run = open.get(subject);
    if (run) lines.push(runLine(run.events, today));
    open.delete(subject);
  };
  for (const c of sorted) {
    const subject = `${c.type}:${c.type === "container" ? c.id : c.name}`;
    const key = c.type === "container" && lifecycle.has(c.action) ? "lifecycle" : c.action;
    const run = open.get(subject);
    if (run && run.key === key) run.events.push(c);
    else {
      close(subject);
      open.set(subject, { key, events: [c] });
    }
  }
  for (const subject of [...open.keys()]) close(subject);
  return lines;
}

function runLine(events: readonly EngineChange[], today: number | undefined): ChangeLine {
  const first = events[0] as EngineChange;
  const last = events.at(-1) as EngineChange;
  const base = { at: last.at, from: first.at, ...(first.type === "container" && { container: first.name }) };
  const when = span(first.at, last.at, today);
  if (first.type === "container" && lifecycle.has(first.action)) return { ...base, text: lifecycleText(events, when) };
  const verb = verbs[first.action] ?? first.action;
  const detail = last.detail ? ` (${last.detail})` : "";
  const noun = first.type === "container" ? "" : `${first.type} `;
  return { ...base, text: msg`${when} ${noun}${code(first.name)} ${verb}${times(events.length)}${detail}` };
}

/** A run of start/die/kill/oom/stop of one container, told as what a person would say about it. */
function lifecycleText(events: readonly EngineChange[], when: string): Message {
  const name = code((events[0] as EngineChange).name);
  const dies = events.filter((e) => e.action === "die");
  const lastDie = dies.at(-1);
  const oom = events.some((e) => e.action === "oom");
  const stopped = events.some((e) => e.action === "stop");
  // A restart is a death followed by a start: "restart" events come with their own die and start, so they add nothing.
  let restarts = 0;
  let down = false;
  for (const e of events) {
    if (e.action === "die") down = true;
    if (e.action === "start" && down) {
      restarts++;
      down = false;
    }
  }
  const exit = [
    ...(lastDie?.exitCode !== undefined ? [`${restarts ? "last " : ""}exit ${lastDie.exitCode}`] : []),
    ...(oom ? ["OOM"] : []),
  ].join(", ");
  const why = exit ? ` (${exit})` : "";
  if (restarts) return msg`${when} ${name} restarted ${restarts}×${why}${down ? ", now down" : ""}`;
  if (lastDie) return msg`${when} ${name} ${stopped ? "stopped" : "exited"}${why}`;
  const kill = events.find((e) => e.action === "kill");
  if (events.some((e) => e.action === "start"))
    return msg`${when} ${name} started${times(events.filter((e) => e.action === "start").length)}`;
  return msg`${when} ${name} sent ${kill?.signal ? `signal ${kill.signal}` : "a signal"}${times(events.length)}`;
}

/**
 * What was done through berth on the host: the outcomes of actions that change something (reads would drown the
 * list), oldest first, consecutive repeats by the same person counted. Only names and kinds are shown: a record's
 * action is already redacted (core/redact.ts), and no environment or text of the request is shown at all.
 */
export function berthLines(records: readonly AuditRecord[], host: string, since: number, today?: number): ChangeLine[] {
  const lines: { key: string; first: AuditRecord; last: AuditRecord; n: number }[] = [];
  for (const r of records) {
    if (r.type !== "outcome" || r.host !== host || r.at < since) continue;
    const kind = (r.action as { kind?: unknown } | null)?.kind;
    if (typeof kind !== "string" || !(kind in risk) || ["read", "self"].includes(risk[kind as keyof typeof risk])) continue;
    const key = `${r.userId}\u0000${JSON.stringify(r.action)}\u0000${r.outcome}`;
    const prev = lines.at(-1);
    if (prev?.key === key) {
      prev.last = r;
      prev.n++;
    } else lines.push({ key, first: r, last: r, n: 1 });
  }
  return lines.map(({ first, last, n }) => {
    const what = described(first.action as { kind: string } & Record<string, unknown>);
    const a = first.action as { kind: string; container?: unknown; more?: unknown };
    // Logs of the container a person acted on, unless they removed it.
    const container =
      a.kind.startsWith("container.") && a.kind !== "container.remove" && !a.more && typeof a.container === "string"
        ? a.container
        : undefined;
    return {
      at: last.at,
      from: first.at,
      container,
      text: msg`${span(first.at, last.at, today)} ${user(first.userId)} ${what}${times(n)} through berth → ${String(last.outcome)}`,
    };
  });
}

/** An audited action in a few words: the command it was, with its names and nothing else. */
function described(a: { kind: string } & Record<string, unknown>): Message {
  const s = (k: string) => (typeof a[k] === "string" ? (a[k] as string) : "");
  const names = [s("container"), ...(Array.isArray(a.more) ? a.more.filter((m): m is string => typeof m === "string") : [])].filter(
    Boolean,
  );
  const [resource = "", verb = a.kind] = a.kind.split(".");
  switch (resource) {
    case "container":
      if (verb === "run") return msg`ran ${code(s("image"))}${s("name") ? ` as ${s("name")}` : ""}`;
      return msg`${verb === "remove" ? "rm" : verb} ${code(names.join(" "))}`;
    case "service": {
      const extra = typeof a.replicas === "number" ? ` to ${a.replicas}` : s("image") ? ` to ${s("image")}` : "";
      return msg`service ${verb} ${code(s("service"))}${extra}`;
    }
    case "image":
      return msg`pulled ${code(s("image"))}`;
    default:
      return msg`${a.kind}`;
  }
}

/** Engine lines and berth's, newest first. */
export function merged(engine: readonly ChangeLine[], berth: readonly ChangeLine[]): ChangeLine[] {
  return [...engine, ...berth].sort((a, b) => b.at - a.at);
}

/** A Logs tap for a container line: its output from a minute before the line began, on the same host. */
export function logsFor(line: ChangeLine, host: string, now: number): ActionOf<"container.logs"> | undefined {
  if (!line.container) return undefined;
  const sinceSeconds = Math.max(1, Math.ceil((now - line.from) / 1000) + 60);
  return { kind: "container.logs", host, container: line.container, follow: false, sinceSeconds, tail: 500 };
}
