/** watchContainers over a hand-written engine whose event stream breaks and replays, as a restarting engine does. */
import assert from "node:assert/strict";
import { once } from "node:events";
import { describe, it } from "node:test";
import { watchContainers } from "../src/container-watch.ts";
import { BerthError } from "../src/core/errors.ts";
import type { ContainerEngine, ContainerEvent } from "../src/engines/ports.ts";

const lost = () => new BerthError("UNAVAILABLE", "Lost the event stream of host local: the engine closed it. berth reconnects by itself.");

function event(timeNano: bigint, id: string, kind: ContainerEvent["kind"] = "die"): ContainerEvent {
  return { kind, id, name: `c-${id}`, image: "berth-test/busybox:1", exitCode: kind === "die" ? 3 : undefined, labels: {}, timeNano };
}

type Connection = { events: ContainerEvent[]; end: "lost" | "end" | "hold" };

/** Serves one scripted connection per events() call; after the script, holds the stream open until aborted. */
class ScriptedEngine implements Pick<ContainerEngine, "name" | "events"> {
  readonly name = "local";
  readonly since: (bigint | undefined)[] = [];
  private readonly script: Connection[];
  constructor(script: Connection[]) {
    this.script = script;
  }
  async *events(options: { sinceNano?: bigint | undefined }, signal: AbortSignal): AsyncGenerator<ContainerEvent> {
    this.since.push(options.sinceNano);
    const connection = this.script.shift() ?? { events: [], end: "hold" };
    yield* connection.events;
    if (connection.end === "lost") throw lost();
    if (connection.end === "hold" && !signal.aborted) await once(signal, "abort");
  }
}

/** Collects delivered events; `until(n)` resolves once n have arrived. */
function recorder() {
  const got: ContainerEvent[] = [];
  const waiting: { n: number; resolve: () => void }[] = [];
  return {
    got,
    onEvent(e: ContainerEvent) {
      got.push(e);
      for (const w of waiting.filter((x) => got.length >= x.n)) w.resolve();
    },
    until(n: number) {
      if (got.length >= n) return Promise.resolve();
      const p = Promise.withResolvers<void>();
      waiting.push({ n, resolve: p.resolve });
      return p.promise;
    },
  };
}

const fast = { minMs: 1, maxMs: 4 };
const keys = (events: ContainerEvent[]) => events.map((e) => `${e.timeNano}:${e.id}:${e.kind}`);

describe("watchContainers", () => {
  it("reconnects from the last event it saw and delivers nothing twice", async () => {
    const engine = new ScriptedEngine([
      { events: [event(100n, "aaa"), event(200n, "bbb")], end: "lost" },
      // The engine replays events at `since` itself, and a restart can replay more than that.
      { events: [event(100n, "aaa"), event(200n, "bbb"), event(300n, "ccc")], end: "lost" },
      { events: [event(300n, "ccc"), event(300n, "ddd"), event(300n, "ddd", "oom"), event(400n, "ddd", "oom")], end: "hold" },
    ]);
    const rec = recorder();
    const logs: { event: string; fields: Record<string, unknown> }[] = [];
    const ctl = new AbortController();
    const watching = watchContainers(engine, rec.onEvent, {
      signal: ctl.signal,
      retry: fast,
      log: (event, fields) => logs.push({ event, fields }),
    });
    await rec.until(6);
    ctl.abort();
    await watching;
    assert.deepEqual(keys(rec.got), ["100:aaa:die", "200:bbb:die", "300:ccc:die", "300:ddd:die", "300:ddd:oom", "400:ddd:oom"]);
    assert.deepEqual(engine.since, [undefined, 200n, 300n], "first from now, then from the last event seen");
    assert.deepEqual(
      logs.map((l) => [l.event, l.fields.code, l.fields.host]),
      [
        ["container events lost", "UNAVAILABLE", "local"],
        ["container events lost", "UNAVAILABLE", "local"],
      ],
    );
  });

  it("resumes from the time of its first connect when the stream broke before any event", async () => {
    const before = BigInt(Date.now()) * 1_000_000n;
    const engine = new ScriptedEngine([
      { events: [], end: "lost" },
      { events: [], end: "end" },
      { events: [event(before + 10n ** 12n, "eee")], end: "hold" },
    ]);
    const rec = recorder();
    const ctl = new AbortController();
    const watching = watchContainers(engine, rec.onEvent, { signal: ctl.signal, retry: fast });
    await rec.until(1);
    ctl.abort();
    await watching;
    const [first, second, third] = engine.since;
    assert.equal(first, undefined);
    assert.ok(second !== undefined && second >= before, "no replay of history from before berth started watching");
    assert.equal(third, second, "an ended stream reconnects like a lost one");
  });

  it("keeps watching when the handler throws", async () => {
    const engine = new ScriptedEngine([{ events: [event(1n, "a1"), event(2n, "a2")], end: "hold" }]);
    const seen: string[] = [];
    const logs: string[] = [];
    const ctl = new AbortController();
    const done = Promise.withResolvers<void>();
    const watching = watchContainers(
      engine,
      (e) => {
        seen.push(e.id);
        if (e.id === "a1") throw new Error("Slack is down");
        done.resolve();
      },
      { signal: ctl.signal, retry: fast, log: (event) => logs.push(event) },
    );
    await done.promise;
    ctl.abort();
    await watching;
    assert.deepEqual(seen, ["a1", "a2"]);
    assert.deepEqual(logs, ["container event handler failed"]);
  });

  it("resolves when aborted during the backoff, and never rejects", async () => {
    const engine = new ScriptedEngine([{ events: [], end: "lost" }]);
    const ctl = new AbortController();
    const logged = Promise.withResolvers<void>();
    const watching = watchContainers(engine, () => {}, {
      signal: ctl.signal,
      retry: { minMs: 3_600_000, maxMs: 3_600_000 },
      log: () => logged.resolve(),
    });
    await logged.promise; // lost once; now waiting an hour before the next try
    ctl.abort();
    await watching;
    assert.deepEqual(engine.since, [undefined]);
  });

  it("forgets the oldest keys beyond its bound but still never goes back in time", async () => {
    const many = Array.from({ length: 1500 }, (_, i) => event(BigInt(i + 1), `m${i}`));
    const engine = new ScriptedEngine([
      { events: many, end: "lost" },
      { events: [event(1500n, "m1499"), event(1501n, "last")], end: "hold" },
    ]);
    const rec = recorder();
    const ctl = new AbortController();
    const watching = watchContainers(engine, rec.onEvent, { signal: ctl.signal, retry: fast });
    await rec.until(1501);
    ctl.abort();
    await watching;
    assert.equal(rec.got.length, 1501);
    assert.equal(rec.got.at(-1)?.id, "last");
    assert.deepEqual(engine.since, [undefined, 1500n]);
  });
});
