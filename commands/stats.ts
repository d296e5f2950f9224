import { z } from "zod";
import { maxContainers } from "../src/core/action.ts";
import { defineCommand } from "../src/core/command.ts";
import { hostOption } from "../src/core/command-options.ts";

export default defineCommand({
  name: "stats",
  summary: "One snapshot of CPU, memory, network and disk use of berth's running containers (or the named ones), busiest first",
  usage: "stats [-H HOST] [CONTAINER...]",
  examples: ["stats", "stats api worker-1", "stats -H local", "stats --no-stream"],
  options: [
    { ...hostOption },
    // What `docker stats` needs to stop after one reading; berth's always does, so the flag typed out of habit is fine.
    { long: "no-stream", type: "flag", help: "accepted as in docker; berth always shows one snapshot" },
  ],
  interspersed: true,
  args: z.object({
    _: z
      .array(z.string())
      .transform((words) => [...new Set(words)])
      .refine((names) => names.length <= maxContainers, {
        message: `at most ${maxContainers} containers in one command; leave the names out to see all running ones`,
      }),
    host: z.string().optional(),
    "no-stream": z.boolean().default(false),
  }),
  toAction: ({ _: containers, host }) => ({ kind: "container.stats", containers, ...(host !== undefined && { host }) }),
});
