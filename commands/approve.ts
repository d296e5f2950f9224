import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { positionals } from "../src/core/command-options.ts";

export default defineCommand({
  name: "approve",
  summary: "Approve a request waiting for a second person (same as its Approve button)",
  usage: "approve ID",
  examples: ["approve r-1a2b3c"],
  options: [],
  interspersed: true,
  args: z.object({ _: positionals(["ID (the request id on the approval card)"]) }),
  toAction: ({ _: [id] }) => ({ kind: "approval.decide", id: id.toLowerCase(), verdict: "approve" }),
});
