import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createBerth, slackSettings } from "../../src/berth.ts";
import { loadConfig } from "../../src/config.ts";
import { buildPorts, type PortOptions } from "../../src/ports.ts";
import { blockAction, slashCommand } from "./slack-driver.ts";
import { type FakeMessage, SEED, type SlackFake } from "./slack-fake.ts";

export const testImage = "berth-test/busybox:1";
const run = promisify(execFile);

export const testPolicy = `version: 1
roles:
  viewer: { actions: [container.list, container.logs, container.inspect] }
  operator: { inherits: [viewer], actions: [container.run, container.stop, container.start, container.restart, container.remove, container.exec] }
  admin: { actions: ["*"] }
bindings:
  - { role: operator, users: [${SEED.operator}], channels: [${SEED.incidentChannel}] }
  - { role: admin, users: [${SEED.approver}] }
  - { role: viewer, usergroups: [S0VIEWERS] }
images: ["berth-test/**"]
`;

export const testHosts = `hosts:
  - { name: local, url: "unix:///var/run/docker.sock" }
  - { name: down, url: "unix:///tmp/berth-test-no-such-engine.sock", timeout: 2000 }
default: local
`;

/**
 * The environment of a berth process (`node src/main.ts`) pointed at the Slack fake, with the policy and hosts files
 * of `dir` and the data directory `dataDir`: the runtime contract as the process tests and benchmarks use it.
 */
export function processEnv(
  fake: Pick<SlackFake, "botToken" | "appToken" | "signingSecret" | "apiUrl">,
  dir: string,
  dataDir: string,
  options: { socketMode?: boolean } = {},
): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "",
    SLACK_BOT_TOKEN: fake.botToken,
    ...(options.socketMode ? { SLACK_APP_TOKEN: fake.appToken } : { SLACK_SIGNING_SECRET: fake.signingSecret }),
    SLACK_API_URL: fake.apiUrl,
    PORT: "0",
    HOST: "127.0.0.1",
    BERTH_POLICY: join(dir, "policy.yaml"),
    BERTH_HOSTS: join(dir, "hosts.yaml"),
    BERTH_DATA_DIR: dataDir,
  };
}

/** Starts a real berth (Bolt, WebClient, Docker adapter, store) against the Slack fake, HTTP or Socket Mode. */
export async function startBerth(
  fake: SlackFake,
  options: {
    socketMode?: boolean;
    threadMaxMessages?: number;
    policy?: string;
    hosts?: string;
    env?: Record<string, string>;
    clock?: () => number;
    reloadIntervalMs?: number;
    /** How long a changed policy file must stay the same before it is applied (see PortOptions). */
    policySettleMs?: number;
    /** Azure client tuning (see PortOptions.azure). */
    azure?: PortOptions["azure"];
    /** Reuse this directory (its store): a restarted berth. */
    dir?: string;
  } = {},
) {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "berth-e2e-"));
  writeFileSync(join(dir, "policy.yaml"), options.policy ?? testPolicy);
  writeFileSync(join(dir, "hosts.yaml"), options.hosts ?? testHosts);
  const config = loadConfig({
    SLACK_BOT_TOKEN: fake.botToken,
    ...(options.socketMode ? { SLACK_APP_TOKEN: fake.appToken } : { SLACK_SIGNING_SECRET: fake.signingSecret }),
    SLACK_API_URL: fake.apiUrl,
    PORT: "0",
    HOST: "127.0.0.1",
    BERTH_POLICY: join(dir, "policy.yaml"),
    BERTH_HOSTS: join(dir, "hosts.yaml"),
    BERTH_DATA_DIR: join(dir, "data"),
    BERTH_THREAD_MAX_MESSAGES: String(options.threadMaxMessages ?? 100),
    LOG_LEVEL: "info",
    ...options.env,
  });
  const logs: string[] = [];
  const ports = await buildPorts(config, {
    write: (l) => logs.push(l),
    ...(options.clock && { clock: options.clock }),
    ...(options.reloadIntervalMs && { reloadIntervalMs: options.reloadIntervalMs }),
    ...(options.policySettleMs && { policySettleMs: options.policySettleMs }),
    ...(options.azure && { azure: options.azure }),
  });
  const berth = createBerth(ports, { ...slackSettings(config), retryConfig: { retries: 0 } });
  const port = await berth.start();
  const url = `http://127.0.0.1:${port}/slack/events`;
  return {
    berth,
    port,
    url,
    logs,
    dir,
    /** A signed slash command from `user` in `channel`, as Slack would send it. */
    command: (text: string, user: string = SEED.operator, channel: string = SEED.incidentChannel) =>
      slashCommand(fake, { url, command: "/berth", text, user, channel }),
    policyPath: join(dir, "policy.yaml"),
    click: (
      messageTs: string,
      value: string,
      user: string = SEED.operator,
      channel: string = SEED.incidentChannel,
      actionId = "berth_stop",
    ) => blockAction(fake, { url, messageTs, actionId, value, user, channel }),
    /** Taps Run on the newest preview card shown to `user` (the confirmation of a dangerous action). */
    async confirm(summary: string, user: string = SEED.operator, channel: string = SEED.incidentChannel) {
      const card = await eventually(`a preview card for "${summary}" with a Run button`, async () => {
        const cards = fake
          .responses()
          .filter(
            (r) => r.user === user && r.ts && JSON.stringify(r.body).includes("berth_approve") && JSON.stringify(r.body).includes(summary),
          );
        for (const r of cards) if ((await berth.store.pending.get(idOf(r.body) ?? ""))?.state === "pending") return r;
        return undefined;
      });
      const id = idOf(card.body) ?? "";
      await blockAction(fake, { url, messageTs: card.ts as string, actionId: "berth_approve", value: id, user, channel });
      return id;
    },
    stop: () => berth.stop(),
  };
}

/** Polls until `check` returns a value (not undefined), or fails with `what` after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const blockText = (m: FakeMessage) => JSON.stringify(m.blocks ?? []);
export const isFinished = (m: FakeMessage) =>
  !blockText(m).includes("berth_stop") && /:(white_check_mark|x|black_square_for_stop):/.test(blockText(m));

/** The newest job card (a top-level bot message with a job id) in a channel whose summary contains `summary`. */
export function findCard(fake: SlackFake, channel: string, summary: string): FakeMessage | undefined {
  return fake
    .messages(channel)
    .filter((m) => blockText(m).includes(summary) && blockText(m).includes("job `j-"))
    .at(-1);
}

export const jobIdOf = (m: FakeMessage) => /job `(j-[0-9a-f]{6})`/.exec(blockText(m))?.[1];
export const cardText = blockText;

/** Every output line berth put in a thread, in order: code blocks unwrapped and Slack's entities decoded. */
export function threadLines(fake: SlackFake, channel: string, ts: string): string[] {
  return fake
    .thread(channel, ts)
    .filter((m) => m.text.startsWith("```"))
    .flatMap((m) =>
      m.text
        .replace(/^```\n/, "")
        .replace(/\n```$/, "")
        .split("\n")
        .map((l) => l.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&")),
    );
}

/** Containers (running or not) carrying a label, via the Docker CLI (tests never import dockerode). */
export async function containersWithLabel(label: string): Promise<string[]> {
  const { stdout } = await run("docker", ["ps", "-aq", "--filter", `label=${label}`]);
  return stdout.split("\n").filter(Boolean);
}

/**
 * Removes the containers this berth instance started (their job ids are in its store). Test files run in parallel
 * and share one engine, so cleaning up by a shared label would pull containers from under another file's tests.
 */
export async function removeOwnContainers(store: { jobs: { get(id: string): Promise<unknown> } }): Promise<void> {
  const { stdout } = await run("docker", [
    "ps",
    "-a",
    "--filter",
    "label=io.berth.managed=true",
    "--format",
    '{{.ID}} {{.Label "io.berth.job"}}',
  ]);
  const ids: string[] = [];
  for (const [id, job] of stdout.split("\n").map((l) => l.split(" "))) {
    if (id && job && (await store.jobs.get(job)) !== undefined) ids.push(id);
  }
  if (ids.length) await run("docker", ["rm", "-f", ...ids]);
}

export async function removeContainers(label: string): Promise<void> {
  const ids = await containersWithLabel(label);
  if (ids.length) await run("docker", ["rm", "-f", ...ids]);
}

/** The command lines of every berth container on the local engine. */
export async function containerCommands(): Promise<string[]> {
  const { stdout } = await run("docker", ["ps", "-a", "--no-trunc", "--format", "{{.Command}}", "--filter", "label=io.berth.managed=true"]);
  return stdout.split("\n").filter(Boolean);
}

const idOf = (body: unknown) => /request `(r-[0-9a-f]{6})`/.exec(JSON.stringify(body))?.[1];
