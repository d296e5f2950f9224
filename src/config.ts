import { readFileSync } from "node:fs";
import { z } from "zod";
import { parseDuration } from "./core/duration.ts";
import { BerthError } from "./core/errors.ts";
import { type AuditKeyring, auditKeysFromEnv } from "./store/audit-key.ts";

const cidr = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, "an IPv4 CIDR such as 203.0.113.7/32");

/** The runtime contract (docs/deploy.md, "Runtime contract"). Only main.ts hands the process environment to this. */
const Env = z.object({
  SLACK_BOT_TOKEN: z.string().startsWith("xoxb-", "a bot token starts with xoxb-").optional(),
  SLACK_SIGNING_SECRET: z.string().min(1).optional(),
  SLACK_APP_TOKEN: z.string().startsWith("xapp-", "an app-level token starts with xapp-").optional(),
  SLACK_API_URL: z.url().default("https://slack.com/api/"),
  /** The workspace berth serves; requests from any other are refused. Unset: the bot token's own (auth.test). */
  BERTH_SLACK_TEAM_ID: z
    .string()
    .regex(/^T[A-Z0-9]+$/, "a Slack workspace (team) ID like T0123ABCD")
    .optional(),
  /** On Enterprise Grid: the organization requests must also come from. */
  BERTH_SLACK_ENTERPRISE_ID: z
    .string()
    .regex(/^E[A-Z0-9]+$/, "a Slack Enterprise Grid organization ID like E0123ABCD")
    .optional(),
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
  /** The audit chain's HMAC keys: `id:secret[,id:secret…]` (first signs) or `file:PATH` of a file holding them. */
  BERTH_AUDIT_KEY: z.string().optional(),
  /** Where anchors and policy reloads are posted: a Slack channel ID the bot is a member of. */
  BERTH_AUDIT_CHANNEL: z
    .string()
    .regex(/^[CG][A-Z0-9]+$/, "a Slack channel ID such as C0123ABCD")
    .optional(),
  BERTH_AUDIT_ANCHOR_FILE: z.string().optional(),
  BERTH_AUDIT_ANCHOR_INTERVAL: z
    .string()
    .refine((s) => (parseDuration(s) ?? 0) >= 10, "a duration of at least 10s, such as 15m or 1h")
    .default("15m"),
  /** How long a stream retries a lost engine connection before it ends (engines that blink). */
  BERTH_ENGINE_RECONNECT: z
    .string()
    .refine((s) => parseDuration(s) !== undefined, "a duration such as 2m or 30s")
    .default("2m"),
  /** How long SIGTERM waits for jobs to post what they read and record their cursors before berth exits. */
  BERTH_DRAIN_TIMEOUT: z
    .string()
    .refine((s) => parseDuration(s) !== undefined, "a duration such as 10s")
    .default("10s"),
  /** PostgreSQL shared by every replica; without it berth keeps its state in BERTH_DATA_DIR (one berth at a time). */
  BERTH_DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "a PostgreSQL URL, postgres://USER:PASSWORD@HOST:5432/DB")
    .optional()
    .or(z.literal("").transform(() => undefined)),
  /** How long a replica's jobs stay its own without a heartbeat before another replica takes them over. */
  BERTH_LEASE_TTL: z
    .string()
    .refine((s) => (parseDuration(s) ?? 0) >= 2, "a duration of at least 2s, such as 10s")
    .default("10s"),
  DOCKER_HOST: z.string().optional(),
  DOCKER_TLS_VERIFY: z.string().optional(),
  DOCKER_CERT_PATH: z.string().optional(),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  SSH_AUTH_SOCK: z.string().optional(),
  AZURE_SUBSCRIPTION_ID: z
    .string()
    .regex(/^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$/, "a subscription ID (a GUID)")
    .optional(),
  AZURE_LOCATION: z
    .string()
    .regex(/^[a-z0-9]+$/, "an Azure region name such as westeurope")
    .optional(),
  AZURE_RESOURCE_MANAGER_URL: z.url({ protocol: /^https$/, error: "an https:// URL" }).optional(),
  /** A PEM file of an extra CA to trust for the Resource Manager endpoint (Azure Stack Hub, a private cloud). */
  AZURE_RESOURCE_MANAGER_CA: z.string().optional(),
  BERTH_AZURE_RESOURCE_GROUP: z
    .string()
    .regex(/^[-\w._()]{1,90}$/, "a resource group name")
    .default("berth-hosts"),
  BERTH_AZURE_ALLOW_CIDR: cidr.optional(),
  BERTH_AZURE_ADMIN_CIDR: cidr.optional(),
  BERTH_AZURE_DOCKER_PORT: z.coerce.number().int().min(1).max(65535).default(2376),
  /** Bearer token for /healthz details and /metrics on the public port; without it they are not served there. */
  BERTH_METRICS_TOKEN: z.string().min(16, "at least 16 characters (e.g. `openssl rand -hex 32`)").optional(),
  /** A separate listener for health details and /metrics, without a token (0: any free port). */
  BERTH_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  BERTH_METRICS_HOST: z.string().default("127.0.0.1"),
  /** Encrypts berth's secrets at rest (its CA key); the value, or file:PATH to read it from. */
  BERTH_SECRET_KEY: z.string().optional(),
  BERTH_AZURE_SSH_KEY: z
    .string()
    .regex(/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+/, "an OpenSSH public key line")
    .optional(),
});

export type Config = Readonly<{
  mode: "http" | "socket" | "none";
  slack: {
    botToken: string;
    signingSecret?: string | undefined;
    appToken?: string | undefined;
    apiUrl: string;
    /** The workspace (and organization) berth serves; teamId unset: learned from auth.test at start. */
    teamId?: string | undefined;
    enterpriseId?: string | undefined;
  };
  port: number;
  host: string;
  command: string;
  policyPath: string;
  hostsPath: string;
  /** true when BERTH_HOSTS was set: then the file must exist. */
  hostsExplicit: boolean;
  dataDir: string;
  threadMaxMessages: number;
  /** How long a lost engine connection is retried during a stream (ms). */
  engineReconnectMs: number;
  /** How long a shutdown waits for jobs to flush and record their cursors (ms). */
  drainMs: number;
  /** The shared PostgreSQL store (several replicas); undefined: the embedded SQLite store in dataDir. */
  databaseUrl?: string | undefined;
  /** How long a replica's job lease lasts without a heartbeat (ms). */
  leaseTtlMs: number;
  audit: {
    /** undefined: BERTH_AUDIT_KEY is not set, and berth keeps a key file in the data dir (see audit-key.ts). */
    keys?: AuditKeyring | undefined;
    channel?: string | undefined;
    anchorFile?: string | undefined;
    anchorIntervalMs: number;
  };
  docker: { host?: string | undefined; tlsVerify: boolean; certPath?: string | undefined };
  logLevel: "debug" | "info" | "warn" | "error";
  /** For ssh:// hosts. */
  sshAuthSock?: string | undefined;
  /** Azure provisioning (`host create`); undefined unless AZURE_SUBSCRIPTION_ID is set. */
  azure?:
    | {
        subscriptionId: string;
        location: string;
        endpoint?: string | undefined;
        ca?: string | undefined;
        resourceGroup: string;
        allowCidr?: string | undefined;
        adminCidr?: string | undefined;
        dockerPort: number;
        sshPublicKey?: string | undefined;
      }
    | undefined;
  /** Health details and metrics: the public port's bearer token, and the separate listener's port and address. */
  metrics: { token?: string | undefined; port?: number | undefined; host: string };
  /** BERTH_SECRET_KEY's value (read from its file when given as file:PATH); required with Azure. */
  secretKey?: string | undefined;
  /** The environment as given, for manifest values that name a variable (`env:NAME` TLS material). */
  env: Readonly<Record<string, string | undefined>>;
}>;

export const slackSetupHelp = `berth needs Slack credentials to connect to Slack. Set either:
  Socket Mode (no public URL needed):  SLACK_APP_TOKEN=xapp-…  SLACK_BOT_TOKEN=xoxb-…
  HTTP mode (Slack posts to POST /slack/events on PORT):  SLACK_BOT_TOKEN=xoxb-…  SLACK_SIGNING_SECRET=…
Create the app from manifests/slack-app.yaml (docs/deploy.md: "Create the Slack app"), install it, and copy the tokens.
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
      teamId: e.BERTH_SLACK_TEAM_ID,
      enterpriseId: e.BERTH_SLACK_ENTERPRISE_ID,
    },
    port: e.PORT,
    host: e.HOST,
    command: e.BERTH_COMMAND,
    policyPath: e.BERTH_POLICY,
    hostsPath: e.BERTH_HOSTS,
    hostsExplicit: env.BERTH_HOSTS !== undefined && env.BERTH_HOSTS !== "",
    dataDir: e.BERTH_DATA_DIR,
    threadMaxMessages: e.BERTH_THREAD_MAX_MESSAGES,
    engineReconnectMs: (parseDuration(e.BERTH_ENGINE_RECONNECT) ?? 120) * 1000,
    drainMs: (parseDuration(e.BERTH_DRAIN_TIMEOUT) ?? 10) * 1000,
    databaseUrl: e.BERTH_DATABASE_URL,
    leaseTtlMs: (parseDuration(e.BERTH_LEASE_TTL) ?? 10) * 1000,
    audit: {
      keys: auditKeysFromEnv(e.BERTH_AUDIT_KEY),
      channel: e.BERTH_AUDIT_CHANNEL,
      anchorFile: e.BERTH_AUDIT_ANCHOR_FILE,
      anchorIntervalMs: (parseDuration(e.BERTH_AUDIT_ANCHOR_INTERVAL) ?? 900) * 1000,
    },
    docker: { host: e.DOCKER_HOST, tlsVerify: e.DOCKER_TLS_VERIFY === "1" || e.DOCKER_TLS_VERIFY === "true", certPath: e.DOCKER_CERT_PATH },
    logLevel: e.LOG_LEVEL,
    sshAuthSock: e.SSH_AUTH_SOCK,
    azure: azureConfig(e),
    metrics: { token: e.BERTH_METRICS_TOKEN, port: e.BERTH_METRICS_PORT, host: e.BERTH_METRICS_HOST },
    secretKey: secretKey(e),
    env: Object.freeze({ ...env }),
  });
}

function secretKey(e: z.output<typeof Env>): string | undefined {
  const value = e.BERTH_SECRET_KEY;
  if (!value?.startsWith("file:")) return value;
  const path = value.slice("file:".length);
  try {
    return readFileSync(path, "utf8").trim();
  } catch (cause) {
    throw new BerthError("CONFIG", `Cannot read BERTH_SECRET_KEY's file (${path}): ${(cause as Error).message}`, { cause });
  }
}

function azureConfig(e: z.output<typeof Env>): Config["azure"] {
  if (!e.AZURE_SUBSCRIPTION_ID) return undefined;
  if (!e.BERTH_SECRET_KEY) {
    // berth makes a CA that every host it creates trusts; its private key is kept only encrypted (docs/security.md).
    throw new BerthError(
      "CONFIG",
      "AZURE_SUBSCRIPTION_ID is set but BERTH_SECRET_KEY is not: berth keeps the private key of the CA its Azure hosts trust, and only encrypted. Set BERTH_SECRET_KEY to at least 32 random characters (`openssl rand -base64 32`), or to file:PATH of a file holding them, kept outside BERTH_DATA_DIR.",
    );
  }
  if (!e.AZURE_LOCATION) {
    throw new BerthError(
      "CONFIG",
      "AZURE_SUBSCRIPTION_ID is set but AZURE_LOCATION is not: set the region hosts are made in (e.g. westeurope).",
    );
  }
  let ca: string | undefined;
  if (e.AZURE_RESOURCE_MANAGER_CA) {
    try {
      ca = readFileSync(e.AZURE_RESOURCE_MANAGER_CA, "utf8");
    } catch (cause) {
      throw new BerthError(
        "CONFIG",
        `Cannot read AZURE_RESOURCE_MANAGER_CA (${e.AZURE_RESOURCE_MANAGER_CA}): ${(cause as Error).message}`,
        { cause },
      );
    }
  }
  return {
    subscriptionId: e.AZURE_SUBSCRIPTION_ID,
    location: e.AZURE_LOCATION,
    endpoint: e.AZURE_RESOURCE_MANAGER_URL,
    ca,
    resourceGroup: e.BERTH_AZURE_RESOURCE_GROUP,
    allowCidr: e.BERTH_AZURE_ALLOW_CIDR,
    adminCidr: e.BERTH_AZURE_ADMIN_CIDR,
    dockerPort: e.BERTH_AZURE_DOCKER_PORT,
    sshPublicKey: e.BERTH_AZURE_SSH_KEY,
  };
}
