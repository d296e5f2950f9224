/**
 * How berth reaches a Docker engine (unix socket, TCP with or without TLS, SSH with a pinned host key), and why a
 * connection failed, in words the operator can act on.
 */
import { createHash } from "node:crypto";
import http from "node:http";
import https from "node:https";
import tls from "node:tls";
import type Docker from "dockerode";
import { BerthError } from "../../core/errors.ts";
import type { DockerConnection } from "../ports.ts";

export function connectionOptions(conn: DockerConnection): {
  options: Docker.DockerOptions & { agent?: http.Agent };
  agent?: http.Agent;
} {
  const bad = (why: string) =>
    new BerthError(
      "CONFIG",
      `Host "${conn.name}" has an unusable Docker connection "${conn.url}": ${why}. Ask the operator to fix berth's hosts.`,
    );
  // Our own agent (no keep-alive) so close() can drop every socket this engine opened.
  const agent = conn.tls ? new https.Agent({ keepAlive: false }) : new http.Agent({ keepAlive: false });
  if (conn.url.startsWith("unix://")) {
    const socketPath = conn.url.slice("unix://".length);
    if (!socketPath.startsWith("/")) throw bad("the socket path must be absolute, as in unix:///var/run/docker.sock");
    // No agent of our own here: docker-modem with a custom Agent on a unix socket serialised 50 concurrent calls into
    // seconds (measured in bench/), while Node's global agent answers them in milliseconds.
    return { options: { socketPath } };
  }
  const url = URL.parse(conn.url);
  const host = url?.hostname.replace(/^\[(.*)\]$/, "$1");
  if (url?.protocol === "tcp:" && host) {
    const port = Number(url.port || (conn.tls ? 2376 : 2375));
    if (!conn.tls) return { options: { host, port, protocol: "http", agent }, agent };
    try {
      tls.createSecureContext(conn.tls); // fail at startup, not on the first request
    } catch (e) {
      throw bad(`the TLS CA, certificate or key is not usable PEM (${e instanceof Error ? e.message : String(e)})`);
    }
    return { options: { host, port, protocol: "https", ...conn.tls, agent }, agent };
  }
  if (url?.protocol === "ssh:" && host) {
    // docker-modem opens one SSH connection per request (`docker system dial-stdio`) and closes it with the request.
    const username = url.username ? { username: decodeURIComponent(url.username) } : {};
    const sshAuth = conn.sshAuthSock;
    // docker-modem hands ssh2 no host key check, so without this any machine answering at that address would get
    // berth's commands. The key is pinned per host in the manifest.
    const pinned = conn.sshHostKey;
    if (!pinned) {
      throw bad(
        "ssh:// hosts need `hostKey` (the host's public key line, or its SHA256 fingerprint from `ssh-keyscan HOST | ssh-keygen -lf -`)",
      );
    }
    const hostVerifier = (key: Buffer) => hostKeyMatches(pinned, key);
    const sshOptions = { ...(sshAuth ? { agent: sshAuth } : {}), hostVerifier };
    return { options: { host, port: Number(url.port || 22), protocol: "ssh", ...username, sshOptions } };
  }
  throw bad("use unix:///path/to/docker.sock, tcp://host:port or ssh://user@host");
}

/** `pinned` is "ssh-ed25519 AAAA…" (a public key line) or "SHA256:…" (as ssh-keygen -l prints it). */
function hostKeyMatches(pinned: string, key: Buffer): boolean {
  const want = pinned.trim();
  if (want.startsWith("SHA256:")) return `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}` === want;
  return want.split(/\s+/)[1] === key.toString("base64");
}

export const tlsAdvice = "Check the TLS CA, certificate and key for this host in berth's hosts file, or ask the operator to.";
export const sshAdvice =
  "Check that berth's SSH agent (SSH_AUTH_SOCK) holds a key that this host accepts for the user in its URL, or ask the operator to.";

const reasons: Record<string, string> = {
  ENOENT: "there is no socket at that path",
  ECONNREFUSED: "connection refused",
  EACCES: "permission denied on the socket",
  EPERM: "permission denied on the socket",
  EHOSTUNREACH: "the host is unreachable",
  ENETUNREACH: "the host is unreachable",
  ENOTFOUND: "the host name does not resolve",
  EAI_AGAIN: "the host name does not resolve",
  ETIMEDOUT: "the connection timed out",
  ECONNRESET: "the connection was dropped",
  EPIPE: "the connection was dropped",
  ERR_STREAM_PREMATURE_CLOSE: "the connection was closed before the engine finished answering",
};

/**
 * Node's and OpenSSL's TLS codes, as what the operator has to fix. Node's own text for a CA mismatch suggests
 * --use-system-ca, which is wrong for berth: each host's CA comes from the hosts file.
 */
const tlsReasons: readonly [RegExp, string][] = [
  [
    /^(UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_SIGNATURE_FAILURE|CERT_UNTRUSTED|CERT_REJECTED)$/,
    "the engine's certificate is not signed by the CA in berth's hosts file for this host",
  ],
  [/^CERT_HAS_EXPIRED$/, "the engine's certificate has expired"],
  [/^CERT_NOT_YET_VALID$/, "the engine's certificate is not valid yet (check both machines' clocks)"],
  [/^ERR_TLS_CERT_ALTNAME_INVALID$/, "the engine's certificate was not issued for this address"],
  // Alerts the engine sends back: it did not accept berth's client certificate.
  [/ALERT_CERTIFICATE_EXPIRED$/, "the engine refused berth's client certificate: it has expired"],
  [/ALERT_CERTIFICATE_REVOKED$/, "the engine refused berth's client certificate: it was revoked"],
  [
    /ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|CERTIFICATE_UNKNOWN|UNKNOWN_CA|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED)$/,
    "the engine refused berth's client certificate: it is missing, or not signed by a CA the engine trusts",
  ],
];

export function connectionReason(e: unknown): string {
  const { code, message } = (e ?? {}) as { code?: unknown; message?: unknown };
  const text = typeof message === "string" ? message : String(e);
  const level = (e as { level?: unknown } | null)?.level; // set by ssh2 on the SSH client's own errors
  if (level === "client-authentication") return "SSH login failed: the host accepted no key from berth's SSH agent";
  if (level === "client-timeout") return "the SSH handshake timed out";
  if (/Host denied \(verification failed\)/.test(text))
    return "the SSH host key does not match `hostKey` in berth's hosts file (a different machine, or the host was rebuilt)";
  if (typeof code !== "string") return text;
  if (code === "EPROTO" || /CERT|SSL|TLS|OSSL|SELF_SIGNED|UNABLE_TO/.test(code)) {
    const known = tlsReasons.find(([pattern]) => pattern.test(code))?.[1];
    if (known) return `the TLS handshake failed: ${known}`;
    const openssl = /:error:[0-9A-F]+:[^:]*:[^:]*:([^:]+)/.exec(text)?.[1]; // "…:SSL routines:fn:wrong version number:file:line"
    return `the TLS handshake failed (${openssl ?? text.trim()})`;
  }
  return reasons[code] ?? text;
}
