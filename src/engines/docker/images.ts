/** Images: whether one is on the host, its platform, and pulling it. */
import type { Readable } from "node:stream";
import type Docker from "dockerode";
import { BerthError } from "../../core/errors.ts";
import { registryOf, registryRefusal, registryUnreachable } from "../../core/registries.ts";
import type { ContainerEngine, RegistryAuth } from "../ports.ts";
import { type Client, fail } from "./client.ts";
import { readJsonLines } from "./lines.ts";

// Docker's reference grammar. Refs go into request paths, and a "../" path gets a 301 that docker-modem follows with
// a request that has no error handler, crashing the process: never send an unchecked ref.
const part = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const dns = "[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?";
const digest = "@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
const imageRef = new RegExp(`^(?:${dns}(?:\\.${dns})*(?::[0-9]+)?/)?${part}(?:/${part})*(?::\\w[\\w.-]{0,127})?(?:${digest})?$`);

export function checkImage(image: string): void {
  if (image.length <= 512 && imageRef.test(image)) return;
  throw new BerthError(
    "INVALID",
    `"${image}" is not a valid image reference. Use a name like "alpine:3.20" or "registry.example.com/team/app:1.2".`,
  );
}

export function createImages(client: Client): Pick<ContainerEngine, "hasImage" | "imagePlatform" | "pull"> {
  const { call, get, hold, streams, translate, on } = client;

  async function* pull(image: string, signal: AbortSignal, auth?: RegistryAuth) {
    checkImage(image);
    const registry = registryOf(image);
    const failed = (notFound: boolean, msg: string, cause: unknown) => {
      // The registry's answer as the engine relays it: a refusal (401/403 from the registry), or no way to reach it.
      // An authorization plugin on the engine says "denied" too, but that is the host's refusal, not the registry's.
      if (/unauthorized|denied|authentication required|no basic auth credentials|forbidden/i.test(msg) && !/by plugin/i.test(msg))
        return fail("FORBIDDEN", registryRefusal(image, registry, on, auth !== undefined, msg), cause);
      if (
        /no such host|server misbehaving|dial tcp|connection refused|i\/o timeout|TLS handshake timeout|network is unreachable/i.test(msg)
      )
        return fail("UNAVAILABLE", registryUnreachable(image, registry, on, msg), cause);
      return fail(
        notFound || /not found|manifest unknown|name unknown|does not exist|no such image/i.test(msg) ? "NOT_FOUND" : "UNAVAILABLE",
        `Could not pull image "${image}" ${on}: ${msg}. Check the image name, or ask the operator to load the image on that host.`,
        cause,
      );
    };
    let release: (() => void) | undefined;
    try {
      // No deadline: the engine answers once the registry does, which can take long; the caller's signal bounds it.
      // dockerode sends `authconfig` as the X-Registry-Auth header (never in the query): only for a registry with a login.
      const res = await call(
        signal,
        `pulling image "${image}"`,
        (s) => streams.pull(image, { abortSignal: s, ...(auth && { authconfig: { ...auth } }) }) as Promise<Readable>,
        {
          deadlineMs: null,
          status: (code, msg, cause) => failed(code === 404, msg, cause),
        },
      );
      release = hold(res, signal);
      for await (const p of readJsonLines(res)) {
        if (typeof p.error === "string") throw failed(false, p.error, p);
        const { current, total } = (p.progressDetail ?? {}) as { current?: unknown; total?: unknown };
        yield {
          status: String(p.status ?? ""),
          id: typeof p.id === "string" ? p.id : undefined,
          current: typeof current === "number" ? current : undefined,
          total: typeof total === "number" ? total : undefined,
        };
      }
    } catch (e) {
      throw translate(e, `pulling image "${image}"`, signal);
    } finally {
      release?.();
    }
  }

  return {
    async hasImage(image, signal) {
      checkImage(image);
      return call(signal, `looking for image "${image}"`, get(`/images/${image}/json`)).then(
        () => true,
        (e: unknown) => (e instanceof BerthError && e.code === "NOT_FOUND" ? false : Promise.reject(e)),
      );
    },
    async imagePlatform(image, signal) {
      checkImage(image);
      const found = await call(
        signal,
        `looking for image "${image}"`,
        get<Docker.ImageInspectInfo & { OsVersion?: string }>(`/images/${image}/json`),
      ).catch((e: unknown) => (e instanceof BerthError && e.code === "NOT_FOUND" ? undefined : Promise.reject(e)));
      return found && { os: found.Os, osVersion: found.OsVersion || undefined, architecture: found.Architecture };
    },
    pull,
  };
}
