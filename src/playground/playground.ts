/**
 * The local playground (README, "The two commands"): `npm start` without Slack credentials. Another transport over the same ports:
 * the real berth (createBerth, Bolt in HTTP mode) runs against the in-process Slack API emulator the tests use, and a
 * small web page shows the emulator's channel: what the page sends becomes a signed slash command or button click,
 * exactly as Slack would deliver it.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  blockAction,
  type FakeEphemeral,
  type FakeMessage,
  type FileRecord,
  SEED,
  SlackFake,
  slashCommand,
  userMessage,
} from "@berth/slack-emulator";
import { z } from "zod";
import { createBerth, slackSettings } from "../berth.ts";
import type { Config } from "../config.ts";
import { BerthError } from "../core/errors.ts";
import { opsPaths } from "../health.ts";
import type { Ports } from "../ports.ts";
import { type HomeItem, playgroundHome } from "./home.ts";
import { answerView, type ViewItem, viewItems } from "./modal.ts";
import { playgroundPage } from "./page.ts";

export const playgroundPolicy = "manifests/policy.playground.yaml";
export const playgroundChannel = SEED.incidentChannel;
/** The people at the keyboard; the policy file binds their IDs. */
export const playgroundPeople = [
  { id: SEED.operator, name: "Olive Operator", role: "operator" },
  { id: SEED.approver, name: "Ada Approver", role: "lead, approves" },
] as const;

export type Playground = Awaited<ReturnType<typeof startPlayground>>;

const CommandBody = z.object({
  text: z.string().trim().min(1).max(4000),
  user: z.enum([SEED.operator, SEED.approver]),
  /** A reply in this message's thread (`@berth stop` in a job's thread). */
  threadTs: z.optional(z.string().regex(/^\d+\.\d+$/)),
});
const ActionBody = z.object({
  messageTs: z.string().regex(/^\d+\.\d+$/),
  actionId: z.string().min(1).max(255),
  value: z.string().max(2000).optional(),
  blockId: z.string().max(255).optional(),
  user: z.enum([SEED.operator, SEED.approver]),
});

/** One thing the page shows: a channel message or thread reply, an ephemeral (for one person), or an uploaded file. */
type Item =
  | {
      kind: "message";
      ts: string;
      thread_ts?: string | undefined;
      user: string;
      bot: boolean;
      text: string;
      blocks?: unknown;
      files?: FakeMessage["files"];
      reply_count: number;
      broadcast: boolean;
      edited: boolean;
      deleted: boolean;
    }
  | { kind: "ephemeral"; ts: string; thread_ts?: string | undefined; user: string; text: string; blocks?: unknown; deleted: boolean }
  | { kind: "file"; id: string; name: string; title: string; length: number; ready: boolean }
  | ViewItem
  | HomeItem;

/** The playground's Config: the playground policy unless BERTH_POLICY names one. */
export function playgroundConfig(config: Config): Config {
  return { ...config, policyPath: config.env.BERTH_POLICY ? config.policyPath : playgroundPolicy };
}

/**
 * Starts the emulator, berth on a loopback port against it, and the page server on the configured PORT/HOST (HOST
 * defaults to 127.0.0.1 here, not 0.0.0.0: the page makes whoever opens it an operator on the local engine).
 * `ports` are built from the loaded environment (mode "none", see playgroundConfig); berth owns them from here on.
 */
export async function startPlayground(ports: Ports) {
  const { config } = ports;
  const emulator = await SlackFake.start({ callLogLimit: 1000 });
  let berth: ReturnType<typeof createBerth>;
  let berthPort: number;
  try {
    berth = createBerth(ports, {
      ...slackSettings(config),
      botToken: emulator.botToken,
      signingSecret: emulator.signingSecret,
      appToken: undefined,
      apiUrl: emulator.apiUrl.endsWith("/") ? emulator.apiUrl : `${emulator.apiUrl}/`,
      port: 0,
      host: "127.0.0.1",
    });
    berthPort = await berth.start();
  } catch (error) {
    await emulator.stop();
    throw error;
  }
  const eventsUrl = `http://127.0.0.1:${berthPort}/slack/events`;
  const home = playgroundHome(emulator, eventsUrl, playgroundPeople);
  const feed = createFeed(emulator, home.items);
  const server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      ports.log.error("playground request failed", { url: req.url, err: error });
      if (!res.headersSent) json(res, 500, { error: `The playground failed: ${(error as Error).message}` });
      else res.end();
    });
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://playground").pathname;
    if (!trustedHost(req.headers.host)) {
      // A DNS name pointing at this machine could otherwise let any web page drive the playground (DNS rebinding).
      return json(res, 421, { error: "Open the playground as http://localhost:PORT or by IP address." });
    }
    if (req.method === "GET" && path === "/") {
      res.writeHead(200, {
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
        "content-security-policy":
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'",
      });
      res.end(playgroundPage);
      return;
    }
    if (req.method === "GET" && path === "/events") return feed.subscribe(req, res);
    // berth's own answers, with berth's own rules: details and metrics need BERTH_METRICS_TOKEN (docs/security.md).
    if (req.method === "GET" && (opsPaths as readonly string[]).includes(path)) return proxy(req, res);
    if (req.method === "GET" && path.startsWith("/files/")) return download(decodeURIComponent(path.slice("/files/".length)), res);
    if (req.method === "POST" && ["/command", "/action", "/view", "/home", "/home-action"].includes(path)) {
      // JSON only and same origin: a form on another site cannot post here, and a script there gets no CORS grant.
      const origin = req.headers.origin;
      if (origin !== undefined && new URL(origin).host !== req.headers.host) {
        return json(res, 403, { error: "Requests from other sites are refused." });
      }
      if (!(req.headers["content-type"] ?? "").startsWith("application/json")) {
        return json(res, 415, { error: "Send JSON (content-type: application/json)." });
      }
      const body = await readJson(req);
      if (path === "/view") return answerView(emulator, eventsUrl, playgroundChannel, body, res);
      if (path === "/home" || path === "/home-action") {
        const answer = await (path === "/home" ? home.open(body) : home.tap(body));
        return json(res, answer.status, answer.body);
      }
      return path === "/command" ? command(body, res) : action(body, res);
    }
    json(res, 404, { error: `Nothing at ${req.method} ${path}. The page is at /.` });
  }

  async function command(body: unknown, res: ServerResponse): Promise<void> {
    const parsed = CommandBody.safeParse(body);
    if (!parsed.success) return json(res, 400, { error: "Send {text, user}: the message and one of the playground's people." });
    const { text, user, threadTs } = parsed.data;
    const [word = "", ...rest] = text.split(/\s+/);
    if (threadTs !== undefined && !emulator.message(playgroundChannel, threadTs)) {
      return json(res, 404, { error: "That thread is gone. Reload the page." });
    }
    if (word === config.command && threadTs === undefined) {
      const result = await slashCommand(emulator, {
        url: eventsUrl,
        command: config.command,
        text: text.slice(word.length).trim(),
        user,
        channel: playgroundChannel,
      });
      return json(res, result.status === 200 ? 200 : 502, { ok: result.status === 200, status: result.status });
    }
    if (word.startsWith("/")) {
      const instead = threadTs ? "In a job's thread, mention berth instead: @berth stop, @berth logs -f, @berth restart." : undefined;
      return json(res, 400, { error: instead ?? `${word} is not a command here. Type ${config.command} ${rest.length ? "…" : "help"}.` });
    }
    // `@berth` typed is a mention, as Slack's client writes it (`<@U…>`); the emulator sends berth its app_mention event.
    const written = escapeForSlack(text).replace(/(^|\s)@berth\b/gi, `$1<@${emulator.botUserId}>`);
    const sent = await userMessage(emulator, { url: eventsUrl, text: written, user, channel: playgroundChannel, threadTs });
    const status = sent.delivery?.status ?? 200;
    return json(res, status === 200 ? 200 : 502, { ok: status === 200, status });
  }

  async function action(body: unknown, res: ServerResponse): Promise<void> {
    const parsed = ActionBody.safeParse(body);
    if (!parsed.success) return json(res, 400, { error: "Send {messageTs, actionId, value, user}: the button that was tapped." });
    const a = parsed.data;
    if (!emulator.message(playgroundChannel, a.messageTs) && !emulator.ephemerals().some((e) => e.ts === a.messageTs)) {
      return json(res, 404, { error: "That message is gone. Reload the page." });
    }
    const result = await blockAction(emulator, {
      url: eventsUrl,
      messageTs: a.messageTs,
      actionId: a.actionId,
      ...(a.value !== undefined && { value: a.value }),
      ...(a.blockId !== undefined && { blockId: a.blockId }),
      user: a.user,
      channel: playgroundChannel,
    });
    return json(res, result.status === 200 ? 200 : 502, { ok: result.status === 200, status: result.status });
  }

  function download(id: string, res: ServerResponse): void {
    const file = emulator.ws.files.get(id);
    if (!file?.completed || !file.bytes) {
      json(res, 404, { error: "No such file (or its upload has not finished)." });
      return;
    }
    const name = file.name.replace(/[^\w.-]+/g, "_") || "file.txt";
    res.writeHead(200, {
      "content-type": "text/plain; charset=utf-8",
      "content-disposition": `attachment; filename="${name}"`,
      "content-length": String(file.bytes.length),
      "x-content-type-options": "nosniff",
    });
    res.end(file.bytes);
  }

  async function proxy(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url ?? "/";
    try {
      const upstream = await fetch(`http://127.0.0.1:${berthPort}${path}`, {
        signal: AbortSignal.timeout(10_000),
        headers: req.headers.authorization ? { authorization: req.headers.authorization } : {},
      });
      const challenge = upstream.headers.get("www-authenticate");
      res.writeHead(upstream.status, {
        "content-type": upstream.headers.get("content-type") ?? "text/plain; charset=utf-8",
        ...(challenge && { "www-authenticate": challenge }),
      });
      res.end(Buffer.from(await upstream.arrayBuffer()));
    } catch (error) {
      json(res, 502, { error: `berth did not answer on ${path}: ${(error as Error).message}` });
    }
  }

  const host = config.env.HOST ? config.host : "127.0.0.1";
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(config.port, host, () => resolve());
    });
  } catch (error) {
    await berth.stop();
    await emulator.stop();
    const code = (error as NodeJS.ErrnoException).code;
    throw new BerthError(
      "CONFIG",
      code === "EADDRINUSE"
        ? `The playground cannot listen on ${host}:${config.port}: the port is in use. Set PORT to a free one (e.g. PORT=3001 npm start).`
        : `The playground cannot listen on ${host}:${config.port}: ${(error as Error).message}. Check PORT and HOST.`,
      { cause: error },
    );
  }
  const port = (server.address() as AddressInfo).port;
  const shown = host === "0.0.0.0" || host === "127.0.0.1" || host === "::" ? "localhost" : host.includes(":") ? `[${host}]` : host;
  return {
    /** The page, e.g. http://localhost:3000 */
    url: `http://${shown}:${port}`,
    port,
    /** berth's own HTTP port (/slack/events, /healthz) on 127.0.0.1. */
    berthPort,
    berth,
    emulator,
    async stop(): Promise<void> {
      feed.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await berth.stop();
      await emulator.stop();
    },
  };
}

/**
 * Server-Sent Events of the channel: the full state on connect, then every item that changed. The emulator says
 * when something may have changed; a short batch window keeps a fast stream of thread posts to a few pushes a second.
 */
function createFeed(emulator: SlackFake, homeItems: () => { key: string; version: string; item: () => Item }[]) {
  const clients = new Set<ServerResponse>();
  const versions = new Map<string, string>();
  let timer: NodeJS.Timeout | undefined;

  const items = (): { key: string; version: string; item: () => Item }[] => {
    const out: { key: string; version: string; item: () => Item }[] = [];
    for (const m of emulator.ws.channelMessages(playgroundChannel)) {
      out.push({ key: `m:${m.ts}`, version: `${m.history.length}/${m.reply_count}/${m.deleted}`, item: () => messageItem(emulator, m) });
    }
    for (const e of emulator.ws.ephemerals) {
      if (e.channel !== playgroundChannel) continue;
      out.push({ key: `e:${e.ts}`, version: `${e.history.length}/${e.deleted}`, item: () => ephemeralItem(e) });
    }
    for (const f of emulator.ws.files.values()) {
      out.push({ key: `f:${f.id}`, version: `${f.completed}/${f.bytes?.length}`, item: () => fileItem(f) });
    }
    out.push(...viewItems(emulator, playgroundChannel));
    out.push(...homeItems());
    return out;
  };

  const flush = () => {
    timer = undefined;
    const changed: Item[] = [];
    for (const { key, version, item } of items()) {
      if (versions.get(key) === version) continue;
      versions.set(key, version);
      changed.push(item());
    }
    if (changed.length === 0) return;
    const frame = `event: items\ndata: ${JSON.stringify(changed)}\n\n`;
    for (const res of clients) res.write(frame);
  };
  const unsubscribe = emulator.onChange(() => {
    timer ??= setTimeout(flush, 40);
  });
  const keepAlive = setInterval(() => {
    for (const res of clients) res.write(": keep-alive\n\n");
  }, 20_000);
  keepAlive.unref();

  return {
    subscribe(req: IncomingMessage, res: ServerResponse): void {
      res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" });
      // Bring the shared versions up to date first, so this client's snapshot and the others' next push agree.
      flush();
      const users = Object.fromEntries([...emulator.ws.users.values()].map((u) => [u.id, u.real_name || u.name]));
      const state = {
        channel: emulator.ws.channels.get(playgroundChannel)?.name ?? playgroundChannel,
        users,
        people: playgroundPeople,
        items: items().map(({ item }) => item()),
      };
      res.write(`retry: 1000\nevent: state\ndata: ${JSON.stringify(state)}\n\n`);
      clients.add(res);
      req.on("close", () => clients.delete(res));
    },
    close(): void {
      unsubscribe();
      clearTimeout(timer);
      clearInterval(keepAlive);
      for (const res of clients) res.end();
      clients.clear();
    },
  };
}

function messageItem(emulator: SlackFake, m: FakeMessage): Item {
  return {
    kind: "message",
    ts: m.ts,
    thread_ts: m.thread_ts,
    user: m.user,
    bot: m.bot_id !== undefined || m.user === emulator.botUserId,
    text: m.text,
    blocks: m.blocks,
    files: m.files,
    reply_count: m.reply_count,
    broadcast: m.reply_broadcast === true,
    edited: m.edited !== undefined,
    deleted: m.deleted,
  };
}

function ephemeralItem(e: FakeEphemeral): Item {
  return { kind: "ephemeral", ts: e.ts, thread_ts: e.thread_ts, user: e.user, text: e.text, blocks: e.blocks, deleted: e.deleted };
}

function fileItem(f: FileRecord): Item {
  return {
    kind: "file",
    id: f.id,
    name: f.name,
    title: f.title,
    length: f.bytes?.length ?? f.length,
    ready: f.completed && f.bytes !== undefined,
  };
}

/** Slack delivers what people type with &, < and > as entities; a typed message is stored the same way. */
function escapeForSlack(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** localhost, *.localhost or an IP literal: names a rebinding attacker cannot point at this machine. */
function trustedHost(header: string | undefined): boolean {
  if (!header) return false;
  const hostname = header.replace(/:\d+$/, "");
  return (
    hostname === "localhost" ||
    hostname.endsWith(".localhost") ||
    /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) ||
    /^\[[0-9a-fA-F:.]+\]$/.test(hostname)
  );
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 64 * 1024) return undefined;
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    return undefined;
  }
}
