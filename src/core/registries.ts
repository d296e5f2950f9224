/**
 * Private registries: which registry an image comes from (Docker's rules), the logins the hosts manifest gives for
 * some of them, and the X-Registry-Auth a pull sends. Passwords are resolved once at start (`env:NAME`) and leave this
 * module only towards the engine's pull; nothing that is shown, logged or audited carries them.
 */
import { z } from "zod";
import type { RegistryAuth } from "../engines/ports.ts";
import { BerthError } from "./errors.ts";
import { code, type Message, msg } from "./message.ts";

/** Docker Hub's canonical name; `index.docker.io` and `registry-1.docker.io` are the same registry. */
export const dockerHub = "docker.io";
/** What Docker's CLI sends as Docker Hub's `serveraddress` (docker/cli config: IndexServer). */
const dockerHubAddress = "https://index.docker.io/v1/";
/** The user name of an ACR login made with a refresh token (the ACR AAD-OAuth flow, as `az acr login` uses it). */
export const acrTokenUser = "00000000-0000-0000-0000-000000000000";

const serverName = z
  .string()
  .transform((s) => normalizeServer(s))
  .pipe(
    z
      .string()
      .regex(
        /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::\d{1,5})?$/,
        "a registry host name like ghcr.io, myreg.azurecr.io, docker.io or registry.internal:5000",
      ),
  );

/** One `registries:` entry of the hosts manifest: a user name and a password from the environment, or ACR via berth's Azure identity. */
export const RegistryEntry = z
  .object({
    server: serverName,
    username: z.string().min(1).optional(),
    /** `env:NAME`: a password (or a Docker Hub access token) is never written in the manifest itself. */
    password: z
      .string()
      .regex(/^env:[A-Za-z_][A-Za-z0-9_]*$/, "env:NAME, the environment variable holding the password or access token")
      .optional(),
    /** Azure Container Registry through berth's own Azure identity (it needs AcrPull on the registry). */
    azure: z.literal(true, "azure: true, or leave it out and give username and password").optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    const login = r.username !== undefined || r.password !== undefined;
    if (r.azure && login)
      ctx.addIssue({ code: "custom", message: "give either azure: true or username and password, not both", path: ["azure"] });
    else if (!r.azure && (r.username === undefined || r.password === undefined))
      ctx.addIssue({
        code: "custom",
        message: "give username and password (password: env:NAME), or azure: true for an Azure Container Registry",
        path: [r.username === undefined ? "username" : "password"],
      });
  });

export const RegistriesSchema = z
  .array(RegistryEntry)
  .default([])
  .superRefine((list, ctx) => {
    list.forEach((r, i) => {
      if (list.findIndex((x) => x.server === r.server) !== i)
        ctx.addIssue({ code: "custom", path: [i, "server"], message: `registry "${r.server}" is listed twice` });
    });
  });

/** A registry login with its secret resolved. */
export type RegistryLogin = { server: string; username: string; password: string } | { server: string; azure: true };

/** Resolves each entry's `env:NAME`; an unset variable stops berth at start with the registry and the variable named. */
export function resolveRegistries(
  entries: readonly z.output<typeof RegistryEntry>[],
  env: Readonly<Record<string, string | undefined>>,
): RegistryLogin[] {
  return entries.map((r): RegistryLogin => {
    if (r.azure) return { server: r.server, azure: true };
    const name = (r.password as string).slice("env:".length);
    const password = env[name];
    if (!password)
      throw new BerthError(
        "CONFIG",
        `Registry "${r.server}" in the hosts manifest takes its password from ${name}, which is not set. Set it, or remove the registry.`,
      );
    return { server: r.server, username: r.username as string, password };
  });
}

/** A registry as the manifest or an image names it: lower case, no scheme or path, Docker Hub's aliases as docker.io. */
export function normalizeServer(server: string): string {
  const host = server
    .trim()
    .toLowerCase()
    .replace(/^https?:\/\//, "")
    .replace(/\/.*$/, "");
  return host === "index.docker.io" || host === "registry-1.docker.io" ? dockerHub : host;
}

/**
 * The registry an image reference pulls from, by Docker's rule (distribution/reference, splitDockerDomain): the first
 * path component is a registry only if it has a dot or a colon, is `localhost`, or has upper case; else Docker Hub.
 */
export function registryOf(image: string): string {
  const slash = image.indexOf("/");
  if (slash === -1) return dockerHub;
  const first = image.slice(0, slash);
  if (!/[.:]/.test(first) && first !== "localhost" && first === first.toLowerCase()) return dockerHub;
  return normalizeServer(first);
}

/** The logins berth sends with a pull, found by the image's registry. */
export type RegistryCredentials = {
  /** Whether the manifest has a login for this registry. */
  has(registry: string): boolean;
  /** The X-Registry-Auth for a pull of `image`; undefined when berth has no login for its registry (a public pull). */
  authFor(image: string, signal: AbortSignal): Promise<RegistryAuth | undefined>;
};

/** ACR's refresh token for a registry, from berth's Azure identity (src/cloud/azure/acr.ts). */
export type AcrTokenSource = (server: string, signal: AbortSignal) => Promise<string>;

export function createRegistryCredentials(logins: readonly RegistryLogin[], acr?: AcrTokenSource): RegistryCredentials {
  const byServer = new Map(logins.map((l) => [l.server, l]));
  return {
    has: (registry) => byServer.has(registry),
    async authFor(image, signal) {
      const server = registryOf(image);
      const login = byServer.get(server);
      if (!login) return undefined;
      const serveraddress = server === dockerHub ? dockerHubAddress : server;
      if (!("azure" in login)) return { username: login.username, password: login.password, serveraddress };
      if (!acr) throw new BerthError("CONFIG", `Registry ${server} is set to use berth's Azure identity, which is not available here.`);
      return { username: acrTokenUser, password: await acr(server, signal), serveraddress };
    },
  };
}

/** No registry logins: every pull is a public one. */
export const noRegistries: RegistryCredentials = { has: () => false, authFor: async () => undefined };

/** What to do when a registry refused a pull: configure a login for it, or fix the one berth has. */
export function registryRefusal(image: string, registry: string, on: string, sentLogin: boolean, engineSaid: string): Message {
  const hub = registry === dockerHub ? " (on Docker Hub this also means the repository does not exist)" : "";
  return sentLogin
    ? msg`Registry ${code(registry)} refused berth's login when pulling ${code(image)} ${on}: ${engineSaid}. Ask the operator to check that login in ${code("registries:")} of the hosts manifest: the secret may be wrong or expired, or, for an Azure Container Registry, berth's identity may lack the AcrPull role.`
    : msg`Registry ${code(registry)} refused to let berth pull ${code(image)} ${on}: ${engineSaid}${hub}. Check the image name; if the image is private, ask the operator to add a login for ${code(registry)} to ${code("registries:")} in the hosts manifest.`;
}

/** What to do when the host cannot reach the image's registry (no such name, refused, timed out). */
export function registryUnreachable(image: string, registry: string, on: string, engineSaid: string): Message {
  return msg`Could not pull image ${code(image)} ${on}: registry ${code(registry)} cannot be reached from there (${engineSaid}). Check the registry name in the image, or ask the operator to let that host reach ${code(registry)} or to load the image on that host.`;
}
