import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { durationOption, positionals } from "../src/core/command-options.ts";

export default defineCommand({
  name: "grant",
  summary: "Ask for a role for a limited time (break-glass); someone the policy names must approve",
  usage: "grant ROLE --for DURATION --reason TEXT",
  examples: ['grant admin --for 1h --reason "INC-123 failover"', "grant operator --for 30m --reason 'restart stuck workers'"],
  options: [
    { long: "for", type: "value", valueName: "DURATION", help: "how long, e.g. 30m or 1h (the policy sets a maximum)" },
    { long: "reason", type: "value", valueName: "TEXT", help: "why; shown to approvers and kept in the audit log" },
  ],
  interspersed: true,
  args: z.object({
    _: positionals(["ROLE"]),
    for: durationOption.refine((s) => s !== undefined, "say for how long, e.g. `--for 1h`"),
    reason: z.string({ error: 'say why, e.g. `--reason "INC-123 failover"`' }),
  }),
  toAction: (a) => ({ kind: "grant.request", role: a._[0].toLowerCase(), durationSeconds: a.for ?? 0, reason: a.reason }),
});
