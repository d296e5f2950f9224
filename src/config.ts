import { z } from "zod";
import { BerthError } from "./errors.ts";

/** The runtime contract (product.md §6). Only main.ts hands the process environment to this. */
const Env = z.object({
  SLACK_BOT_TOKEN: z.string().startsWith("xoxb-", "a bot token starts with xoxb-").optional(),
  SLACK_SIGNING_SECRET: z.string().min(1).optional(),
  SLACK_APP_TOKEN: z.string().startsWith("xapp-", "an app-level token starts with xapp-").optional(),
  SLACK_API_URL: z.url().default("https://slack.com/api/"),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default("0.0.0.0"),
  BERTH_COMMAND: z
    .string()
    .regex(/^\/[a-z0-9_-]{1,31}$/, "a slash command like /berth")
    .default("/berth"),
  BERTH_POLICY: z.string().default("manifests/policy.yaml"),
  BERTH_HOSTS: z.string().default("manifests/hosts.yaml"),
  BERTH_DATA_DIR: z.string().default("./data"),
  BERTH_THREAD_MAX_MESSAGES: z.coerce.number().int().min(2).max(1000).default(100),
  DOCKER_HOST: z.string().optional(),
  DOCKER_TLS_VERIFY: z.string().optional(),
  DOCKER_CERT_PATH: z.string().optional(),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  SSH_AUTH_SOCK: z.string().optional(),
});

export type Config = Readonly<{
  mode: "http" | "socket" | "none";
  slack: { botToken: string; signingSecret?: string | undefined; appToken?: string | undefined; apiUrl: string };
  port: number;
  host: string;
  command: string;
  policyPath: string;
  hostsPath: string;
  /** true when BERTH_HOSTS was set: then the file must exist. */
  hostsExplicit: boolean;
  dataDir: string;
  threadMaxMessages: number;
  docker: { host?: string | undefined; tlsVerify: boolean; certPath?: string | undefined };
  logLevel: "debug" | "info" | "warn" | "error";
  /** For ssh:// hosts. */
  sshAuthSock?: string | undefined;
  /** The environment as given, for manifest values that name a variable (`env:NAME` TLS material). */
  env: Readonly<Record<string, string | undefined>>;
}>;

export const slackSetupHelp = `berth needs Slack credentials to connect to Slack. Set either:
  Socket Mode (no public URL needed):  SLACK_APP_TOKEN=xapp-…  SLACK_BOT_TOKEN=xoxb-…
  HTTP mode (Slack posts to POST /slack/events on PORT):  SLACK_BOT_TOKEN=xoxb-…  SLACK_SIGNING_SECRET=…
Create the app from manifests/slack-app.yaml (README: "Create the Slack app"), install it, and copy the tokens.
Optional: PORT (3000), BERTH_COMMAND (/berth), BERTH_POLICY, BERTH_HOSTS, BERTH_DATA_DIR, SLACK_API_URL, DOCKER_HOST.`;

export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = Env.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== "")));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("\n  ");
    throw new BerthError("CONFIG", `Invalid environment:\n  ${problems}`);
  }
  const e = parsed.data;
  let mode: Config["mode"] = "none";
  if (e.SLACK_APP_TOKEN) {
    if (!e.SLACK_BOT_TOKEN) throw new BerthError("CONFIG", "SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN is not: Socket Mode needs both.");
    mode = "socket";
  } else if (e.SLACK_BOT_TOKEN || e.SLACK_SIGNING_SECRET) {
    if (!e.SLACK_BOT_TOKEN || !e.SLACK_SIGNING_SECRET) {
      throw new BerthError(
        "CONFIG",
        `HTTP mode needs both SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET; ${e.SLACK_BOT_TOKEN ? "SLACK_SIGNING_SECRET" : "SLACK_BOT_TOKEN"} is missing. (For Socket Mode set SLACK_APP_TOKEN instead of the signing secret.)`,
      );
    }
    mode = "http";
  }
  return Object.freeze({
    mode,
    slack: {
      botToken: e.SLACK_BOT_TOKEN ?? "",
      signingSecret: e.SLACK_SIGNING_SECRET,
      appToken: e.SLACK_APP_TOKEN,
      apiUrl: e.SLACK_API_URL.endsWith("/") ? e.SLACK_API_URL : `${e.SLACK_API_URL}/`,
    },
    port: e.PORT,
    host: e.HOST,
    command: e.BERTH_COMMAND,
    policyPath: e.BERTH_POLICY,
    hostsPath: e.BERTH_HOSTS,
    hostsExplicit: env.BERTH_HOSTS !== undefined && env.BERTH_HOSTS !== "",
    dataDir: e.BERTH_DATA_DIR,
    threadMaxMessages: e.BERTH_THREAD_MAX_MESSAGES,
    docker: { host: e.DOCKER_HOST, tlsVerify: e.DOCKER_TLS_VERIFY === "1" || e.DOCKER_TLS_VERIFY === "true", certPath: e.DOCKER_CERT_PATH },
    logLevel: e.LOG_LEVEL,
    sshAuthSock: e.SSH_AUTH_SOCK,
    env: Object.freeze({ ...env }),
  });
}
