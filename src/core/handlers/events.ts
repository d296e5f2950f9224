import { eventBuffer } from "../../engines/ports.ts";
import type { AuditRecord } from "../../store/audit-log.ts";
import type { ActionOf } from "../action.ts";
import { berthLines, engineLines, logsFor, merged, span, windowText } from "../changes.ts";
import type { Reply, Row } from "../events.ts";
import { code, command, msg, strong } from "../message.ts";
import { findPermission } from "../policy.ts";
import type { Answer } from "../reply.ts";
import { answered } from "./execution.ts";
import { type Handler, noPreview } from "./handler.ts";

/** Lines shown in the answer; more are counted, and a shorter --since shows them (Slack allows 50 blocks a message). */
export const maxChangeLines = 20;

/**
 * `changes`: the host's engine events and what was done there through berth, one list. berth's own records are shown
 * only to someone the policy allows `audit.query` on that host (what `audit -H HOST` would show them); everyone else
 * who may read the host sees the engine's side alone, and is told so.
 */
const changesAnswer =
  (audit: () => Promise<readonly AuditRecord[]>): Answer<"events.changes"> =>
  async (a, ctx, signal) => {
    const host = ctx.host as string;
    const now = (ctx.clock ?? Date.now)();
    const since = now - a.sinceSeconds * 1000;
    const engine = ctx.engine();
    const [history, present] = await Promise.all([
      engine.pastEvents({ since, until: now }, signal),
      engine.list({ all: true }, signal).then((cs) => new Set(cs.map((c) => c.name))),
    ]);
    const place = { channelId: ctx.actor.channelId, channelName: ctx.actor.channelName, host };
    const seesAudit = findPermission(ctx.policy, ctx.subject, "audit.query", place, now) !== undefined;
    const ours = seesAudit ? berthLines(await audit(), host, since, now) : [];
    const lines = merged(engineLines(history.changes, now), ours);
    const window = windowText(a.sinceSeconds);
    const notes = [
      ...(history.seen >= eventBuffer && history.oldestAt !== undefined && history.oldestAt > since
        ? [
            msg`The engine keeps only its last ${eventBuffer} events, in memory: its record on ${host} begins at ${span(history.oldestAt, history.oldestAt, now)}, so engine events before then are not shown${seesAudit ? " (berth's own records are)" : ""}.`,
          ]
        : []),
      ...(seesAudit ? [] : [msg`berth's own records are left out: they are shown to those allowed ${code("audit")} on ${host}.`]),
    ];
    const heading = msg`${strong(`Changes on ${host}`)} in the last ${window}, newest first (UTC)`;
    if (!lines.length) return reply(msg`Nothing changed on ${host} in the last ${window}.`, notes, []);
    const shown = lines.slice(0, maxChangeLines);
    const rows: Row[] = shown.map((line) => {
      const logs = line.container && present.has(line.container) ? logsFor(line, host, now) : undefined;
      return { text: line.text, ...(logs && { choice: { label: "Logs", action: logs } }) };
    });
    const more = lines.length - shown.length;
    if (more > 0)
      notes.push(
        msg`…and ${more} older line${more === 1 ? "" : "s"}: look at a shorter window with ${command(`changes --since 10m -H ${host}`)}.`,
      );
    return reply(heading, notes, rows);
  };

const reply = (text: Reply["text"], notes: Reply["text"][], rows: Row[]): Reply => ({
  visibility: "ephemeral",
  text: notes.length ? msg`${text}\n${notes.flatMap((n, i) => (i ? ["\n", ...n] : [...n]))}` : text,
  rows,
});

export const changes: Handler<"events.changes"> = {
  runs: "reply",
  summary: (a: ActionOf<"events.changes">, host) => `changes --since ${windowText(a.sinceSeconds)} on ${host ?? "?"}`,
  preview: noPreview,
  execute: (a, c) => answered(changesAnswer(() => c.deps.store.audit.all()))(a, c),
  inverse: undefined,
};
