import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { hostOption, positionals } from "../src/core/command-options.ts";

export default defineCommand({
  name: "start",
  summary: "Start a stopped berth container",
  usage: "start [-H HOST] CONTAINER",
  examples: ["start api", "start -H local worker-1"],
  options: [{ ...hostOption }],
  interspersed: true,
  // Without a container, berth offers the ones this person may act on here.
  picks: (words) => words.length === 0,
  args: z.object({ _: positionals(["CONTAINER"]), host: z.string().optional() }),
  toAction: ({ _: [container], host }) => ({
    kind: "container.start",
    container,
    ...(host !== undefined && { host }),
  }),
});
