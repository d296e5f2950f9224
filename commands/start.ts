import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { containerNames, hostOption } from "../src/core/command-options.ts";

export default defineCommand({
  name: "start",
  summary: "Start stopped berth containers (one or several)",
  usage: "start [-H HOST] CONTAINER [CONTAINER...]",
  examples: ["start api", "start -H local worker-1", "start worker-1 worker-2"],
  options: [{ ...hostOption }],
  interspersed: true,
  // Without a container, berth offers the ones this person may act on here.
  picks: (words) => words.length === 0,
  args: z.object({ _: containerNames, host: z.string().optional() }),
  toAction: ({ _: containers, host }) => ({
    kind: "container.start",
    ...containers,
    ...(host !== undefined && { host }),
  }),
});
