/**
 * The fake's in-memory workspace: one team, its users, channels, user groups, messages with threads, ephemerals,
 * files, response_urls and trigger_ids. Records are mutable inside the fake; tests get deep copies.
 */
import { randomBytes } from "node:crypto";
import type { Json, JsonObject } from "./slack-fake-json.ts";

/** IDs of the seeded workspace, for tests to refer to. */
export const SEED = {
  teamId: "T0BERTH",
  teamDomain: "berth-test",
  appId: "A0BERTH",
  botUserId: "U0BOT",
  botId: "B0BOT",
  operator: "U0OPER",
  nobody: "U0NOBODY",
  approver: "U0APPROVER",
  incidentChannel: "C0INCIDENT", // #incident-db, the bot is a member
  randomChannel: "C0NOBOT", // #random, the bot is not a member
  privateChannel: "G0PRIV", // private #ops-private, the bot is not a member
  oncallGroup: "S0ONCALL",
} as const;

export interface UserRecord {
  id: string;
  name: string;
  real_name: string;
  is_bot: boolean;
  is_admin: boolean;
  deleted: boolean;
  tz: string;
}

export interface ChannelRecord {
  id: string;
  name: string;
  is_private: boolean;
  is_archived: boolean;
  members: Set<string>;
  created: number;
}

export interface UserGroupRecord {
  id: string;
  handle: string;
  name: string;
  users: string[];
}

/** How a message (or a version of it) came to be. */
export type MessageSource =
  | "chat.postMessage"
  | "chat.update"
  | "chat.postEphemeral"
  | "files.completeUploadExternal"
  | "response_url"
  | "ack"
  | "seed";

export interface MessageVersion {
  text: string;
  blocks?: Json[];
  attachments?: Json[];
  at: number;
  via: MessageSource;
}

export interface FileRef {
  id: string;
  name: string;
  title: string;
}

/** A channel message. Slack's field names where Slack has them; `channel`, `deleted`, `via`, `history` are the fake's. */
export interface FakeMessage {
  channel: string;
  ts: string;
  /** Set on replies, and on a parent once it has replies (as Slack does). */
  thread_ts?: string;
  user: string;
  bot_id?: string;
  text: string;
  blocks?: Json[];
  attachments?: Json[];
  metadata?: Json;
  subtype?: string;
  files?: FileRef[];
  reply_broadcast?: boolean;
  reply_count: number;
  reply_users: string[];
  latest_reply?: string;
  edited?: { user: string; ts: string };
  deleted: boolean;
  via: MessageSource;
  /** Every version, oldest first; the last one is the current state. */
  history: MessageVersion[];
}

export interface FakeEphemeral {
  channel: string;
  user: string;
  /** `message_ts` as chat.postEphemeral returns it. It cannot be used with chat.update. */
  ts: string;
  thread_ts?: string;
  text: string;
  blocks?: Json[];
  attachments?: Json[];
  deleted: boolean;
  via: MessageSource;
  history: MessageVersion[];
}

export interface FileRecord {
  id: string;
  name: string;
  title: string;
  length: number;
  snippet_type?: string;
  alt_txt?: string;
  bytes?: Buffer;
  completed: boolean;
  channel?: string;
  thread_ts?: string;
  message_ts?: string;
  initial_comment?: string;
}

/** A file as tests see it: the uploaded bytes, and the same bytes as UTF-8 text. */
export interface FakeFile extends Omit<FileRecord, "bytes"> {
  bytes: Buffer;
  content: string;
}

export type ResponseUrlKind = "commands" | "actions";

export interface ResponseUrlRecord {
  id: string;
  kind: ResponseUrlKind;
  url: string;
  channel: string;
  user: string;
  /** For actions: the message the button was on. */
  messageTs?: string;
  isEphemeral: boolean;
  issuedAt: number;
  uses: number;
  /** For commands: the last message this URL posted, which `replace_original` replaces. */
  lastTs?: string;
  lastEphemeral?: boolean;
}

export type ResponseOutcome = "ephemeral" | "in_channel" | "replaced" | "deleted" | "rejected";

/** A POST to a response_url, or a slash-command ack body applied the same way (`via: 'ack'`). */
export interface FakeResponse {
  url: string;
  kind: ResponseUrlKind;
  channel: string;
  user: string;
  body: Json;
  status: number;
  outcome: ResponseOutcome;
  error?: string;
  /** The message or ephemeral that was posted or replaced. */
  ts?: string;
  via: "response_url" | "ack";
  at: number;
}

export interface TriggerRecord {
  id: string;
  issuedAt: number;
  used: boolean;
  /** Whose interaction minted it: the person a modal opened with it is shown to. */
  user?: string;
}

/** A modal as Slack keeps it: the stored view JSON, whose stack it is on, and the errors its last submission got. */
export interface ViewRecord {
  id: string;
  user: string;
  view: JsonObject;
  /** The root view's id: views pushed on a modal share their root's stack. */
  rootId: string;
  open: boolean;
  /** Field errors of the last `response_action: "errors"`, by block_id. */
  errors: Record<string, string>;
}

export interface WorkspaceIds {
  teamId: string;
  teamDomain: string;
  appId: string;
  botUserId: string;
  botId: string;
}

export class Workspace {
  readonly ids: WorkspaceIds;
  readonly users = new Map<string, UserRecord>();
  readonly channels = new Map<string, ChannelRecord>();
  readonly userGroups = new Map<string, UserGroupRecord>();
  readonly ephemerals: FakeEphemeral[] = [];
  readonly files = new Map<string, FileRecord>();
  readonly responseUrls = new Map<string, ResponseUrlRecord>();
  readonly responses: FakeResponse[] = [];
  readonly triggers = new Map<string, TriggerRecord>();
  /** Open modals by view id (slack-fake-views.ts). */
  readonly views = new Map<string, ViewRecord>();
  private readonly byChannel = new Map<string, FakeMessage[]>();
  private readonly byKey = new Map<string, FakeMessage>();
  private readonly now: () => number;
  /** Microseconds since the epoch of the last ts handed out; ts values never repeat, even across reset(). */
  private lastTsMicros = 1_700_000_000_000_000;
  private idCounter = 0;

  constructor(ids: WorkspaceIds, now: () => number) {
    this.ids = ids;
    this.now = now;
    this.seed();
  }

  /** Unique, increasing message ts strings: "1700000000.000100", "1700000000.000200", … */
  nextTs(): string {
    this.lastTsMicros += 100;
    const seconds = Math.floor(this.lastTsMicros / 1_000_000);
    const micros = this.lastTsMicros % 1_000_000;
    return `${seconds}.${String(micros).padStart(6, "0")}`;
  }

  /** Deterministic IDs with Slack's prefixes (F for files, …). */
  nextId(prefix: string): string {
    this.idCounter += 1;
    return `${prefix}0FAKE${String(this.idCounter).padStart(4, "0")}`;
  }

  /** The fake's clock (trigger and response_url expiry). */
  clock(): number {
    return this.now();
  }

  /** A trigger_id in Slack's shape (`<digits>.<digits>.<hex>`), recorded with its issue time. */
  mintTrigger(user?: string): string {
    this.idCounter += 1;
    const id = `${1_000_000_000 + this.idCounter}.${Date.now() % 1_000_000_000}.${randomBytes(16).toString("hex")}`;
    this.triggers.set(id, { id, issuedAt: this.now(), used: false, ...(user !== undefined && { user }) });
    return id;
  }

  clear(): void {
    this.users.clear();
    this.channels.clear();
    this.userGroups.clear();
    this.ephemerals.length = 0;
    this.files.clear();
    this.responseUrls.clear();
    this.responses.length = 0;
    this.triggers.clear();
    this.views.clear();
    this.byChannel.clear();
    this.byKey.clear();
    this.seed();
  }

  private seed(): void {
    const { botUserId } = this.ids;
    this.addUser({ id: botUserId, name: "berth", real_name: "berth", is_bot: true });
    this.addUser({ id: SEED.operator, name: "oper", real_name: "Olive Operator" });
    this.addUser({ id: SEED.nobody, name: "nobody", real_name: "Nico Nobody" });
    this.addUser({ id: SEED.approver, name: "approver", real_name: "Ada Approver" });
    this.addChannel({
      id: SEED.incidentChannel,
      name: "incident-db",
      members: [botUserId, SEED.operator, SEED.nobody, SEED.approver],
    });
    this.addChannel({ id: SEED.randomChannel, name: "random", members: [SEED.operator, SEED.nobody] });
    this.addChannel({ id: SEED.privateChannel, name: "ops-private", is_private: true, members: [SEED.operator] });
    this.userGroups.set(SEED.oncallGroup, {
      id: SEED.oncallGroup,
      handle: "oncall",
      name: "On-call",
      users: [SEED.operator],
    });
  }

  addUser(user: Partial<UserRecord> & { id: string; name: string }): UserRecord {
    const record: UserRecord = {
      real_name: user.name,
      is_bot: false,
      is_admin: false,
      deleted: false,
      tz: "Europe/Amsterdam",
      ...user,
    };
    this.users.set(record.id, record);
    return record;
  }

  addChannel(channel: { id: string; name: string; is_private?: boolean; is_archived?: boolean; members?: string[] }): ChannelRecord {
    const record: ChannelRecord = {
      id: channel.id,
      name: channel.name,
      is_private: channel.is_private ?? false,
      is_archived: channel.is_archived ?? false,
      members: new Set(channel.members ?? []),
      created: 1_690_000_000,
    };
    this.channels.set(record.id, record);
    return record;
  }

  /** A channel by ID, or by name with or without '#', as chat.postMessage accepts both. */
  resolveChannel(idOrName: string): ChannelRecord | undefined {
    const byId = this.channels.get(idOrName);
    if (byId) return byId;
    const name = idOrName.replace(/^#/, "");
    for (const channel of this.channels.values()) if (channel.name === name) return channel;
    return undefined;
  }

  findMessage(channel: string, ts: string): FakeMessage | undefined {
    return this.byKey.get(`${channel}/${ts}`);
  }

  channelMessages(channel: string): FakeMessage[] {
    return this.byChannel.get(channel) ?? [];
  }

  addMessage(message: Omit<FakeMessage, "ts" | "reply_count" | "reply_users" | "deleted" | "history"> & { ts?: string }): FakeMessage {
    const ts = message.ts ?? this.nextTs();
    const record: FakeMessage = {
      ...message,
      ts,
      reply_count: 0,
      reply_users: [],
      deleted: false,
      history: [version(message, this.now(), message.via)],
    };
    const parent = record.thread_ts !== undefined ? this.findMessage(record.channel, record.thread_ts) : undefined;
    if (parent && parent.ts !== ts) {
      parent.thread_ts = parent.ts;
      parent.reply_count += 1;
      parent.latest_reply = ts;
      if (!parent.reply_users.includes(record.user)) parent.reply_users.push(record.user);
    }
    let list = this.byChannel.get(record.channel);
    if (!list) {
      list = [];
      this.byChannel.set(record.channel, list);
    }
    list.push(record);
    this.byKey.set(`${record.channel}/${ts}`, record);
    return record;
  }

  addEphemeral(ephemeral: Omit<FakeEphemeral, "ts" | "deleted" | "history">): FakeEphemeral {
    const record: FakeEphemeral = {
      ...ephemeral,
      ts: this.nextTs(),
      deleted: false,
      history: [version(ephemeral, this.now(), ephemeral.via)],
    };
    this.ephemerals.push(record);
    return record;
  }

  findEphemeral(channel: string, ts: string): FakeEphemeral | undefined {
    return this.ephemerals.find((e) => e.channel === channel && e.ts === ts);
  }

  /** Replaces text/blocks with Slack's chat.update semantics and appends a version to the history. */
  edit(target: FakeMessage | FakeEphemeral, change: { text?: string; blocks?: Json[]; attachments?: Json[] }, via: MessageSource): void {
    const textChanged = change.text !== undefined && change.text !== target.text;
    if (change.text !== undefined) target.text = change.text;
    // Without `blocks`, old blocks survive only when `text` is not given either; `blocks: []` removes them.
    if (change.blocks !== undefined) target.blocks = change.blocks.length > 0 ? change.blocks : undefined;
    else if (change.text !== undefined) target.blocks = undefined;
    if (change.attachments !== undefined) target.attachments = change.attachments;
    if (textChanged && "reply_count" in target) target.edited = { user: target.user, ts: this.nextTs() };
    target.history.push(version(target, this.now(), via));
  }
}

function version(m: { text: string; blocks?: Json[]; attachments?: Json[] }, at: number, via: MessageSource): MessageVersion {
  const v: MessageVersion = { text: m.text, at, via };
  if (m.blocks !== undefined) v.blocks = m.blocks;
  if (m.attachments !== undefined) v.attachments = m.attachments;
  return v;
}
