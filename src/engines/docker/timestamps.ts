/**
 * Docker's log timestamps (`timestamps=true`): each line starts with RFC 3339 time and a space. Docker prints 9
 * fractional digits, some versions fewer; berth keeps them at 9 so that two compare as text (a cursor is text: a JS
 * number cannot hold nanoseconds).
 */
import type { LogLine } from "../ports.ts";

const stamp = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z /;

/** A line's leading timestamp taken off: the line and its time, or the line as it is when it has none. */
export function splitTimestamp(line: LogLine): LogLine {
  const m = stamp.exec(line.text);
  if (!m) return line;
  return { ...line, text: line.text.slice(m[0].length), at: `${m[1]}.${(m[2] ?? "").padEnd(9, "0")}Z` };
}

/** The API's `since` for a cursor: UNIX seconds and nanoseconds ("1733403255.718583289"); Docker includes that instant. */
export function sinceParam(at: string): string {
  const seconds = Math.floor(Date.parse(`${at.slice(0, 19)}Z`) / 1000);
  const nanos = /\.(\d{9})Z$/.exec(at)?.[1] ?? "000000000";
  return `${seconds}.${nanos}`;
}

/**
 * Timestamps each line of a stream and drops the lines at or before `after`. A line Docker cut into pieces carries its
 * time on the first piece only: the others get it from there.
 */
export async function* stampedLines(lines: AsyncIterable<LogLine>, after: string | undefined): AsyncGenerator<LogLine> {
  const open: Partial<Record<LogLine["stream"], string>> = {};
  for await (const raw of lines) {
    const carried = open[raw.stream];
    const line = carried === undefined ? splitTimestamp(raw) : { ...raw, at: carried };
    open[raw.stream] = line.continued ? line.at : undefined;
    if (after !== undefined && line.at !== undefined && line.at <= after) continue;
    yield line;
  }
}
