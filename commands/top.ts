import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { hostOption, positionals } from "../src/core/command-options.ts";

export default defineCommand({
  name: "top",
  summary: "List the processes running in a berth container (like docker top)",
  usage: "top [-H HOST] CONTAINER",
  examples: ["top api", "top -H local worker-1"],
  options: [{ ...hostOption }],
  interspersed: true,
  // Without a container, berth offers the running ones this person may look into here.
  picks: (words) => words.length === 0,
  args: z.object({ _: positionals(["CONTAINER"]), host: z.string().optional() }),
  toAction: ({ _: [container], host }) => ({ kind: "container.top", container, ...(host !== undefined && { host }) }),
});
