/**
 * Web API method handlers of the Slack fake. Each handler validates like Slack (error codes from the method
 * reference pages; docs/reference/slack-platform.md §4.4, §4.5, §7.4), mutates the workspace and returns the success body without `ok`.
 * A failure is thrown as SlackApiError and becomes HTTP 200 `{ ok: false, error, ...extra }`.
 */
import { BLOCK_LIMITS, blocksTextLength, validateBlocks } from "./slack-fake-blocks.ts";
import { argBool, argNumber, argString, isJsonObject, type Json, type JsonObject, tryParseJson } from "./slack-fake-json.ts";
import type { ChannelRecord, FakeMessage, FileRecord, UserRecord, Workspace } from "./slack-fake-store.ts";

export class SlackApiError extends Error {
  readonly code: string;
  readonly extra: JsonObject;

  constructor(code: string, extra: JsonObject = {}) {
    super(code);
    this.name = "SlackApiError";
    this.code = code;
    this.extra = extra;
  }
}

export const TEXT_LIMIT = 4000; // "limit the number of characters in the text field to 4,000"
export const TEXT_TRUNCATE_AT = 40_000; // chat.postMessage truncates beyond this
export const SNIPPET_LIMIT = 1024 * 1024; // snippet_too_large "above 1 MB"
export const ALT_TXT_LIMIT = 1000;

export interface MethodSettings {
  /** Reject chat.postMessage text over 4,000 chars with msg_too_long (Slack truncates at 40,000 instead). */
  strict: boolean;
  /** Error for a thread_ts that is not a parent message in the channel; null accepts it. */
  threadTsError: string | null;
  /** The app has chat:write.public: it may post to public channels it is not a member of. */
  chatWritePublic: boolean;
}

export interface MethodContext {
  ws: Workspace;
  settings: MethodSettings;
  /** Form fields whose JSON did not parse. */
  badJson: ReadonlySet<string>;
  uploadUrl(fileId: string): string;
  /** Issues a one-time Socket Mode URL. */
  socketUrl(): string;
}

export type TokenType = "bot" | "app";
export type MethodHandler = (args: JsonObject, ctx: MethodContext) => JsonObject;

export interface MethodDefinition {
  token: TokenType;
  handle: MethodHandler;
}

export const METHODS: Readonly<Record<string, MethodDefinition>> = {
  "auth.test": { token: "bot", handle: authTest },
  "apps.connections.open": { token: "app", handle: (_args, ctx) => ({ url: ctx.socketUrl() }) },
  "chat.postMessage": { token: "bot", handle: postMessage },
  "chat.update": { token: "bot", handle: update },
  "chat.postEphemeral": { token: "bot", handle: postEphemeral },
  "conversations.info": { token: "bot", handle: conversationsInfo },
  "users.info": { token: "bot", handle: usersInfo },
  "usergroups.users.list": { token: "bot", handle: usergroupUsers },
  "files.getUploadURLExternal": { token: "bot", handle: getUploadUrl },
  "files.completeUploadExternal": { token: "bot", handle: completeUpload },
};

function authTest(_args: JsonObject, { ws }: MethodContext): JsonObject {
  const { teamDomain, teamId, botUserId, botId } = ws.ids;
  return {
    url: `https://${teamDomain}.slack.com/`,
    team: "Berth Test",
    user: ws.users.get(botUserId)?.name ?? "berth",
    team_id: teamId,
    user_id: botUserId,
    bot_id: botId,
    is_enterprise_install: false,
  };
}

function postMessage(args: JsonObject, ctx: MethodContext): JsonObject {
  const channel = postableChannel(ctx, argString(args, "channel"));
  const content = readContent(ctx, args, ctx.settings.strict ? "reject" : "truncate");
  // Valid blocks can still carry too much text for one message; Slack says only that, with no pointer or count, and
  // so far only chat.postMessage is seen to say it (slackapi/bolt-js#2867: the same blocks pass through response_url).
  if (blocksTextLength(content.blocks) > BLOCK_LIMITS.blocksText) throw new SlackApiError("msg_blocks_too_long");
  const threadTs = resolveThread(ctx, channel, argString(args, "thread_ts"));
  const { botUserId, botId } = ctx.ws.ids;
  const message = ctx.ws.addMessage({
    channel: channel.id,
    ...(threadTs !== undefined && { thread_ts: threadTs }),
    ...(threadTs !== undefined && argBool(args, "reply_broadcast") && { reply_broadcast: true }),
    ...(args.metadata !== undefined && { metadata: args.metadata }),
    user: botUserId,
    bot_id: botId,
    ...content,
    via: "chat.postMessage",
  });
  return { channel: channel.id, ts: message.ts, message: messageJson(ctx, message) };
}

function update(args: JsonObject, ctx: MethodContext): JsonObject {
  const channel = visibleChannel(ctx, argString(args, "channel"));
  const ts = argString(args, "ts");
  const message = ts === undefined ? undefined : ctx.ws.findMessage(channel.id, ts);
  if (!message || message.deleted) throw new SlackApiError("message_not_found");
  if (message.user !== ctx.ws.ids.botUserId) throw new SlackApiError("cant_update_message");
  ctx.ws.edit(message, readContentChange(ctx, args), "chat.update");
  return { channel: channel.id, ts: message.ts, text: message.text, message: messageJson(ctx, message) };
}

function postEphemeral(args: JsonObject, ctx: MethodContext): JsonObject {
  const channel = postableChannel(ctx, argString(args, "channel"));
  const user = argString(args, "user");
  if (user === undefined || !channel.members.has(user)) throw new SlackApiError("user_not_in_channel");
  const content = readContent(ctx, args, "reject");
  const threadTs = argString(args, "thread_ts");
  const ephemeral = ctx.ws.addEphemeral({
    channel: channel.id,
    user,
    ...(threadTs !== undefined && { thread_ts: threadTs }),
    ...content,
    via: "chat.postEphemeral",
  });
  return { message_ts: ephemeral.ts };
}

function conversationsInfo(args: JsonObject, ctx: MethodContext): JsonObject {
  const channel = visibleChannel(ctx, argString(args, "channel"), { byNameToo: false });
  const json = channelJson(ctx, channel);
  if (argBool(args, "include_num_members")) json.num_members = channel.members.size;
  return { channel: json };
}

function usersInfo(args: JsonObject, ctx: MethodContext): JsonObject {
  const id = argString(args, "user");
  const user = id === undefined ? undefined : ctx.ws.users.get(id);
  if (!user) throw new SlackApiError("user_not_found");
  return { user: userJson(ctx, user) };
}

function usergroupUsers(args: JsonObject, ctx: MethodContext): JsonObject {
  const id = argString(args, "usergroup");
  if (id === undefined) throw invalidArguments("missing required field: usergroup");
  const group = ctx.ws.userGroups.get(id);
  if (!group) throw new SlackApiError("no_such_subteam");
  return { users: [...group.users] };
}

function getUploadUrl(args: JsonObject, ctx: MethodContext): JsonObject {
  const filename = argString(args, "filename");
  const length = argNumber(args, "length");
  if (filename === undefined || filename === "") throw invalidArguments("missing required field: filename");
  if (args.length === undefined) throw invalidArguments("missing required field: length");
  if (length === 0) throw new SlackApiError("missing_argument");
  if (length === undefined || !Number.isInteger(length) || length < 0) {
    throw invalidArguments("must be a positive integer [json-pointer:/length]");
  }
  const altTxt = argString(args, "alt_txt") ?? argString(args, "alt_text");
  if (altTxt !== undefined && altTxt.length > ALT_TXT_LIMIT) throw new SlackApiError("alt_txt_too_large");
  const snippetType = argString(args, "snippet_type");
  if (snippetType !== undefined && length > SNIPPET_LIMIT) throw new SlackApiError("snippet_too_large");
  const file: FileRecord = {
    id: ctx.ws.nextId("F"),
    name: filename,
    title: filename,
    length,
    completed: false,
    ...(snippetType !== undefined && { snippet_type: snippetType }),
    ...(altTxt !== undefined && { alt_txt: altTxt }),
  };
  ctx.ws.files.set(file.id, file);
  return { upload_url: ctx.uploadUrl(file.id), file_id: file.id };
}

function completeUpload(args: JsonObject, ctx: MethodContext): JsonObject {
  const entries = args.files;
  if (ctx.badJson.has("files") || !Array.isArray(entries) || entries.length === 0) {
    throw invalidArguments("missing required field: files");
  }
  const files: { record: FileRecord; title: string | undefined }[] = [];
  for (const [i, entry] of entries.entries()) {
    if (!isJsonObject(entry) || typeof entry.id !== "string") {
      throw invalidArguments(`missing required field: id [json-pointer:/files/${i}]`);
    }
    const record = ctx.ws.files.get(entry.id);
    // Unknown, never uploaded (step 2 skipped), or already completed ("can only be called once").
    if (!record?.bytes || record.completed) throw new SlackApiError("file_not_found");
    files.push({ record, title: typeof entry.title === "string" ? entry.title : undefined });
  }

  // `channel_id`, or the first of the CSV `channels` (the fake shares to one channel).
  const channelId = argString(args, "channel_id") ?? argString(args, "channels")?.split(",")[0]?.trim();
  const threadTs = argString(args, "thread_ts");
  if (threadTs !== undefined && channelId === undefined) throw invalidArguments("thread_ts requires channel_id");
  const channel = channelId === undefined ? undefined : postableChannel(ctx, channelId);
  const parentTs = channel ? resolveThread(ctx, channel, threadTs) : undefined;
  const blocks = readBlocks(ctx, args);
  const comment = argString(args, "initial_comment");
  if (comment !== undefined && comment.length > TEXT_LIMIT) throw new SlackApiError("msg_too_long");

  for (const { record, title } of files) {
    record.completed = true;
    if (title !== undefined) record.title = title;
    if (comment !== undefined) record.initial_comment = comment;
  }
  if (channel) {
    const { botUserId, botId } = ctx.ws.ids;
    const message = ctx.ws.addMessage({
      channel: channel.id,
      ...(parentTs !== undefined && { thread_ts: parentTs }),
      user: botUserId,
      bot_id: botId,
      subtype: "file_share",
      text: comment ?? "",
      ...(blocks !== undefined && { blocks }),
      files: files.map(({ record }) => ({ id: record.id, name: record.name, title: record.title })),
      via: "files.completeUploadExternal",
    });
    for (const { record } of files) {
      record.channel = channel.id;
      record.message_ts = message.ts;
      if (parentTs !== undefined) record.thread_ts = parentTs;
    }
  }
  return { files: files.map(({ record }) => ({ id: record.id, title: record.title, name: record.name })) };
}

// ——— shared checks ———

export function invalidArguments(detail: string): SlackApiError {
  return new SlackApiError("invalid_arguments", { response_metadata: { messages: [`[ERROR] ${detail}`] } });
}

/** A channel the bot can see: public ones always, private ones only as a member (else channel_not_found). */
function visibleChannel(
  ctx: MethodContext,
  idOrName: string | undefined,
  { byNameToo = true }: { byNameToo?: boolean } = {},
): ChannelRecord {
  const channel = idOrName === undefined ? undefined : byNameToo ? ctx.ws.resolveChannel(idOrName) : ctx.ws.channels.get(idOrName);
  if (!channel || (channel.is_private && !channel.members.has(ctx.ws.ids.botUserId))) {
    throw new SlackApiError("channel_not_found");
  }
  return channel;
}

/** A channel the bot may post in: channel_not_found, is_archived, not_in_channel (unless chat:write.public). */
function postableChannel(ctx: MethodContext, idOrName: string | undefined): ChannelRecord {
  const channel = visibleChannel(ctx, idOrName);
  if (channel.is_archived) throw new SlackApiError("is_archived");
  if (!channel.members.has(ctx.ws.ids.botUserId) && !ctx.settings.chatWritePublic) {
    throw new SlackApiError("not_in_channel");
  }
  return channel;
}

/**
 * The parent ts for a reply. thread_ts must be a top-level message of the channel; a reply's ts or an unknown ts
 * gets `settings.threadTsError`, or when that is null is accepted (a reply's ts then means its parent's thread).
 */
export function resolveThread(
  ctx: Pick<MethodContext, "ws" | "settings">,
  channel: ChannelRecord,
  threadTs: string | undefined,
): string | undefined {
  if (threadTs === undefined || threadTs === "") return undefined;
  const parent = ctx.ws.findMessage(channel.id, threadTs);
  const isParent = parent !== undefined && !parent.deleted && (parent.thread_ts ?? parent.ts) === parent.ts;
  if (isParent) return threadTs;
  if (ctx.settings.threadTsError !== null) throw new SlackApiError(ctx.settings.threadTsError);
  return parent?.thread_ts ?? threadTs;
}

export interface MessageContent {
  text: string;
  blocks?: Json[];
  attachments?: Json[];
}

/** What a chat.update changes: absent parts keep their old value. */
export type ContentChange = Partial<MessageContent>;

/**
 * Text, blocks and attachments of a new message with Slack's checks: markdown_text_conflict,
 * invalid_blocks_format, invalid_blocks, invalid_attachments, too_many_attachments, no_text, and msg_too_long over
 * 4,000 chars ("reject") or truncation at 40,000 ("truncate", chat.postMessage outside strict mode).
 */
export function readContent(ctx: Pick<MethodContext, "badJson">, args: JsonObject, mode: "reject" | "truncate"): MessageContent {
  const { text, blocks, attachments } = parseContent(ctx, args, mode);
  const hasContent = (text ?? "") !== "" || (blocks?.length ?? 0) > 0 || (attachments?.length ?? 0) > 0;
  if (!hasContent) throw new SlackApiError("no_text");
  return {
    text: text ?? "",
    ...(blocks !== undefined && { blocks }),
    ...(attachments !== undefined && { attachments }),
  };
}

/** chat.update's content: the same checks, and no_text only when nothing at all is given. */
export function readContentChange(ctx: Pick<MethodContext, "badJson">, args: JsonObject): ContentChange {
  const change = parseContent(ctx, args, "reject");
  if (change.text === undefined && change.blocks === undefined && change.attachments === undefined) {
    throw new SlackApiError("no_text");
  }
  return change;
}

function parseContent(ctx: Pick<MethodContext, "badJson">, args: JsonObject, mode: "reject" | "truncate"): ContentChange {
  let text = argString(args, "text");
  const markdown = argString(args, "markdown_text");
  if (markdown !== undefined && (text !== undefined || args.blocks !== undefined)) {
    throw new SlackApiError("markdown_text_conflict");
  }
  text ??= markdown;
  const blocks = readBlocks(ctx, args);
  let attachments: Json[] | undefined;
  if (args.attachments !== undefined) {
    if (ctx.badJson.has("attachments") || !Array.isArray(args.attachments)) {
      throw new SlackApiError("invalid_attachments");
    }
    if (args.attachments.length > 100) throw new SlackApiError("too_many_attachments");
    attachments = args.attachments;
  }
  if (text !== undefined && text.length > TEXT_LIMIT) {
    if (mode === "reject") throw new SlackApiError("msg_too_long");
    if (text.length > TEXT_TRUNCATE_AT) text = text.slice(0, TEXT_TRUNCATE_AT);
  }
  const change: ContentChange = {};
  if (text !== undefined) change.text = text;
  if (blocks !== undefined) change.blocks = blocks;
  if (attachments !== undefined) change.attachments = attachments;
  return change;
}

/** `blocks` as an array that passed validation; invalid_blocks carries Slack's JSON-pointer messages. */
export function readBlocks(ctx: Pick<MethodContext, "badJson">, args: JsonObject): Json[] | undefined {
  if (ctx.badJson.has("blocks")) throw new SlackApiError("invalid_blocks_format");
  let blocks = args.blocks;
  if (blocks === undefined) return undefined;
  if (typeof blocks === "string") blocks = tryParseJson(blocks) ?? null; // a JSON body with blocks as a string
  if (!Array.isArray(blocks)) throw new SlackApiError("invalid_blocks_format");
  const messages = validateBlocks(blocks);
  if (messages.length > 0) {
    throw new SlackApiError("invalid_blocks", {
      errors: messages.map((m) => m.replace(/^\[ERROR\] /, "")),
      response_metadata: { messages },
    });
  }
  return blocks;
}

// ——— JSON shapes ———

export function messageJson(ctx: Pick<MethodContext, "ws">, m: FakeMessage): JsonObject {
  const { appId, teamId, botId, botUserId } = ctx.ws.ids;
  const json: JsonObject = { type: "message", user: m.user, text: m.text, ts: m.ts, team: teamId };
  if (m.bot_id !== undefined) {
    json.bot_id = m.bot_id;
    json.app_id = appId;
    json.bot_profile = { id: botId, app_id: appId, name: "berth", team_id: teamId, user_id: botUserId };
  }
  if (m.subtype !== undefined) json.subtype = m.subtype;
  if (m.blocks !== undefined) json.blocks = m.blocks;
  if (m.attachments !== undefined) json.attachments = m.attachments;
  if (m.metadata !== undefined) json.metadata = m.metadata;
  if (m.files !== undefined) json.files = m.files.map((f) => ({ ...f }));
  if (m.thread_ts !== undefined) json.thread_ts = m.thread_ts;
  if (m.thread_ts !== undefined && m.thread_ts !== m.ts) {
    const parent = ctx.ws.findMessage(m.channel, m.thread_ts);
    if (parent) json.parent_user_id = parent.user;
  }
  if (m.reply_count > 0) {
    json.reply_count = m.reply_count;
    json.reply_users = [...m.reply_users];
    if (m.latest_reply !== undefined) json.latest_reply = m.latest_reply;
  }
  if (m.edited !== undefined) json.edited = { ...m.edited };
  return json;
}

function channelJson(ctx: MethodContext, c: ChannelRecord): JsonObject {
  return {
    id: c.id,
    name: c.name,
    name_normalized: c.name,
    is_channel: !c.is_private,
    is_group: c.is_private,
    is_im: false,
    is_mpim: false,
    is_private: c.is_private,
    is_archived: c.is_archived,
    is_general: false,
    is_shared: false,
    is_ext_shared: false,
    is_org_shared: false,
    is_member: c.members.has(ctx.ws.ids.botUserId),
    created: c.created,
    creator: "U0OPER",
    context_team_id: ctx.ws.ids.teamId,
    topic: { value: "", creator: "", last_set: 0 },
    purpose: { value: "", creator: "", last_set: 0 },
  };
}

function userJson(ctx: MethodContext, u: UserRecord): JsonObject {
  return {
    id: u.id,
    team_id: ctx.ws.ids.teamId,
    name: u.name,
    real_name: u.real_name,
    deleted: u.deleted,
    is_bot: u.is_bot,
    is_app_user: false,
    is_admin: u.is_admin,
    is_owner: false,
    tz: u.tz,
    tz_label: "Central European Time",
    tz_offset: 3600,
    profile: {
      real_name: u.real_name,
      real_name_normalized: u.real_name,
      display_name: u.name,
      display_name_normalized: u.name,
      team: ctx.ws.ids.teamId,
    },
  };
}
