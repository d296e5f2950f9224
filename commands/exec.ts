import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { hostOption, leadingPositionals } from "../src/core/command-options.ts";

export default defineCommand({
  name: "exec",
  summary: "Run a command inside a running berth container and stream its output",
  usage: "exec [-H HOST] CONTAINER CMD [ARG...]",
  examples: ["exec api ps", "exec -H local api sh -c 'cat /etc/hostname'"],
  options: [{ ...hostOption }],
  interspersed: false,
  args: z.object({ _: leadingPositionals(["CONTAINER"], "CMD!"), host: z.string().optional() }),
  toAction: ({ _: [container = "", ...cmd], host }) => ({
    kind: "container.exec",
    container,
    cmd,
    ...(host !== undefined && { host }),
  }),
});
