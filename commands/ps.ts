import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { flag, hostOption, positionals } from "../src/core/command-options.ts";

export default defineCommand({
  name: "ps",
  summary: "List the containers berth started (running ones; -a for all)",
  usage: "ps [-a] [-H HOST]",
  examples: ["ps", "ps -a", "ps --all -H local"],
  options: [{ long: "all", short: "a", type: "flag", help: "include stopped containers" }, { ...hostOption }],
  interspersed: true,
  args: z.object({ _: positionals([]), all: flag, host: z.string().optional() }),
  toAction: ({ all, host }) => ({ kind: "container.list", all, ...(host !== undefined && { host }) }),
});
