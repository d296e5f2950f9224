import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { positionals } from "../src/core/command-options.ts";

export default defineCommand({
  name: "hosts",
  summary: "List Docker hosts: reachable or not, OS and build, Docker and API version, isolation, Swarm role",
  usage: "hosts",
  examples: ["hosts", "Hosts"],
  options: [],
  interspersed: true,
  args: z.object({ _: positionals([]) }),
  toAction: () => ({ kind: "host.list" }),
});
