import type { Action, ActionKind, ActionOf } from "../action.ts";
import { code, join, type Message, msg, strong } from "../message.ts";
import { type Outcome, replyOutcome } from "../pipeline-types.ts";
import { hostFor } from "../place.ts";
import { expandRunbook } from "../runbook.ts";
import { runRunbook } from "../runbook-job.ts";
import { quoteArgs } from "../shell-quote.ts";
import { type Handler, shown } from "./handler.ts";

// Shell-quoted like run's, so the card's title copied is the same command again.
const summary = (a: ActionOf<"runbook.run">) => quoteArgs(["runbook", ...(a.name ? [a.name] : []), ...a.args]);

/**
 * `runbook NAME ARGS`: one job whose steps run through their own handlers. Made with the handler lookup instead of
 * importing it, so the handler table and this entry in it do not import each other.
 */
export function runbook(handlerFor: (action: Action) => Handler<ActionKind>): Handler<"runbook.run"> {
  return {
    runs: "job",
    summary,
    preview(action, { policy, registry }): Message[] {
      if (!registry) return [];
      const expanded = expandRunbook(policy, action, registry);
      if (!expanded.ok) return [expanded.message];
      return [
        msg`${strong("Runbook:")} ${code(expanded.runbook.name)} — ${expanded.runbook.summary}`,
        msg`${strong(`Steps (${expanded.steps.length}), asked once for all of them:`)}`,
        join(expanded.steps.map((s, i) => msg`${i + 1}. ${code(s.line)}`)),
      ];
    },
    async execute(action, c): Promise<Outcome> {
      const expanded = expandRunbook(c.policy, action, c.deps.registry);
      if (!expanded.ok) return replyOutcome(c.requestId, expanded.message, "ephemeral", "usage_error");
      const hosts = [
        ...new Set(
          expanded.steps.flatMap((s) => {
            const where = hostFor(s.action, c.actor, c.deps);
            return where.ok && where.host ? [where.host] : [];
          }),
        ),
      ];
      const id = c.deps.jobs.newId();
      return {
        type: "job",
        plan: {
          id,
          requestId: c.requestId,
          action,
          host: hosts.join(", ") || "-",
          summary: shown(summary(action), action, c.policy),
          actor: c.actor,
          approvedBy: c.approval?.approver,
          run: (signal) => runRunbook(expanded, c, handlerFor, signal),
        },
      };
    },
    inverse: undefined,
  };
}
