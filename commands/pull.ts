import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { hostOption, positionals } from "../src/core/command-options.ts";

export default defineCommand({
  name: "pull",
  summary: "Pull an image onto a host, its progress on the card (private registries use the hosts manifest's logins)",
  usage: "pull [-H HOST] IMAGE",
  examples: ["pull busybox:1", "pull -H local registry.example.com/team/app:1.2", "Pull -H local ghcr.io/acme/api:2"],
  options: [{ ...hostOption }],
  interspersed: true,
  args: z.object({ _: positionals(["IMAGE"]), host: z.string().optional() }),
  toAction: ({ _: [image], host }) => ({
    kind: "image.pull",
    image,
    ...(host !== undefined && { host }),
  }),
});
