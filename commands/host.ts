import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { durationOption, flag } from "../src/core/command-options.ts";
import { suggest } from "../src/core/suggest.ts";

const subcommands = ["create", "rm", "extend"] as const;
const createOnly = ["os", "size", "region", "hyperv", "private"] as const;

/** `host SUB …`: Docker hosts berth makes in Azure. Listing them is `hosts`, next to the manifest's hosts. */
export default defineCommand({
  name: "host",
  summary: "Create a Docker host in Azure (Linux or Windows, TLS on 2376), extend its lifetime, or remove it",
  usage:
    "host create NAME [--os linux|windows] [--size SKU] [--region R] [--ttl DURATION] [--hyperv] [--private] | host extend NAME [--ttl DURATION] | host rm NAME",
  examples: [
    "host create ci-linux",
    "host create win-build --os windows --ttl 4h",
    "host create hv-build --os windows --hyperv --size Standard_D4s_v5",
    "host extend win-build --ttl 2h",
    "host rm win-build",
  ],
  options: [
    { long: "os", type: "value", valueName: "linux|windows", help: "create: the host's OS (default linux)" },
    { long: "size", type: "value", valueName: "SKU", help: "create: the Azure VM size (default: the policy's first size)" },
    { long: "region", type: "value", valueName: "REGION", help: "create: the Azure region (default AZURE_LOCATION)" },
    {
      long: "ttl",
      type: "value",
      valueName: "DURATION",
      help: "create/extend: how long the host lives (default and maximum from the policy)",
    },
    { long: "hyperv", type: "flag", help: "create: Windows host with the Hyper-V role, for --isolation hyperv" },
    { long: "private", type: "flag", help: "create: no public IP; berth reaches it inside the virtual network" },
  ],
  interspersed: true,
  // `host extend` without a name: berth offers the hosts this person may act on here.
  picks: (words) => words.length === 1 && ["extend", "rm"].includes(words[0] ?? ""),
  args: z
    .object({
      _: z.array(z.string()),
      os: z
        .string()
        .transform((s) => s.toLowerCase())
        .pipe(z.enum(["linux", "windows"], { error: "--os is linux or windows" }))
        .optional(),
      size: z.string().optional(),
      region: z
        .string()
        .transform((s) => s.toLowerCase().replace(/\s+/g, ""))
        .optional(),
      ttl: durationOption,
      hyperv: flag,
      private: flag,
    })
    .superRefine((a, ctx) => {
      const [sub, ...rest] = a._;
      if (sub === undefined) return void ctx.addIssue({ code: "custom", message: `missing what to do: ${subcommands.join(", ")}` });
      if (!(subcommands as readonly string[]).includes(sub)) {
        const close = suggest(sub, [...subcommands, "remove", "delete"]).slice(0, 2);
        const named = close.map((c) => (c === "remove" || c === "delete" ? "rm" : c));
        return void ctx.addIssue({
          code: "custom",
          message: `\`host ${sub}\` is not a host command.${named.length ? ` Did you mean ${[...new Set(named)].map((c) => `\`host ${c}\``).join(" or ")}?` : ""} (\`hosts\` lists hosts.)`,
        });
      }
      if (rest.length === 0) ctx.addIssue({ code: "custom", message: "missing NAME" });
      if (rest.length > 1) ctx.addIssue({ code: "custom", message: `unexpected extra argument \`${rest[1]}\`` });
      if (sub !== "create") {
        const stray = createOnly.filter((o) => a[o] !== undefined && a[o] !== false);
        if (stray.length) ctx.addIssue({ code: "custom", message: `${stray.map((o) => `--${o}`).join(", ")} go with \`host create\`` });
      }
      if (sub === "rm" && a.ttl !== undefined) ctx.addIssue({ code: "custom", message: "--ttl goes with `host create` or `host extend`" });
    }),
  toAction: ({ _: [sub, name = ""], os, size, region, ttl, hyperv, private: priv }) => {
    const ttlSeconds = ttl !== undefined ? { ttlSeconds: ttl } : {};
    switch (sub) {
      case "create":
        return {
          kind: "host.create",
          name: name.toLowerCase(),
          os: os ?? "linux",
          ...(size !== undefined && { size }),
          ...(region !== undefined && { region }),
          ...ttlSeconds,
          hyperv,
          private: priv,
        };
      case "extend":
        return { kind: "host.extend", name, ...ttlSeconds };
      default:
        return { kind: "host.remove", name };
    }
  },
});
