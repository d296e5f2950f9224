import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { containerNames, flag, hostOption } from "../src/core/command-options.ts";

export default defineCommand({
  name: "rm",
  summary: "Remove berth containers (one or several; -f also removes running ones)",
  usage: "rm [-f] [-H HOST] CONTAINER [CONTAINER...]",
  examples: ["rm api", "rm -f worker-1", "rm --force -H local api", "rm -f worker-1 worker-2 worker-3"],
  options: [{ long: "force", short: "f", type: "flag", help: "remove even if it is running" }, { ...hostOption }],
  interspersed: true,
  // Without a container, berth offers the ones this person may act on here.
  picks: (words) => words.length === 0,
  args: z.object({ _: containerNames, force: flag, host: z.string().optional() }),
  toAction: ({ _: containers, force, host }) => ({
    kind: "container.remove",
    ...containers,
    force,
    ...(host !== undefined && { host }),
  }),
});
