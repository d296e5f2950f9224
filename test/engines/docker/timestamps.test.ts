import assert from "node:assert/strict";
import { test } from "node:test";
import { sinceParam, splitTimestamp, stampedLines } from "../../../src/engines/docker/timestamps.ts";
import type { LogLine } from "../../../src/engines/ports.ts";

test("a line's Docker timestamp is taken off and kept with 9 fractional digits, so that two compare as text", () => {
  assert.deepEqual(splitTimestamp({ stream: "stdout", text: "2026-12-05T12:54:15.7181Z hello world" }), {
    stream: "stdout",
    text: "hello world",
    at: "2026-12-05T12:54:15.718100000Z",
  });
  assert.deepEqual(splitTimestamp({ stream: "stdout", text: "no time here" }), { stream: "stdout", text: "no time here" });
  assert.ok("2026-12-05T12:54:15.718100000Z" < "2026-12-05T12:54:15.718100001Z");
});

test("the API's since for a cursor is UNIX seconds and nanoseconds", () => {
  assert.equal(sinceParam("2026-12-05T12:54:15.718583289Z"), `${Date.UTC(2026, 11, 5, 12, 54, 15) / 1000}.718583289`);
});

test("lines at or before the cursor are dropped, and the pieces of a cut line share its time", async () => {
  async function* source(): AsyncGenerator<LogLine> {
    yield { stream: "stdout", text: "2026-12-05T00:00:01.000000000Z one" };
    yield { stream: "stdout", text: "2026-12-05T00:00:02.000000000Z two" };
    yield { stream: "stdout", text: "2026-12-05T00:00:03.000000000Z thr", continued: true };
    yield { stream: "stdout", text: "ee" };
  }
  const out: LogLine[] = [];
  for await (const l of stampedLines(source(), "2026-12-05T00:00:01.000000000Z")) out.push(l);
  assert.deepEqual(
    out.map((l) => [l.text, l.at]),
    [
      ["two", "2026-12-05T00:00:02.000000000Z"],
      ["thr", "2026-12-05T00:00:03.000000000Z"],
      ["ee", "2026-12-05T00:00:03.000000000Z"],
    ],
  );
});
