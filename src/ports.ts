import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { registry } from "../commands/index.ts";
import type { AcrTokenOptions, AzureCloudOptions } from "./cloud/azure/index.ts";
import type { HostCloud } from "./cloud/ports.ts";
import type { ProvisionDeps } from "./cloud/provision.ts";
import type { Config } from "./config.ts";
import type { Action } from "./core/action.ts";
import type { Registry } from "./core/command.ts";
import { type Hosts, loadHosts, localHost } from "./core/hosts.ts";
import { createJobRegistry, type JobRegistry } from "./core/jobs.ts";
import { type AcrTokenSource, createRegistryCredentials, type RegistryCredentials } from "./core/registries.ts";
import { createDockerEngine } from "./engines/docker/engine.ts";
import { instrumentEngine } from "./engines/instrumented.ts";
import { createCloudConnections, createHostView, type HostView } from "./host-view.ts";
import { createLogger } from "./logger.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
import { createPolicySource, type PolicySource } from "./policy-source.ts";
import { ensureLocalAuditKeys } from "./store/audit-key.ts";
import { openStorePort } from "./store/open-store-port.ts";
import type { StorePort } from "./store/port.ts";
import { createSecretBox } from "./store/secret-box.ts";

/** How the ports are built beyond the Config (tests and the benchmark tune these; production keeps the defaults). */
export type PortOptions = {
  write?: (line: string) => void;
  /** Injectable clock for approvals, grants, lifetimes and deadlines (tests move time instead of sleeping). */
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
    /** Where an Azure Container Registry's token exchange is (tests: a local fake). */
    acrExchangeUrl?: AcrTokenOptions["exchangeUrl"];
  };
};

/** Everything berth's transports and timers work with, built once from the Config (the composition root's output). */
export type Ports = {
  config: Config;
  log: ReturnType<typeof createLogger>;
  metrics: Metrics;
  clock: () => number;
  registry: Registry;
  policy: PolicySource;
  store: StorePort;
  /** This berth's installation ID: the label on every container it starts. */
  installation: string;
  hosts: Hosts;
  engine: HostView["engine"];
  jobs: JobRegistry;
  /** The hosts manifest's registry logins, sent with pulls. */
  registries: RegistryCredentials;
  /** Azure provisioning; absent when the operator has not configured it. */
  cloud: ProvisionDeps | undefined;
  /** The hosts manifest's names (berth neither creates nor removes those). */
  manifestHosts: readonly string[];
  /** Full actions (with environment values) of requests waiting for a decision; never written to disk. */
  pendingActions: Map<string, Action>;
  /** Loads berth's certificates for the Azure hosts it made and lists them (at start, before any request). */
  loadCloudHosts(): Promise<void>;
  /** From now on, interrupted host jobs are left to resume at the next start, not cleaned up. */
  suspend(): void;
  suspended(): boolean;
  /** Closes the engines and the store (the last step of shutting down). */
  close(): Promise<void>;
};

/** Builds the ports from a validated Config: policy, store, engines, cloud. Throws BerthError("CONFIG"). */
export async function buildPorts(config: Config, options: PortOptions = {}): Promise<Ports> {
  const log = createLogger(config.logLevel, options.write);
  const metrics = createMetrics();
  const clock = options.clock ?? Date.now;
  // Reloads are audited once the audit operations exist (berth.ts subscribes); a failure to even try is logged here.
  const policy = createPolicySource({
    path: config.policyPath,
    intervalMs: options.reloadIntervalMs,
    settleMs: options.policySettleMs,
    onError: (error) => log.error("policy reload failed", { path: config.policyPath, err: error }),
  });
  const manifest: Hosts =
    config.hostsExplicit || existsSync(config.hostsPath)
      ? loadHosts(config.hostsPath, config.env)
      : localHost({ dockerHost: config.docker.host, tlsVerify: config.docker.tlsVerify, certPath: config.docker.certPath });
  // Without BERTH_AUDIT_KEY a key file next to the database keeps the playground and tests working; it is worth
  // nothing against whoever can write the data dir, and the log says so. Replicas sharing PostgreSQL must all sign
  // with the one key: there, a missing BERTH_AUDIT_KEY is refused (open-store-port.ts).
  const auditKeys =
    config.audit.keys ??
    (() => {
      if (config.databaseUrl) return undefined;
      const local = ensureLocalAuditKeys(config.dataDir);
      log.warn("AUDIT KEY STORED NEXT TO THE DATABASE: BERTH_AUDIT_KEY is not set", {
        keyFile: local.path,
        created: local.created,
        why: "whoever can write the data dir can read this key and rewrite the audit log undetected; in production set BERTH_AUDIT_KEY from a secret store (docs/security.md)",
      });
      return local.keys;
    })();
  const store = await openStorePort({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    clock,
    auditKeys,
    secretBox: config.secretKey === undefined ? undefined : createSecretBox(config.secretKey),
    onIdleError: (error) => log.warn("database connection dropped", { err: error }),
  });
  const installation = await store.installationId();
  if (!store.sealsSecrets) {
    log.warn("BERTH_SECRET_KEY is not set: gated runs with -e are asked again after a restart", {
      why: "a request waiting for a confirmation or an approval keeps its environment values only in this process's memory; with BERTH_SECRET_KEY they are sealed in the store, so another replica or the next berth can run it",
    });
  }
  // One berth holds an SQLite store (its directory lock says so), so it takes back its own leases at once after a
  // restart; replicas sharing PostgreSQL each have their own name, and take a dead one's jobs once its leases expire.
  const owner = store.kind === "sqlite" ? "berth" : `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
  // Hosts berth made in Azure join the manifest's once Docker answers on them (and leave when removed).
  const cloudHosts = createCloudConnections(store);
  const view = createHostView({
    manifest,
    connect: (conn) => instrumentEngine(createDockerEngine({ ...conn, sshAuthSock: config.sshAuthSock, installation }), metrics.engine),
    cloudConnections: cloudHosts.list,
  });
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
    policy: policy.current,
    connect: (conn) => instrumentEngine(createDockerEngine({ ...conn, installation }), metrics.engine),
    clock,
    // The host list is read again from the store first (`view.changed` lists the hosts synchronously); the scheduler
    // also calls this on its beat with replicas, for hosts another replica made or removed.
    changed: () =>
      void cloudHosts.refresh().then(
        (differs) => differs && view.changed(),
        (error: unknown) => log.warn("cloud hosts not read", { err: error }),
      ),
    suspended: () => stopping,
  };
  const registries = createRegistryCredentials(
    manifest.registries ?? [],
    lazyAcr({ credential: options.azure?.credential, exchangeUrl: options.azure?.acrExchangeUrl, clock }),
  );
  const jobs = createJobRegistry(store, { owner, leaseTtlMs: config.leaseTtlMs, log: (event, fields) => log.warn(event, fields) });
  return {
    config,
    log,
    metrics,
    clock,
    registry,
    policy,
    store,
    installation,
    hosts: view.hosts,
    engine: view.engine,
    jobs,
    registries,
    cloud,
    manifestHosts: manifest.connections.map((c) => c.name),
    pendingActions: new Map(),
    async loadCloudHosts() {
      if (!cloud) return;
      await cloudHosts.load(new Date(clock()));
      view.changed();
    },
    suspend() {
      stopping = true;
    },
    suspended: () => stopping,
    async close() {
      jobs.close();
      policy.close();
      view.close();
      await store.close();
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

/** ACR logins through berth's Azure identity: the Azure adapter is loaded only when a registry with `azure: true` is pulled from. */
function lazyAcr(options: AcrTokenOptions): AcrTokenSource {
  let tokens: Promise<AcrTokenSource> | undefined;
  return async (server, signal) => {
    tokens ??= import("./cloud/azure/index.ts").then((m) => m.createAcrTokens(options));
    return (await tokens)(server, signal);
  };
}
