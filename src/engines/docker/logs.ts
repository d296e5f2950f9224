/** A container's logs, read or followed. Aborting the stream just ends it. */
import type { Readable } from "node:stream";
import type Docker from "dockerode";
import { BerthError } from "../../core/errors.ts";
import type { ContainerEngine, LogLine, LogQuery } from "../ports.ts";
import type { Client } from "./client.ts";
import { readLines } from "./lines.ts";
import type { Lookup } from "./lookup.ts";
import { sinceParam, stampedLines } from "./timestamps.ts";

export function createLogs(client: Client, lookup: Lookup): ContainerEngine["logs"] {
  const { call, dial, hold, lost, streams, translate } = client;
  const { resolve, inspectRaw, about } = lookup;

  /**
   * After a follow stream ended by itself: fine when the container stopped, was restarted (as \`docker logs -f\` ends
   * then too) or removed; "lost" when the engine does not answer, or when the same run of the container is still going.
   */
  async function stillThere(id: string, ref: string, startedAt: string, doing: string, signal: AbortSignal): Promise<void> {
    let now: Docker.ContainerInspectInfo;
    try {
      now = await inspectRaw(id, ref, signal);
    } catch (e) {
      if (e instanceof BerthError && e.code === "NOT_FOUND") return; // auto-removed once it exited
      if (e instanceof BerthError && e.code === "UNAVAILABLE") throw lost(doing, e);
      throw e;
    }
    if (now.State.Running && now.State.StartedAt === startedAt) throw lost(doing);
  }

  return async function* logs(query: LogQuery, signal: AbortSignal): AsyncGenerator<LogLine> {
    const ref = query.container;
    const doing = `reading the logs of "${ref}"`;
    let release: (() => void) | undefined;
    try {
      const { Id } = await resolve(ref, signal);
      const info = await inspectRaw(Id, ref, signal);
      const from = query.after ?? query.from;
      const since =
        from !== undefined
          ? { since: sinceParam(from) }
          : query.sinceSeconds === undefined
            ? {}
            : { since: Math.floor(Date.now() / 1000 - query.sinceSeconds) };
      const tail = query.tail === undefined || from !== undefined ? "all" : Math.max(0, Math.floor(query.tail));
      // Timestamps on every line: a job's cursor is the time of the last line it handed on (see timestamps.ts).
      const until = query.until === undefined ? {} : { until: query.until };
      const options = { follow: query.follow, stdout: true, stderr: true, timestamps: true, tail, ...since, ...until };
      const statusCodes = { 200: true, 404: "no such container", 500: "server error" };
      // Always a stream: dockerode would buffer a non-follow answer whole (and JSON-parse it).
      const path = `/containers/${Id}/logs?`;
      const res = await call(
        signal,
        doing,
        (s) => dial<Readable>(streams, { path, method: "GET", options, isStream: true, statusCodes, abortSignal: s }),
        {
          status: about(ref),
        },
      );
      release = hold(res, signal);
      if (signal.aborted) return;
      const reading = query.follow ? `following the logs of "${ref}"` : doing;
      try {
        yield* stampedLines(readLines(res, !info.Config.Tty, signal), query.after);
      } catch (e) {
        if (!signal.aborted) throw lost(reading, e);
      }
      // A follow ends when the container stops, and also, without an error, when the engine goes away: tell them apart.
      if (query.follow && !signal.aborted) await stillThere(Id, ref, info.State.StartedAt, reading, signal);
    } catch (e) {
      if (signal.aborted) return; // an aborted follow simply ends
      throw translate(e, doing, signal);
    } finally {
      release?.();
    }
  };
}
