import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadConfig } from "../src/config.ts";
import { BerthError } from "../src/core/errors.ts";
import { testHosts, testPolicy } from "./support/berth-harness.ts";
import { slashCommand } from "./support/slack-driver.ts";
import { SlackFake } from "./support/slack-fake.ts";

// The runtime contract, through the real entry point: `node src/main.ts` with only environment variables.

function start(env: Record<string, string>): {
  child: ChildProcess;
  output: Promise<{ code: number | null; stdout: string; stderr: string }>;
} {
  const child = spawn(process.execPath, ["src/main.ts"], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => (stdout += d));
  child.stderr?.on("data", (d) => (stderr += d));
  const output = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on("close", (code) => resolve({ code, stdout, stderr })),
  );
  return { child, output };
}

test("without Slack variables, berth serves the playground and says how to connect a workspace", async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-main-"));
  const { child, output } = start({ PORT: "0", BERTH_DATA_DIR: join(dir, "data") });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let seen = "";
      child.stdout?.on("data", (d) => {
        seen += d;
        const m = /^berth playground on (http:\/\/localhost:\d+) — no Slack credentials set/m.exec(seen);
        if (m?.[1]) resolve(m[1]);
      });
      child.on("close", () => reject(new Error(`berth exited: ${seen}`)));
    });
    const page = await fetch(url.replace("localhost", "127.0.0.1"));
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>berth playground<\/title>/);
  } finally {
    child.kill("SIGTERM");
    const { code, stdout } = await output;
    assert.equal(code, 0);
    assert.match(stdout, /README: 'From zero to berth in your workspace'/);
  }
});

test("half a configuration names the missing variable", async () => {
  const { code, stderr } = await start({ SLACK_BOT_TOKEN: "xoxb-1" }).output;
  assert.equal(code, 1);
  assert.match(stderr, /HTTP mode needs both SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET; SLACK_SIGNING_SECRET is missing/);
});

test("an invalid policy stops berth with the file, line and problem", async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-main-"));
  writeFileSync(
    join(dir, "policy.yaml"),
    "version: 1\nroles:\n  ops: { actions: [container.run] }\nbindings:\n  - role: opps\n    users: [U1]\n",
  );
  const { code, stderr } = await start({
    SLACK_BOT_TOKEN: "xoxb-1",
    SLACK_SIGNING_SECRET: "s",
    BERTH_POLICY: join(dir, "policy.yaml"),
    BERTH_DATA_DIR: dir,
  }).output;
  assert.equal(code, 1);
  assert.match(
    stderr,
    /berth cannot start: Invalid policy .*policy\.yaml:\n {2}line 5 \(bindings\.0\.role\): no role named "opps"; roles: ops/,
  );
});

test("a host whose connection cannot work stops berth at start-up with the reason", async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-main-"));
  writeFileSync(join(dir, "policy.yaml"), "version: 1\nroles: {}\nbindings: []\n");
  const { code, stderr } = await start({
    SLACK_BOT_TOKEN: "xoxb-1",
    SLACK_SIGNING_SECRET: "s",
    BERTH_POLICY: join(dir, "policy.yaml"),
    BERTH_HOSTS: join(dir, "absent.yaml"),
    BERTH_DATA_DIR: dir,
  }).output;
  assert.equal(code, 1);
  assert.match(stderr, /berth cannot start: .*absent\.yaml/);
  const viaEnv = await start({
    SLACK_BOT_TOKEN: "xoxb-1",
    SLACK_SIGNING_SECRET: "s",
    BERTH_POLICY: join(dir, "policy.yaml"),
    BERTH_DATA_DIR: dir,
    DOCKER_HOST: "ssh://deploy@docker.example.invalid",
  }).output;
  assert.equal(viaEnv.code, 1);
  assert.match(viaEnv.stderr, /berth cannot start: Host "local" has an unusable Docker connection .*ssh:\/\/ hosts need `hostKey`/);
});

test("HTTP mode from the environment: /healthz, signed commands on /slack/events, clean shutdown on SIGTERM", async () => {
  const fake = await SlackFake.start();
  const dir = mkdtempSync(join(tmpdir(), "berth-main-"));
  writeFileSync(join(dir, "policy.yaml"), testPolicy);
  writeFileSync(join(dir, "hosts.yaml"), testHosts);
  const { child, output } = start({
    SLACK_BOT_TOKEN: fake.botToken,
    SLACK_SIGNING_SECRET: fake.signingSecret,
    SLACK_API_URL: fake.apiUrl,
    PORT: "0",
    HOST: "127.0.0.1",
    BERTH_COMMAND: "/ops",
    BERTH_POLICY: join(dir, "policy.yaml"),
    BERTH_HOSTS: join(dir, "hosts.yaml"),
    BERTH_DATA_DIR: join(dir, "data"),
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let seen = "";
      child.stdout?.on("data", (d) => {
        seen += d;
        const m = /"msg":"berth started".*"port":(\d+)/.exec(seen);
        if (m) resolve(Number(m[1]));
      });
      child.on("close", () => reject(new Error(`berth exited: ${seen}`)));
    });
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(health.status, 200);
    const res = await slashCommand(fake, { url: `http://127.0.0.1:${port}/slack/events`, command: "/ops", text: "help" });
    assert.equal(res.status, 200);
    await fake.waitFor("response_url", (c) => JSON.stringify(c.args).includes("/ops help COMMAND"), 10_000);
  } finally {
    child.kill("SIGTERM");
    const { code, stdout } = await output;
    await fake.stop();
    assert.equal(code, 0);
    assert.match(stdout, /"msg":"stopping","signal":"SIGTERM"/);
    assert.doesNotMatch(stdout, new RegExp(fake.botToken), "logs never contain the token");
  }
});

test("config: tokens are checked by prefix and Socket Mode wins when an app token is set", () => {
  assert.throws(
    () => loadConfig({ SLACK_BOT_TOKEN: "xoxp-user", SLACK_SIGNING_SECRET: "s" }),
    (e: unknown) => e instanceof BerthError && /a bot token starts with xoxb-/.test(e.message),
  );
  const socket = loadConfig({ SLACK_BOT_TOKEN: "xoxb-1", SLACK_APP_TOKEN: "xapp-1", SLACK_API_URL: "http://127.0.0.1:1/api" });
  assert.equal(socket.mode, "socket");
  assert.equal(socket.slack.apiUrl, "http://127.0.0.1:1/api/");
  assert.equal(loadConfig({}).mode, "none");
  assert.throws(() => loadConfig({ BERTH_COMMAND: "berth" }), /a slash command like \/berth/);
});
