import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { durationOption, flag, hostOption, positionals } from "../src/core/command-options.ts";

export default defineCommand({
  name: "logs",
  summary: "Show a container's output in a thread; -f keeps following it until you press Stop",
  usage: "logs [-f] [--tail N] [--since DURATION] [-H HOST] CONTAINER",
  examples: ["logs api", "logs -f api", "logs --tail 100 --since 10m api", "Logs —follow —tail=20 api"],
  options: [
    { long: "follow", short: "f", type: "flag", help: "keep streaming new lines until stopped" },
    { long: "tail", short: "n", type: "value", valueName: "N", help: "only the last N lines (or `all`)" },
    { long: "since", type: "value", valueName: "DURATION", help: "only lines from the last DURATION, e.g. 15m" },
    { ...hostOption },
  ],
  interspersed: true,
  args: z.object({
    _: positionals(["CONTAINER"]),
    follow: flag,
    tail: z
      .string()
      .regex(/^(all|\d+)$/i, "write a number of lines, or `all`")
      .optional()
      .transform((t) => (t === undefined || t.toLowerCase() === "all" ? undefined : Number(t))),
    since: durationOption,
    host: z.string().optional(),
  }),
  toAction: ({ _: [container], follow, tail, since, host }) => ({
    kind: "container.logs",
    container,
    follow,
    ...(tail !== undefined && { tail }),
    ...(since !== undefined && { sinceSeconds: since }),
    ...(host !== undefined && { host }),
  }),
});
