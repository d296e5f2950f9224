import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { leadingPositionals } from "../src/core/command-options.ts";

export default defineCommand({
  name: "can-i",
  summary: "Ask the policy whether you may run a command here, and who could approve it (nothing is run)",
  usage: "can-i COMMAND...",
  examples: ["can-i run busybox:1 echo hi", "can-i rm -f api", "can-i logs -f -H local api"],
  options: [],
  interspersed: false,
  args: z.object({ _: leadingPositionals([], "COMMAND!") }),
  // Re-quote each word so the inner command parses exactly as typed.
  toAction: ({ _: words }) => ({
    kind: "policy.explain",
    question: "can-i",
    text: words.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(" "),
  }),
});
