import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { positionals } from "../src/core/command-options.ts";

export default defineCommand({
  name: "cancel",
  summary: "Stop a running job (same as its Stop button)",
  usage: "cancel JOB",
  examples: ["cancel j-7f3a2c"],
  options: [],
  interspersed: true,
  args: z.object({ _: positionals(["JOB (an id that the jobs command lists)"]) }),
  toAction: ({ _: [job] }) => ({ kind: "job.cancel", job: job.toLowerCase() }),
});
