/**
 * `@berth stop` in a job's thread (Events API `app_mention`, over HTTP or Socket Mode). The mention becomes the
 * command line the person would have typed (core/thread-mention.ts) and goes through the same pipeline as a slash
 * command, as that person: authorized, audited and delivered like one. What a slash command answers ephemerally is
 * posted with chat.postEphemeral in the thread; channel replies and job cards go to the channel as usual.
 */
import { z } from "zod";
import type { Actor } from "../core/action.ts";
import type { Registry } from "../core/command.ts";
import type { Request } from "../core/dispatch.ts";
import { mentionRequest, threadJobOf } from "../core/thread-mention.ts";
import type { StorePort } from "../store/port.ts";
import type { Respond } from "./deliver.ts";
import { type DeliveryContext, type DeliveryGate, deliveryOf } from "./deliveries.ts";
import { toMrkdwn } from "./render.ts";
import { slackError } from "./run-job.ts";
import type { Home, Origin } from "./workspace.ts";

/** The fields of an `app_mention` berth reads (the event inside the `event_callback` wrapper). */
const MentionEvent = z.object({
  type: z.literal("app_mention"),
  user: z.string().min(1),
  text: z.string(),
  channel: z.string().min(1),
  ts: z.string(),
  thread_ts: z.string().optional(),
  bot_id: z.string().optional(),
  user_team: z.string().optional(),
  team: z.string().optional(),
});

const Wrapper = z.object({ team_id: z.string().optional(), enterprise_id: z.string().nullish() });

/** The text of a mention without the mention of berth itself (`<@U0BOT> stop` → `stop`). */
export function stripMention(text: string, botUserId: string | undefined): string {
  const mention = botUserId ? new RegExp(`<@${botUserId}(?:\\|[^>]*)?>`, "g") : /^\s*<@[UW][A-Z0-9]+(?:\|[^>]*)?>/;
  return text.replace(mention, " ").trim();
}

/** Only what chat.postEphemeral needs, so a test can hand a fake. */
export type EphemeralClient = {
  chat: { postEphemeral(args: { channel: string; user: string; text: string; thread_ts?: string; blocks?: unknown[] }): Promise<unknown> };
};

export type MentionDeps = {
  store: Pick<StorePort, "jobs">;
  registry: Registry;
  client: EphemeralClient;
  deliveries: DeliveryGate;
  slash: string;
  home: () => Home | undefined;
  log: (event: string, fields: Record<string, unknown>) => void;
  /** app.ts's refusal of a request from another workspace: true when it refused (and answered) this one. */
  refusedForeign: (origin: Origin, actor: Actor, what: { kind: string }, requestId: string, respond: Respond) => boolean;
  /** Sends a request through the pipeline and delivers its outcome (app.ts: dispatch, then deliver, in the work queue). */
  run: (request: Request & { requestId: string }, kind: string, respond: Respond) => void;
  /** Runs work after the listener returns, tracked until done (app.ts: the work queue). */
  later: (task: () => Promise<unknown>) => void;
};

/** The listener for `app_mention`; Bolt has acked the event before it runs. */
export function mentionListener(deps: MentionDeps) {
  return async ({ event, body, context }: { event: unknown; body: unknown; context: DeliveryContext & { botUserId?: unknown } }) => {
    const parsed = MentionEvent.safeParse(event);
    // Another app's or a bot's message mentioning berth is nobody's command.
    if (!parsed.success || parsed.data.bot_id !== undefined) return;
    if (!(await deps.deliveries.first(deliveryOf("event", body, context)))) return;
    const e = parsed.data;
    const wrapper = Wrapper.safeParse(body);
    const origin: Origin = {
      teamId: wrapper.success ? wrapper.data.team_id : undefined,
      enterpriseId: (wrapper.success && wrapper.data.enterprise_id) || undefined,
    };
    const userTeam = e.user_team ?? e.team ?? origin.teamId;
    const home = deps.home();
    const actor: Actor = {
      userId: e.user,
      channelId: e.channel,
      teamId: userTeam,
      homeTeam: home !== undefined && userTeam === home.teamId,
    };
    // Answers that a slash command would show to the person alone go to them in the thread.
    const respond: Respond = (m) =>
      deps.client.chat.postEphemeral({
        channel: e.channel,
        user: e.user,
        text: m.text,
        ...(m.blocks && { blocks: m.blocks }),
        ...(e.thread_ts && { thread_ts: e.thread_ts }),
      });
    const requestId = crypto.randomUUID();
    if (deps.refusedForeign(origin, actor, { kind: "mention" }, requestId, respond)) return;
    const stored = e.thread_ts === undefined ? undefined : await deps.store.jobs.byCard(e.channel, e.thread_ts).catch(() => undefined);
    const job = stored && threadJobOf(stored);
    const text = stripMention(e.text, typeof context.botUserId === "string" ? context.botUserId : undefined);
    const request = mentionRequest(text, job, deps.registry);
    if (request.type === "help") {
      deps.log("mention", { requestId, kind: "help", user: actor.userId, channel: actor.channelId, job: job?.id });
      const help = toMrkdwn(request.text, deps.slash);
      deps.later(() =>
        respond({ response_type: "ephemeral", text: help }).catch((error: unknown) =>
          deps.log("mention answer failed", { requestId, error: slackError(error) }),
        ),
      );
      return;
    }
    const kind = request.parsed.ok ? request.parsed.action.kind : "unparsed";
    deps.log("mention", { requestId, kind, user: actor.userId, channel: actor.channelId, job: job?.id, chars: text.length });
    // The job's channel name (from its command) helps host defaults by `#name`; the thread is in that channel.
    const channelName = channelNameOf(stored?.resume);
    deps.run({ text: request.text, actor: { ...actor, channelName }, requestId, parsed: request.parsed }, kind, respond);
  };
}

const channelNameOf = (resume: unknown): string | undefined => {
  const named = z.object({ channelName: z.string() }).safeParse(resume);
  return named.success ? named.data.channelName : undefined;
};
