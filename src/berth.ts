import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Config } from "./config.ts";
import { watchOwnContainers } from "./container-watch.ts";
import { policyUsergroups } from "./core/policy.ts";
import { engineHealth, lastLines } from "./host-probes.ts";
import { holdLease } from "./lease-holder.ts";
import { createOpsServer } from "./ops-server.ts";
import type { Ports } from "./ports.ts";
import { createScheduler } from "./scheduler.ts";
import { createSlackApp, type SlackSettings } from "./slack/app.ts";
import { auditChannel } from "./slack/audit-channel.ts";
import { createAuditOperations } from "./store/audit-operations.ts";

/** Retries for Slack calls other than 429s (which the outbox handles): a few quick ones, never a long hang. */
export const slackRetries = { retries: 2, factor: 2, minTimeout: 500, maxTimeout: 4000 };

/** How berth reaches Slack, as the Config says (the playground hands its emulator's instead). */
export function slackSettings(config: Config): Omit<SlackSettings, "customRoutes"> {
  return {
    botToken: config.slack.botToken,
    signingSecret: config.slack.signingSecret,
    appToken: config.mode === "socket" ? config.slack.appToken : undefined,
    apiUrl: config.slack.apiUrl,
    teamId: config.slack.teamId,
    enterpriseId: config.slack.enterpriseId,
    port: config.port,
    host: config.host,
    retryConfig: slackRetries,
    logLevel: config.logLevel,
  };
}

export type BerthOptions = {
  /** How often host lifetimes (reminders, expiry) are checked (ms); tests call sweepHosts() instead. */
  lifetimeIntervalMs?: number;
  /** How often containers past their run-time limit are looked for on every host (ms); tests call sweepDeadlines(). */
  deadlineIntervalMs?: number;
};

/**
 * Wires berth's consumers to the ports main.ts built: the Slack transport, the scheduler, the health and metrics
 * listeners, the container watches and the audit operations. It owns them from here on: stop() closes the ports too.
 */
export function createBerth(ports: Ports, slackAt: Omit<SlackSettings, "customRoutes">, options: BerthOptions = {}) {
  const { config, log, metrics, store, jobs, policy } = ports;
  let draining = false;
  const ops = createOpsServer({
    report: async () => {
      const state = slack.state();
      return { ok: state !== "failed", slack: state, ...(await engineHealth(ports)()) };
    },
    ready: async () => {
      if (draining || !/^(connected|listening)/.test(slack.state())) return false;
      return store.ping().then(
        () => true,
        () => false,
      );
    },
    metrics,
    token: config.metrics.token,
    separate: { port: config.metrics.port, host: config.metrics.host },
  });
  const usergroups = () => policyUsergroups(policy.current());
  const slack = createSlackApp(
    { ...slackAt, customRoutes: ops.routes },
    {
      core: {
        registry: ports.registry,
        policy: policy.current,
        hosts: ports.hosts,
        engine: ports.engine,
        store,
        jobs,
        cloud: ports.cloud,
        manifestHosts: ports.manifestHosts,
        pendingActions: ports.pendingActions,
        clock: ports.clock,
        engineReconnectMs: config.engineReconnectMs,
        registries: ports.registries,
      },
      slash: config.command,
      usergroups,
      spoolDir: join(config.dataDir, "spool"),
      maxThreadMessages: config.threadMaxMessages,
      log: (event, fields) => log.info(event, fields),
      metrics,
      lastLines: lastLines(ports),
    },
  );
  metrics.watch({
    slackCalls: () => slack.outbox.stats,
    activeStreams: () => jobs.list().length,
    jobStates: () => store.jobs.counts(),
  });
  // Every policy reload, applied or refused, is audited and posted to the audit channel (audit-operations.ts).
  const audit = createAuditOperations({
    audit: config.audit,
    store,
    log,
    clock: ports.clock,
    channel: config.audit.channel ? auditChannel(slack.outbox, config.audit.channel) : undefined,
  });
  policy.onReload(audit.reportReload);
  const scheduler = createScheduler(
    { ...ports, policy: policy.current, output: slack.deliver, engineReconnectMs: config.engineReconnectMs, core: slack.core },
    { lifetimeMs: options.lifetimeIntervalMs, deadlineMs: options.deadlineIntervalMs },
  );
  const watching = new AbortController();

  return {
    slack,
    store,
    jobs,
    log,
    policy: policy.current,
    /** Reloads the policy file now (the file watcher calls this on a change). */
    reloadPolicy: policy.reload,
    /** Anchors the audit head now (a timer does it every BERTH_AUDIT_ANCHOR_INTERVAL, and stop() once more). */
    anchorAudit: audit.anchor,
    sweepApprovals: scheduler.sweepApprovals,
    sweepHosts: scheduler.sweepHosts,
    sweepDeadlines: scheduler.sweepDeadlines,
    /** GET /metrics's body: Prometheus text format. */
    metrics: (): Promise<string> => metrics.text(),
    /** The BERTH_METRICS_PORT listener's port, once started. */
    metricsPort: ops.separatePort,
    /** Starts listening (HTTP) or connecting (Socket Mode); resolves with the HTTP port in use. */
    async start(): Promise<number> {
      await ports.loadCloudHosts();
      await slack.identify();
      await ops.startSeparate();
      // In Socket Mode Bolt opens no port: berth serves health on PORT itself, before connecting.
      let port: number;
      if (slack.socketMode) {
        port = await ops.startPublic(slackAt.port, slackAt.host ?? "0.0.0.0");
        await slack.start();
      } else port = (await slack.start()) as number;
      await scheduler.start();
      if (ports.hosts.notifications?.enabled ?? true) {
        // One replica watches each host (its lease), so a crash is told once however many replicas run.
        for (const c of ports.hosts.connections) {
          holdLease({
            leases: store.leases,
            name: `watch:${c.name}`,
            owner: jobs.owner,
            ttlMs: jobs.leaseTtlMs,
            signal: watching.signal,
            log: (event, fields) => log.info(event, fields),
            run: (signal) =>
              watchOwnContainers({
                hosts: { connections: [c] },
                engine: ports.engine,
                installation: ports.installation,
                known: async (job) => (await store.jobs.get(job)) !== undefined,
                // An event already on its way when stop() aborts the watch must not reach a closed store or a stopped Slack.
                onEvent: (host, event) => !ports.suspended() && slack.notify(host, event),
                signal,
                log: (event, fields) => log.info(event, fields),
                error: (event, fields) => log.error(event, fields),
              }),
          });
        }
      }
      await audit.start();
      const mode = slack.socketMode ? "socket" : "http";
      log.info("berth started", { mode, port, command: config.command, hosts: ports.hosts.connections.map((c) => c.name) });
      return port;
    },
    async stop(): Promise<void> {
      draining = true;
      policy.close();
      scheduler.stop();
      // Jobs that make or remove Azure hosts are interrupted, not undone: the next start resumes them.
      ports.suspend();
      watching.abort();
      // Jobs stop reading, post what they read and record their cursors, within BERTH_DRAIN_TIMEOUT; their containers
      // keep running and the next berth carries them on. Past the bound, the cursors already stored are enough.
      jobs.suspendAll();
      const drained = await Promise.race([jobs.idle().then(() => true), sleep(config.drainMs, false, { ref: false })]);
      if (!drained) log.warn("shutdown: jobs still flushing when the drain time ran out", { jobs: jobs.list().map((j) => j.id) });
      await slack.stop();
      ops.stop();
      // The last records (jobs cancelled above) are anchored before the store closes.
      await audit.stop();
      await ports.close();
    },
  };
}

export type Berth = ReturnType<typeof createBerth>;
