import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { durationOption, positionals } from "../src/core/command-options.ts";

const maxSeconds = 7 * 24 * 3600;

export default defineCommand({
  name: "timeline",
  summary: "Everything done through berth in this channel, in order, with a Markdown file for the postmortem",
  usage: "timeline [--since DURATION]",
  examples: ["timeline", "timeline --since 2h", "timeline --since 3d"],
  options: [{ long: "since", type: "value", valueName: "DURATION", help: "how far back (default 24h, at most 7d)" }],
  interspersed: true,
  args: z.object({
    _: positionals([]),
    since: durationOption.refine((s) => s === undefined || s <= maxSeconds, "a timeline goes back at most `7d`"),
  }),
  toAction: ({ since }) => ({ kind: "audit.timeline", ...(since !== undefined && { sinceSeconds: since }) }),
});
