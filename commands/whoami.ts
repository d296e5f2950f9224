import { z } from "zod";
import { defineCommand } from "../src/command.ts";
import { positionals } from "../src/command-options.ts";

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
