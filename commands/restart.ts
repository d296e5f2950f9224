import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { containerNames, hostOption } from "../src/core/command-options.ts";

export default defineCommand({
  name: "restart",
  summary: "Restart berth containers (one or several)",
  usage: "restart [-H HOST] CONTAINER [CONTAINER...]",
  examples: ["restart api", "restart -H local worker-1", "restart api worker-1"],
  options: [{ ...hostOption }],
  interspersed: true,
  // Without a container, berth offers the ones this person may act on here.
  picks: (words) => words.length === 0,
  args: z.object({ _: containerNames, host: z.string().optional() }),
  toAction: ({ _: containers, host }) => ({
    kind: "container.restart",
    ...containers,
    ...(host !== undefined && { host }),
  }),
});
