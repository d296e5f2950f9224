/**
 * The Socket Mode side of the fake (docs.slack.dev/apis/events-api/using-socket-mode; docs/reference/slack-platform.md §3):
 * apps.connections.open hands out `ws://…/link/?ticket=<one-time>`; on upgrade with a valid ticket the hub sends
 * `hello`; `send()` wraps a payload in an envelope and resolves when the app acks it (or rejects after 3 s, Slack's
 * deadline). Payloads go round-robin over the open connections ("each payload may be sent to any of them").
 * At most 10 connections per app; an 11th gets `disconnect` with reason `too_many_websockets`. `redeliver()` sends an
 * envelope again with its id and a higher `retry_attempt`, as Slack may after a reconnect.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { createRequire } from "node:module";
import type { Duplex } from "node:stream";
import type { RawData, WebSocket, WebSocketServer } from "ws";
import type { UserMessageOptions } from "./slack-fake-events.ts";
import type { MessageActionOptions, ShortcutOptions, ViewSubmissionOptions } from "./slack-fake-interactions.ts";
import { isJsonObject, type Json, type JsonObject, tryParseJson } from "./slack-fake-json.ts";
import type { BlockActionOptions, SlashCommandOptions, SlashCommandPayload } from "./slack-fake-payloads.ts";
import type { FakeMessage } from "./slack-fake-store.ts";

export type EnvelopeType = "slash_commands" | "interactive" | "events_api";
export type DisconnectReason = "warning" | "refresh_requested" | "link_disabled" | "too_many_websockets";

export const SOCKET_ACK_TIMEOUT_MS = 3000;
export const MAX_SOCKET_CONNECTIONS = 10;

export interface SocketDelivery<P extends Json = Json> {
  envelopeId: string;
  type: EnvelopeType;
  payload: P;
  /** The ack's `payload` (`{}` for a bare ack). */
  ack: JsonObject;
  /** Time from sending the envelope to receiving the ack. */
  ms: number;
}

/** Every envelope sent, acked or not. */
export interface SocketEnvelopeRecord {
  envelopeId: string;
  type: EnvelopeType;
  payload: Json;
  sentAt: number;
  /** 0 for the first delivery, then 1, 2… for each redelivery of the same envelope. */
  retryAttempt: number;
  ack?: JsonObject;
  ms?: number;
  timedOut: boolean;
}

/** What the hub needs from the fake to build payloads and show ack bodies. */
export interface SocketInbound {
  buildSlashCommand(options: SlashCommandOptions): SlashCommandPayload;
  buildBlockAction(options: BlockActionOptions): JsonObject;
  applyAck(responseUrl: string, body: Json | undefined): void;
  buildShortcut(options: ShortcutOptions): JsonObject;
  buildMessageAction(options: MessageActionOptions): JsonObject;
  buildViewSubmission(options: ViewSubmissionOptions): JsonObject;
  buildViewClosed(viewId: string): JsonObject;
  applyViewAck(viewId: string, body: Json | undefined): void;
  userMessage(options: UserMessageOptions): { message: FakeMessage; event: JsonObject | undefined };
}

export interface SocketHubOptions {
  inbound: SocketInbound;
  appId: string;
  ackTimeoutMs?: number;
  /** The ws:// URL for a ticket (the fake knows its port). */
  linkUrl(ticket: string): string;
}

export class SocketHub {
  /**
   * Made on the first Socket Mode connection: `ws` is an optional peer dependency (berth installs it for development
   * only), and the playground (HTTP mode, in a production install too) must load this module without it.
   */
  private wssInstance: WebSocketServer | undefined;
  private get wss(): WebSocketServer {
    this.wssInstance ??= new (createRequire(import.meta.url)("ws") as typeof import("ws")).WebSocketServer({ noServer: true });
    return this.wssInstance;
  }
  private readonly sockets = new Set<WebSocket>();
  private readonly tickets = new Set<string>();
  private readonly pending = new Map<string, { resolve(ack: JsonObject): void; reject(error: Error): void }>();
  private readonly log: SocketEnvelopeRecord[] = [];
  private readonly options: SocketHubOptions;
  private readonly ackTimeoutMs: number;
  private roundRobin = 0;
  private connectionsOpened = 0;

  constructor(options: SocketHubOptions) {
    this.options = options;
    this.ackTimeoutMs = options.ackTimeoutMs ?? SOCKET_ACK_TIMEOUT_MS;
  }

  /** Open connections right now. */
  get connections(): number {
    return this.sockets.size;
  }

  /** Connections ever accepted (reconnects count again). */
  get totalConnections(): number {
    return this.connectionsOpened;
  }

  /** Every envelope sent so far, with its ack. */
  envelopes(): SocketEnvelopeRecord[] {
    return structuredClone(this.log);
  }

  /** A fresh one-time link URL (what apps.connections.open returns). */
  issueUrl(): string {
    const ticket = randomUUID();
    this.tickets.add(ticket);
    return this.options.linkUrl(ticket);
  }

  /** Handles an HTTP upgrade; false when the path is not the Socket Mode link. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? "/", "http://fake");
    if (url.pathname !== "/link/" && url.pathname !== "/link") return false;
    const ticket = url.searchParams.get("ticket") ?? "";
    if (!this.tickets.delete(ticket)) {
      socket.end("HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return true;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws));
    return true;
  }

  private onConnection(ws: WebSocket): void {
    if (this.sockets.size >= MAX_SOCKET_CONNECTIONS) {
      ws.send(JSON.stringify({ type: "disconnect", reason: "too_many_websockets", debug_info: { host: "applink-fake" } }));
      ws.close();
      return;
    }
    this.sockets.add(ws);
    this.connectionsOpened += 1;
    ws.on("message", (data) => this.onMessage(data));
    ws.on("close", () => this.sockets.delete(ws));
    ws.on("error", () => this.sockets.delete(ws));
    ws.send(
      JSON.stringify({
        type: "hello",
        num_connections: this.sockets.size,
        connection_info: { app_id: this.options.appId },
        debug_info: { host: "applink-fake", build_number: 1, approximate_connection_time: 18060 },
      }),
    );
  }

  private onMessage(data: RawData): void {
    const text = Array.isArray(data)
      ? Buffer.concat(data).toString("utf8")
      : Buffer.from(data instanceof ArrayBuffer ? new Uint8Array(data) : data).toString("utf8");
    const message = tryParseJson(text);
    if (!isJsonObject(message) || typeof message.envelope_id !== "string") return;
    this.pending.get(message.envelope_id)?.resolve(isJsonObject(message.payload) ? message.payload : {});
  }

  /**
   * Sends one envelope and waits for its ack. Rejects when no connection is open, or when no ack arrives within
   * the ack timeout (3000 ms, Slack's deadline).
   */
  send<P extends Json>(type: EnvelopeType, payload: P): Promise<SocketDelivery<P>> {
    return this.deliver(randomUUID(), type, payload, 0, "");
  }

  /**
   * Sends an envelope sent before again: the same id and payload, the next `retry_attempt`, over the next connection
   * (it may be another one than the first time). Waits for the ack like `send`.
   */
  redeliver(envelopeId: string, retryReason = "timeout"): Promise<SocketDelivery> {
    const sent = this.log.filter((r) => r.envelopeId === envelopeId);
    const first = sent[0];
    if (!first) return Promise.reject(new Error(`socket.redeliver: no envelope ${envelopeId} was sent`));
    if (this.pending.has(envelopeId)) return Promise.reject(new Error(`socket.redeliver: envelope ${envelopeId} still waits for its ack`));
    return this.deliver(envelopeId, first.type, first.payload, sent.length, retryReason);
  }

  private deliver<P extends Json>(
    envelopeId: string,
    type: EnvelopeType,
    payload: P,
    retryAttempt: number,
    retryReason: string,
  ): Promise<SocketDelivery<P>> {
    const open = [...this.sockets];
    if (open.length === 0) return Promise.reject(new Error("socket.send: no Socket Mode connection is open"));
    const ws = open[this.roundRobin++ % open.length];
    if (!ws) return Promise.reject(new Error("socket.send: no Socket Mode connection is open"));
    const record: SocketEnvelopeRecord = { envelopeId, type, payload, sentAt: Date.now(), retryAttempt, timedOut: false };
    this.log.push(record);
    const started = performance.now();
    return new Promise<SocketDelivery<P>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(envelopeId);
        record.timedOut = true;
        reject(new Error(`socket.send: no ack for ${type} envelope ${envelopeId} within ${this.ackTimeoutMs} ms`));
      }, this.ackTimeoutMs);
      this.pending.set(envelopeId, {
        resolve: (ack) => {
          clearTimeout(timer);
          this.pending.delete(envelopeId);
          const ms = performance.now() - started;
          record.ack = ack;
          record.ms = ms;
          resolve({ envelopeId, type, payload, ack, ms });
        },
        reject: (error) => {
          clearTimeout(timer);
          this.pending.delete(envelopeId);
          reject(error);
        },
      });
      const envelope: JsonObject = {
        envelope_id: envelopeId,
        type,
        payload,
        accepts_response_payload: type !== "events_api",
      };
      // Slack marks Events API envelopes always, and any envelope it sends again.
      if (type === "events_api" || retryAttempt > 0) {
        envelope.retry_attempt = retryAttempt;
        envelope.retry_reason = retryReason;
      }
      ws.send(JSON.stringify(envelope));
    });
  }

  /** Delivers a slash command (the same fields as the HTTP driver, as a JSON object) and applies its ack body. */
  async slashCommand(options: SlashCommandOptions): Promise<SocketDelivery<JsonObject> & { payload: SlashCommandPayload }> {
    const payload = this.options.inbound.buildSlashCommand(options);
    const delivery = await this.send<JsonObject>("slash_commands", payload);
    this.options.inbound.applyAck(payload.response_url, delivery.ack);
    return { ...delivery, payload };
  }

  /** Delivers a block_actions payload for a click on a stored message's element. */
  blockAction(options: BlockActionOptions): Promise<SocketDelivery<JsonObject>> {
    return this.send("interactive", this.options.inbound.buildBlockAction(options));
  }

  /** Delivers a global shortcut. */
  shortcut(options: ShortcutOptions): Promise<SocketDelivery<JsonObject>> {
    return this.send("interactive", this.options.inbound.buildShortcut(options));
  }

  /** Delivers a message shortcut used on a stored message. */
  messageAction(options: MessageActionOptions): Promise<SocketDelivery<JsonObject>> {
    return this.send("interactive", this.options.inbound.buildMessageAction(options));
  }

  /** Delivers a modal's submission and applies the ack's `response_action` to the view. */
  async viewSubmission(options: ViewSubmissionOptions): Promise<SocketDelivery<JsonObject>> {
    const delivery = await this.send("interactive", this.options.inbound.buildViewSubmission(options));
    this.options.inbound.applyViewAck(options.viewId, delivery.ack);
    return delivery;
  }

  /** Closes a modal as its person does; delivers view_closed when the view asked for it (`notify_on_close`). */
  async viewClosed(viewId: string): Promise<SocketDelivery<JsonObject> | undefined> {
    const payload = this.options.inbound.buildViewClosed(viewId);
    const view = payload.view;
    if (!isJsonObject(view) || view.notify_on_close !== true) return undefined;
    return this.send("interactive", payload);
  }

  /**
   * A person writes a message; when Slack would send the app an event for it (`app_mention`), it goes in an
   * `events_api` envelope and this waits for the ack. `delivery` is undefined when no event was sent.
   */
  async userMessage(options: UserMessageOptions): Promise<{ message: FakeMessage; delivery: SocketDelivery<JsonObject> | undefined }> {
    const { message, event } = this.options.inbound.userMessage(options);
    return { message, delivery: event && (await this.send("events_api", event)) };
  }

  /** Sends `{type:"disconnect", reason}` to every open connection; returns how many got it. */
  disconnect(reason: DisconnectReason = "refresh_requested"): number {
    const message = JSON.stringify({ type: "disconnect", reason, debug_info: { host: "applink-fake" } });
    for (const ws of this.sockets) ws.send(message);
    return this.sockets.size;
  }

  /** Drops every connection without a goodbye (a network failure). */
  terminate(): void {
    for (const ws of this.sockets) ws.terminate();
    this.sockets.clear();
  }

  /** Resolves once `count` connections are open. */
  async waitForConnections(count = 1, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.sockets.size < count) {
      if (Date.now() > deadline) {
        throw new Error(`socket.waitForConnections: ${this.sockets.size} of ${count} connections after ${timeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /**
   * Rejects pending sends and closes every connection with a proper close handshake (1001), terminating only
   * those that do not answer within a second. Dropping a socket while the client's own close frame is in flight
   * leaves @slack/socket-mode 3.1 with a 30-second close-handshake timer that keeps the process alive.
   */
  async close(): Promise<void> {
    for (const { reject } of this.pending.values()) reject(new Error("socket hub closed"));
    await Promise.all([...this.sockets].map((ws) => closeGracefully(ws)));
    this.sockets.clear();
    const wss = this.wssInstance;
    if (wss) await new Promise<void>((resolve) => wss.close(() => resolve()));
  }
}

function closeGracefully(ws: WebSocket, timeoutMs = 1000): Promise<void> {
  if (ws.readyState === ws.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      ws.terminate();
      resolve();
    }, timeoutMs);
    ws.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
    if (ws.readyState === ws.OPEN) ws.close(1001, "going away");
  });
}
