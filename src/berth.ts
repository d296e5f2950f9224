import { existsSync, unwatchFile, watchFile } from "node:fs";
import { join } from "node:path";
import { registry } from "../commands/index.ts";
import type { Config } from "./config.ts";
import { watchContainers } from "./container-watch.ts";
import { createDockerEngine } from "./engines/docker.ts";
import { type ContainerEngine, type ContainerEvent, labels } from "./engines/ports.ts";
import { type Hosts, loadHosts, localHost } from "./hosts.ts";
import { createJobRegistry } from "./jobs.ts";
import { createLogger } from "./logger.ts";
import { type Policy, policyUsergroups, safeRegExp } from "./policy.ts";
import { loadPolicyFile } from "./policy-file.ts";
import { createRedactor } from "./redact.ts";
import { createSlackApp } from "./slack/app.ts";
import { openStore } from "./store.ts";

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
};

export function createBerth(config: Config, options: BerthOptions = {}) {
  const log = createLogger(config.logLevel, options.write);
  let policy: Policy = loadPolicyFile(config.policyPath);
  // A changed policy is validated and applied without a restart; an invalid one is refused and the old one stays.
  const reload = () => {
    try {
      policy = loadPolicyFile(config.policyPath);
      log.info("policy reloaded", { path: config.policyPath });
    } catch (error) {
      log.error("policy reload rejected; keeping the previous policy", { path: config.policyPath, reason: (error as Error).message });
    }
  };
  watchFile(config.policyPath, { interval: options.reloadIntervalMs ?? 2000, persistent: false }, (cur, prev) => {
    if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size) reload();
  });
  const hosts: Hosts =
    config.hostsExplicit || existsSync(config.hostsPath)
      ? loadHosts(config.hostsPath, config.env)
      : localHost({ dockerHost: config.docker.host, tlsVerify: config.docker.tlsVerify, certPath: config.docker.certPath });
  const store = openStore(config.dataDir, options.clock);
  const jobs = createJobRegistry(store);
  const engines = new Map<string, ContainerEngine>();
  const engine = (name: string): ContainerEngine => {
    const known = engines.get(name);
    if (known) return known;
    const conn = hosts.connections.find((c) => c.name === name);
    if (!conn) throw new Error(`no host ${name}`);
    const created = createDockerEngine({ ...conn, sshAuthSock: config.sshAuthSock });
    engines.set(name, created);
    return created;
  };
  // Build every client now: a host whose connection cannot work (bad PEM, ssh:// without hostKey) stops berth at
  // start-up with the reason, not on someone's command at 3 a.m.
  for (const c of hosts.connections) engine(c.name);
  const slack = createSlackApp(
    {
      botToken: config.slack.botToken,
      signingSecret: config.slack.signingSecret,
      appToken: config.mode === "socket" ? config.slack.appToken : undefined,
      apiUrl: config.slack.apiUrl,
      port: config.port,
      host: config.host,
      retryConfig: options.retryConfig ?? slackRetries,
      logLevel: config.logLevel,
    },
    {
      registry,
      policy: () => policy,
      hosts,
      engine,
      store,
      jobs,
      pendingActions: new Map(),
      clock: options.clock,
      slash: config.command,
      usergroups: () => policyUsergroups(policy),
      spoolDir: join(config.dataDir, "spool"),
      maxThreadMessages: config.threadMaxMessages,
      log: (event, fields) => log.info(event, fields),
      lastLines: async (host, id) => {
        const e = engine(host);
        const signal = AbortSignal.timeout(10_000);
        const redact = createRedactor(
          await e.secretValues(id, signal),
          policy.redact.flatMap((p) => safeRegExp(p) ?? []),
        );
        const lines: string[] = [];
        for await (const line of e.logs({ container: id, follow: false, tail: 20 }, signal)) lines.push(redact(line.text));
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
  const watching = new AbortController();
  return {
    slack,
    store,
    jobs,
    log,
    async start(): Promise<number> {
      const port = await slack.start();
      if (hosts.notifications?.enabled ?? true) {
        // One watch per host; each reconnects on its own, so a host that is down never delays the others.
        for (const c of hosts.connections) {
          // Only containers this installation started: another berth sharing the engine speaks for its own.
          // Two manifest names for one engine would both see the event; the host it was started on speaks.
          const ours = (event: ContainerEvent) =>
            store.jobs.get(event.labels[labels.job] ?? "") !== undefined && (event.labels[labels.host] ?? c.name) === c.name;
          void watchContainers(engine(c.name), (event) => ours(event) && slack.notify(c.name, event), {
            signal: watching.signal,
            log: (event, fields) => log.info(event, { host: c.name, ...fields }),
          }).catch((error: unknown) => log.error("container watch stopped", { host: c.name, err: error }));
        }
      }
      log.info("berth started", { mode: config.mode, port, command: config.command, hosts: hosts.connections.map((c) => c.name) });
      return port;
    },
    policy: () => policy,
    async stop(): Promise<void> {
      unwatchFile(config.policyPath);
      watching.abort();
      jobs.cancelAll("berth (shutting down)");
      await slack.stop();
      for (const e of engines.values()) e.close();
      store.close();
    },
  };
}
