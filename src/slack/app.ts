// Past 400 lines: Bolt wiring, the work queue, outcome delivery, the button table, workspace checks and the
// ops listener; issue 12 splits these by responsibility.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import bolt, { type LogLevel, type webApi } from "@slack/bolt";
import { type Action, ActionSchema, type Actor } from "../core/action.ts";
import { type DispatchDeps, dispatch, dispatchAction, type JobPlan, type Outcome, pickedAction, sweep } from "../core/dispatch.ts";
import { BerthError } from "../core/errors.ts";
import type { Text } from "../core/events.ts";
import { parse } from "../core/parse.ts";
import { redactAction } from "../core/redact.ts";
import { type HealthReport, type OpsAccess, opsHandler, opsPaths } from "../health.ts";
import type { CommandOutcome, Metrics } from "../metrics.ts";
import type { PendingRecord } from "../store/store.ts";
import { createDirectory } from "./directory.ts";
import { fit, slackLimits } from "./limits.ts";
import { neutralizeMrkdwn } from "./mrkdwn-escape.ts";
import { createNotifier } from "./notifier.ts";
import { createOutbox, type Outbox } from "./outbox.ts";
import {
  approveActionId,
  denyActionId,
  hostExtendActionId,
  hostPickActionId,
  notifyLogsActionId,
  notifyRestartActionId,
  renderGateCard,
  renderGateOverflow,
  renderHostPicker,
  stopActionId,
  toMrkdwn,
} from "./render.ts";
import { runJob, slackError } from "./run-job.ts";
import { foreignRequest, type Home, homeWorkspace, type Origin } from "./workspace.ts";

const { App } = bolt;

export type SlackConfig = {
  botToken: string;
  signingSecret?: string | undefined; // HTTP mode
  appToken?: string | undefined; // Socket Mode when set
  apiUrl: string;
  port: number;
  host?: string | undefined;
  retryConfig: webApi.RetryOptions;
  logLevel: "debug" | "info" | "warn" | "error";
  /** The workspace berth serves (BERTH_SLACK_TEAM_ID); unset, berth asks auth.test at start. */
  teamId?: string | undefined;
  /** The Enterprise Grid organization berth serves (BERTH_SLACK_ENTERPRISE_ID); unset, not checked. */
  enterpriseId?: string | undefined;
  /** Health details and /metrics: on the public port with this bearer token, and/or on their own listener. */
  ops?: { token?: string | undefined; port?: number | undefined; host?: string | undefined } | undefined;
};

export type CoreDeps = Omit<DispatchDeps, "groupsOf"> & {
  usergroups: () => readonly string[];
  spoolDir: string;
  maxThreadMessages?: number;
  health: () => Promise<Omit<HealthReport, "slack" | "ok">>;
  log: (event: string, fields: Record<string, unknown>) => void;
  /** A crashed container's last lines, redacted, for its notification thread. */
  lastLines: (host: string, containerId: string) => Promise<string[]>;
  /** Counters and histograms for GET /metrics; absent, nothing is measured and /metrics is not served. */
  metrics?: Metrics | undefined;
};

const notInChannel = ["not_in_channel", "channel_not_found", "is_archived"];
/**
 * Requests whose work runs at once; the rest wait their turn. Jobs (streams) only hold a slot while they start: their
 * streaming runs outside it. Bounding this keeps a burst of commands from starving the acks of the next ones.
 */
const maxConcurrentWork = 4;

/**
 * The Slack adapter: one slash-command listener and one button listener over the core pipeline. It acks first
 * (Slack allows 3 s), then works; replies are ephemeral unless they change something others should see.
 */
export function createSlackApp(config: SlackConfig, core: CoreDeps) {
  const socketMode = Boolean(config.appToken);
  let slackState = "starting";
  const report = async () => {
    const engines = await core.health();
    return { ok: slackState !== "failed", slack: slackState, ...engines };
  };
  const metrics = core.metrics;
  const publicAccess: OpsAccess = config.ops?.token ? { kind: "token", token: config.ops.token } : { kind: "none" };
  const ops = opsHandler({ report, metrics, access: publicAccess });
  const opsRoutes = opsPaths.map((path) => ({ path, method: ["GET"], handler: ops }));
  const app = new App({
    token: config.botToken,
    ...(socketMode ? { socketMode: true, appToken: config.appToken } : { signingSecret: config.signingSecret ?? "" }),
    // Explicit: in Socket Mode the listener clients would otherwise inherit 100 retries (docs/reference/slack-platform.md §3.3).
    // Rate limits are not retried by the client: the outbox waits Retry-After itself, so nothing stalls other calls.
    clientOptions: { slackApiUrl: config.apiUrl, retryConfig: config.retryConfig, rejectRateLimitedCalls: true },
    // Bolt's own log lines are for debugging berth; berth's JSON log is the operator's.
    logLevel: (config.logLevel === "debug" ? "debug" : "warn") as LogLevel,
    ...(socketMode
      ? {
          // The Socket Mode client's own Web API client (apps.connections.open, a Tier 1 method) waits out a 429 and
          // retries, instead of handing socket-mode's reconnect logic an error it may treat as unrecoverable.
          installerOptions: {
            clientOptions: { slackApiUrl: config.apiUrl, retryConfig: { retries: 10, factor: 2, minTimeout: 1000, maxTimeout: 60_000 } },
          },
        }
      : { customRoutes: opsRoutes }),
  });
  // Stamped before any other middleware runs, so berth_ack_seconds covers everything between receipt and the ack.
  app.use(async ({ context, next }) => {
    context.berthReceivedAt = performance.now();
    await next();
  });
  const acked = (context: Record<string, unknown>) => {
    const at = context.berthReceivedAt;
    if (metrics && typeof at === "number") metrics.ack((performance.now() - at) / 1000);
  };
  const outbox = createOutbox({
    client: app.client,
    spacing: {
      postPerChannelMs: slackLimits.postSpacingPerChannelMs,
      postRepliesMs: slackLimits.postSpacingRepliesMs,
      postTopLevelMs: slackLimits.postSpacingTopLevelMs,
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
  /**
   * Runs a request's work after the ack, in a later turn of the event loop: acks of requests that are already
   * waiting go out first, so a burst of commands does not make later acks wait behind earlier commands' work.
   */
  const waiting: (() => void)[] = [];
  let running = 0;
  const track = (work: () => Promise<unknown>) => {
    const turn =
      running < maxConcurrentWork
        ? new Promise<void>((resolve) => setImmediate(resolve))
        : new Promise<void>((resolve) => waiting.push(() => setImmediate(resolve)));
    running++;
    const p = turn.then(work).finally(() => {
      running--;
      waiting.shift()?.();
    });
    keep(p);
  };
  function keep(p: Promise<unknown>): void {
    pending.add(p);
    void p.finally(() => pending.delete(p));
  }

  type Respond = (message: {
    response_type: "ephemeral";
    text: string;
    replace_original?: boolean;
    blocks?: unknown[];
  }) => Promise<unknown>;

  const decidedCard = (p: PendingRecord, outcome: string) =>
    renderGateCard({
      id: p.id,
      gate: p.gate,
      requester: p.requester,
      summary: p.summary,
      expiresAt: p.expiresAt,
      gateRule: p.gateRule,
      outcome,
    });

  /**
   * Renders a pipeline outcome into Slack. `fromCard` is set when a button on a gate card was clicked. Resolves false
   * when nothing happened because Slack refused berth's message (not in the channel…).
   */
  async function deliver(outcome: Outcome, actor: Actor, respond: Respond, fromCard = false): Promise<boolean | undefined> {
    // Whatever the core composed is checked once more here: no special mention or link gets out under berth's name.
    const safe = (text: string) => fit(neutralizeMrkdwn(text, core.usergroups()), slackLimits.textChars);
    const ephemeral = (text: Text) =>
      respond({ response_type: "ephemeral", replace_original: false, text: safe(toMrkdwn(text, core.slash)) });
    if (outcome.type === "gate") {
      const { view } = outcome;
      const preview = view.preview.map((line) => toMrkdwn(line, core.slash));
      const card = renderGateCard({
        ...view.pending,
        preview,
        dangerous: view.dangerous,
        ...(view.pending.gate === "approval" && { approvers: view.approvers }),
      });
      // A request too long for its card is shown in full right after it: an approver sees exactly what will run.
      const overflow = renderGateOverflow({ ...view.pending, preview });
      if (view.pending.gate === "confirm") {
        await respond({ response_type: "ephemeral", replace_original: false, ...card });
        for (const text of overflow) await respond({ response_type: "ephemeral", replace_original: false, text });
        return;
      }
      try {
        const ts = await outbox.post(actor.channelId, card);
        core.store.pending.setMessageTs(view.pending.id, ts);
        // Not shown in full, not approvable: a failure here cancels the request like a failed card.
        for (const text of overflow) await outbox.post(actor.channelId, { text, thread_ts: ts });
        await ephemeral(
          `Your request \`${view.pending.id}\` waits for approval by ${view.approvers.join(", ") || "a second person"}; the card above shows its state.`,
        );
      } catch (error) {
        core.store.pending.decide(view.pending.id, "cancelled", "berth");
        await ephemeral(`Nothing was requested. ${invite(error)}`);
        return false;
      }
      return;
    }
    if (outcome.type === "pick") {
      const picker = renderHostPicker({ id: outcome.id, text: toMrkdwn(outcome.text, core.slash), hosts: outcome.hosts });
      return void (await respond({ response_type: "ephemeral", replace_original: false, ...picker }));
    }
    if (outcome.type === "decided") {
      const p = outcome.pending;
      const card = decidedCard(p, toMrkdwn(outcome.card, core.slash));
      if (fromCard && p.gate === "confirm") await respond({ response_type: "ephemeral", replace_original: true, ...card });
      else if (p.messageTs)
        await outbox
          .update(p.channelId, p.messageTs, card)
          .catch((e: unknown) => core.log("card update failed", { requestId: outcome.requestId, error: slackError(e) }));
      if (outcome.reply) await ephemeral(outcome.reply.text);
      else if (!fromCard) await ephemeral(outcome.card);
      if (outcome.next)
        return deliver(outcome.next, { ...actor, channelId: p.channelId, channelName: p.channelName ?? undefined }, respond);
      return;
    }
    if (outcome.type === "reply") {
      if (outcome.reply.visibility === "ephemeral") return void (await ephemeral(outcome.reply.text));
      try {
        await outbox.post(actor.channelId, { text: safe(toMrkdwn(outcome.reply.text, core.slash)) });
      } catch (error) {
        await ephemeral(`${toMrkdwn(outcome.reply.text, core.slash)}\n${invite(error)}`);
      }
      return;
    }
    const started = await runJob(outcome.plan, jobDeps);
    if (!started.ok) {
      core.log("job could not start", { requestId: outcome.plan.requestId, job: outcome.plan.id, error: slackError(started.error) });
      await ephemeral(`Nothing was run. ${invite(started.error)}`);
      return false;
    }
    // The job streams on its own; its slot among the concurrent requests is freed now.
    keep(started.done);
    return true;
  }

  const invite = (error: unknown) => {
    const code = slackError(error);
    return notInChannel.includes(code)
      ? `berth is not a member of this channel, so it cannot post here (${code}). Invite it with \`/invite @berth\` and try again.`
      : `Slack refused berth's message (${code}). Try again; if it persists, tell the operator.`;
  };

  const jobDeps = {
    ...deps,
    outbox,
    spoolDir: core.spoolDir,
    maxThreadMessages: core.maxThreadMessages,
    log: core.log,
    lineLag: metrics?.lineLag,
  };

  /** How a request ended, for berth_commands_total and its closing log line. */
  const classify = (outcome: Outcome): CommandOutcome => {
    switch (outcome.type) {
      case "reply":
        return outcome.result ?? "reply";
      case "job":
        return "job";
      case "gate":
        return "gate";
      case "pick":
        return "reply";
      case "decided":
        return outcome.next ? classify(outcome.next) : "reply";
    }
  };
  /** Delivers an outcome, then counts and logs how the request ended. */
  const finish =
    (requestId: string, kind: string, actor: Actor, respond: Respond, fromCard = false) =>
    async (outcome: Outcome) => {
      const delivered = await deliver(outcome, actor, respond, fromCard);
      const result = delivered === false ? "failed" : classify(outcome);
      metrics?.command(kind, result);
      core.log("request done", { requestId, kind, outcome: result });
    };

  let home: Home | undefined;
  /**
   * Refuses (ephemerally, logged and audited) a request from outside berth's workspace; true when it did. Nothing of
   * such a request reaches policy: its user IDs belong to another workspace's directory.
   */
  const refusedForeign = (
    origin: Origin,
    actor: Actor,
    what: { kind: string } & Record<string, unknown>,
    requestId: string,
    respond: Respond,
  ) => {
    const reason = foreignRequest(home, origin);
    if (!reason) return false;
    core.log("request from another workspace refused", {
      requestId,
      team: origin.teamId,
      enterprise: origin.enterpriseId,
      user: actor.userId,
    });
    core.store.audit.append({
      requestId,
      type: "decision",
      userId: actor.userId,
      channelId: actor.channelId,
      action: what,
      host: null,
      decision: "deny",
      rule: `slack:workspace (from ${origin.teamId ?? "unknown"}${origin.enterpriseId ? `/${origin.enterpriseId}` : ""})`,
      outcome: null,
      messageTs: null,
    });
    metrics?.command(what.kind, "denied");
    track(() => respond({ response_type: "ephemeral", replace_original: false, text: `:no_entry: ${reason}` }).catch(() => undefined));
    return true;
  };

  const failSafe = (requestId: string, respond: Respond, kind: string) => (error: unknown) => {
    metrics?.command(kind, "failed");
    core.log("request failed", { requestId, kind, err: error });
    return respond({ response_type: "ephemeral", text: `Something failed on berth's side (ref ${requestId.slice(0, 8)}).` }).catch(
      () => undefined,
    );
  };

  app.command(core.slash, async ({ command, ack, respond, context }) => {
    await ack();
    acked(context);
    const origin = { teamId: command.team_id, enterpriseId: command.enterprise_id };
    const actor: Actor = {
      userId: command.user_id,
      userName: command.user_name,
      channelId: command.channel_id,
      channelName: command.channel_name,
      teamId: command.team_id,
      homeTeam: foreignRequest(home, origin) === undefined,
    };
    const requestId = crypto.randomUUID();
    // The action kind labels the metrics (a bounded set); a command that does not parse is counted as "unparsed".
    const parsed = parse(command.text, core.registry);
    const kind = parsed.ok ? parsed.action.kind : "unparsed";
    if (refusedForeign(origin, actor, parsed.ok ? redactAction(parsed.action) : { kind }, requestId, respond)) return;
    core.log("command", { requestId, kind, user: actor.userId, channel: actor.channelId, chars: command.text.length });
    track(() =>
      dispatch({ text: command.text, actor, requestId }, deps, AbortSignal.timeout(60_000))
        .then(finish(requestId, kind, actor, respond))
        .catch(failSafe(requestId, respond, kind)),
    );
  });

  /** A notification button carries a typed action as JSON; it is validated like any input, then authorized. */
  const carried = (value: string): Action | undefined => {
    try {
      const parsed = ActionSchema.safeParse(JSON.parse(value));
      return parsed.success && (parsed.data.kind === "container.logs" || parsed.data.kind === "container.restart")
        ? parsed.data
        : undefined;
    } catch {
      return undefined;
    }
  };
  /** One listener per button: the clicker becomes the actor, and the button's value becomes a typed action. */
  const buttons: [string | RegExp, (value: string) => Action | undefined, boolean, string][] = [
    [stopActionId, (job) => ({ kind: "job.cancel", job }), false, ""],
    [approveActionId, (id) => ({ kind: "approval.decide", id, verdict: "approve" }), true, ""],
    [denyActionId, (id) => ({ kind: "approval.decide", id, verdict: "deny" }), true, ""],
    [
      new RegExp(`^${hostPickActionId}:`),
      (value) => pickedAction(deps, value),
      false,
      "That choice is no longer open (berth restarted, or it was already used). Type the command again, with `-H HOST` if you like.",
    ],
    [
      hostExtendActionId,
      (name) => {
        const parsed = ActionSchema.safeParse({ kind: "host.extend", name });
        return parsed.success ? parsed.data : undefined;
      },
      false,
      "That button is not valid any more. Use `/berth host extend NAME`.",
    ],
    [notifyLogsActionId, carried, false, "That button's request is not valid any more. Use `/berth logs` instead."],
    [notifyRestartActionId, carried, false, "That button's request is not valid any more. Use `/berth restart` instead."],
  ];
  for (const [actionId, toAction, onGateCard, stale] of buttons) {
    app.action({ action_id: actionId }, async ({ ack, body, action, respond, context }) => {
      await ack();
      acked(context);
      if (body.type !== "block_actions" || action.type !== "button") return;
      // The workspace the click came through, and the clicker's own: in a channel shared with another organization
      // (Slack Connect) they differ for its guests, whom `users: ["*"]` does not cover.
      const origin = { teamId: body.team?.id ?? body.user.team_id, enterpriseId: body.enterprise?.id };
      const userTeam = body.user.team_id ?? origin.teamId;
      const actor: Actor = {
        userId: body.user.id,
        channelId: body.channel?.id ?? body.container?.channel_id ?? "",
        channelName: body.channel?.name,
        teamId: userTeam,
        homeTeam: home !== undefined && userTeam === home.teamId,
      };
      const requestId = crypto.randomUUID();
      // Before the button's value is read: reading a host choice uses it up, and it is not this clicker's to use.
      const button = typeof actionId === "string" ? actionId : hostPickActionId;
      if (refusedForeign(origin, actor, { kind: "button", button }, requestId, respond)) return;
      const typed = toAction(action.value ?? "");
      const kind = typed?.kind ?? "stale_button";
      core.log("click", {
        requestId,
        kind,
        button,
        user: actor.userId,
        channel: actor.channelId,
      });
      if (!typed) {
        metrics?.command(kind, "refused");
        track(() =>
          respond({ response_type: "ephemeral", replace_original: false, text: stale }).catch(failSafe(requestId, respond, kind)),
        );
        return;
      }
      track(() =>
        dispatchAction(typed, actor, deps, AbortSignal.timeout(60_000), requestId)
          .then(finish(requestId, kind, actor, respond, onGateCard))
          .catch(failSafe(requestId, respond, kind)),
      );
    });
  }

  const notifier = createNotifier({
    outbox,
    routing: {
      channel: core.hosts.notifications?.channel,
      hostChannel: (host) => core.hosts.settings?.[host]?.notify,
    },
    lastLines: core.lastLines,
    log: core.log,
    clock: core.clock,
  });

  /** Expires overdue requests (editing their cards) and announces grants that ended. */
  async function sweepNow(): Promise<void> {
    const result = sweep(deps);
    await Promise.allSettled([
      ...result.expired
        .filter((e) => e.pending.messageTs)
        .map((e) =>
          outbox.update(e.pending.channelId, e.pending.messageTs as string, decidedCard(e.pending, toMrkdwn(e.card, core.slash))),
        ),
      ...result.grantsEnded.map((g) => outbox.post(g.channelId, { text: neutralizeMrkdwn(toMrkdwn(g.text, core.slash)) })),
    ]);
  }
  const sweeper = setInterval(() => void sweepNow().catch((e: unknown) => core.log("sweep failed", { err: e })), 15_000);
  sweeper.unref();

  app.error(async (error) => {
    core.log("bolt error", { err: error });
  });

  let healthServer: Server | undefined;
  let opsServer: Server | undefined;
  return {
    app,
    outbox: outbox as Outbox,
    /** Where the engines' container events go (see container-watch.ts). */
    notify: notifier.handle,
    /** Starts listening (HTTP) or connecting (Socket Mode); resolves with the HTTP port in use. */
    async start(): Promise<number> {
      // Before any request can arrive: until it is known, every request is refused.
      home = await homeWorkspace({ teamId: config.teamId, enterpriseId: config.enterpriseId }, () => app.client.auth.test());
      if (config.ops?.port !== undefined) {
        // Details and metrics for whoever can reach this listener (loopback unless BERTH_METRICS_HOST says otherwise).
        opsServer = await listen(
          opsHandler({ report, metrics, access: { kind: "open" } }),
          config.ops.port,
          config.ops.host ?? "127.0.0.1",
        );
      }
      if (socketMode) {
        healthServer = createServer(opsOnly(ops));
        await new Promise<void>((r) => healthServer?.listen(config.port, config.host ?? "0.0.0.0", r));
        await app.start();
        slackState = "connected (socket mode)";
        return (healthServer.address() as AddressInfo).port;
      }
      const server = (await app.start({ port: config.port, host: config.host ?? "0.0.0.0" })) as Server;
      slackState = "listening (http)";
      return (server.address() as AddressInfo).port;
    },
    sweep: sweepNow,
    /** Starts a job berth itself begins (not a command): its card is posted, or `plan.cardTs` is carried on. */
    startJob(plan: JobPlan): void {
      keep(
        runJob(plan, jobDeps).then((started) => {
          if (!started.ok) core.log("job could not start", { requestId: plan.requestId, job: plan.id, error: slackError(started.error) });
          return started.ok ? started.done : undefined;
        }),
      );
    },
    /** Stops taking requests, then waits for replies already under way. */
    async stop(): Promise<void> {
      clearInterval(sweeper);
      await app.stop();
      healthServer?.close();
      opsServer?.close();
      // Work under way can start more (a command's job keeps its stream): wait until nothing is left, not for a snapshot.
      while (pending.size) await Promise.allSettled([...pending, notifier.idle()]);
      await notifier.idle();
    },
    /** The port of the BERTH_METRICS_PORT listener, once started (undefined without one). */
    opsPort: () => (opsServer?.address() as AddressInfo | null)?.port,
    /** Resolves when every command and click received so far has been fully handled (tests, shutdown). */
    idle: () => Promise.allSettled([...pending, notifier.idle()]).then(() => undefined),
  };
}

/** A listener that answers only GET on the health and metrics paths. */
function opsOnly(handler: ReturnType<typeof opsHandler>) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://berth").pathname;
    if (req.method === "GET" && (opsPaths as readonly string[]).includes(path)) return handler(req, res);
    res.writeHead(404).end();
  };
}

async function listen(handler: ReturnType<typeof opsHandler>, port: number, host: string): Promise<Server> {
  const server = createServer(opsOnly(handler));
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) =>
      reject(
        new BerthError(
          "CONFIG",
          `berth cannot serve metrics on ${host}:${port} (${error.message}); check BERTH_METRICS_PORT and BERTH_METRICS_HOST.`,
          { cause: error },
        ),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  return server;
}
