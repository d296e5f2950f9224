import { z } from "zod";
import { maxContainers } from "../src/core/action.ts";
import { defineCommand } from "../src/core/command.ts";
import { hostOption } from "../src/core/command-options.ts";

export default defineCommand({
  name: "stats",
  summary: "One snapshot of CPU, memory, network and disk use of berth's running containers (or the named ones), busiest first",
  usage: "stats [-H HOST] [CONTAINER...]",
  examples: ["stats", "stats api worker-1", "stats -H local"],
  options: [{ ...hostOption }],
  interspersed: true,
  args: z.object({
    _: z
      .array(z.string())
      .transform((words) => [...new Set(words)])
      .refine((names) => names.length <= maxContainers, {
        message: `at most ${maxContainers} containers in one command; leave the names out to see all running ones`,
      }),
    host: z.string().optional(),
  }),
  toAction: ({ _: containers, host }) => ({ kind: "container.stats", containers, ...(host !== undefined && { host }) }),
});
