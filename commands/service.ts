import { z } from "zod";
import { defineCommand } from "../src/core/command.ts";
import { durationOption, flag, hostOption } from "../src/core/command-options.ts";
import { suggest } from "../src/core/suggest.ts";

const subcommands = ["ls", "ps", "logs", "scale", "update", "rollback"] as const;
const arity: Record<(typeof subcommands)[number], string[]> = {
  ls: [],
  ps: ["NAME"],
  logs: ["NAME"],
  scale: ["NAME=REPLICAS"],
  update: ["NAME"],
  rollback: ["NAME"],
};

/** `service SUB …`: one command, so `help service` shows every subcommand with its examples. */
export default defineCommand({
  name: "service",
  aliases: ["services"],
  summary: "Swarm services: list, tasks, logs, and scale/update/rollback with the card following convergence",
  usage:
    "service ls | ps NAME | logs [-f] [--tail N] [--since DURATION] NAME | scale NAME=N | update --image IMAGE NAME | rollback NAME  [-H HOST]",
  examples: [
    "service ls",
    "service ps web",
    "service logs -f --tail 50 web",
    "service scale web=3",
    "service update --image registry.example.com/web:2.4 web",
    "service rollback web -H swarm-1",
  ],
  options: [
    { long: "follow", short: "f", type: "flag", help: "logs: keep streaming new lines until stopped" },
    { long: "tail", short: "n", type: "value", valueName: "N", help: "logs: only the last N lines" },
    { long: "since", type: "value", valueName: "DURATION", help: "logs: only lines from the last DURATION" },
    { long: "image", type: "value", valueName: "IMAGE", help: "update: the new image" },
    { ...hostOption },
  ],
  interspersed: true,
  // `service ps` without a name: berth offers the services this person may act on here.
  picks: (words) => words.length === 1 && ["ps", "logs", "update", "rollback"].includes(words[0] ?? ""),
  args: z
    .object({
      _: z.array(z.string()),
      follow: flag,
      tail: z.coerce.number({ error: "write a number of lines" }).int().nonnegative().optional(),
      since: durationOption,
      image: z.string().optional(),
      host: z.string().optional(),
    })
    .superRefine((a, ctx) => {
      const [sub, ...rest] = a._;
      if (sub === undefined) return void ctx.addIssue({ code: "custom", message: `missing what to do: ${subcommands.join(", ")}` });
      if (!(subcommands as readonly string[]).includes(sub)) {
        const close = suggest(sub, subcommands).slice(0, 2);
        return void ctx.addIssue({
          code: "custom",
          message: `\`service ${sub}\` is not a service command.${close.length ? ` Did you mean ${close.map((c) => `\`service ${c}\``).join(" or ")}?` : ""}`,
        });
      }
      const names = arity[sub as keyof typeof arity];
      // `scale web 3` is accepted too: a phone keyboard makes `=` a detour.
      const words = sub === "scale" && rest.length === 2 ? [`${rest[0]}=${rest[1]}`] : rest;
      if (words.length < names.length) ctx.addIssue({ code: "custom", message: `missing ${names[words.length]}` });
      if (words.length > names.length) ctx.addIssue({ code: "custom", message: `unexpected extra argument \`${words[names.length]}\`` });
      if (sub === "scale" && words[0] !== undefined && !/^[^=]+=\d+$/.test(words[0]))
        ctx.addIssue({ code: "custom", message: `write NAME=REPLICAS, e.g. web=3 (got \`${words[0]}\`)` });
      if (sub === "update" && a.image === undefined)
        ctx.addIssue({ code: "custom", message: "missing --image IMAGE (the only change berth makes)" });
      if (sub !== "update" && a.image !== undefined) ctx.addIssue({ code: "custom", message: "--image goes with `service update`" });
      if (sub !== "logs" && (a.follow || a.tail !== undefined || a.since !== undefined))
        ctx.addIssue({ code: "custom", message: "-f, --tail and --since go with `service logs`" });
    }),
  toAction: ({ _: [sub, ...rest], follow, tail, since, image, host }) => {
    const on = host !== undefined ? { host } : {};
    const service = rest[0] ?? "";
    switch (sub) {
      case "ls":
        return { kind: "service.list", ...on };
      case "ps":
        return { kind: "service.ps", service, ...on };
      case "logs":
        return {
          kind: "service.logs",
          service,
          follow,
          ...(tail !== undefined && { tail }),
          ...(since !== undefined && { sinceSeconds: since }),
          ...on,
        };
      case "scale": {
        const [name = "", n = ""] = (rest.length === 2 ? `${rest[0]}=${rest[1]}` : service).split("=");
        return { kind: "service.scale", service: name, replicas: Number(n), ...on };
      }
      case "update":
        return { kind: "service.update", service, image: image ?? "", ...on };
      default:
        return { kind: "service.rollback", service, ...on };
    }
  },
});
