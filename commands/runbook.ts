import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";

export default defineCommand({
  name: "runbook",
  summary: "Run one of the policy's runbooks: its steps in order, as one job with a checklist (alone: list them)",
  usage: "runbook [NAME [VALUE | PARAM=VALUE]...]",
  // Tested to parse, and (test/core/runbook.test.ts) to run against manifests/policy.example.yaml's runbooks.
  examples: ["runbook", "runbook restart-api api", "runbook restart-api container=api tail=200", "runbook diagnose api since=30m"],
  options: [],
  // Everything after NAME is the runbook's: a value that starts with - is refused by its parameter's type, never read
  // as an option of berth's.
  interspersed: false,
  args: z.object({ _: z.array(z.string()) }),
  toAction: ({ _: [name, ...args] }) => ({ kind: "runbook.run", ...(name ? { name: name.toLowerCase() } : {}), args }),
});
