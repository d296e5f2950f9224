import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { positionals } from "../src/core/command-options.ts";

export default defineCommand({
  name: "jobs",
  summary: "List running jobs (attached runs, log streams, execs) with their ids",
  usage: "jobs",
  examples: ["jobs"],
  options: [],
  interspersed: true,
  args: z.object({ _: positionals([]) }),
  toAction: () => ({ kind: "job.list" }),
});
