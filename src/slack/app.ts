// Past 400 lines on purpose: this is the one place Bolt is wired, and every Slack entry point (slash command, clicks,
// menus, mentions, Home, modals, shortcuts) registers here next to the ack, de-duplication and foreign-workspace checks
// they share; what each one does lives in its own module (deliver, buttons, mentions, home-tab, run-modal).
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import bolt, { type CustomRoute, type LogLevel, type webApi } from "@slack/bolt";
import type { Action, Actor } from "../core/action.ts";
import { auditRefusal } from "../core/audit.ts";
import { choiceValue } from "../core/choices.ts";
import { type DispatchDeps, dispatch, dispatchAction, type Outcome } from "../core/dispatch.ts";
import { msg, tone } from "../core/message.ts";
import { parse } from "../core/parse.ts";
import { redactAction } from "../core/redact.ts";
import type { Metrics } from "../metrics.ts";
import { buttons, tappedOn } from "./buttons.ts";
import { classify, createDeliver, type Respond } from "./deliver.ts";
import { workspaceUrlOnce } from "./deliver-timeline.ts";
import { createDeliveryGate, deliveryOf } from "./deliveries.ts";
import { createDirectory } from "./directory.ts";
import { createHomeTab } from "./home-tab.ts";
import { slackLimits } from "./limits.ts";
import { mentionListener } from "./mentions.ts";
import { createNotifier } from "./notifier.ts";
import { createOutbox } from "./outbox.ts";
import { toMrkdwn } from "./render.ts";
import { runJob, slackError } from "./run-job.ts";
import { createRunModal } from "./run-modal.ts";
import { createWorkQueue } from "./work-queue.ts";
import { foreignRequest, type Home, homeWorkspace, type Origin } from "./workspace.ts";

const { App, SocketModeReceiver } = bolt;

export type SlackSettings = {
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
  /** Health and metrics routes Bolt serves next to /slack/events in HTTP mode (ops-server.ts). */
  customRoutes?: CustomRoute[] | undefined;
};

export type SlackDeps = {
  /** The pipeline's ports, handed to dispatch as they are (the directory adds the group lookups). */
  core: Omit<DispatchDeps, "groupsOf">;
  /** The slash command (BERTH_COMMAND): the listener's name, and what the renderer writes before a command. */
  slash: string;
  usergroups: () => readonly string[];
  spoolDir: string;
  maxThreadMessages?: number;
  log: (event: string, fields: Record<string, unknown>) => void;
  /** A crashed container's last lines, redacted, for its notification thread. */
  lastLines: (host: string, containerId: string) => Promise<string[]>;
  /** Counters and histograms for GET /metrics; absent, nothing is measured. */
  metrics?: Metrics | undefined;
};

/**
 * The Slack adapter: one slash-command listener and one listener per button over the core pipeline. It acks first
 * (Slack allows 3 s), hands the request to dispatch, and leaves the answer to deliver.ts.
 */
export function createSlackApp(settings: SlackSettings, deps: SlackDeps) {
  const { core, metrics, log } = deps;
  const socketMode = Boolean(settings.appToken);
  let state = "starting";
  let stopping = false;
  // Bolt's own log lines are for debugging berth; berth's JSON log is the operator's.
  const logLevel = (settings.logLevel === "debug" ? "debug" : "warn") as LogLevel;
  const socketReceiver = socketMode
    ? new SocketModeReceiver({
        appToken: settings.appToken ?? "",
        logLevel,
        // The Socket Mode client's own Web API client (apps.connections.open, a Tier 1 method) waits out a 429 and
        // retries, instead of handing socket-mode's reconnect logic an error it may treat as unrecoverable.
        installerOptions: {
          clientOptions: {
            slackApiUrl: settings.apiUrl,
            retryConfig: { retries: 10, factor: 2, minTimeout: 1000, maxTimeout: 60_000 },
          },
        },
        customPropertiesExtractor: (event: { envelope_id?: unknown }) => ({ envelopeId: event.envelope_id }),
      })
    : undefined;
  const app = new App({
    token: settings.botToken,
    ...(socketMode
      ? {
          socketMode: true,
          // Made above rather than by Bolt only to hand each envelope's id to the listeners (context.envelopeId): a
          // redelivered envelope keeps its id, and deliveries.ts drops it.
          receiver: socketReceiver,
        }
      : { signingSecret: settings.signingSecret ?? "", customRoutes: settings.customRoutes ?? [] }),
    // Explicit: in Socket Mode the listener clients would otherwise inherit 100 retries (docs/reference/slack-platform.md §3.3).
    // Rate limits are not retried by the client: the outbox waits Retry-After itself, so nothing stalls other calls.
    clientOptions: { slackApiUrl: settings.apiUrl, retryConfig: settings.retryConfig, rejectRateLimitedCalls: true },
    logLevel,
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
    // Replicas share the workspace's limits through the database; one berth on SQLite spaces its own calls alone.
    budget: core.store.kind === "postgres" ? core.store.rateBudget : undefined,
  });
  const directory = createDirectory({
    client: app.client,
    groups: deps.usergroups,
    onError: (group, error) => log("usergroup lookup failed", { group, error: slackError(error) }),
  });
  const dispatchDeps: DispatchDeps = { ...core, groupsOf: (u) => directory.groupsOf(u) };
  // Checked after the ack, before anything else: a duplicate gets no reply, no audit record, no job.
  const deliveries = createDeliveryGate({
    claim: (key, ttlMs) => core.store.dedupe.claim(key, ttlMs),
    log,
    duplicate: metrics?.duplicate,
  });
  const work = createWorkQueue();
  const jobDeps = {
    ...dispatchDeps,
    outbox,
    slash: deps.slash,
    spoolDir: deps.spoolDir,
    maxThreadMessages: deps.maxThreadMessages,
    log,
    lineLag: metrics?.lineLag,
    choiceValue: (action: Action, maxChars: number) => choiceValue(core, action, maxChars),
  };
  const homeTab = createHomeTab({
    core: dispatchDeps,
    publish: (userId, view) => app.client.views.publish({ user_id: userId, view }),
    slash: deps.slash,
    log,
    budget: core.store.kind === "postgres" ? core.store.rateBudget : undefined,
  });
  const delivered = createDeliver({
    outbox,
    store: core.store,
    slash: deps.slash,
    usergroups: deps.usergroups,
    log,
    // A job's start and end change what its owner's (and job.list.all holders') Home shows.
    runJob: (plan) =>
      runJob(plan, jobDeps).then((started) => {
        if (started.ok) {
          homeTab.changed();
          void started.done.finally(() => homeTab.changed());
        }
        return started;
      }),
    work,
    choiceValue: (action, maxChars) => choiceValue(core, action, maxChars),
    workspaceUrl: workspaceUrlOnce(() => app.client.auth.test()),
    scratchDir: deps.spoolDir,
  });
  // Requests that expired and grants that ended leave the Home views that listed them.
  const deliver: typeof delivered = {
    ...delivered,
    swept: (result) => delivered.swept(result).finally(() => homeTab.changed()),
  };

  /** Delivers an outcome, then counts and logs how the request ended. */
  const finish =
    (requestId: string, kind: string, actor: Actor, respond: Respond, fromCard = false) =>
    async (outcome: Outcome) => {
      const delivered = await deliver.outcome(outcome, actor, respond, fromCard);
      // A request appeared or was decided (a grant started), or a grant was revoked (typed, or an Undo, which may be
      // one): the Home views that list requests and grants change.
      if (outcome.type === "gate" || outcome.type === "decided" || kind === "grant.revoke" || kind === "undo") homeTab.changed();
      const result = delivered === false ? "failed" : classify(outcome);
      metrics?.command(kind, result);
      log("request done", { requestId, kind, outcome: result });
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
    log("request from another workspace refused", { requestId, team: origin.teamId, enterprise: origin.enterpriseId, user: actor.userId });
    const rule = `slack:workspace (from ${origin.teamId ?? "unknown"}${origin.enterpriseId ? `/${origin.enterpriseId}` : ""})`;
    work.run(() =>
      auditRefusal(core, { requestId, actor, what, rule }).catch((error: unknown) => log("refusal not audited", { requestId, err: error })),
    );
    metrics?.command(what.kind, "denied");
    const text = toMrkdwn(msg`${tone("denied")} ${reason}`, deps.slash);
    work.run(() => respond({ response_type: "ephemeral", replace_original: false, text }).catch(() => undefined));
    return true;
  };

  const failSafe = (requestId: string, respond: Respond, kind: string) => (error: unknown) => {
    metrics?.command(kind, "failed");
    log("request failed", { requestId, kind, err: error });
    return respond({ response_type: "ephemeral", text: `Something failed on berth's side (ref ${requestId.slice(0, 8)}).` }).catch(
      () => undefined,
    );
  };

  const runModal = createRunModal({
    app,
    core: dispatchDeps,
    slash: deps.slash,
    log,
    work,
    first: (body, context) => deliveries.first(deliveryOf("click", body, context)),
    homeTeamId: () => home?.teamId,
    refusedForeign,
    finish: (requestId, kind, actor, respond) => finish(requestId, kind, actor, respond),
    failSafe,
    acked,
  });

  app.command(deps.slash, async ({ command, body, ack, respond, context }) => {
    await ack();
    acked(context);
    if (!(await deliveries.first(deliveryOf("command", body, context)))) return;
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
    // Parsed once, here: the action kind labels the metrics and the refusal's audit record, and the parse goes on to
    // the pipeline with the request.
    const parsed = parse(command.text, core.registry);
    const kind = parsed.ok ? parsed.action.kind : "unparsed";
    if (refusedForeign(origin, actor, parsed.ok ? redactAction(parsed.action) : { kind }, requestId, respond)) return;
    // `run` alone opens the form (right away: its trigger lasts 3 s); if Slack will not open it, the usage follows.
    const channel = { id: actor.channelId, name: actor.channelName };
    const who = { triggerId: command.trigger_id, userId: actor.userId, teamId: actor.teamId, channel };
    if (await runModal.openForBareRun(command.text, who)) return void log("run modal opened", { requestId, user: actor.userId });
    log("command", { requestId, kind, user: actor.userId, channel: actor.channelId, chars: command.text.length });
    const signal = AbortSignal.timeout(60_000);
    work.run(() =>
      dispatch({ text: command.text, actor, requestId, parsed }, dispatchDeps, signal)
        .then(finish(requestId, kind, actor, respond))
        .catch(failSafe(requestId, respond, kind)),
    );
  });

  app.event("app_home_opened", async ({ event, body }) => {
    if (event.tab !== "home") return;
    const origin = { teamId: body.team_id, enterpriseId: body.enterprise_id };
    // Someone from another workspace gets no view: nothing of berth's state is published to them.
    if (foreignRequest(home, origin) !== undefined)
      return log("home from another workspace ignored", { user: event.user, team: origin.teamId });
    work.run(() => homeTab.opened({ userId: event.user, teamId: origin.teamId, homeTeam: true }));
  });

  for (const button of buttons(core)) {
    app.action({ action_id: button.actionId }, async ({ ack, body, action, respond: toResponseUrl, context }) => {
      await ack();
      acked(context);
      if (!(await deliveries.first(deliveryOf("click", body, context)))) return;
      if (body.type !== "block_actions") return;
      // A choice among many is a menu: its value is the option picked.
      const value = action.type === "button" ? action.value : action.type === "static_select" ? action.selected_option?.value : undefined;
      if (value === undefined) return;
      // A tap in the Home tab: no channel, no response_url (home-tab.ts answers it in the view).
      const fromHome = body.container?.type === "view";
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
        tappedOn: tappedOn(body),
      };
      const respond: Respond = fromHome ? homeTab.respond(actor) : toResponseUrl;
      const requestId = crypto.randomUUID();
      // Before the button's value is read: reading a host choice uses it up, and it is not this clicker's to use.
      if (refusedForeign(origin, actor, { kind: "button", button: button.name }, requestId, respond)) return;
      const typed = button.toAction(value);
      const kind = typed?.kind ?? "stale_button";
      // Judged in the channel of the job or request it concerns, as if typed there; naming neither, in no channel (home-tab.ts).
      if (fromHome && typed) {
        const blockId = "block_id" in action ? action.block_id : undefined;
        Object.assign(actor, (await homeTab.channelOf(typed, blockId, core.store)) ?? { channelId: "" });
      }
      log("click", { requestId, kind, button: button.name, user: actor.userId, channel: actor.channelId });
      if (!typed) {
        metrics?.command(kind, "refused");
        const text = toMrkdwn(button.stale, deps.slash);
        work.run(() => respond({ response_type: "ephemeral", replace_original: false, text }).catch(failSafe(requestId, respond, kind)));
        return;
      }
      work.run(() =>
        dispatchAction(typed, actor, dispatchDeps, AbortSignal.timeout(60_000), requestId)
          .then(finish(requestId, kind, actor, respond, button.onGateCard))
          .catch(failSafe(requestId, respond, kind)),
      );
    });
  }

  // `@berth stop` in a job's thread: the same pipeline, as the person who wrote it (mentions.ts).
  const onMention = mentionListener({
    store: core.store,
    registry: core.registry,
    client: app.client,
    deliveries,
    slash: deps.slash,
    home: () => home,
    log,
    refusedForeign,
    run: (request, kind, respond) =>
      work.run(() =>
        dispatch(request, dispatchDeps, AbortSignal.timeout(60_000))
          .then(finish(request.requestId, kind, request.actor, respond))
          .catch(failSafe(request.requestId, respond, kind)),
      ),
    later: (task) => work.run(task),
  });
  app.event("app_mention", async ({ event, body, context }) => {
    acked(context);
    await onMention({ event, body, context });
  });

  const notifier = createNotifier({
    outbox,
    routing: {
      channel: core.hosts.notifications?.channel,
      hostChannel: (host) => core.hosts.settings?.[host]?.notify,
    },
    lastLines: deps.lastLines,
    jobOf: (id) => core.store.jobs.get(id),
    log,
    clock: core.clock,
  });

  app.error(async (error) => {
    log("bolt error", { err: error });
  });

  const idle = async () => {
    await Promise.allSettled([work.settled(), notifier.idle()]);
  };
  return {
    app,
    outbox,
    /** The pipeline's dependencies as this app dispatches with them (the scheduler carries runbooks on with them). */
    core: dispatchDeps,
    deliver,
    socketMode,
    /** How the Slack connection is doing, for /healthz ("failed" makes berth unhealthy). */
    state: () => state,
    /** Where the engines' container events go (see container-watch.ts). */
    notify: notifier.handle,
    /** Learns which workspace berth serves. Before any request can arrive: until it is known, every request is refused. */
    async identify(): Promise<void> {
      home = await homeWorkspace({ teamId: settings.teamId, enterpriseId: settings.enterpriseId }, () => app.client.auth.test());
    },
    /** Connects (Socket Mode) or listens (HTTP); resolves with the HTTP port in HTTP mode. */
    async start(): Promise<number | undefined> {
      if (socketMode) {
        // Readiness follows the connection: a replica whose socket dropped takes no deliveries until it is back (Slack
        // sends them to the replicas still connected meanwhile).
        const client = socketReceiver?.client;
        client?.on("connected", () => {
          if (!stopping) state = "connected (socket mode)";
        });
        client?.on("reconnecting", () => {
          if (!stopping) state = "reconnecting (socket mode)";
        });
        client?.on("disconnected", () => {
          if (!stopping) state = "reconnecting (socket mode)";
        });
        await app.start();
        state = "connected (socket mode)";
        return undefined;
      }
      const server = (await app.start({ port: settings.port, host: settings.host ?? "0.0.0.0" })) as Server;
      state = "listening (http)";
      return (server.address() as AddressInfo).port;
    },
    /** Stops taking requests, then waits for replies already under way. */
    async stop(): Promise<void> {
      stopping = true;
      state = "stopping";
      await app.stop();
      await homeTab.close();
      // Work under way can start more (a command's job keeps its stream): wait until nothing is left, not for a snapshot.
      while (work.size) await Promise.allSettled([work.settled(), notifier.idle()]);
      await notifier.idle();
    },
    /** Resolves when every command and click received so far has been fully handled (tests, shutdown). */
    idle,
  };
}

export type SlackApp = ReturnType<typeof createSlackApp>;
