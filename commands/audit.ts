import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { durationOption, hostOption, positionals } from "../src/core/command-options.ts";

export default defineCommand({
  name: "audit",
  summary: "Show recent audit records: decisions, approvals, grants and outcomes",
  usage: "audit [--since DURATION] [--user @USER] [-H HOST]",
  examples: ["audit", "audit --since 1h", "audit --user <@U0ONCALL1> -H local"],
  options: [
    { long: "since", type: "value", valueName: "DURATION", help: "only records from the last DURATION" },
    { long: "user", type: "value", valueName: "@USER", help: "only this person's requests" },
    { ...hostOption, help: "only actions on this host" },
  ],
  interspersed: true,
  args: z.object({
    _: positionals([]),
    since: durationOption,
    user: z
      .string()
      .regex(/^@?[UW][A-Z0-9]+$/, "mention the person, e.g. `--user @alice`")
      .optional(),
    host: z.string().optional(),
  }),
  toAction: ({ since, user, host }) => ({
    kind: "audit.query",
    ...(since !== undefined && { sinceSeconds: since }),
    ...(user !== undefined && { user: user.replace(/^@/, "") }),
    ...(host !== undefined && { host }),
  }),
});
