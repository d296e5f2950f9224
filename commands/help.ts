import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";

export default defineCommand({
  name: "help",
  summary: "List berth's commands, or show one command's options and examples",
  usage: "help [COMMAND]",
  examples: ["help", "help run", "Help logs"],
  options: [],
  interspersed: true,
  args: z.object({ _: z.array(z.string()).max(1, "give at most one COMMAND to explain") }),
  toAction: ({ _: [topic] }) => ({ kind: "help", ...(topic ? { topic: topic.toLowerCase() } : {}) }),
});
