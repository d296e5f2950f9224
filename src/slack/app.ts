import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import bolt, { type LogLevel, type webApi } from "@slack/bolt";
import type { Actor } from "../action.ts";
import { type DispatchDeps, dispatch, dispatchAction, type Outcome } from "../dispatch.ts";
import { type HealthReport, healthHandler } from "../health.ts";
import { createDirectory } from "./directory.ts";
import { fit, slackLimits } from "./limits.ts";
import { createOutbox, type Outbox } from "./outbox.ts";
import { stopActionId } from "./render.ts";
import { runJob, slackError } from "./run-job.ts";

const { App } = bolt;

export type SlackConfig = {
  botToken: string;
  signingSecret?: string | undefined; // HTTP mode
  appToken?: string | undefined; // Socket Mode when set
  apiUrl: string;
  port: number;
  host?: string | undefined;
  retryConfig: webApi.RetryOptions;
  logLevel: LogLevel;
};

export type CoreDeps = Omit<DispatchDeps, "groupsOf"> & {
  usergroups: () => readonly string[];
  spoolDir: string;
  maxThreadMessages?: number;
  health: () => Promise<Omit<HealthReport, "slack" | "ok">>;
  log: (event: string, fields: Record<string, unknown>) => void;
};

const notInChannel = ["not_in_channel", "channel_not_found", "is_archived"];

/**
 * The Slack adapter: one slash-command listener and one button listener over the core pipeline. It acks first
 * (Slack allows 3 s), then works; replies are ephemeral unless they change something others should see.
 */
export function createSlackApp(config: SlackConfig, core: CoreDeps) {
  const socketMode = Boolean(config.appToken);
  let slackState = "starting";
  const health = healthHandler(async () => {
    const engines = await core.health();
    return { ok: slackState !== "failed", slack: slackState, ...engines };
  });
  const app = new App({
    token: config.botToken,
    ...(socketMode ? { socketMode: true, appToken: config.appToken } : { signingSecret: config.signingSecret ?? "" }),
    // Explicit: in Socket Mode the listener clients would otherwise inherit 100 retries (slack-platform.md §3.3).
    // Rate limits are not retried by the client: the outbox waits Retry-After itself, so nothing stalls other calls.
    clientOptions: { slackApiUrl: config.apiUrl, retryConfig: config.retryConfig, rejectRateLimitedCalls: true },
    logLevel: config.logLevel,
    ...(socketMode ? {} : { customRoutes: [{ path: "/healthz", method: ["GET"], handler: health }] }),
  });
  const outbox = createOutbox({
    client: app.client,
    spacing: {
      postPerChannelMs: slackLimits.postSpacingPerChannelMs,
      postWorkspaceMs: slackLimits.postSpacingWorkspaceMs,
      updateMs: slackLimits.updateSpacingMs,
      uploadMs: slackLimits.uploadSpacingMs,
    },
  });
  const directory = createDirectory({
    client: app.client,
    groups: core.usergroups,
    onError: (group, error) => core.log("usergroup lookup failed", { group, error: slackError(error) }),
  });
  const deps: DispatchDeps = { ...core, groupsOf: (u) => directory.groupsOf(u) };
  const pending = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>) => {
    pending.add(p);
    void p.finally(() => pending.delete(p));
  };

  type Respond = (message: { response_type: "ephemeral"; text: string; replace_original?: boolean }) => Promise<unknown>;

  async function deliver(outcome: Outcome, actor: Actor, respond: Respond): Promise<void> {
    const ephemeral = (text: string) =>
      respond({ response_type: "ephemeral", replace_original: false, text: fit(text, slackLimits.textChars) });
    if (outcome.type === "reply") {
      if (outcome.reply.visibility === "ephemeral") return void (await ephemeral(outcome.reply.text));
      try {
        await outbox.post(actor.channelId, { text: fit(outcome.reply.text, slackLimits.textChars) });
      } catch (error) {
        await ephemeral(`${outcome.reply.text}\n${invite(error)}`);
      }
      return;
    }
    const started = await runJob(outcome.plan, {
      ...deps,
      outbox,
      spoolDir: core.spoolDir,
      maxThreadMessages: core.maxThreadMessages,
      log: core.log,
    });
    if (!started.ok) {
      await ephemeral(`Nothing was run. ${invite(started.error)}`);
      return;
    }
    await started.done;
  }

  const invite = (error: unknown) => {
    const code = slackError(error);
    return notInChannel.includes(code)
      ? `berth is not a member of this channel, so it cannot post here (${code}). Invite it with \`/invite @berth\` and try again.`
      : `Slack refused berth's message (${code}). Try again; if it persists, tell the operator.`;
  };

  const failSafe = (requestId: string, respond: Respond) => (error: unknown) => {
    core.log("request failed", { requestId, err: error });
    return respond({ response_type: "ephemeral", text: `Something failed on berth's side (ref ${requestId.slice(0, 8)}).` }).catch(
      () => undefined,
    );
  };

  app.command(core.slash, async ({ command, ack, respond }) => {
    await ack();
    const actor: Actor = {
      userId: command.user_id,
      userName: command.user_name,
      channelId: command.channel_id,
      channelName: command.channel_name,
      teamId: command.team_id,
    };
    const requestId = crypto.randomUUID();
    core.log("command", { requestId, user: actor.userId, channel: actor.channelId, chars: command.text.length });
    track(
      dispatch({ text: command.text, actor, requestId }, deps, AbortSignal.timeout(60_000))
        .then((outcome) => deliver(outcome, actor, respond))
        .catch(failSafe(requestId, respond)),
    );
  });

  app.action(stopActionId, async ({ ack, body, action, respond }) => {
    await ack();
    if (body.type !== "block_actions" || action.type !== "button") return;
    const actor: Actor = {
      userId: body.user.id,
      channelId: body.channel?.id ?? body.container?.channel_id ?? "",
      channelName: body.channel?.name,
    };
    const requestId = crypto.randomUUID();
    track(
      dispatchAction({ kind: "job.cancel", job: action.value ?? "" }, actor, deps, AbortSignal.timeout(60_000), requestId)
        .then((outcome) => deliver(outcome, actor, respond))
        .catch(failSafe(requestId, respond)),
    );
  });

  app.error(async (error) => {
    core.log("bolt error", { err: error });
  });

  let healthServer: Server | undefined;
  return {
    app,
    outbox: outbox as Outbox,
    /** Starts listening (HTTP) or connecting (Socket Mode); resolves with the HTTP port in use. */
    async start(): Promise<number> {
      if (socketMode) {
        healthServer = createServer((req, res) => {
          if (req.method === "GET" && req.url?.split("?")[0] === "/healthz") return health(req, res);
          res.writeHead(404).end();
        });
        await new Promise<void>((r) => healthServer?.listen(config.port, config.host ?? "0.0.0.0", r));
        await app.start();
        slackState = "connected (socket mode)";
        return (healthServer.address() as AddressInfo).port;
      }
      const server = (await app.start({ port: config.port, host: config.host ?? "0.0.0.0" })) as Server;
      slackState = "listening (http)";
      return (server.address() as AddressInfo).port;
    },
    /** Stops taking requests, then waits for replies already under way. */
    async stop(): Promise<void> {
      await app.stop();
      healthServer?.close();
      await Promise.allSettled([...pending]);
    },
    /** Resolves when every command and click received so far has been fully handled (tests, shutdown). */
    idle: () => Promise.allSettled([...pending]).then(() => undefined),
  };
}
