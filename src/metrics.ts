import type { IncomingMessage, ServerResponse } from "node:http";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** How a command or button click ended, as counted in berth_commands_total. */
export type CommandOutcome = "reply" | "job" | "gate" | "denied" | "refused" | "usage_error" | "failed";

/** What the engine wrapper (engines/instrumented.ts) reports; it knows nothing about Prometheus. */
export type EngineObserver = {
  call(host: string, method: string, seconds: number): void;
  error(host: string, method: string, code: string): void;
};

/** Read at scrape time, so the hot paths (the outbox, the job registry) keep their own plain counters. */
export type MetricsSources = {
  slackCalls: () => {
    calls: Readonly<Record<string, number>>;
    rateLimited: Readonly<Record<string, number>>;
    budgetUnavailable?: number | undefined;
  };
  activeStreams: () => number;
  jobStates: () => Promise<Readonly<Record<string, number>>>;
};

const jobStates = ["running", "succeeded", "failed", "cancelled"] as const;
// Slack gives 3 s for an ack; the buckets are finest below that and still tell "late" from "very late".
const ackBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10];
// A thread reply waits up to ~1 s for company, then for its turn in Slack's per-channel pace (about one a second).
const lagBuckets = [0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 120];
const callBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * One Prometheus registry per berth instance (never prom-client's global one: tests and the benchmark run several
 * berths in one process, and each must report only its own). This is the only importer of prom-client.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  let sources: MetricsSources | undefined;

  const commands = new Counter({
    name: "berth_commands_total",
    help: "Slash commands and button clicks handled, by action kind and how they ended.",
    labelNames: ["kind", "outcome"] as const,
    registers: [registry],
  });
  const duplicates = new Counter({
    name: "berth_duplicate_deliveries_total",
    help: "Slack deliveries berth had already taken (a retry, a redelivered Socket Mode envelope or click): acked and otherwise ignored, by kind.",
    labelNames: ["kind"] as const,
    registers: [registry],
  });
  const ack = new Histogram({
    name: "berth_ack_seconds",
    help: "From berth receiving a slash command or button click to its acknowledgement being sent (Slack allows 3 s).",
    buckets: ackBuckets,
    registers: [registry],
  });
  new Counter({
    name: "berth_slack_api_calls_total",
    help: "Slack Web API calls berth's outbox made (posts, edits, uploads), by method; a call retried after a 429 counts again.",
    labelNames: ["method"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [method, n] of Object.entries(sources?.slackCalls().calls ?? {})) this.inc({ method }, n);
    },
  });
  new Counter({
    name: "berth_slack_rate_limited_total",
    help: "Slack Web API calls answered 429 (berth waited Retry-After and sent them again), by method.",
    labelNames: ["method"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [method, n] of Object.entries(sources?.slackCalls().rateLimited ?? {})) this.inc({ method }, n);
    },
  });
  new Counter({
    name: "berth_slack_budget_unavailable_total",
    help: "Slack calls sent on this replica's own spacing because the shared rate budget (PostgreSQL) could not be asked.",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(sources?.slackCalls().budgetUnavailable ?? 0);
    },
  });
  new Gauge({
    name: "berth_active_streams",
    help: "Jobs (streams, runs, host work) running in this berth process now.",
    registers: [registry],
    collect() {
      this.set(sources?.activeStreams() ?? 0);
    },
  });
  const lineLag = new Histogram({
    name: "berth_line_lag_seconds",
    help:
      "Per output line: from berth reading it from the engine to Slack accepting the thread reply that carries it. " +
      "Lines that never become thread replies (past the thread's message cap, or after a drain) are not observed; " +
      "they go to the uploaded full log.",
    buckets: lagBuckets,
    registers: [registry],
  });
  const engineCall = new Histogram({
    name: "berth_engine_call_seconds",
    help: "Docker engine calls by host and method: until the answer, or for streams until their first item.",
    labelNames: ["host", "method"] as const,
    buckets: callBuckets,
    registers: [registry],
  });
  const engineErrors = new Counter({
    name: "berth_engine_errors_total",
    help: "Docker engine calls (and streams) that failed, by host, method and berth error code.",
    labelNames: ["host", "method", "code"] as const,
    registers: [registry],
  });
  const azureRequests = new Counter({
    name: "berth_azure_requests_total",
    help: "HTTP requests to Azure Resource Manager (each retry counts), by HTTP method and response status.",
    labelNames: ["method", "status"] as const,
    registers: [registry],
  });
  const azureSeconds = new Histogram({
    name: "berth_azure_request_seconds",
    help: "Azure Resource Manager HTTP requests, until the response, by HTTP method.",
    labelNames: ["method"] as const,
    buckets: callBuckets,
    registers: [registry],
  });
  new Gauge({
    name: "berth_jobs",
    help: "Jobs in berth's store by state (running includes jobs a previous process left running).",
    labelNames: ["state"] as const,
    registers: [registry],
    async collect() {
      // A database that does not answer leaves the gauge as it was rather than failing the whole scrape.
      const counts = (await sources?.jobStates().catch(() => undefined)) ?? {};
      for (const state of jobStates) this.set({ state }, counts[state] ?? 0);
    },
  });

  const engine: EngineObserver = {
    call: (host, method, seconds) => engineCall.observe({ host, method }, seconds),
    error: (host, method, code) => engineErrors.inc({ host, method, code }),
  };

  return {
    contentType: registry.contentType,
    /** Connects the scrape-time readings; until then they read as zero. */
    watch(s: MetricsSources): void {
      sources = s;
    },
    command: (kind: string, outcome: CommandOutcome) => commands.inc({ kind, outcome }),
    ack: (seconds: number) => ack.observe(seconds),
    duplicate: (kind: "command" | "click" | "event") => duplicates.inc({ kind }),
    lineLag: (seconds: number) => lineLag.observe(seconds),
    engine,
    /** The Azure adapter's onResponse hook. */
    azureResponse(r: { method: string; status: number; ms: number }): void {
      azureRequests.inc({ method: r.method, status: String(r.status) });
      azureSeconds.observe({ method: r.method }, r.ms / 1000);
    },
    /** The Prometheus text exposition of everything above plus the process's default metrics. */
    text: () => registry.metrics(),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** GET /metrics. */
export function metricsHandler(metrics: Pick<Metrics, "text" | "contentType">) {
  return (_req: IncomingMessage, res: ServerResponse) => {
    metrics.text().then(
      (body) => {
        res.writeHead(200, { "content-type": metrics.contentType });
        res.end(body);
      },
      (error: unknown) => {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(`metrics collection failed: ${String(error)}\n`);
      },
    );
  };
}
