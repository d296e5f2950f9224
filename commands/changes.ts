import { z } from "zod";
import { maxChangesSeconds } from "../src/core/action.ts";
import { defineCommand } from "../src/core/command.ts";
import { durationOption, hostOption, positionals } from "../src/core/command-options.ts";

/** The window `changes` looks back over when none is given. */
export const defaultChangesSeconds = 3600;

export default defineCommand({
  name: "changes",
  summary: "What changed on a host: its engine's events and what was done through berth, newest first, repeats counted",
  usage: "changes [--since DURATION] [-H HOST]",
  examples: ["changes", "changes --since 15m", "changes --since 6h -H local"],
  options: [
    { long: "since", type: "value", valueName: "DURATION", help: "how far back to look (default 1h, at most 24h)" },
    { ...hostOption },
  ],
  interspersed: true,
  args: z.object({
    _: positionals([]),
    since: durationOption.refine((s) => s === undefined || s <= maxChangesSeconds, {
      message: `\`changes\` looks back at most ${maxChangesSeconds / 3600}h: Docker keeps only its last 256 events, in memory (none from before the engine restarted). For what was done through berth further back, use \`audit --since\``,
    }),
    host: z.string().optional(),
  }),
  toAction: ({ since, host }) => ({
    kind: "events.changes",
    sinceSeconds: since ?? defaultChangesSeconds,
    ...(host !== undefined && { host }),
  }),
});
