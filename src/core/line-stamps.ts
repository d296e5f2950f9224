import type { LogLine } from "../engines/ports.ts";

/**
 * `logs -t`: Docker's time in front of each line, as `docker logs -t` shows it: once per line, not on every piece of
 * a line the engine cut (a piece marked `continued` is followed by the rest of its line on the same stream).
 */
export function lineStamper(): (line: LogLine) => LogLine {
  const open = new Set<LogLine["stream"]>();
  return (line) => {
    const first = !open.has(line.stream);
    if (line.continued) open.add(line.stream);
    else open.delete(line.stream);
    return first && line.at !== undefined ? { ...line, text: `${line.at} ${line.text}` } : line;
  };
}
