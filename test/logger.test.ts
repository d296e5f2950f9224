import assert from "node:assert/strict";
import { test } from "node:test";
import type { HostPlan } from "../src/cloud/ports.ts";
import { loadConfig } from "../src/config.ts";
import { BerthError } from "../src/core/errors.ts";
import { createLogger } from "../src/logger.ts";

const capture = (level: Parameters<typeof createLogger>[0] = "info") => {
  const lines: string[] = [];
  const log = createLogger(level, (l) => lines.push(l));
  return { log, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
};

test("one JSON object per line: time, level, msg = the event, and the fields beside them", () => {
  const { log, lines, parsed } = capture();
  log.info("berth started", { mode: "http", port: 3000 });
  assert.equal(lines.length, 1);
  assert.ok(lines[0]?.endsWith("}\n"));
  assert.match(lines[0] ?? "", /^\{"level":"info","time":"[^"]+","msg":"berth started","mode":"http"/, "the event before its fields");
  const [line] = parsed();
  assert.equal(line?.msg, "berth started");
  assert.equal(line?.level, "info");
  assert.equal(line?.mode, "http");
  assert.equal(line?.port, 3000);
  assert.ok(!Number.isNaN(Date.parse(String(line?.time))));
  assert.equal(line?.pid, undefined, "no pid/hostname noise");
});

test("lines below the level are not written", () => {
  const { log, parsed } = capture("warn");
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  assert.deepEqual(
    parsed().map((l) => [l.level, l.msg]),
    [
      ["warn", "w"],
      ["error", "e"],
    ],
  );
});

test("errors are written with name, message, code, stack and cause, under any field name", () => {
  const { log, parsed } = capture();
  const cause = new Error("connect ECONNREFUSED /var/run/docker.sock");
  log.error("request failed", { requestId: "r1", err: new BerthError("UNAVAILABLE", "Cannot reach Docker.", { cause }) });
  log.info("card update failed", { failure: new TypeError("boom") });
  const [first, second] = parsed() as [Record<string, Record<string, unknown>>, Record<string, Record<string, unknown>>];
  assert.equal(first.err?.name, "BerthError");
  assert.equal(first.err?.message, "Cannot reach Docker.");
  assert.equal(first.err?.code, "UNAVAILABLE");
  assert.match(String(first.err?.stack), /^BerthError: Cannot reach Docker\./);
  assert.equal((first.err?.cause as Record<string, unknown> | undefined)?.message, cause.message);
  assert.equal(second.failure?.name, "TypeError");
  assert.equal(second.failure?.message, "boom");
});

test("a whole Slack config and an Azure host plan can be logged: no token, secret, password or key comes out", () => {
  const config = loadConfig({
    SLACK_BOT_TOKEN: "xoxb-1111-2222-botsecretvalue",
    SLACK_APP_TOKEN: "xapp-1-A111-333-appsecretvalue",
    SLACK_SIGNING_SECRET: "signingsecretvalue0123456789",
    AZURE_SUBSCRIPTION_ID: "00000000-0000-0000-0000-000000000001",
    AZURE_LOCATION: "westeurope",
    BERTH_AZURE_ALLOW_CIDR: "198.51.100.7/32",
    BERTH_SECRET_KEY: "secretkeyvalue-0123456789abcdefghij",
    BERTH_METRICS_TOKEN: "metricstokenvalue-0123",
  });
  const plan: HostPlan = {
    name: "build-1",
    os: "windows",
    size: "Standard_D4s_v5",
    region: "westeurope",
    hyperv: true,
    private: false,
    tags: { "created-by": "berth" },
    dockerPort: 2376,
    allowCidr: "198.51.100.7/32",
    adminUsername: "berth",
    adminPassword: "Adm1nPasswordValue!",
    customData: "-----BEGIN PRIVATE KEY-----customdatavalue",
    setupCommand: "powershell -File setup.ps1",
    network: { vnet: "berth-vnet", addressPrefix: "10.77.0.0/16", subnet: "berth-hosts", subnetPrefix: "10.77.0.0/20" },
  };
  const tls = { ca: "CA", cert: "CERT", key: "-----BEGIN PRIVATE KEY-----tlskeyvalue" };
  const { log, lines } = capture();
  log.info("config", { config });
  log.info("slack", config.slack as unknown as Record<string, unknown>);
  log.info("plan", { plan });
  log.info("host", { connection: { name: "h", url: "tcp://h:2376", tls } });
  log.info("request", { headers: { authorization: "Bearer eyJhbGciOiJSUzI1NiJ9.tokenvalue" }, token: "xoxp-tokenvalue" });
  const out = lines.join("");
  for (const secret of [
    "botsecretvalue",
    "appsecretvalue",
    "signingsecretvalue",
    "Adm1nPasswordValue",
    "customdatavalue",
    "tlskeyvalue",
    "tokenvalue",
    "secretkeyvalue",
    "metricstokenvalue",
  ]) {
    assert.equal(out.includes(secret), false, `${secret} was logged`);
  }
  assert.match(out, /"botToken":"\[redacted\]"/);
  assert.match(out, /"name":"build-1"/, "the rest of the plan is still there");
});
