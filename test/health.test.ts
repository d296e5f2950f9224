import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import { bearerMatches, type HealthReport, type OpsAccess, opsHandler } from "../src/health.ts";
import { createMetrics } from "../src/metrics.ts";
import { startBerth } from "./support/berth-harness.ts";
import { SlackFake } from "./support/slack-fake.ts";

// The health and metrics endpoints: what anyone may read, and what needs the token or the separate listener.

const servers: Server[] = [];
after(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
});

const token = "ops-token-0123456789abcdef";
const healthy: HealthReport = {
  ok: true,
  slack: "listening (http)",
  engines: { "db-prod-7": { reachable: false, error: "connect ECONNREFUSED 10.1.2.3:2376" } },
};

async function serve(access: OpsAccess, report: () => Promise<HealthReport> = async () => healthy): Promise<string> {
  const server = createServer(opsHandler({ report, metrics: createMetrics(), access }));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test("the public probe says only ok, to anyone: no host names, versions or errors", async () => {
  for (const access of [{ kind: "none" }, { kind: "token", token }] as const) {
    const base = await serve(access);
    const res = await fetch(`${base}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '{"ok":true}');
  }
  const failing = await serve({ kind: "none" }, async () => ({ ...healthy, ok: false, slack: "failed" }));
  const res = await fetch(`${failing}/healthz`);
  assert.equal(res.status, 503);
  assert.equal(await res.text(), '{"ok":false}');
  const broken = await serve({ kind: "none" }, async () => {
    throw new Error("engine db-prod-7 at 10.1.2.3 exploded");
  });
  const err = await fetch(`${broken}/healthz`);
  assert.equal(err.status, 503);
  assert.equal(await err.text(), '{"ok":false}');
});

test("without a token, the public port serves neither details nor metrics", async () => {
  const base = await serve({ kind: "none" });
  for (const path of ["/healthz?details", "/healthz/details", "/metrics"]) {
    const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 404, path);
    assert.doesNotMatch(await res.text(), /db-prod|berth_/);
  }
});

test("with a token, details and metrics need Authorization: Bearer <token>", async () => {
  const base = await serve({ kind: "token", token });
  for (const path of ["/healthz?details", "/healthz/details", "/metrics"]) {
    for (const authorization of [undefined, "Bearer wrong-token", `Basic ${token}`, `Bearer ${token}x`, `Bearer ${token.slice(0, -1)}`]) {
      const res = await fetch(`${base}${path}`, { headers: authorization ? { authorization } : {} });
      assert.equal(res.status, 401, `${path} with ${authorization}`);
      assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer realm="berth"$/);
      assert.doesNotMatch(await res.text(), /db-prod|berth_/);
    }
  }
  const details = await fetch(`${base}/healthz?details`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(details.status, 200);
  assert.deepEqual(await details.json(), healthy);
  const metrics = await fetch(`${base}/metrics`, { headers: { authorization: `bearer ${token}` } });
  assert.equal(metrics.status, 200);
  assert.match(await metrics.text(), /^# TYPE berth_commands_total counter$/m);
});

test("the bearer comparison takes any header shape without throwing", () => {
  assert.equal(bearerMatches(`Bearer ${token}`, token), true);
  for (const h of [undefined, "", "Bearer", "Bearer ", `Bearer ${token} extra`, `Token ${token}`, "Bearer é"]) {
    assert.equal(bearerMatches(h, token), false, String(h));
  }
});

test("BERTH_METRICS_PORT: a separate loopback listener serves details and metrics without a token; the public port does not", async () => {
  const fake = await SlackFake.start();
  const berth = await startBerth(fake, { env: { BERTH_METRICS_PORT: "0" } });
  try {
    const ops = berth.berth.metricsPort();
    assert.ok(ops && ops !== berth.port);
    assert.equal((await fetch(`http://127.0.0.1:${berth.port}/metrics`)).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${berth.port}/healthz?details`)).status, 404);
    assert.deepEqual(await (await fetch(`http://127.0.0.1:${berth.port}/healthz`)).json(), { ok: true });
    const details = await fetch(`http://127.0.0.1:${ops}/healthz?details`);
    assert.equal(details.status, 200);
    assert.equal(((await details.json()) as { slack: string }).slack, "listening (http)");
    const metrics = await fetch(`http://127.0.0.1:${ops}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /berth_commands_total/);
    assert.equal((await fetch(`http://127.0.0.1:${ops}/slack/events`, { method: "POST" })).status, 404, "only the ops paths");
  } finally {
    await berth.stop();
    await fake.stop();
  }
});

test("HTTP mode with BERTH_METRICS_TOKEN: Bolt's routes serve /healthz/details and /metrics to the token only", async () => {
  const fake = await SlackFake.start();
  const berth = await startBerth(fake, { env: { BERTH_METRICS_TOKEN: token } });
  try {
    const base = `http://127.0.0.1:${berth.port}`;
    const bearer = { authorization: `Bearer ${token}` };
    for (const path of ["/healthz/details", "/healthz?details", "/metrics"]) {
      assert.equal((await fetch(`${base}${path}`)).status, 401, path);
      assert.equal((await fetch(`${base}${path}`, { headers: bearer })).status, 200, path);
    }
    assert.equal(berth.berth.metricsPort(), undefined, "no separate listener unless asked for");
  } finally {
    await berth.stop();
    await fake.stop();
  }
});

test("/readyz: ready while Slack is listening and the database answers", async () => {
  const fake = await SlackFake.start();
  const berth = await startBerth(fake);
  try {
    const res = await fetch(`http://127.0.0.1:${berth.port}/readyz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ready: true });
  } finally {
    await berth.stop();
    await fake.stop();
  }
});

test("/readyz answers from the readiness check, not from health: a replica without its database is not ready yet healthy", async () => {
  const server = createServer(opsHandler({ report: async () => healthy, ready: async () => false, access: { kind: "none" } }));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  assert.equal((await fetch(`${base}/readyz`)).status, 503);
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  const failing = createServer(
    opsHandler({ report: async () => healthy, ready: () => Promise.reject(new Error("db down")), access: { kind: "none" } }),
  );
  servers.push(failing);
  await new Promise<void>((r) => failing.listen(0, "127.0.0.1", r));
  assert.equal((await fetch(`http://127.0.0.1:${(failing.address() as AddressInfo).port}/readyz`)).status, 503);
});
