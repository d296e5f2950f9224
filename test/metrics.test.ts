import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { BerthError } from "../src/core/errors.ts";
import { instrumentEngine } from "../src/engines/instrumented.ts";
import type { ContainerEngine } from "../src/engines/ports.ts";
import { createMetrics } from "../src/metrics.ts";
import { openSqliteStore } from "../src/store/sqlite-store.ts";
import { eventually, findCard, isFinished, removeOwnContainers, startBerth, testImage } from "./support/berth-harness.ts";
import { SEED, SlackFake } from "./support/slack-fake.ts";

// GET /metrics on a real berth (Bolt, Docker, the Slack fake): commands of every kind move the counters they should,
// with the labels an operator would query by.

/** The value of one sample in Prometheus text format, or undefined when it is not there. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

let fake: SlackFake;
let berth: Awaited<ReturnType<typeof startBerth>>;
const metricsToken = "metrics-test-token-0123456789";
const bearer = { authorization: `Bearer ${metricsToken}` };

before(async () => {
  fake = await SlackFake.start();
  berth = await startBerth(fake, { env: { BERTH_METRICS_TOKEN: metricsToken } });
});

after(async () => {
  if (berth) await removeOwnContainers(berth.berth.store);
  await berth?.stop();
  await fake?.stop();
});

const scrape = async (port = berth.port, headers: Record<string, string> = bearer) => {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return res.text();
};

test("commands, acks, Slack calls, jobs, line lag and engine errors show in GET /metrics", async () => {
  await berth.command("ps");
  await berth.command("lgos api");
  await berth.command(`run ${testImage} echo should-not-run`, SEED.nobody);
  await berth.command("ps -H down");
  await berth.command(`run ${testImage} sh -c 'echo one; echo two; echo three'`);
  const card = await eventually("the finished run card", () => {
    const c = findCard(fake, SEED.incidentChannel, "echo one");
    return c && isFinished(c) ? c : undefined;
  });
  assert.ok(card);
  await berth.berth.slack.idle();

  const text = await scrape();
  assert.equal(sample(text, "berth_commands_total", { kind: "container.list", outcome: "reply" }), 1);
  assert.equal(sample(text, "berth_commands_total", { kind: "unparsed", outcome: "usage_error" }), 1);
  assert.equal(sample(text, "berth_commands_total", { kind: "container.run", outcome: "denied" }), 1);
  assert.equal(sample(text, "berth_commands_total", { kind: "container.run", outcome: "job" }), 1);
  // The down host's `ps` is answered with the engine's error: a failed command, and an engine error for that host.
  assert.equal(sample(text, "berth_commands_total", { kind: "container.list", outcome: "failed" }), 1);
  assert.ok((sample(text, "berth_engine_errors_total", { host: "down", method: "list", code: "UNAVAILABLE" }) ?? 0) >= 1);
  assert.ok((sample(text, "berth_engine_call_seconds_count", { host: "local", method: "list" }) ?? 0) >= 1);
  assert.ok((sample(text, "berth_engine_call_seconds_count", { host: "local", method: "run" }) ?? 0) >= 1);

  assert.equal(sample(text, "berth_ack_seconds_count"), 5);
  assert.equal(sample(text, "berth_ack_seconds_bucket", { le: "+Inf" }), 5);
  assert.ok((sample(text, "berth_slack_api_calls_total", { method: "chat.postMessage" }) ?? 0) >= 2);
  assert.ok((sample(text, "berth_slack_api_calls_total", { method: "chat.update" }) ?? 0) >= 1);
  assert.equal(sample(text, "berth_slack_rate_limited_total", { method: "chat.postMessage" }), undefined);
  // The run's three lines went out in one thread reply; each was measured once.
  assert.equal(sample(text, "berth_line_lag_seconds_count"), 3);
  assert.ok((sample(text, "berth_line_lag_seconds_sum") ?? 0) > 0);
  assert.equal(sample(text, "berth_active_streams"), 0);
  assert.equal(sample(text, "berth_jobs", { state: "succeeded" }), 1);
  assert.equal(sample(text, "berth_jobs", { state: "running" }), 0);
  assert.match(text, /^# HELP berth_line_lag_seconds .*read.*accept/m);
  assert.ok(sample(text, "process_cpu_user_seconds_total") !== undefined, "the default process metrics are there");
  assert.equal(await berth.berth.metrics().then((t) => t.includes("berth_commands_total")), true);
});

test("a running stream is an active stream until it is stopped", async () => {
  // The trap lets the container's PID 1 end at once on Stop instead of after Docker's grace period.
  await berth.command(`run ${testImage} sh -c 'trap "exit 143" TERM; echo started; sleep 60 & wait'`);
  const card = await eventually("the running card with a Stop button", () => {
    const c = findCard(fake, SEED.incidentChannel, "sleep 60");
    return c && JSON.stringify(c.blocks).includes("berth_stop") && JSON.stringify(c.blocks).includes("Running") ? c : undefined;
  });
  assert.equal(sample(await scrape(), "berth_active_streams"), 1);
  assert.equal(sample(await scrape(), "berth_jobs", { state: "running" }), 1);
  const id = /job `(j-[0-9a-f]{6})`/.exec(JSON.stringify(card.blocks))?.[1] ?? "";
  await berth.click(card.ts, id);
  await eventually("the stopped card", () => {
    const c = findCard(fake, SEED.incidentChannel, "sleep 60");
    return c && isFinished(c) ? c : undefined;
  });
  await berth.berth.slack.idle();
  const text = await scrape();
  assert.equal(sample(text, "berth_active_streams"), 0);
  assert.equal(sample(text, "berth_jobs", { state: "cancelled" }), 1);
  assert.equal(sample(text, "berth_commands_total", { kind: "job.cancel", outcome: "reply" }), 1);
});

test("every log line about a command carries its request id, and no line carries a token", async () => {
  await berth.berth.slack.idle();
  const lines = berth.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
  const about = lines.filter((l) => ["command", "click", "request done", "job started", "job ended"].includes(String(l.msg)));
  assert.ok(about.length >= 10);
  for (const l of about) assert.match(String(l.requestId), /^[0-9a-f-]{36}$/, `${l.msg} has a request id`);
  // The run's command, its job's start and end and its closing line share one id.
  const start = lines.find((l) => l.msg === "job started" && l.kind === "container.run");
  const ids = lines.filter((l) => l.requestId === start?.requestId).map((l) => l.msg);
  for (const msg of ["command", "job started", "job ended", "request done"]) assert.ok(ids.includes(msg), `${msg} in ${ids}`);
  const all = berth.logs.join("\n");
  for (const secret of [fake.botToken, fake.signingSecret]) assert.equal(all.includes(secret), false);
});

test("Socket Mode serves GET /metrics on the BERTH_METRICS_PORT listener, without a token, and not on its health port", async () => {
  const socket = await startBerth(fake, { socketMode: true, env: { BERTH_METRICS_PORT: "0" } });
  try {
    assert.equal((await fetch(`http://127.0.0.1:${socket.port}/metrics`)).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${socket.port}/metrics`, { headers: bearer })).status, 404);
    const text = await scrape(socket.berth.metricsPort(), {});
    assert.match(text, /^# TYPE berth_commands_total counter$/m);
    // Its own registry: the other berth's commands are not counted here.
    assert.equal(sample(text, "berth_commands_total", { kind: "container.list", outcome: "reply" }), undefined);
  } finally {
    await socket.stop();
  }
});

test("hosts berth made in Azure are in /healthz; one that is unreachable does not fail the probe", async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-metrics-"));
  mkdirSync(join(dir, "data"));
  const store = await openSqliteStore({ dataDir: join(dir, "data") });
  await store.cloudHosts.put({
    name: "az-gone",
    os: "linux",
    size: "Standard_B2s",
    region: "westeurope",
    hyperv: false,
    private: false,
    requester: SEED.operator,
    channelId: SEED.incidentChannel,
    threadTs: null,
    jobId: "j-000001",
    createdAt: Date.now(),
    expiresAt: Date.now() + 3_600_000,
    remindedAt: null,
    status: "ready",
    steps: {},
    removal: {},
    address: "127.0.0.1",
    fqdn: null,
    // Nothing listens on port 9 of loopback: the host is gone.
    dockerUrl: "tcp://127.0.0.1:9",
    bootstrap: null,
    detail: null,
  });
  await store.close();
  const azure = await startBerth(fake, {
    dir,
    env: {
      AZURE_SUBSCRIPTION_ID: "00000000-0000-0000-0000-000000000001",
      BERTH_SECRET_KEY: "metrics-test-secret-key-0123456789abcdef",
      BERTH_METRICS_TOKEN: metricsToken,
      AZURE_LOCATION: "westeurope",
      BERTH_AZURE_ALLOW_CIDR: "198.51.100.7/32",
    },
  });
  try {
    const res = await fetch(`http://127.0.0.1:${azure.port}/healthz?details`, { headers: bearer });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { ok: boolean; engines: Record<string, { reachable: boolean; error?: string }> };
    assert.equal(body.ok, true);
    assert.equal(body.engines.local?.reachable, true);
    assert.equal(body.engines.down?.reachable, false);
    assert.equal(body.engines["az-gone"]?.reachable, false);
    assert.ok(body.engines["az-gone"]?.error);
    const text = await scrape(azure.port);
    assert.ok((sample(text, "berth_engine_errors_total", { host: "az-gone", method: "info" }) ?? 0) >= 1);
  } finally {
    await azure.stop();
  }
});

test("Azure responses are counted by method and status, and timed", async () => {
  const metrics = createMetrics();
  metrics.azureResponse({ method: "PUT", status: 201, ms: 120 });
  metrics.azureResponse({ method: "GET", status: 429, ms: 5 });
  metrics.azureResponse({ method: "GET", status: 200, ms: 30 });
  const text = await metrics.text();
  assert.equal(sample(text, "berth_azure_requests_total", { method: "PUT", status: "201" }), 1);
  assert.equal(sample(text, "berth_azure_requests_total", { method: "GET", status: "429" }), 1);
  assert.equal(sample(text, "berth_azure_request_seconds_count", { method: "GET" }), 2);
  assert.equal(sample(text, "berth_azure_request_seconds_sum", { method: "PUT" }), 0.12);
});

test("the engine wrapper times calls and streams to their first item, and counts failures but not a caller's Stop", async () => {
  const calls: string[] = [];
  const errors: string[] = [];
  const failing = new BerthError("UNAVAILABLE", "Cannot reach Docker on h1. Check that it runs.");
  const inner = {
    name: "h1",
    info: async () => {
      throw failing;
    },
    async *logs() {
      yield { stream: "stdout" as const, text: "a" };
      throw failing;
    },
    async *events(_o: unknown, signal: AbortSignal) {
      await new Promise((_r, reject) => signal.addEventListener("abort", () => reject(new BerthError("CANCELLED", "stopped"))));
    },
    list: async () => [],
  } as unknown as ContainerEngine;
  const engine = instrumentEngine(inner, {
    call: (host, method) => calls.push(`${host}/${method}`),
    error: (host, method, code) => errors.push(`${host}/${method}/${code}`),
  });
  assert.deepEqual(await engine.list({ all: false }, AbortSignal.timeout(1000)), []);
  await assert.rejects(engine.info(AbortSignal.timeout(1000)), failing);
  const seen: string[] = [];
  await assert.rejects(async () => {
    for await (const l of engine.logs({ container: "c", follow: true }, AbortSignal.timeout(1000))) seen.push(l.text);
  }, failing);
  assert.deepEqual(seen, ["a"]);
  const stop = new AbortController();
  const events = (async () => {
    for await (const _ of engine.events({}, stop.signal));
  })();
  stop.abort();
  await assert.rejects(events);
  assert.deepEqual(calls, ["h1/list", "h1/info", "h1/logs", "h1/events"]);
  assert.deepEqual(errors, ["h1/info/UNAVAILABLE", "h1/logs/UNAVAILABLE"]);
});
