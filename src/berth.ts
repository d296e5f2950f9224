import { randomUUID } from "node:crypto";
import { existsSync, unwatchFile, watchFile } from "node:fs";
import { join } from "node:path";
import { registry } from "../commands/index.ts";
import type { AzureCloudOptions } from "./cloud/azure/index.ts";
import type { HostCloud } from "./cloud/ports.ts";
import { berthPki, cloudConnection, type ProvisionDeps, provisionHost, removeHost } from "./cloud/provision.ts";
import type { Config } from "./config.ts";
import { stopOverdue } from "./container-deadlines.ts";
import { watchContainers } from "./container-watch.ts";
import { type Hosts, loadHosts, localHost } from "./core/hosts.ts";
import { createJobRegistry } from "./core/jobs.ts";
import { type Policy, policyUsergroups, safeRegExp } from "./core/policy.ts";
import { loadPolicyFile } from "./core/policy-file.ts";
import { createPolicyReloader, type ReloadResult } from "./core/policy-reload.ts";
import { createRedactor } from "./core/redact.ts";
import { createDockerEngine } from "./engines/docker/engine.ts";
import { instrumentEngine } from "./engines/instrumented.ts";
import {
  type ContainerEngine,
  type ContainerEvent,
  type ContainerSummary,
  type DockerConnection,
  isOwned,
  labels,
} from "./engines/ports.ts";
import { lifetimeDue } from "./host-lifetime.ts";
import { createLogger } from "./logger.ts";
import { createMetrics } from "./metrics.ts";
import { createSlackApp } from "./slack/app.ts";
import { auditChannel } from "./slack/audit-channel.ts";
import { renderHostReminder } from "./slack/render.ts";
import { ensureLocalAuditKeys } from "./store/audit-key.ts";
import { createAuditOperations } from "./store/audit-operations.ts";
import { createSecretBox } from "./store/secret-box.ts";
import { type CloudHostRecord, openStore } from "./store/store.ts";

/** Retries for Slack calls other than 429s (which the outbox handles): a few quick ones, never a long hang. */
export const slackRetries = { retries: 2, factor: 2, minTimeout: 500, maxTimeout: 4000 };

/** Wires berth together from a validated Config: manifests, store, engines, Slack. Throws BerthError("CONFIG"). */
export type BerthOptions = {
  retryConfig?: typeof slackRetries | { retries: number };
  write?: (line: string) => void;
  /** Injectable clock for approvals and grants (tests move time instead of sleeping). */
  clock?: () => number;
  /** How often the policy file is checked for changes (ms). */
  reloadIntervalMs?: number;
  /** How long a changed policy file must stay the same before it is read as complete (ms, default 500). */
  policySettleMs?: number;
  /** Azure client tuning (tests and the benchmark poll fast; production keeps the SDK's defaults). */
  azure?: {
    credential?: AzureCloudOptions["credential"];
    pollIntervalMs?: number;
    retry?: AzureCloudOptions["retry"];
    /** Between two probes of a new host's Docker port (default 10 s). */
    probeIntervalMs?: number;
    onResponse?: AzureCloudOptions["onResponse"];
  };
  /** How often host lifetimes (reminders, expiry) are checked (ms); tests call sweepHosts() instead. */
  lifetimeIntervalMs?: number;
  /** How often containers past their run-time limit are looked for on every host (ms); tests call sweepDeadlines(). */
  deadlineIntervalMs?: number;
};

export function createBerth(config: Config, options: BerthOptions = {}) {
  const log = createLogger(config.logLevel, options.write);
  const metrics = createMetrics();
  let policy: Policy = loadPolicyFile(config.policyPath);
  // A changed policy is applied without a restart once the file is complete and valid; every reload, applied or
  // refused, is audited and posted to the audit channel (audit-operations.ts).
  const reloader = createPolicyReloader({
    path: config.policyPath,
    current: () => policy,
    apply: (next) => {
      policy = next;
    },
    settleMs: options.policySettleMs,
  });
  const reloadPolicy = async (): Promise<ReloadResult> => {
    const result = await reloader.changed();
    audit.reportReload(result);
    return result;
  };
  watchFile(config.policyPath, { interval: options.reloadIntervalMs ?? 2000, persistent: false }, (cur, prev) => {
    if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size) {
      void reloadPolicy().catch((error: unknown) => log.error("policy reload failed", { path: config.policyPath, err: error }));
    }
  });
  const manifest: Hosts =
    config.hostsExplicit || existsSync(config.hostsPath)
      ? loadHosts(config.hostsPath, config.env)
      : localHost({ dockerHost: config.docker.host, tlsVerify: config.docker.tlsVerify, certPath: config.docker.certPath });
  // Without BERTH_AUDIT_KEY a key file next to the database keeps the playground and tests working; it is worth
  // nothing against whoever can write the data dir, and the log says so.
  const auditKeys =
    config.audit.keys ??
    (() => {
      const local = ensureLocalAuditKeys(config.dataDir);
      log.warn("AUDIT KEY STORED NEXT TO THE DATABASE: BERTH_AUDIT_KEY is not set", {
        keyFile: local.path,
        created: local.created,
        why: "whoever can write the data dir can read this key and rewrite the audit log undetected; in production set BERTH_AUDIT_KEY from a secret store (docs/security.md)",
      });
      return local.keys;
    })();
  const store = openStore(config.dataDir, options.clock, {
    auditKeys,
    secretBox: config.secretKey === undefined ? undefined : createSecretBox(config.secretKey),
  });
  const installation = store.installationId();
  const clock = options.clock ?? Date.now;
  // Hosts berth made in Azure join the manifest's once Docker answers on them (and leave when removed).
  let pki: Awaited<ReturnType<typeof berthPki>> | undefined;
  let cloudList: DockerConnection[] = [];
  const listCloudHosts = () =>
    pki
      ? store.cloudHosts
          .live()
          .filter((r) => r.status === "ready" || r.status === "unreachable")
          .flatMap((r) => cloudConnection(r, pki as NonNullable<typeof pki>) ?? [])
      : [];
  const hosts: Hosts = {
    get connections() {
      return [...manifest.connections, ...cloudList];
    },
    channels: manifest.channels,
    default: manifest.default,
    settings: manifest.settings,
    notifications: manifest.notifications,
  };
  const jobs = createJobRegistry(store);
  const engines = new Map<string, ContainerEngine>();
  const engine = (name: string): ContainerEngine => {
    const known = engines.get(name);
    if (known) return known;
    const conn = hosts.connections.find((c) => c.name === name);
    if (!conn) throw new Error(`no host ${name}`);
    const created = instrumentEngine(createDockerEngine({ ...conn, sshAuthSock: config.sshAuthSock, installation }), metrics.engine);
    engines.set(name, created);
    return created;
  };
  // Build every client now: a host whose connection cannot work (bad PEM, ssh:// without hostKey) stops berth at
  // start-up with the reason, not on someone's command at 3 a.m.
  for (const c of hosts.connections) engine(c.name);
  const changed = () => {
    cloudList = listCloudHosts();
    const names = new Set(hosts.connections.map((c) => c.name));
    for (const [name, e] of engines) {
      if (names.has(name)) continue;
      e.close();
      engines.delete(name);
    }
  };
  let stopping = false;
  const azure = config.azure;
  const cloud: ProvisionDeps | undefined = azure && {
    cloud: lazyAzure({
      subscriptionId: azure.subscriptionId,
      resourceGroup: azure.resourceGroup,
      endpoint: azure.endpoint,
      ca: azure.ca,
      credential: options.azure?.credential,
      pollIntervalMs: options.azure?.pollIntervalMs,
      retry: options.azure?.retry,
      onResponse: (r) => {
        metrics.azureResponse(r);
        options.azure?.onResponse?.(r);
      },
    }),
    store,
    settings: {
      resourceGroup: azure.resourceGroup,
      region: azure.location,
      dockerPort: azure.dockerPort,
      allowCidr: azure.allowCidr,
      adminCidr: azure.adminCidr,
      adminUsername: "berth",
      sshPublicKey: azure.sshPublicKey,
      network: { vnet: "berth-vnet", addressPrefix: "10.77.0.0/16", subnet: "berth-hosts", subnetPrefix: "10.77.0.0/20" },
      probeIntervalMs: options.azure?.probeIntervalMs ?? 10_000,
    },
    policy: () => policy,
    connect: (conn) => instrumentEngine(createDockerEngine({ ...conn, installation }), metrics.engine),
    clock,
    changed,
    suspended: () => stopping,
  };
  const slack = createSlackApp(
    {
      botToken: config.slack.botToken,
      signingSecret: config.slack.signingSecret,
      appToken: config.mode === "socket" ? config.slack.appToken : undefined,
      apiUrl: config.slack.apiUrl,
      teamId: config.slack.teamId,
      enterpriseId: config.slack.enterpriseId,
      port: config.port,
      host: config.host,
      retryConfig: options.retryConfig ?? slackRetries,
      logLevel: config.logLevel,
      ops: config.metrics,
    },
    {
      registry,
      policy: () => policy,
      hosts,
      engine,
      store,
      jobs,
      cloud,
      manifestHosts: manifest.connections.map((c) => c.name),
      pendingActions: new Map(),
      clock: options.clock,
      slash: config.command,
      usergroups: () => policyUsergroups(policy),
      spoolDir: join(config.dataDir, "spool"),
      maxThreadMessages: config.threadMaxMessages,
      log: (event, fields) => log.info(event, fields),
      metrics,
      lastLines: async (host, id) => {
        const e = engine(host);
        const signal = AbortSignal.timeout(10_000);
        const redact = createRedactor(
          await e.secretValues(id, signal),
          policy.redact.flatMap((p) => safeRegExp(p) ?? []),
        );
        const lines: string[] = [];
        for await (const line of e.logs({ container: id, follow: false, tail: 20 }, signal)) lines.push(redact.line(line));
        return lines;
      },
      health: async () => {
        const entries = await Promise.all(
          hosts.connections.map(async (c) => {
            try {
              await engine(c.name).info(AbortSignal.timeout(3000));
              return [c.name, { reachable: true }] as const;
            } catch (error) {
              return [c.name, { reachable: false, error: (error as Error).message }] as const;
            }
          }),
        );
        return { engines: Object.fromEntries(entries) };
      },
    },
  );
  metrics.watch({
    slackCalls: () => slack.outbox.stats,
    activeStreams: () => jobs.list().length,
    jobStates: () => store.jobs.counts(),
  });
  const watching = new AbortController();

  const audit = createAuditOperations({
    audit: config.audit,
    store,
    log,
    clock,
    channel: config.audit.channel ? auditChannel(slack.outbox, config.audit.channel) : undefined,
  });

  /** A job for a host berth made, started by berth itself (a resume after a restart, an expiry), not by a command. */
  const hostJob = (record: CloudHostRecord, kind: "host.create" | "host.remove", reason: string, cardTs?: string) => {
    const c = cloud as ProvisionDeps;
    const id = jobs.newId();
    store.cloudHosts.put({ ...record, jobId: id, ...(kind === "host.remove" && { status: "removing" as const }) });
    const action =
      kind === "host.create"
        ? {
            kind,
            name: record.name,
            os: record.os,
            size: record.size,
            region: record.region,
            hyperv: record.hyperv,
            private: record.private,
          }
        : { kind, name: record.name };
    slack.startJob({
      id,
      requestId: randomUUID(),
      action,
      host: record.name,
      summary: `${kind === "host.create" ? "host create" : "host rm"} ${record.name} (${reason})`,
      actor: { userId: record.requester, channelId: record.channelId },
      cardTs,
      stopLabel: kind === "host.create" ? "Cancel" : null,
      run: (signal) => (kind === "host.create" ? provisionHost(record.name, c, signal) : removeHost(record.name, [reason], c, signal)),
    });
  };

  /** Reminders before expiry (with an Extend button), and removal once expired. */
  async function sweepHosts(): Promise<void> {
    if (!cloud) return;
    const due = lifetimeDue(store.cloudHosts.live(), policy, clock());
    for (const r of due.expire) {
      log.info("host expired", { host: r.name, expiresAt: r.expiresAt });
      hostJob(r, "host.remove", "expired");
    }
    await Promise.allSettled(
      due.remind.map(async (r) => {
        store.cloudHosts.put({ ...r, remindedAt: clock() });
        const message = renderHostReminder(r, policy.azure.defaultTtl, clock());
        await slack.outbox.post(r.channelId, { ...message, ...(r.threadTs && { thread_ts: r.threadTs }) });
      }),
    );
  }
  let lifetimeTimer: NodeJS.Timeout | undefined;

  /** Says where a container was started, in its job's thread, that it ran out of time; and records it. */
  async function deadlineReached(host: string, container: ContainerSummary, deadline: number): Promise<void> {
    const job = store.jobs.get(container.labels[labels.job] ?? "");
    const channel = container.labels[labels.channel];
    const at = new Date(deadline).toISOString();
    log.info("container stopped at its deadline", { host, container: container.id, job: job?.id, deadline: at });
    store.audit.append({
      requestId: job?.id ?? randomUUID(),
      type: "outcome",
      userId: container.labels[labels.user] ?? "berth",
      channelId: channel ?? "",
      action: { kind: "container.stop", host, container: container.name },
      host,
      decision: null,
      rule: "containers.timeout",
      outcome: `stopped: run-time limit reached at ${at}`,
      messageTs: job?.messageTs ?? null,
    });
    if (!channel) return;
    const text = `:alarm_clock: Stopped \`${container.name}\` (${container.id}) on ${host}: its run-time limit ended at ${at}. Its logs stay: \`/berth logs ${container.name}\`; remove it with \`/berth rm ${container.name}\`.`;
    await slack.outbox.post(channel, { text, ...(job?.messageTs && { thread_ts: job.messageTs }) });
  }

  const sweepingDeadlines = new Set<string>();
  /** Stops berth's containers past their deadline (detached runs, runs whose job a restart ended), host by host. */
  async function sweepDeadlines(): Promise<void> {
    await Promise.allSettled(
      hosts.connections.map(async ({ name: host }) => {
        if (sweepingDeadlines.has(host)) return; // the previous sweep still waits for this host
        sweepingDeadlines.add(host);
        try {
          // A job running here stops its own container; one engine under two names is swept under the name it ran on.
          const notHere = (c: ContainerSummary) =>
            (c.labels[labels.host] ?? host) !== host || jobs.get(c.labels[labels.job] ?? "") !== undefined;
          const swept = await stopOverdue(engine(host), clock(), AbortSignal.timeout(60_000), notHere);
          for (const f of swept.failed)
            log.error("could not stop a container past its deadline", { host, container: f.container.id, err: f.error });
          for (const s of swept.stopped) {
            await deadlineReached(host, s.container, s.deadline).catch((e: unknown) =>
              log.error("could not report a container stopped at its deadline", { host, container: s.container.id, err: e }),
            );
          }
        } catch (error) {
          log.error("deadline sweep failed", { host, err: error });
        } finally {
          sweepingDeadlines.delete(host);
        }
      }),
    );
  }
  let deadlineTimer: NodeJS.Timeout | undefined;

  return {
    slack,
    store,
    jobs,
    log,
    sweepHosts,
    /** Reloads the policy file now (the file watcher calls this on a change). */
    reloadPolicy,
    /** Anchors the audit head now (a timer does it every BERTH_AUDIT_ANCHOR_INTERVAL, and stop() once more). */
    anchorAudit: audit.anchor,
    sweepDeadlines,
    async start(): Promise<number> {
      if (cloud) {
        pki = await berthPki(store, new Date(clock()));
        changed();
      }
      const port = await slack.start();
      if (cloud) {
        // Work a previous berth left half-done goes on, in the same thread.
        for (const r of store.cloudHosts.live()) {
          if (r.status === "provisioning") hostJob(r, "host.create", "resumed after a restart", r.threadTs ?? undefined);
          if (r.status === "removing") hostJob(r, "host.remove", "resumed after a restart");
        }
        lifetimeTimer = setInterval(
          () => void sweepHosts().catch((e: unknown) => log.error("host lifetime sweep failed", { err: e })),
          options.lifetimeIntervalMs ?? 60_000,
        );
        lifetimeTimer.unref();
      }
      deadlineTimer = setInterval(() => void sweepDeadlines(), options.deadlineIntervalMs ?? 30_000);
      deadlineTimer.unref();
      if (hosts.notifications?.enabled ?? true) {
        // One watch per host; each reconnects on its own, so a host that is down never delays the others.
        for (const c of hosts.connections) {
          // Only containers this installation started: another berth sharing the engine speaks for its own.
          // Two manifest names for one engine would both see the event; the host it was started on speaks.
          const ours = (event: ContainerEvent) =>
            isOwned(event.labels, installation) &&
            store.jobs.get(event.labels[labels.job] ?? "") !== undefined &&
            (event.labels[labels.host] ?? c.name) === c.name;
          // An event already on its way when stop() aborts the watch must not reach a closed store or a stopped Slack.
          void watchContainers(engine(c.name), (event) => !stopping && ours(event) && slack.notify(c.name, event), {
            signal: watching.signal,
            log: (event, fields) => log.info(event, { host: c.name, ...fields }),
          }).catch((error: unknown) => log.error("container watch stopped", { host: c.name, err: error }));
        }
      }
      await audit.start();
      log.info("berth started", { mode: config.mode, port, command: config.command, hosts: hosts.connections.map((c) => c.name) });
      return port;
    },
    policy: () => policy,
    /** The BERTH_METRICS_PORT listener's port, once started. */
    metricsPort: (): number | undefined => slack.opsPort(),
    /** GET /metrics's body: Prometheus text format. */
    metrics: (): Promise<string> => metrics.text(),
    async stop(): Promise<void> {
      unwatchFile(config.policyPath);
      clearInterval(lifetimeTimer);
      clearInterval(deadlineTimer);
      // Jobs that make or remove Azure hosts are interrupted, not undone: the next start resumes them.
      stopping = true;
      watching.abort();
      jobs.cancelAll("berth (shutting down)");
      await slack.stop();
      // The last records (jobs cancelled above) are anchored before the store closes.
      await audit.stop();
      for (const e of engines.values()) e.close();
      store.close();
    },
  };
}

/**
 * The Azure adapter, loaded on first use: the SDK is tens of megabytes of modules that a berth without Azure, or one
 * that never makes a host, should not carry.
 */
function lazyAzure(options: AzureCloudOptions): HostCloud {
  let cloud: Promise<HostCloud> | undefined;
  const get = () => {
    cloud ??= import("./cloud/azure/index.ts").then((m) => m.createAzureCloud(options));
    return cloud;
  };
  return {
    prepare: async (...a) => (await get()).prepare(...a),
    begin: async (...a) => (await get()).begin(...a),
    beginDelete: async (...a) => (await get()).beginDelete(...a),
    find: async (...a) => (await get()).find(...a),
    sizeProblem: async (...a) => (await get()).sizeProblem(...a),
  };
}
