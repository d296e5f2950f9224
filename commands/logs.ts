import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { durationOption, flag, hostOption, positionals } from "../src/core/command-options.ts";

export default defineCommand({
  name: "logs",
  summary: "Show a container's output in a thread; -f keeps following it until you press Stop",
  usage: "logs [-f] [-t] [--tail N] [--since DURATION] [--until DURATION] [-H HOST] CONTAINER",
  examples: [
    "logs api",
    "logs -f api",
    "logs --tail 100 --since 10m api",
    "logs -t --since 1h --until 30m api",
    "Logs —follow —tail=20 api",
  ],
  options: [
    { long: "follow", short: "f", type: "flag", help: "keep streaming new lines until stopped" },
    { long: "tail", short: "n", type: "value", valueName: "N", help: "only the last N lines (or `all`)" },
    { long: "since", type: "value", valueName: "DURATION", help: "only lines from the last DURATION, e.g. 15m" },
    { long: "until", type: "value", valueName: "DURATION", help: "only lines older than DURATION, e.g. 5m" },
    { long: "timestamps", short: "t", type: "flag", help: "show Docker's time in front of each line" },
    { ...hostOption },
  ],
  interspersed: true,
  // Without a container, berth offers the ones this person may act on here.
  picks: (words) => words.length === 0,
  args: z
    .object({
      _: positionals(["CONTAINER"]),
      follow: flag,
      timestamps: flag,
      until: durationOption,
      tail: z
        .string()
        .regex(/^(all|\d+)$/i, "write a number of lines, or `all`")
        .optional()
        .transform((t) => (t === undefined || t.toLowerCase() === "all" ? undefined : Number(t))),
      since: durationOption,
      host: z.string().optional(),
    })
    .refine((a) => !(a.follow && a.until !== undefined), {
      message: "`--until` reads back in time and `-f` waits for new lines: use one of them",
    })
    .refine((a) => a.since === undefined || a.until === undefined || a.until < a.since, {
      message: "`--until` must be more recent than `--since` (a shorter duration), or nothing is in between",
    }),
  toAction: ({ _: [container], follow, tail, since, until, timestamps, host }) => ({
    kind: "container.logs",
    container,
    follow,
    ...(tail !== undefined && { tail }),
    ...(since !== undefined && { sinceSeconds: since }),
    ...(until !== undefined && { untilSeconds: until }),
    ...(timestamps && { timestamps }),
    ...(host !== undefined && { host }),
  }),
});
