/**
 * The engine's event stream, narrowed to what the notifier tells about berth's containers: a non-zero exit, an OOM
 * kill, an unhealthy health check.
 */
import type { Readable } from "node:stream";
import { type ContainerEngine, type ContainerEvent, isOwned, ownerFilters } from "../ports.ts";
import { type Client, fail } from "./client.ts";
import { connectionReason } from "./connection.ts";
import { readLines } from "./lines.ts";

export function createEvents(client: Client): ContainerEngine["events"] {
  const { call, conn, dial, hold, installation, streams } = client;

  return async function* events(options: { sinceNano?: bigint | undefined }, signal: AbortSignal): AsyncGenerator<ContainerEvent> {
    const doing = "reading the container events";
    const streamLost = (reason: string, cause?: unknown) =>
      fail("UNAVAILABLE", `Lost the event stream of host ${conn.name}: ${reason}. berth reconnects by itself.`, cause);
    if (installation === "") return; // no installation: no container is berth's, so none has events to tell
    const filters = {
      type: ["container"],
      label: ownerFilters(installation),
      event: ["die", "oom", "health_status"],
    };
    const since = options.sinceNano === undefined ? {} : { since: nanoSince(options.sinceNano) };
    let res: Readable;
    try {
      res = await call(signal, doing, (s) =>
        dial<Readable>(streams, {
          path: "/events?",
          method: "GET",
          options: { filters, ...since },
          isStream: true,
          statusCodes: { 200: true, 400: "bad parameter", 500: "server error" },
          abortSignal: s,
        }),
      );
    } catch (e) {
      if (signal.aborted) return;
      throw e; // not connected: the call's own error says why (UNAVAILABLE when the engine cannot be reached)
    }
    const release = hold(res, signal);
    try {
      for await (const { text } of readLines(res, false, signal)) {
        const event = containerEvent(text);
        if (event && isOwned(event.labels, installation)) yield event;
      }
    } catch (e) {
      if (signal.aborted) return;
      throw streamLost(connectionReason(e), e);
    } finally {
      release();
    }
    // An engine that stops or restarts ends the stream without an error.
    if (!signal.aborted) throw streamLost("the engine closed it");
  };
}

/** The API's `since` takes seconds with a fractional part: "SECONDS.NANOS". */
function nanoSince(nano: bigint): string {
  const second = 1_000_000_000n;
  return `${nano / second}.${(nano % second).toString().padStart(9, "0")}`;
}

type RawEvent = { Type?: unknown; Action?: unknown; id?: unknown; from?: unknown; Actor?: { ID?: unknown; Attributes?: unknown } };

/** One line of /events as a notifier event; undefined for what the notifier does not care about (exit 0, healthy). */
function containerEvent(text: string): ContainerEvent | undefined {
  let e: RawEvent;
  try {
    e = JSON.parse(text) as RawEvent;
  } catch {
    return undefined;
  }
  // JSON.parse rounds timeNano (it exceeds 2^53); read the digits. Attribute values are strings, so the last
  // `"timeNano":<digits>` in the line is the event's own.
  const nano = [...text.matchAll(/"timeNano":(\d+)/g)].at(-1)?.[1];
  const attrs = Object.fromEntries(
    Object.entries(e.Actor?.Attributes && typeof e.Actor.Attributes === "object" ? e.Actor.Attributes : {}).filter(
      (entry): entry is [string, string] => typeof entry[1] === "string",
    ),
  );
  const id = typeof e.id === "string" ? e.id : typeof e.Actor?.ID === "string" ? e.Actor.ID : "";
  if (e.Type !== "container" || !nano || !id) return undefined;
  const action = typeof e.Action === "string" ? e.Action : "";
  const exitCode = attrs.exitCode === undefined ? undefined : Number(attrs.exitCode);
  const kind = action === "die" ? "die" : action === "oom" ? "oom" : action === "health_status: unhealthy" ? "unhealthy" : undefined;
  if (!kind || (kind === "die" && exitCode === 0)) return undefined;
  return {
    kind,
    id: id.slice(0, 12),
    name: attrs.name ?? "",
    image: attrs.image ?? (typeof e.from === "string" ? e.from : ""),
    exitCode: kind === "die" && exitCode !== undefined && Number.isFinite(exitCode) ? exitCode : undefined,
    // The engine flattens labels into Attributes next to name, image and exitCode: keep berth's own.
    labels: Object.fromEntries(Object.entries(attrs).filter(([k]) => k.startsWith("io.berth."))),
    timeNano: BigInt(nano),
  };
}
