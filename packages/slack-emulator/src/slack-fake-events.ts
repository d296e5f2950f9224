/**
 * Events API payloads (docs.slack.dev/apis/events-api; docs/reference/slack-platform.md §2.3, §3.1): the
 * `event_callback` wrapper Slack posts to the Request URL (signed, JSON) or sends in a Socket Mode `events_api`
 * envelope. Only `app_mention` so far: a person's message that mentions the bot, in a channel the bot is a member of
 * (Slack sends an app no events from conversations it is not in).
 */
import { randomBytes } from "node:crypto";
import type { JsonObject } from "./slack-fake-json.ts";
import type { FakeMessage, Workspace } from "./slack-fake-store.ts";

/** What a person writes (the driver's and the socket hub's `userMessage`). */
export interface UserMessageOptions {
  text: string;
  /** Defaults to the seeded operator, U0OPER. */
  user?: string;
  /** Defaults to C0INCIDENT (#incident-db). */
  channel?: string;
  /** A reply in the thread of this message (a thread's parent, as Slack's clients only reply to those). */
  threadTs?: string;
}

/** `Ev` + 10 upper-case letters and digits, the shape of Slack's event ids. */
const eventId = () => `Ev${randomBytes(8).toString("hex").toUpperCase().slice(0, 10)}`;

/** Checks a person's message as Slack's client would let them write it; throws (a driver misuse) otherwise. */
export function checkUserMessage(ws: Workspace, options: UserMessageOptions & { user: string; channel: string }): void {
  const channel = ws.channels.get(options.channel);
  if (!channel) throw new Error(`userMessage: no channel ${options.channel} in the fake`);
  if (!channel.members.has(options.user)) throw new Error(`userMessage: ${options.user} is not a member of ${options.channel}`);
  if (options.threadTs === undefined) return;
  const parent = ws.findMessage(options.channel, options.threadTs);
  if (!parent || parent.deleted || (parent.thread_ts ?? parent.ts) !== parent.ts) {
    throw new Error(`userMessage: ${options.channel}/${options.threadTs} is not a thread's parent in the fake`);
  }
}

/**
 * The `app_mention` event_callback for a person's message, or undefined when Slack sends none: the message does not
 * mention the bot, the bot wrote it, or the bot is not in the channel.
 */
export function appMentionEvent(ws: Workspace, token: string, message: FakeMessage, eventTime: number): JsonObject | undefined {
  const { botUserId, teamId, appId } = ws.ids;
  if (message.user === botUserId || message.bot_id !== undefined) return undefined;
  if (!new RegExp(`<@${botUserId}(\\|[^>]*)?>`).test(message.text)) return undefined;
  if (!ws.channels.get(message.channel)?.members.has(botUserId)) return undefined;
  const event: JsonObject = {
    type: "app_mention",
    user: message.user,
    text: message.text,
    ts: message.ts,
    team: teamId,
    channel: message.channel,
    event_ts: message.ts,
  };
  if (message.thread_ts !== undefined && message.thread_ts !== message.ts) event.thread_ts = message.thread_ts;
  return {
    token,
    team_id: teamId,
    context_team_id: teamId,
    context_enterprise_id: null,
    api_app_id: appId,
    event,
    type: "event_callback",
    event_id: eventId(),
    event_time: Math.floor(eventTime / 1000),
    authorizations: [{ enterprise_id: null, team_id: teamId, user_id: botUserId, is_bot: true, is_enterprise_install: false }],
    is_ext_shared_channel: false,
    event_context: `4-${randomBytes(12).toString("base64url")}`,
  };
}
