import { z } from "zod";
import { defineCommand } from "../src/command.ts";
import { positionals } from "../src/command-options.ts";

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
