import { readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import type { DockerConnection } from "../engines/ports.ts";
import { BerthError } from "./errors.ts";
import { globMatch } from "./glob.ts";
import { code, join as joinParts, type Message, msg } from "./message.ts";
import { RegistriesSchema, type RegistryLogin, resolveRegistries } from "./registries.ts";
import { loadYamlFile } from "./yaml-file.ts";

/** A PEM source: a file path, or `env:NAME` for PEM text in an environment variable (as secret stores inject it). */
const pemSource = z.string().min(1, "a file path or env:VARIABLE");
const channelRef = z.string().regex(/^[CG][A-Z0-9]{2,}$/, "a channel ID like C0123ABCD (channel details → bottom of the About tab)");

const HostEntry = z
  .object({
    name: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/, "host names are letters, digits, _ . -"),
    url: z.string().regex(/^(unix|tcp|ssh):\/\//, "unix:///path, tcp://host:port or ssh://user@host"),
    tls: z.object({ ca: pemSource, cert: pemSource, key: pemSource }).strict().optional(),
    timeout: z.number().int().positive().default(15_000),
    /** Windows hosts: the isolation `run` uses when none is asked for (else the engine's own default). */
    isolation: z.enum(["process", "hyperv"]).optional(),
    /** ssh:// hosts: the host's public key line or SHA256 fingerprint; berth refuses any other key. */
    hostKey: z
      .string()
      .regex(/^(SHA256:[A-Za-z0-9+/]{43}|(ssh|ecdsa)-[a-z0-9-]+ [A-Za-z0-9+/=]+)$/, "an SSH public key line or SHA256:… fingerprint")
      .optional(),
    /** Where crash/OOM/unhealthy notifications for this host go, instead of the channel a container was started from. */
    notify: channelRef.optional(),
  })
  .strict()
  .refine((h) => !h.tls || h.url.startsWith("tcp://"), { message: "tls applies to tcp:// hosts only", path: ["tls"] })
  .refine((h) => !h.url.startsWith("ssh://") || h.hostKey, {
    message: "ssh:// hosts need hostKey (get it with `ssh-keyscan HOST | ssh-keygen -lf -`)",
    path: ["hostKey"],
  });

export const HostsSchema = z
  .object({
    hosts: z.array(HostEntry).min(1, "list at least one host"),
    /** Default host per channel: channel ID or `#name-glob` → host name. */
    channels: z.record(z.string(), z.string()).default({}),
    default: z.string().optional(),
    notifications: z
      .object({
        /** Send every notification here instead of the channel a container was started from. */
        channel: channelRef.optional(),
        enabled: z.boolean().default(true),
      })
      .strict()
      .default({ enabled: true }),
    /** Logins for private registries, used by every pull on every host (`pull`, and `run` of a missing image). */
    registries: RegistriesSchema,
  })
  .strict()
  .superRefine((h, ctx) => {
    const names = h.hosts.map((x) => x.name);
    names.forEach((n, i) => {
      if (names.indexOf(n) !== i) ctx.addIssue({ code: "custom", path: ["hosts", i, "name"], message: `duplicate host "${n}"` });
    });
    for (const [ch, host] of Object.entries(h.channels)) {
      if (!names.includes(host)) ctx.addIssue({ code: "custom", path: ["channels", ch], message: `no host named "${host}"` });
    }
    if (h.default && !names.includes(h.default)) {
      ctx.addIssue({ code: "custom", path: ["default"], message: `no host named "${h.default}"` });
    }
  });

export type HostSettings = { isolation?: "process" | "hyperv" | undefined; notify?: string | undefined };

export type Hosts = {
  connections: readonly DockerConnection[];
  channels: Readonly<Record<string, string>>;
  default?: string | undefined;
  /** Per-host settings berth applies itself (not part of the connection). */
  settings?: Readonly<Record<string, HostSettings>>;
  notifications?: { channel?: string | undefined; enabled: boolean };
  /** Registry logins with their secrets resolved: handed to the pull credentials only (src/ports.ts), never shown. */
  registries?: readonly RegistryLogin[];
};

/** The `local` host, as the Docker CLI would find it from DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH. */
export function localHost(env: { dockerHost?: string | undefined; tlsVerify?: boolean; certPath?: string | undefined }): Hosts {
  const url = env.dockerHost || "unix:///var/run/docker.sock";
  const tls =
    env.tlsVerify && env.certPath
      ? { ca: read(join(env.certPath, "ca.pem")), cert: read(join(env.certPath, "cert.pem")), key: read(join(env.certPath, "key.pem")) }
      : undefined;
  return { connections: [{ name: "local", url, tls, timeoutMs: 15_000 }], channels: {}, default: "local" };
}

export function loadHosts(path: string, env: Readonly<Record<string, string | undefined>> = {}): Hosts {
  const file = loadYamlFile(path, HostsSchema, "hosts");
  const pem = (host: string, source: string) => {
    if (!source.startsWith("env:")) return read(source);
    const name = source.slice(4);
    const value = env[name];
    if (!value)
      throw new BerthError("CONFIG", `Host "${host}" takes TLS material from ${name}, which is not set. Set it, or use a file path.`);
    return value.replace(/\\n/g, "\n"); // one-line secrets often carry literal \n
  };
  return {
    connections: file.hosts.map((h) => ({
      name: h.name,
      url: h.url,
      timeoutMs: h.timeout,
      sshHostKey: h.hostKey,
      tls: h.tls && { ca: pem(h.name, h.tls.ca), cert: pem(h.name, h.tls.cert), key: pem(h.name, h.tls.key) },
    })),
    channels: file.channels,
    default: file.default,
    settings: Object.fromEntries(file.hosts.map((h) => [h.name, { isolation: h.isolation, notify: h.notify }])),
    notifications: file.notifications,
    registries: resolveRegistries(file.registries, env),
  };
}

function read(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (cause) {
    throw new BerthError("CONFIG", `Cannot read TLS file ${path}: ${(cause as Error).message}`, { cause });
  }
}

export type HostChoice = { ok: true; host: string } | { ok: false; message: Message; choices?: readonly string[] };

/** Which host an action runs on: `-H`, else the channel's default, else the manifest default, else the only host. */
export function resolveHost(hosts: Hosts, asked: string | undefined, channel: { id: string; name?: string | undefined }): HostChoice {
  const names = hosts.connections.map((c) => c.name);
  if (asked !== undefined) {
    if (names.includes(asked)) return { ok: true, host: asked };
    return {
      ok: false,
      message: msg`berth knows no host ${code(asked)}. Hosts: ${joinParts(
        names.map((n) => [code(n)]),
        ", ",
      )}.`,
    };
  }
  for (const [key, host] of Object.entries(hosts.channels)) {
    const match = key.startsWith("#") ? channel.name !== undefined && globMatch(key.slice(1), channel.name) : key === channel.id;
    if (match) return { ok: true, host };
  }
  if (hosts.default) return { ok: true, host: hosts.default };
  if (names.length === 1) return { ok: true, host: names[0] as string };
  return { ok: false, message: ["Several hosts could run this and no default applies here. Pick one:"], choices: names };
}
