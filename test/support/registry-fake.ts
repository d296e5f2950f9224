/**
 * A private registry for tests, enough of the Registry HTTP API V2 (distribution spec) for the real Docker engine to
 * pull one image from it: `/v2/` (the auth check), manifests and blobs. Every request must carry HTTP Basic auth with
 * the given user and password, or gets 401 with `WWW-Authenticate: Basic` and the registry's error body, as a
 * registry behind basic auth answers. The image served is berth-test/busybox:1, exported from the engine with
 * `docker save` (no registry image exists offline), its layers gzipped and its manifest an image manifest v2 schema 2.
 *
 * Plain HTTP on 127.0.0.1: the engine treats loopback registries as insecure (HTTP allowed) and pulls itself, on this
 * machine, so it reaches the port. Callers must `after(() => fake.close())`.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";

const execFileAsync = promisify(execFile);

export type RegistryFake = {
  /** 127.0.0.1:PORT, the registry part of an image reference. */
  server: string;
  /** The image reference to pull (`127.0.0.1:PORT/team/app:1`). */
  image: string;
  /** The Authorization header of every request, in order (what the engine sent on berth's behalf). */
  authorizations: (string | undefined)[];
  close(): Promise<void>;
};

type Blob = { digest: string; data: Buffer };

const sha256 = (data: Buffer | string) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

/** Reads a tar archive (ustar, with PAX headers skipped) into its regular files. */
function untar(tar: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let at = 0;
  while (at + 512 <= tar.length) {
    const header = tar.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break;
    const field = (from: number, len: number) =>
      header
        .subarray(from, from + len)
        .toString("utf8")
        .replace(/\0.*$/s, "");
    const size = Number.parseInt(field(124, 12).trim() || "0", 8);
    const prefix = field(345, 155);
    const name = prefix ? `${prefix}/${field(0, 100)}` : field(0, 100);
    const type = String.fromCharCode(header[156] ?? 48);
    if (type === "0" || type === "\0") files.set(name, tar.subarray(at + 512, at + 512 + size));
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

async function exportImage(image: string): Promise<{ config: Blob; layers: Blob[] }> {
  const { stdout } = await execFileAsync("docker", ["save", image], { encoding: "buffer", maxBuffer: 256 * 1024 ** 2 });
  const files = untar(stdout);
  const manifest = JSON.parse((files.get("manifest.json") as Buffer).toString("utf8")) as { Config: string; Layers: string[] }[];
  const entry = manifest[0] as { Config: string; Layers: string[] };
  const config = files.get(entry.Config) as Buffer;
  const layers = entry.Layers.map((path) => {
    const data = gzipSync(files.get(path) as Buffer);
    return { digest: sha256(data), data };
  });
  return { config: { digest: sha256(config), data: config }, layers };
}

export async function startRegistryFake(options: {
  username: string;
  /** The password, or where to read the one currently valid (an ACR refresh token the exchange fake issued). */
  password: string | (() => string | undefined);
  repository?: string;
}): Promise<RegistryFake> {
  const repository = options.repository ?? "team/app";
  const { config, layers } = await exportImage("berth-test/busybox:1");
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.docker.distribution.manifest.v2+json",
      config: { mediaType: "application/vnd.docker.container.image.v1+json", size: config.data.length, digest: config.digest },
      layers: layers.map((l) => ({
        mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip",
        size: l.data.length,
        digest: l.digest,
      })),
    }),
  );
  const manifestDigest = sha256(manifest);
  const blobs = new Map([config, ...layers].map((b) => [b.digest, b.data]));
  const expected = () => {
    const password = typeof options.password === "string" ? options.password : options.password();
    return password === undefined ? undefined : `Basic ${Buffer.from(`${options.username}:${password}`).toString("base64")}`;
  };
  const authorizations: (string | undefined)[] = [];

  const send = (res: ServerResponse, status: number, body: Buffer | string, headers: Record<string, string | number> = {}) => {
    res.writeHead(status, { "docker-distribution-api-version": "registry/2.0", "content-length": Buffer.byteLength(body), ...headers });
    res.end(res.req.method === "HEAD" ? undefined : body);
  };
  const error = (res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}) =>
    send(res, status, JSON.stringify({ errors: [{ code, message, detail: null }] }), { "content-type": "application/json", ...headers });

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    authorizations.push(req.headers.authorization);
    if (req.headers.authorization === undefined || req.headers.authorization !== expected())
      return error(res, 401, "UNAUTHORIZED", "authentication required", { "www-authenticate": 'Basic realm="berth-test-registry"' });
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path === "/v2/") return send(res, 200, "{}", { "content-type": "application/json" });
    const m = new RegExp(`^/v2/${repository}/(manifests|blobs)/(.+)$`).exec(path);
    if (!m) return error(res, 404, "NAME_UNKNOWN", "repository name not known to registry");
    if (m[1] === "manifests") {
      if (m[2] !== "1" && m[2] !== manifestDigest) return error(res, 404, "MANIFEST_UNKNOWN", "manifest unknown");
      return send(res, 200, manifest, {
        "content-type": "application/vnd.docker.distribution.manifest.v2+json",
        "docker-content-digest": manifestDigest,
      });
    }
    const blob = blobs.get(m[2] as string);
    if (!blob) return error(res, 404, "BLOB_UNKNOWN", "blob unknown to registry");
    return send(res, 200, blob, { "content-type": "application/octet-stream", "docker-content-digest": m[2] as string });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server: `127.0.0.1:${port}`,
    image: `127.0.0.1:${port}/${repository}:1`,
    authorizations,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
