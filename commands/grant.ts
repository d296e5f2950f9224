import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { durationOption } from "../src/core/command-options.ts";

/**
 * `grant ROLE --for … --reason …` asks for a role; `grant revoke GRANT_ID` ends one early. `revoke` is always the
 * subcommand, so a role named `revoke` cannot be asked for by name (`grant revoke --for …` says what --for goes with).
 */
export default defineCommand({
  name: "grant",
  summary: "Ask for a role for a limited time (break-glass; someone the policy names must approve), or end a grant early",
  usage: "grant ROLE --for DURATION --reason TEXT | grant revoke GRANT_ID",
  examples: [
    'grant admin --for 1h --reason "INC-123 failover"',
    "grant operator --for 30m --reason 'restart stuck workers'",
    "grant revoke g-1a2b3c",
  ],
  options: [
    { long: "for", type: "value", valueName: "DURATION", help: "how long, e.g. 30m or 1h (the policy sets a maximum)" },
    { long: "reason", type: "value", valueName: "TEXT", help: "why; shown to approvers and kept in the audit log" },
  ],
  interspersed: true,
  args: z
    .object({
      _: z.array(z.string()),
      for: durationOption,
      reason: z.string().optional(),
    })
    .superRefine((a, ctx) => {
      const [first, ...rest] = a._;
      const extra = (word: string) => ctx.addIssue({ code: "custom", message: `unexpected extra argument \`${word}\`` });
      if (first?.toLowerCase() === "revoke") {
        if (rest[0] === undefined)
          ctx.addIssue({ code: "custom", message: "missing GRANT_ID (the grant's announcement names it, e.g. g-1a2b3c)" });
        if (rest[1] !== undefined) extra(rest[1]);
        if (a.for !== undefined || a.reason !== undefined)
          ctx.addIssue({ code: "custom", message: "--for and --reason go with asking for a grant, not with `grant revoke`" });
        return;
      }
      if (first === undefined) ctx.addIssue({ code: "custom", message: "missing ROLE" });
      if (rest[0] !== undefined) extra(rest[0]);
      if (a.for === undefined) ctx.addIssue({ code: "custom", path: ["for"], message: "say for how long, e.g. `--for 1h`" });
      if (a.reason === undefined)
        ctx.addIssue({ code: "custom", path: ["reason"], message: 'say why, e.g. `--reason "INC-123 failover"`' });
    }),
  toAction: ({ _: [first = "", id = ""], for: seconds, reason }) =>
    first.toLowerCase() === "revoke"
      ? { kind: "grant.revoke", grant: id.toLowerCase() }
      : { kind: "grant.request", role: first.toLowerCase(), durationSeconds: seconds ?? 0, reason: reason ?? "" },
});
