import type { Registry } from "./command.ts";

/** Help is generated from the command definitions, never written by hand. */
export function helpText(registry: Registry, topic?: string, slash = "/berth"): string {
  if (topic) {
    const c = registry.find(topic);
    if (!c) {
      const close = registry.suggest(topic);
      return `No command \`${topic}\`${close.length ? `; did you mean ${close.map((n) => `\`${n}\``).join(" or ")}?` : "."} Try \`${slash} help\`.`;
    }
    const options = c.options.map(
      (o) => `• \`${o.short ? `-${o.short}, ` : ""}--${o.long}${o.type === "flag" ? "" : ` ${o.valueName ?? "VALUE"}`}\` ${o.help}`,
    );
    return [
      `*${slash} ${c.usage}*`,
      c.summary,
      ...(options.length ? ["*Options*", ...options] : []),
      "*Examples*",
      ...c.examples.map((e) => `\`${slash} ${e}\``),
    ].join("\n");
  }
  return [
    `*berth* runs containers from Slack. \`${slash} help COMMAND\` shows one command in full.`,
    ...registry.commands.map((c) => `• \`${c.usage}\` — ${c.summary}`),
  ].join("\n");
}
