import type { Registry } from "./command.ts";
import { code, command, commandHeading, join, type Message, msg, strong } from "./message.ts";
import type { RunbookSpec } from "./runbook-schema.ts";

/** Help is generated from the command definitions (and the policy's runbooks), never written by hand. */
export function helpText(registry: Registry, topic?: string, runbooks: readonly RunbookSpec[] = []): Message {
  if (topic) {
    const c = registry.find(topic);
    if (!c) {
      const close = registry.suggest(topic);
      const didYouMean = close.length
        ? msg`; did you mean ${join(
            close.map((n) => [code(n)]),
            " or ",
          )}?`
        : msg`.`;
      return msg`No command ${code(topic)}${didYouMean} Try ${command("help")}.`;
    }
    const options = c.options.map(
      (o) =>
        msg`• ${code(`${o.short ? `-${o.short}, ` : ""}--${o.long}${o.type === "flag" ? "" : ` ${o.valueName ?? "VALUE"}`}`)} ${o.help}`,
    );
    return join([
      msg`${commandHeading(c.usage)}`,
      msg`${c.summary}`,
      ...(options.length ? [msg`${strong("Options")}`, ...options] : []),
      msg`${strong("Examples")}`,
      ...c.examples.map((e) => msg`${command(e)}`),
    ]);
  }
  return join([
    msg`${strong("berth")} runs containers from Slack. ${command("help COMMAND")} shows one command in full.`,
    ...registry.commands.map((c) => msg`• ${code(c.usage)} — ${c.summary}`),
    ...(runbooks.length
      ? [
          msg`${strong("Runbooks")} (from the policy; ${command("runbook NAME")} runs one, ${command("runbook")} lists them with their parameters)`,
          ...runbooks.map((r) => msg`• ${code(r.name)} — ${r.summary}`),
        ]
      : []),
  ]);
}
