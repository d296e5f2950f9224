import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { flag, hostOption, positionals } from "../src/core/command-options.ts";

export default defineCommand({
  name: "rm",
  summary: "Remove a berth container (-f also removes a running one)",
  usage: "rm [-f] [-H HOST] CONTAINER",
  examples: ["rm api", "rm -f worker-1", "rm --force -H local api"],
  options: [{ long: "force", short: "f", type: "flag", help: "remove even if it is running" }, { ...hostOption }],
  interspersed: true,
  // Without a container, berth offers the ones this person may act on here.
  picks: (words) => words.length === 0,
  args: z.object({ _: positionals(["CONTAINER"]), force: flag, host: z.string().optional() }),
  toAction: ({ _: [container], force, host }) => ({
    kind: "container.remove",
    container,
    force,
    ...(host !== undefined && { host }),
  }),
});
