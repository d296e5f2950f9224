import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { positionals } from "../src/core/command-options.ts";

export default defineCommand({
  name: "deny",
  summary: "Deny a request waiting for approval, or withdraw your own (same as its Deny button)",
  usage: "deny ID",
  examples: ["deny r-1a2b3c"],
  options: [],
  interspersed: true,
  args: z.object({ _: positionals(["ID (the request id on the approval card)"]) }),
  toAction: ({ _: [id] }) => ({ kind: "approval.decide", id: id.toLowerCase(), verdict: "deny" }),
});
