import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { positionals } from "../src/core/command-options.ts";

export default defineCommand({
  name: "whoami",
  summary: "Show your roles and what you may do in this channel",
  usage: "whoami",
  examples: ["whoami", "Whoami"],
  options: [],
  interspersed: true,
  args: z.object({ _: positionals([]) }),
  toAction: () => ({ kind: "policy.explain", question: "whoami" }),
});
