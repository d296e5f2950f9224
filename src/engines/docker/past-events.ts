/**
 * The engine's recent past, read once for `changes`: Docker replays what it still holds between `since` and `until`
 * and closes the stream. berth's containers' events are kept (others' are nobody's business here), and so are the
 * host's image, Swarm service and node events: host-wide facts that explain an incident (a new image, an update).
 */
import type { Readable } from "node:stream";
import { type ContainerEngine, type EngineChange, type EngineHistory, isOwned } from "../ports.ts";
import type { Client } from "./client.ts";
import { readLines } from "./lines.ts";

/** What a person asks "what changed?" about; exec, attach, resize, top and the like change nothing. */
const kept: Record<EngineChange["type"], ReadonlySet<string>> = {
  container: new Set(["create", "start", "restart", "die", "oom", "kill", "stop", "destroy", "pause", "unpause", "update", "rename"]),
  image: new Set(["pull", "tag", "untag", "delete", "import", "load"]),
  service: new Set(["create", "update", "remove"]),
  node: new Set(["create", "update", "remove"]),
};

export function createPastEvents(client: Client): ContainerEngine["pastEvents"] {
  const { call, dial, hold, installation, streams } = client;
  return (window, signal) =>
    // One deadline for the whole read: the engine answers from memory, so a slow answer is a stuck engine.
    call(signal, "reading the engine's recent events", async (s): Promise<EngineHistory> => {
      const res = await dial<Readable>(streams, {
        path: "/events?",
        method: "GET",
        // No type filter: the buffer holds every kind of event, and only counting them all tells whether it was full.
        options: { since: seconds(window.since), until: seconds(window.until) },
        isStream: true,
        statusCodes: { 200: true, 400: "bad parameter", 500: "server error" },
        abortSignal: s,
      });
      // The engine sends what it remembers at once, then holds the stream open until `until` by its own clock: one
      // whose clock is behind berth's would keep it open that much longer. What came within `replayMs` is the answer.
      const cut = new AbortController();
      const timer = setTimeout(() => cut.abort(), replayMs);
      const read = AbortSignal.any([s, cut.signal]);
      const release = hold(res, read);
      const history: EngineHistory = { changes: [], seen: 0, oldestAt: undefined };
      try {
        for await (const { text } of readLines(res, false, read)) {
          const raw = parse(text);
          if (!raw) continue;
          history.seen++;
          history.oldestAt = Math.min(history.oldestAt ?? raw.at, raw.at);
          const change = engineChange(raw, installation);
          if (change) history.changes.push(change);
        }
      } catch (e) {
        if (!cut.signal.aborted || s.aborted) throw e;
      } finally {
        clearTimeout(timer);
        release();
      }
      return history;
    });
}

/** How long berth reads the engine's replay of its memory before taking what came as all of it. */
const replayMs = 5000;

const seconds = (ms: number) => (ms / 1000).toFixed(3);

type Raw = { type: string; action: string; id: string; attrs: Record<string, string>; at: number };

function parse(text: string): Raw | undefined {
  let e: {
    Type?: unknown;
    Action?: unknown;
    id?: unknown;
    time?: unknown;
    timeNano?: unknown;
    Actor?: { ID?: unknown; Attributes?: unknown };
  };
  try {
    e = JSON.parse(text) as typeof e;
  } catch {
    return undefined;
  }
  const at = typeof e.timeNano === "number" ? e.timeNano / 1e6 : typeof e.time === "number" ? e.time * 1000 : undefined;
  if (at === undefined || typeof e.Type !== "string" || typeof e.Action !== "string") return undefined;
  const attrs = Object.fromEntries(
    Object.entries(e.Actor?.Attributes && typeof e.Actor.Attributes === "object" ? e.Actor.Attributes : {}).filter(
      (entry): entry is [string, string] => typeof entry[1] === "string",
    ),
  );
  const id = typeof e.Actor?.ID === "string" ? e.Actor.ID : typeof e.id === "string" ? e.id : "";
  return { type: e.Type, action: e.Action, id, attrs, at: Math.round(at) };
}

function engineChange(raw: Raw, installation: string): EngineChange | undefined {
  const type = raw.type as EngineChange["type"];
  // health_status carries its state in the action ("health_status: unhealthy"); only the unhealthy one is a change.
  const action = raw.action === "health_status: unhealthy" ? "unhealthy" : raw.action;
  if (!(type in kept) || (!kept[type].has(action) && action !== "unhealthy")) return undefined;
  const { attrs } = raw;
  const base = { type, action, at: raw.at };
  switch (type) {
    case "container": {
      if (!isOwned(attrs, installation)) return undefined;
      const exitCode = attrs.exitCode === undefined ? undefined : Number(attrs.exitCode);
      return {
        ...base,
        id: raw.id.slice(0, 12),
        name: attrs.name ?? raw.id.slice(0, 12),
        image: attrs.image,
        exitCode: exitCode !== undefined && Number.isFinite(exitCode) ? exitCode : undefined,
        signal: attrs.signal,
      };
    }
    case "image":
      // A pull names the reference in the id; a tag names the new tag in `name`.
      return { ...base, id: raw.id.replace(/^sha256:/, "").slice(0, 12), name: attrs.name ?? raw.id };
    case "service":
    case "node": {
      const detail = Object.entries(attrs)
        .filter(([k]) => k.endsWith(".new"))
        .map(([k, v]) => `${k.slice(0, -4)} ${attrs[`${k.slice(0, -4)}.old`] ?? "?"} → ${v}`)
        .join(", ");
      return { ...base, id: raw.id.slice(0, 12), name: attrs.name ?? raw.id.slice(0, 12), ...(detail && { detail }) };
    }
  }
  return undefined;
}
