import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { containerNames, hostOption } from "../src/core/command-options.ts";

export default defineCommand({
  name: "stop",
  summary: "Stop running berth containers (one or several, like docker stop)",
  usage: "stop [-H HOST] CONTAINER [CONTAINER...]",
  examples: ["stop api", "stop -H local worker-1", "stop api worker-1 worker-2"],
  options: [{ ...hostOption }],
  interspersed: true,
  // Without a container, berth offers the ones this person may act on here.
  picks: (words) => words.length === 0,
  args: z.object({ _: containerNames, host: z.string().optional() }),
  toAction: ({ _: containers, host }) => ({
    kind: "container.stop",
    ...containers,
    ...(host !== undefined && { host }),
  }),
});
