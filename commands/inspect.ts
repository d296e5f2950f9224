import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { hostOption, positionals } from "../src/core/command-options.ts";

export default defineCommand({
  name: "inspect",
  summary: "Show a berth container's state, limits and settings (environment names only, never values)",
  usage: "inspect [-H HOST] CONTAINER",
  examples: ["inspect api", "inspect -H local worker-1"],
  options: [{ ...hostOption }],
  interspersed: true,
  // Without a container, berth offers the ones this person may act on here.
  picks: (words) => words.length === 0,
  args: z.object({ _: positionals(["CONTAINER"]), host: z.string().optional() }),
  toAction: ({ _: [container], host }) => ({
    kind: "container.inspect",
    container,
    ...(host !== undefined && { host }),
  }),
});
