/**
 * An offline fake of the Slack platform for berth's playground and tests: one Node HTTP server on 127.0.0.1 serving
 *   /api/<method>            the Web API methods berth uses (slack-fake-methods.ts), with Slack's rate limits
 *                            (slack-fake-limits.ts), fault injection and a call log;
 *   /upload/v1/<file_id>     files v2 step 2 (raw bytes or multipart);
 *   /commands/…, /actions/…  response_url endpoints (slack-fake-responses.ts);
 *   /link/?ticket=…          the Socket Mode WebSocket (slack-socket-hub.ts).
 * Point a real @slack/bolt App or @slack/web-api WebClient at it with `clientOptions.slackApiUrl = fake.apiUrl`,
 * and drive inbound traffic with slack-driver.ts (HTTP mode) or `fake.socket` (Socket Mode).
 *
 * Requests are handled in this order: unknown_method → auth (not_authed / invalid_auth / not_allowed_token_type)
 * → injected fault → rate limit (429) → the method's own validation → state change. Every request is recorded.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { appMentionEvent, checkUserMessage, type UserMessageOptions } from "./slack-fake-events.ts";
import { HOME_METHODS } from "./slack-fake-home.ts";
import {
  buildMessageAction,
  buildShortcut,
  buildViewClosed,
  buildViewSubmission,
  type MessageActionOptions,
  type ShortcutOptions,
  type ViewSubmissionOptions,
} from "./slack-fake-interactions.ts";
import {
  argString,
  isJsonObject,
  type Json,
  type JsonObject,
  parseApiArgs,
  readBody,
  readUploadBytes,
  tryParseJson,
} from "./slack-fake-json.ts";
import { type LimitProfile, RateLimiter, type WindowRule } from "./slack-fake-limits.ts";
import { METHODS, type MethodContext, type MethodSettings, SlackApiError } from "./slack-fake-methods.ts";
import {
  type BlockActionOptions,
  buildBlockAction,
  buildSlashCommand,
  type PayloadContext,
  type ResponseUrlSpec,
  type SlashCommandOptions,
  type SlashCommandPayload,
} from "./slack-fake-payloads.ts";
import { ackBodyToMessage, applyResponse } from "./slack-fake-responses.ts";
import {
  type FakeEphemeral,
  type FakeFile,
  type FakeMessage,
  type FakeResponse,
  SEED,
  type UserRecord,
  Workspace,
} from "./slack-fake-store.ts";
import { applyViewAck, openStack, VIEW_METHODS, viewJson } from "./slack-fake-views.ts";
import { SocketHub } from "./slack-socket-hub.ts";

export { BLOCK_LIMITS, validateBlocks } from "./slack-fake-blocks.ts";
export type { UserMessageOptions } from "./slack-fake-events.ts";
export type { MessageActionOptions, ShortcutOptions, ViewInput, ViewSubmissionOptions } from "./slack-fake-interactions.ts";
export type { Json, JsonObject } from "./slack-fake-json.ts";
export type { LimitProfile, WindowRule } from "./slack-fake-limits.ts";
export type { BlockActionOptions, SlashCommandOptions, SlashCommandPayload } from "./slack-fake-payloads.ts";
export type { FakeEphemeral, FakeFile, FakeMessage, FakeResponse, MessageVersion } from "./slack-fake-store.ts";
export { SEED } from "./slack-fake-store.ts";
export type { SocketDelivery, SocketEnvelopeRecord } from "./slack-socket-hub.ts";

export interface SlackFakeOptions {
  /** "slack" (default): Slack's documented limits. "off": no 429s unless injected with fail(). */
  limits?: LimitProfile;
  /** Default true: chat.postMessage text over 4,000 chars fails with msg_too_long (berth must never send it). */
  strict?: boolean;
  /** Error for chat.postMessage/files.completeUploadExternal thread_ts that is not a parent; null accepts it. */
  threadTsError?: string | null;
  /** The app has chat:write.public (posts to public channels without joining). Default false. */
  chatWritePublic?: boolean;
  /** Default true: an upload whose size differs from the announced `length` gets HTTP 400. */
  checkUploadLength?: boolean;
  /** Socket Mode ack deadline, default 3000 ms. */
  ackTimeoutMs?: number;
  /** Clock for rate-limit windows and response_url expiry. Default Date.now. */
  now?: () => number;
  botToken?: string;
  appToken?: string;
  signingSecret?: string;
  /** Most recorded requests kept (oldest dropped first); default: all. A long-running playground keeps a few. */
  callLogLimit?: number;
}

/** One recorded request. Web API methods by name; also "upload" (files v2 step 2) and "response_url". */
export interface ApiCall {
  method: string;
  /** Parsed arguments (JSON fields decoded), without the token. */
  args: JsonObject;
  /** The HTTP status answered; 0 when a `hang` fault never answered. */
  status: number;
  /** The JSON body sent back, or the text body (5xx, upload). */
  response: Json;
  at: number;
  token: "bot" | "app" | "none" | "invalid";
}

/** A modal on someone's screen. */
export interface OpenView {
  id: string;
  user: string;
  /** As Slack shows it in payloads: blocks, callback_id, private_metadata, title… */
  view: JsonObject;
  /** The messages under each block (by block_id) from the last `response_action: "errors"`. */
  errors: Record<string, string>;
  /** The ids of the views on this person's stack, root first. */
  stack: string[];
}

export interface FaultSpec {
  /** A Web API method, "*" for every Web API method, "upload" or "response_url". */
  method: string;
  /** HTTP status: 429 (with Retry-After), 5xx (HTML body, as Slack's edge sends), or any other. Default 200. */
  status?: number;
  /** `ok:false` error code (with status 200), or the 429 body's error (default "ratelimited"). */
  error?: string;
  /** Retry-After seconds for a 429, default 1. */
  retryAfter?: number;
  /** How many matching requests it affects, default 1 (Infinity for all). */
  times?: number;
  /** Delay before answering. Alone (no status/error) it makes a slow but otherwise normal response. */
  delayMs?: number;
  /** Response body override for non-200 statuses. */
  body?: string;
  /**
   * Never answer (a call Slack's edge accepted and then sat on): the request is left open, without effect, until the
   * client gives up and closes it, `releaseHung()` is called, or the fake stops. Recorded with status 0 when it starts
   * hanging, so that `waitFor` sees it.
   */
  hang?: boolean;
}

export interface RateLimitEvent {
  method: string;
  /** The refusing window: a method, `chat.postMessage#<channel>`, `chat.postMessage#*`, or "fault". */
  key: string;
  retryAfter: number;
  injected: boolean;
  args: JsonObject;
  at: number;
}

interface Reply {
  status: number;
  body: Json;
  headers?: Record<string, string>;
  /** A `hang` fault: the request is recorded at once (status 0) and left open until this settles. */
  hold?: Promise<void>;
}

interface Waiter {
  method: string;
  predicate: (call: ApiCall) => boolean;
  resolve(call: ApiCall): void;
  reject(error: Error): void;
}

const DEFAULT_TOKENS = {
  bot: "xoxb-0000000001-0000000002-fakeBerthBotToken",
  app: "xapp-1-A0BERTH-0000000003-fakeberthapptoken0000000000",
  signingSecret: "fake-signing-secret-8f742231b10e8888",
};

export class SlackFake implements PayloadContext {
  readonly botToken: string;
  readonly appToken: string;
  readonly signingSecret: string;
  readonly verificationToken = "fakeVerificationToken0000";
  readonly teamId: string = SEED.teamId;
  readonly teamDomain: string = SEED.teamDomain;
  readonly appId: string = SEED.appId;
  readonly botUserId: string = SEED.botUserId;
  readonly botId: string = SEED.botId;
  /** The Socket Mode hub: send envelopes, disconnect, count connections. */
  readonly socket: SocketHub;
  /** The in-memory workspace (PayloadContext); prefer the accessor methods in tests. */
  readonly ws: Workspace;

  private readonly server: Server;
  private readonly settings: MethodSettings;
  private readonly checkUploadLength: boolean;
  private readonly callLogLimit: number;
  private readonly now: () => number;
  private readonly limiter: RateLimiter;
  private readonly callLog: ApiCall[] = [];
  private readonly rateLimitLog: RateLimitEvent[] = [];
  private readonly faults: (FaultSpec & { remaining: number })[] = [];
  private readonly waiters = new Set<Waiter>();
  private readonly changeListeners = new Set<() => void>();
  private readonly stopping = new AbortController();
  private releasing = new AbortController();
  private responseUrlCounter = 0;
  private stopped = false;
  private listeningPort = 0;

  private constructor(options: SlackFakeOptions) {
    this.botToken = options.botToken ?? DEFAULT_TOKENS.bot;
    this.appToken = options.appToken ?? DEFAULT_TOKENS.app;
    this.signingSecret = options.signingSecret ?? DEFAULT_TOKENS.signingSecret;
    this.now = options.now ?? Date.now;
    this.settings = {
      strict: options.strict ?? true,
      threadTsError: options.threadTsError === undefined ? "thread_not_found" : options.threadTsError,
      chatWritePublic: options.chatWritePublic ?? false,
    };
    this.checkUploadLength = options.checkUploadLength ?? true;
    this.callLogLimit = options.callLogLimit ?? Number.POSITIVE_INFINITY;
    this.limiter = new RateLimiter(this.now);
    this.limiter.setProfile(options.limits ?? "slack");
    this.ws = new Workspace(
      {
        teamId: this.teamId,
        teamDomain: this.teamDomain,
        appId: this.appId,
        botUserId: this.botUserId,
        botId: this.botId,
      },
      this.now,
    );
    this.socket = new SocketHub({
      appId: this.appId,
      ...(options.ackTimeoutMs !== undefined && { ackTimeoutMs: options.ackTimeoutMs }),
      linkUrl: (ticket) => `ws://127.0.0.1:${this.port}/link/?ticket=${ticket}`,
      inbound: {
        buildSlashCommand: (o) => this.buildSlashCommand(o),
        buildBlockAction: (o) => this.buildBlockAction(o),
        applyAck: (url, body) => this.applyAck(url, body),
        buildShortcut: (o) => this.buildShortcut(o),
        buildMessageAction: (o) => this.buildMessageAction(o),
        buildViewSubmission: (o) => this.buildViewSubmission(o),
        buildViewClosed: (id) => this.buildViewClosed(id),
        applyViewAck: (id, body) => this.applyViewAck(id, body),
        userMessage: (o) => this.userMessage(o),
      },
    });
    this.server = createServer((req, res) => {
      this.onRequest(req, res).catch((error: unknown) => {
        console.error("slack-fake: internal error", error);
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end(`slack-fake internal error: ${String(error)}`);
      });
    });
    this.server.on("upgrade", (req, socket, head) => {
      if (!this.socket.handleUpgrade(req, socket, head)) {
        socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      }
    });
  }

  /** Starts a fake on 127.0.0.1 and an ephemeral port. */
  static async start(options: SlackFakeOptions = {}): Promise<SlackFake> {
    const fake = new SlackFake(options);
    await new Promise<void>((resolve, reject) => {
      fake.server.once("error", reject);
      fake.server.listen(0, "127.0.0.1", () => resolve());
    });
    fake.listeningPort = (fake.server.address() as AddressInfo).port;
    return fake;
  }

  get port(): number {
    return this.listeningPort;
  }

  /** `http://127.0.0.1:PORT` */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** `http://127.0.0.1:PORT/api/` — pass as `slackApiUrl`. */
  get apiUrl(): string {
    return `${this.baseUrl}/api/`;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopping.abort();
    for (const waiter of this.waiters) waiter.reject(new Error(`waitFor("${waiter.method}"): the Slack fake stopped`));
    await this.socket.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  // ——— configuration ———

  /** "slack" (Slack's numbers) or "off". Switching clears the windows. */
  setLimits(profile: LimitProfile): void {
    this.limiter.setProfile(profile);
  }

  /**
   * Overrides one limit: a method, `chat.postMessage#channel` (each channel) or `chat.postMessage#*` (workspace).
   * `null` disables it; `undefined` restores Slack's number.
   */
  setLimit(ruleKey: string, rule: WindowRule | null | undefined): void {
    this.limiter.setRule(ruleKey, rule);
  }

  /** Injects a fault for the next matching request(s). */
  fail(fault: FaultSpec): void {
    this.faults.push({ ...fault, remaining: fault.times ?? 1 });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Closes every request a `hang` fault holds, without an answer (as a dropped connection). */
  releaseHung(): void {
    this.releasing.abort();
    this.releasing = new AbortController();
  }

  // ——— workspace seeding ———

  addUser(user: Partial<UserRecord> & { id: string; name: string }): void {
    this.ws.addUser(user);
  }

  addChannel(channel: { id: string; name: string; is_private?: boolean; is_archived?: boolean; members?: string[] }): void {
    this.ws.addChannel(channel);
  }

  addMember(channel: string, user: string): void {
    this.requireChannel(channel).members.add(user);
  }

  removeMember(channel: string, user: string): void {
    this.requireChannel(channel).members.delete(user);
  }

  archiveChannel(channel: string, archived = true): void {
    this.requireChannel(channel).is_archived = archived;
  }

  addUserGroup(group: { id: string; handle?: string; name?: string; users: string[] }): void {
    this.ws.userGroups.set(group.id, {
      id: group.id,
      handle: group.handle ?? group.id.toLowerCase(),
      name: group.name ?? group.id,
      users: [...group.users],
    });
  }

  /** A message written by a person (not the bot): a thread parent to reply to, a message berth cannot edit. */
  postAsUser(message: { channel: string; user: string; text: string; thread_ts?: string; blocks?: Json[] }): FakeMessage {
    const record = this.ws.addMessage({ ...message, via: "seed" });
    this.changed();
    return structuredClone(record);
  }

  /**
   * A person writes a message (in a thread when `threadTs` is set), as in Slack's client: it is stored, and the
   * Events API payload Slack would send the app for it is returned (`app_mention` when it mentions the bot in a
   * channel the bot is in), for the HTTP driver or the socket hub to deliver.
   */
  userMessage(options: UserMessageOptions): { message: FakeMessage; event: JsonObject | undefined } {
    const o = { ...options, user: options.user ?? SEED.operator, channel: options.channel ?? SEED.incidentChannel };
    checkUserMessage(this.ws, o);
    const message = this.postAsUser({ channel: o.channel, user: o.user, text: o.text, ...(o.threadTs && { thread_ts: o.threadTs }) });
    return { message, event: appMentionEvent(this.ws, this.verificationToken, message, this.now()) };
  }

  private requireChannel(id: string) {
    const channel = this.ws.channels.get(id);
    if (!channel) throw new Error(`slack-fake: no channel ${id}`);
    return channel;
  }

  // ——— inbound helpers (used by slack-driver.ts and the socket hub) ———

  /** A response_url on this fake (`http://127.0.0.1:PORT/commands/…` or `/actions/…`). */
  mintResponseUrl(spec: ResponseUrlSpec): string {
    this.responseUrlCounter += 1;
    const id = `${this.teamId}/${1000 + this.responseUrlCounter}/${Math.random().toString(36).slice(2, 14)}`;
    const url = `${this.baseUrl}/${spec.kind}/${id}`;
    this.ws.responseUrls.set(id, {
      id,
      kind: spec.kind,
      url,
      channel: spec.channel,
      user: spec.user,
      ...(spec.messageTs !== undefined && { messageTs: spec.messageTs }),
      isEphemeral: spec.isEphemeral ?? false,
      issuedAt: this.now(),
      uses: 0,
    });
    return url;
  }

  mintTriggerId(): string {
    return this.ws.mintTrigger();
  }

  buildSlashCommand(options: SlashCommandOptions): SlashCommandPayload {
    return buildSlashCommand(this, options);
  }

  buildBlockAction(options: BlockActionOptions): JsonObject {
    return buildBlockAction(this, options);
  }

  buildShortcut(options: ShortcutOptions): JsonObject {
    return buildShortcut(this, options);
  }

  buildMessageAction(options: MessageActionOptions): JsonObject {
    return buildMessageAction(this, options);
  }

  buildViewSubmission(options: ViewSubmissionOptions): JsonObject {
    return buildViewSubmission(this, options);
  }

  /** Closes the view (the person dismissed it) and returns the view_closed payload Slack would send. */
  buildViewClosed(viewId: string): JsonObject {
    const payload = buildViewClosed(this, viewId);
    this.changed();
    return payload;
  }

  /** Applies a view_submission's ack body (JSON or its text) to the view, as Slack does: errors, update, push, clear or close. */
  applyViewAck(viewId: string, body: Json | undefined): void {
    applyViewAck(this.ws, viewId, typeof body === "string" ? (body === "" ? undefined : tryParseJson(body)) : body);
    this.changed();
  }

  /** The modals open now (for one person, or anyone's), oldest first, with the errors of their last submission. */
  views(user?: string): OpenView[] {
    const open = [...this.ws.views.values()].filter((r) => r.open && (user === undefined || r.user === user));
    return open.map((r) => ({
      id: r.id,
      user: r.user,
      view: viewJson(this.ws, r),
      errors: { ...r.errors },
      stack: openStack(this.ws, r.user).map((v) => v.id),
    }));
  }

  /**
   * Shows a slash command's ack body to the user as Slack does (ephemeral by default, or in_channel), without using
   * up the response_url. Plain text counts as `{ text }`; an empty ack shows nothing.
   */
  applyAck(responseUrl: string, body: Json | undefined): void {
    const record = this.ws.responseUrls.get(this.responseUrlId(responseUrl) ?? "");
    const message = ackBodyToMessage(body);
    if (record?.kind !== "commands" || !message) return;
    applyResponse({ ws: this.ws, settings: this.settings, now: this.now() }, record, message, "ack");
    this.changed();
  }

  private responseUrlId(url: string): string | undefined {
    const match = /^\/(?:commands|actions)\/(.+)$/.exec(new URL(url, this.baseUrl).pathname);
    return match?.[1];
  }

  // ——— recording and assertions ———

  /** Recorded requests, oldest first; optionally only one method ("upload" and "response_url" included). */
  calls(method?: string): ApiCall[] {
    return structuredClone(method === undefined ? this.callLog : this.callLog.filter((c) => c.method === method));
  }

  /** Resolves with the first call (past or future) of `method` matching `predicate`; rejects after timeoutMs. */
  waitFor(method: string, predicate: (call: ApiCall) => boolean = () => true, timeoutMs = 2000): Promise<ApiCall> {
    const existing = this.callLog.find((c) => c.method === method && predicate(c));
    if (existing) return Promise.resolve(structuredClone(existing));
    return new Promise<ApiCall>((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      const waiter: Waiter = {
        method,
        predicate,
        resolve: (call) => {
          settle();
          resolve(structuredClone(call));
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        const seen = this.callLog.filter((c) => c.method === method);
        const last = seen.slice(-3).map((c) => JSON.stringify({ args: c.args, response: c.response }));
        waiter.reject(
          new Error(
            `waitFor("${method}") timed out after ${timeoutMs} ms; ${seen.length} ${method} call(s) seen` +
              (last.length > 0 ? `, the last: ${last.join(" | ")}` : ""),
          ),
        );
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /**
   * Calls `listener` after every request the fake handles and every ack it applies, i.e. whenever messages,
   * ephemerals or files may have changed (the playground pushes its page from this). Returns the unsubscribe.
   */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.changeListeners) listener();
  }

  /** Every 429 sent (limiter or injected), oldest first. */
  get rateLimited(): RateLimitEvent[] {
    return structuredClone(this.rateLimitLog);
  }

  /** Top-level messages of a channel (thread replies only when broadcast), oldest first; deleted ones left out. */
  messages(channel: string): FakeMessage[] {
    return structuredClone(
      this.ws
        .channelMessages(channel)
        .filter((m) => !m.deleted && (m.thread_ts === undefined || m.thread_ts === m.ts || m.reply_broadcast === true)),
    );
  }

  /** Replies in the thread of `ts` (without the parent), in order. */
  thread(channel: string, ts: string): FakeMessage[] {
    return structuredClone(this.ws.channelMessages(channel).filter((m) => !m.deleted && m.thread_ts === ts && m.ts !== ts));
  }

  /** One message's current state (after updates, with `history`), also when deleted; undefined if unknown. */
  message(channel: string, ts: string): FakeMessage | undefined {
    const record = this.ws.findMessage(channel, ts);
    return record ? structuredClone(record) : undefined;
  }

  /** Ephemeral messages (chat.postEphemeral, response_url, ack bodies), optionally for one user. */
  ephemerals(user?: string): FakeEphemeral[] {
    return structuredClone(this.ws.ephemerals.filter((e) => user === undefined || e.user === user));
  }

  /** response_url posts and applied ack bodies, in order, including rejected ones. */
  responses(): FakeResponse[] {
    return structuredClone(this.ws.responses);
  }

  /** Files from files.getUploadURLExternal on, with their uploaded bytes and the same bytes as UTF-8 `content`. */
  files(): FakeFile[] {
    return [...this.ws.files.values()].map(({ bytes, ...file }) => {
      const copy = Buffer.from(bytes ?? Buffer.alloc(0));
      return { ...structuredClone(file), bytes: copy, content: copy.toString("utf8") };
    });
  }

  /** Clears messages, files, calls, 429s, faults and rate windows, and re-seeds the workspace. Sockets stay open. */
  reset(): void {
    this.ws.clear();
    this.callLog.length = 0;
    this.rateLimitLog.length = 0;
    this.faults.length = 0;
    this.limiter.reset();
  }

  // ——— HTTP ———

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.baseUrl);
    const raw = await readBody(req);
    // Aborted when the client closes the connection before the answer: what a `hang` fault waits for.
    const gone = new AbortController();
    res.once("close", () => gone.abort());
    let reply: Reply;
    const path = url.pathname;
    if (path.startsWith("/api/")) {
      reply = await this.handleApi(decodeURIComponent(path.slice("/api/".length)), url, req, raw, gone.signal);
    } else if (path.startsWith("/upload/v1/")) {
      reply = await this.handleUpload(decodeURIComponent(path.slice("/upload/v1/".length)), req, raw, gone.signal);
    } else if (/^\/(commands|actions)\/.+/.test(path)) {
      reply = await this.handleResponseUrl(path, req, raw, gone.signal);
    } else {
      reply = { status: 404, body: "not found" };
    }
    if (reply.hold) {
      await reply.hold;
      res.destroy();
      return;
    }
    const isText = typeof reply.body === "string";
    res.writeHead(reply.status, {
      "content-type": isText ? "text/plain; charset=utf-8" : "application/json; charset=utf-8",
      ...reply.headers,
    });
    res.end(isText ? reply.body : JSON.stringify(reply.body));
  }

  private async handleApi(method: string, url: URL, req: IncomingMessage, raw: Buffer, gone: AbortSignal): Promise<Reply> {
    const parsed = await parseApiArgs(raw, req.headers["content-type"] ?? "", url.searchParams);
    const { args } = parsed;
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "")?.[1];
    const token = bearer ?? argString(args, "token");
    delete args.token;
    const tokenType: ApiCall["token"] =
      token === undefined || token === "" ? "none" : token === this.botToken ? "bot" : token === this.appToken ? "app" : "invalid";
    const record = (reply: Reply): Reply => {
      this.record({ method, args, status: reply.status, response: reply.body, at: this.now(), token: tokenType });
      return reply;
    };
    const error = (code: string): Reply => record({ status: 200, body: { ok: false, error: code } });

    const definition = METHODS[method] ?? VIEW_METHODS[method] ?? HOME_METHODS[method];
    if (!definition) return error("unknown_method");
    if (parsed.error) return error(parsed.error);
    if (tokenType === "none") return error("not_authed");
    if (tokenType === "invalid") return error("invalid_auth");
    if (tokenType !== definition.token) return error("not_allowed_token_type");

    const injected = await this.injectedFault(method, args, gone);
    if (injected) return record(injected);

    const channelArg = method === "chat.postMessage" ? argString(args, "channel") : undefined;
    const channelKey = channelArg === undefined ? undefined : (this.ws.resolveChannel(channelArg)?.id ?? channelArg);
    const refusal = this.limiter.take(method, channelKey);
    if (refusal) {
      this.rateLimitLog.push({
        method,
        key: refusal.key,
        retryAfter: refusal.retryAfter,
        injected: false,
        args: structuredClone(args),
        at: this.now(),
      });
      return record(rateLimitedReply(refusal.retryAfter));
    }

    const ctx: MethodContext = {
      ws: this.ws,
      settings: this.settings,
      badJson: parsed.badJson,
      uploadUrl: (fileId) => `${this.baseUrl}/upload/v1/${fileId}`,
      socketUrl: () => this.socket.issueUrl(),
    };
    try {
      return record({ status: 200, body: { ok: true, ...definition.handle(args, ctx) } });
    } catch (e) {
      if (e instanceof SlackApiError) return record({ status: 200, body: { ok: false, error: e.code, ...e.extra } });
      throw e;
    }
  }

  private async handleUpload(fileId: string, req: IncomingMessage, raw: Buffer, gone: AbortSignal): Promise<Reply> {
    const contentType = req.headers["content-type"] ?? "";
    const args: JsonObject = { file_id: fileId, content_type: contentType, bytes: raw.length };
    const record = (reply: Reply): Reply => {
      this.record({
        method: "upload",
        args,
        status: reply.status,
        response: reply.body,
        at: this.now(),
        token: "none",
      });
      return reply;
    };
    const injected = await this.injectedFault("upload", args, gone);
    if (injected) return record(injected);
    const file = this.ws.files.get(fileId);
    if (!file || file.completed) return record({ status: 404, body: "file not found" });
    const bytes = await readUploadBytes(raw, contentType);
    if (!bytes) return record({ status: 400, body: "unreadable multipart body" });
    args.bytes = bytes.length;
    if (this.checkUploadLength && bytes.length !== file.length) {
      return record({ status: 400, body: `length mismatch: announced ${file.length} bytes, received ${bytes.length}` });
    }
    file.bytes = bytes;
    return record({ status: 200, body: `OK - ${bytes.length}` });
  }

  private async handleResponseUrl(path: string, req: IncomingMessage, raw: Buffer, gone: AbortSignal): Promise<Reply> {
    const text = raw.toString("utf8");
    const isForm = (req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded");
    const body = isForm ? tryParseJson(new URLSearchParams(text).get("payload") ?? "") : tryParseJson(text);
    const args: JsonObject = isJsonObject(body) ? body : { raw: text };
    const record = (reply: Reply): Reply => {
      this.record({
        method: "response_url",
        args,
        status: reply.status,
        response: reply.body,
        at: this.now(),
        token: "none",
      });
      return reply;
    };
    const injected = await this.injectedFault("response_url", args, gone);
    if (injected) return record(injected);
    const target = this.ws.responseUrls.get(this.responseUrlId(path) ?? "");
    if (!target || !path.startsWith(`/${target.kind}/`)) {
      return record({ status: 404, body: { ok: false, error: "invalid_url" } });
    }
    const result = applyResponse({ ws: this.ws, settings: this.settings, now: this.now() }, target, body, "response_url");
    return record({ status: result.status, body: result.body });
  }

  /** The reply for the first matching injected fault, after its delay; undefined to proceed normally. */
  private async injectedFault(method: string, args: JsonObject, gone: AbortSignal): Promise<Reply | undefined> {
    const isApi = method !== "upload" && method !== "response_url";
    const fault = this.faults.find((f) => f.remaining > 0 && (f.method === method || (f.method === "*" && isApi)));
    if (!fault) return undefined;
    fault.remaining -= 1;
    if (fault.hang) {
      const over = AbortSignal.any([gone, this.stopping.signal, this.releasing.signal]);
      const hold = over.aborted
        ? Promise.resolve()
        : new Promise<void>((resolve) => over.addEventListener("abort", () => resolve(), { once: true }));
      return { status: 0, body: "no answer", hold };
    }
    if (fault.delayMs !== undefined && fault.delayMs > 0) {
      try {
        await sleep(fault.delayMs, undefined, { signal: this.stopping.signal });
      } catch {
        return { status: 503, body: "slack-fake stopped" };
      }
    }
    const status = fault.status ?? (fault.error !== undefined ? 200 : undefined);
    if (status === undefined) return undefined;
    if (status === 429) {
      const retryAfter = fault.retryAfter ?? 1;
      this.rateLimitLog.push({
        method,
        key: "fault",
        retryAfter,
        injected: true,
        args: structuredClone(args),
        at: this.now(),
      });
      return rateLimitedReply(retryAfter, fault.error);
    }
    if (status >= 500) {
      return {
        status,
        body: fault.body ?? edgeErrorPage(status),
        headers: { "content-type": "text/html; charset=utf-8" },
      };
    }
    if (status !== 200) return { status, body: fault.body ?? `HTTP ${status}` };
    return { status: 200, body: { ok: false, error: fault.error ?? "internal_error" } };
  }

  private record(call: ApiCall): void {
    this.callLog.push(call);
    if (this.callLog.length > this.callLogLimit) this.callLog.splice(0, this.callLog.length - this.callLogLimit);
    for (const waiter of this.waiters) {
      if (waiter.method === call.method && waiter.predicate(call)) waiter.resolve(call);
    }
    this.changed();
  }
}

function rateLimitedReply(retryAfter: number, error = "ratelimited"): Reply {
  return { status: 429, body: { ok: false, error }, headers: { "retry-after": String(retryAfter) } };
}

/** What Slack's edge returns on 5xx: HTML, not JSON (@slack/web-api turns it into WebAPIHTTPError). */
function edgeErrorPage(status: number): string {
  const title = status === 503 ? "503 Service Unavailable" : status === 502 ? "502 Bad Gateway" : `${status} Internal Server Error`;
  return `<html><head><title>${title}</title></head><body><center><h1>${title}</h1></center><hr><center>envoy</center></body></html>\n`;
}
