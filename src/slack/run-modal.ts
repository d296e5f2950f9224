/**
 * The run modal, for where typing is worst: opened by `/berth run` without arguments, the global shortcut, the Home
 * tab's Run… button, and the message shortcut "Run with berth" on a message holding a berth command line. A submission
 * becomes the `run` line it stands for, parsed by the registry and sent through the same pipeline as a typed one, as
 * the person who submitted it in the form's channel; answers meant for that person go by chat.postEphemeral.
 */
import type { App } from "@slack/bolt";
import type { Actor } from "../core/action.ts";
import { type DispatchDeps, dispatch, type Outcome } from "../core/dispatch.ts";
import { code, command, msg, plainText } from "../core/message.ts";
import { parse } from "../core/parse.ts";
import { subjectOf } from "../core/place.ts";
import { imageRefusal } from "../core/policy.ts";
import { runChoices } from "../core/run-choices.ts";
import type { Respond } from "./deliver.ts";
import type { DeliveryContext } from "./deliveries.ts";
import { toMrkdwn } from "./render.ts";
import { renderRunModal } from "./render-modal.ts";
import { findCommandLine, parseRunFields, prefillFrom, type RunFields, RunMetadata, readRunSubmission, runModalIds } from "./run-form.ts";
import { slackError } from "./run-job.ts";
import type { WorkQueue } from "./work-queue.ts";
import type { Origin } from "./workspace.ts";

/** What app.ts lends the modal: its pipeline, its delivery and the checks every request goes through there. */
export type RunModalDeps = {
  app: InstanceType<typeof App>;
  core: DispatchDeps;
  slash: string;
  log: (event: string, fields: Record<string, unknown>) => void;
  work: WorkQueue;
  /** The delivery gate: false for a delivery already handled. */
  first: (body: unknown, context: DeliveryContext) => Promise<boolean>;
  /** The workspace berth serves, once known. */
  homeTeamId: () => string | undefined;
  /** Refuses a request from another workspace (ephemerally, logged and audited); true when it did. */
  refusedForeign: (origin: Origin, actor: Actor, what: { kind: string }, requestId: string, respond: Respond) => boolean;
  finish: (requestId: string, kind: string, actor: Actor, respond: Respond) => (outcome: Outcome) => Promise<void>;
  failSafe: (requestId: string, respond: Respond, kind: string) => (error: unknown) => Promise<unknown>;
  acked: (context: Record<string, unknown>) => void;
};

/** Who opens or submits the form, and where (no channel: a global shortcut or the Home tab). */
export type RunModalOpener = {
  triggerId: string;
  userId: string;
  teamId?: string | undefined;
  channel?: { id: string; name?: string | undefined } | undefined;
  prefill?: Partial<RunFields> | undefined;
};

type SlackUser = { id: string; team_id?: string | undefined };

export function createRunModal(deps: RunModalDeps) {
  const { app, core, log } = deps;
  const isHome = (teamId: string | undefined) => teamId !== undefined && teamId === deps.homeTeamId();
  const actorOf = (user: SlackUser, teamId: string | undefined, channel: { id: string; name?: string | undefined }): Actor => ({
    userId: user.id,
    channelId: channel.id,
    channelName: channel.name,
    teamId: user.team_id ?? teamId,
    homeTeam: isHome(user.team_id ?? teamId),
  });
  const ephemeralTo =
    (channel: string, user: string): Respond =>
    (m) =>
      app.client.chat.postEphemeral({ channel, user, text: m.text, ...(m.blocks && { blocks: m.blocks as never }) });
  const quietly: Respond = async () => undefined;

  /** Opens the form; false when Slack refused (an expired trigger, most often), logged. */
  async function open(who: RunModalOpener): Promise<boolean> {
    try {
      const subject = await subjectOf(core, { userId: who.userId, teamId: who.teamId, homeTeam: isHome(who.teamId) });
      const now = core.clock?.() ?? Date.now();
      const choices = runChoices(core.policy(), subject, core.hosts, who.channel, now);
      const metadata = who.channel ? { channelId: who.channel.id, channelName: who.channel.name } : {};
      const view = renderRunModal({ choices, metadata, prefill: who.prefill, slash: deps.slash });
      await app.client.views.open({ trigger_id: who.triggerId, view });
      return true;
    } catch (error) {
      log("run modal not opened", { user: who.userId, error: slackError(error) });
      return false;
    }
  }

  /** The pipeline, as for a typed command: the line parsed once, the answer delivered to `respond`. */
  function run(
    via: "modal" | "message shortcut",
    line: string,
    actor: Actor,
    respond: Respond,
    requestId: string,
    parsed = parse(line, core.registry),
  ) {
    const kind = parsed.ok ? parsed.action.kind : "unparsed";
    // The line is not logged: it may hold -e values.
    log("command", { requestId, kind, user: actor.userId, channel: actor.channelId, chars: line.length, via });
    deps.work.run(() =>
      dispatch({ text: line, actor, requestId, parsed }, core, AbortSignal.timeout(60_000))
        .then(deps.finish(requestId, kind, actor, respond))
        .catch(deps.failSafe(requestId, respond, kind)),
    );
  }

  app.shortcut({ callback_id: runModalIds.globalShortcut, type: "shortcut" }, async ({ ack, body, context }) => {
    await ack();
    deps.acked(context);
    if (!(await deps.first(body, context))) return;
    const origin = { teamId: body.team?.id, enterpriseId: body.enterprise?.id };
    const actor = actorOf(body.user, body.team?.id, { id: "" });
    // No response_url comes with a global shortcut: a refusal is logged and audited, not shown.
    if (deps.refusedForeign(origin, actor, { kind: "shortcut" }, crypto.randomUUID(), quietly)) return;
    deps.work.run(() => open({ triggerId: body.trigger_id, userId: body.user.id, teamId: actor.teamId }));
  });

  app.action({ action_id: runModalIds.openButton }, async ({ ack, body, context, respond }) => {
    await ack();
    deps.acked(context);
    if (!(await deps.first(body, context))) return;
    if (body.type !== "block_actions") return;
    const channelId = body.channel?.id ?? body.container?.channel_id;
    const channel = channelId ? { id: channelId, name: body.channel?.name } : undefined;
    const origin = { teamId: body.team?.id ?? body.user.team_id, enterpriseId: body.enterprise?.id };
    const actor = actorOf(body.user, origin.teamId, channel ?? { id: "" });
    if (deps.refusedForeign(origin, actor, { kind: "button" }, crypto.randomUUID(), channel ? respond : quietly)) return;
    deps.work.run(() => open({ triggerId: body.trigger_id, userId: body.user.id, teamId: actor.teamId, channel }));
  });

  app.shortcut({ callback_id: runModalIds.messageShortcut, type: "message_action" }, async ({ ack, body, context, respond }) => {
    await ack();
    deps.acked(context);
    if (!(await deps.first(body, context))) return;
    const channel = { id: body.channel.id, name: body.channel.name };
    const origin = { teamId: body.team?.id, enterpriseId: body.enterprise?.id };
    const actor = actorOf(body.user, body.team?.id, channel);
    const requestId = crypto.randomUUID();
    if (deps.refusedForeign(origin, actor, { kind: "shortcut" }, requestId, respond)) return;
    const line = findCommandLine(body.message.text ?? "", deps.slash);
    if (line === undefined) {
      const text = toMrkdwn(
        msg`That message has no berth command. ${"Run with berth"} looks for a line starting with ${code(deps.slash)}, alone or in a code block, e.g. ${command("run busybox:1 echo hi")}.`,
        deps.slash,
      );
      deps.work.run(() => respond({ response_type: "ephemeral", replace_original: false, text }).catch(() => undefined));
      return;
    }
    const parsed = parse(line, core.registry);
    const prefill = parsed.ok ? prefillFrom(parsed.action, core.registry) : undefined;
    deps.work.run(async () => {
      if (prefill && (await open({ triggerId: body.trigger_id, userId: actor.userId, teamId: actor.teamId, channel, prefill }))) return;
      // Any other command (or a run the form cannot hold, or a form Slack would not open) runs as the line says.
      run("message shortcut", line, actor, respond, requestId, parsed);
    });
  });

  app.view(runModalIds.callbackId, async ({ ack, body, view, context }) => {
    const metadata = RunMetadata.safeParse(safeJson(view.private_metadata));
    const submission = readRunSubmission(view.state.values, (image) => {
      const refused = imageRefusal(core.policy(), image);
      return refused && plainText(refused, deps.slash).slice(0, 1900);
    });
    const built = submission.ok ? parseRunFields(submission.fields, core.registry) : submission;
    // Field errors are the ack itself: the modal stays open with each message under its field, and nothing runs.
    if (!submission.ok || "errors" in built) {
      await ack({ response_action: "errors", errors: "errors" in built ? built.errors : {} });
      return deps.acked(context);
    }
    await ack();
    deps.acked(context);
    if (!(await deps.first(body, context))) return;
    const channelId = submission.channelId ?? (metadata.success ? metadata.data.channelId : undefined);
    if (!channelId) return log("run modal without a channel", { user: body.user.id });
    const channel = { id: channelId, name: metadata.success ? metadata.data.channelName : undefined };
    const actor = actorOf(body.user, body.team?.id, channel);
    const respond = ephemeralTo(channelId, body.user.id);
    const requestId = crypto.randomUUID();
    if (
      deps.refusedForeign(
        { teamId: body.team?.id, enterpriseId: body.enterprise?.id },
        actor,
        { kind: "container.run" },
        requestId,
        respond,
      )
    )
      return;
    run("modal", built.line, actor, respond, requestId, built.parsed);
  });

  return {
    open,
    /**
     * `/berth run` with nothing after it: the form instead of a usage error. False when the text is something else, or
     * Slack would not open the form (the caller then answers as for any other text: the usage).
     */
    async openForBareRun(text: string, who: RunModalOpener): Promise<boolean> {
      const parsed = parse(text, core.registry);
      const bare = !parsed.ok && /^\s*run\s*$/i.test(text);
      return bare && (await open(who));
    },
  };
}

export type RunModal = ReturnType<typeof createRunModal>;

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
