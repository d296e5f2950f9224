/**
 * The request layer every resource module of the adapter shares, as docker-modem is dockerode's: one engine request
 * bounded by the caller's signal and a deadline, every dockerode error turned into a BerthError, and the streams that
 * close() has to end.
 */
import type { Duplex, Readable } from "node:stream";
import type Docker from "dockerode";
import { BerthError, type ErrorCode } from "../../core/errors.ts";
import type { Message } from "../../core/message.ts";
import type { DockerConnection } from "../ports.ts";
import { connectionReason, sshAdvice, tlsAdvice } from "./connection.ts";

/** Maps an HTTP status (and the engine's message) to the error it means for one operation; undefined: the default. */
export type StatusMap = (code: number, message: string, cause: unknown) => BerthError | undefined;
/** Which statuses mean "wrong state" for one operation, as the CONFLICT message to show. */
export type Conflicts = (code: number, message: string) => string | Message | undefined;

/** The two dockerode clients of one engine, built by engine.ts (the SDK's one importer). */
export type DockerClients = {
  /** Short calls: the modem's idle timeout bounds them. */
  readonly calls: Docker;
  /** Streams and long calls: no modem timeout, bounded by their own deadline or the caller's signal. */
  readonly streams: Docker;
};

export type DialOptions = Parameters<Docker["modem"]["dial"]>[0];

export type Client = DockerClients & {
  readonly conn: DockerConnection;
  /** berth's installation id, or "" (then no container is berth's). */
  readonly installation: string;
  /** "on host NAME", for messages. */
  readonly on: string;
  translate(e: unknown, doing: string, signal: AbortSignal, status?: StatusMap): BerthError;
  /** One engine request, bounded by the caller's signal and a deadline (default conn.timeoutMs; null = none). */
  call<T>(
    signal: AbortSignal,
    doing: string,
    fn: (s: AbortSignal) => Promise<T>,
    opts?: { deadlineMs?: number | null; status?: StatusMap },
  ): Promise<T>;
  dial<T>(docker: Docker, o: DialOptions): Promise<T>;
  /** A GET on the short-call client, as a `call` body. */
  get<T>(path: string): (s: AbortSignal) => Promise<T>;
  /** Puts a stream on the close() list and destroys it when the caller aborts; returns its cleanup. */
  hold(stream: Readable | Duplex, signal: AbortSignal): () => void;
  /** A stream that ended because the engine went away. */
  lost(doing: string, cause?: unknown): BerthError;
  /** Destroys every stream still held. */
  closeStreams(): void;
};

export const fail = (code: ErrorCode, message: string | Message, cause?: unknown) => new BerthError(code, message, { cause });

export function engineMessage(e: unknown): string {
  const json = (e as { json?: unknown }).json;
  if (json && typeof json === "object" && "message" in json && typeof json.message === "string") return json.message.trim();
  return String((e as Error).message ?? e)
    .replace(/^\(HTTP code \d+\) [^-]*- /, "")
    .trim();
}

/** `ready` settles once the API version is pinned (see negotiation.ts); every request waits for it. */
export function createClient(conn: DockerConnection, docker: DockerClients, ready: () => Promise<unknown>): Client {
  const { calls } = docker;
  const open = new Set<Readable | Duplex>();
  const on = `on host ${conn.name}`;
  const unreachable = (reason: string, cause?: unknown) =>
    fail(
      "UNAVAILABLE",
      `Docker engine "${conn.name}" is unreachable at ${conn.url}: ${reason}. ${/\bTLS\b/.test(reason) ? tlsAdvice : /^SSH login/.test(reason) ? sshAdvice : /SSH host key/.test(reason) ? "If the host was rebuilt on purpose, ask the operator to update its hostKey." : "Check that the engine is running and berth can reach it."}`,
      cause,
    );

  function translate(e: unknown, doing: string, signal: AbortSignal, status?: StatusMap): BerthError {
    if (e instanceof BerthError) return e;
    if (signal.aborted) return fail("CANCELLED", `Cancelled while ${doing} ${on}.`, e);
    const code = (e as { statusCode?: unknown } | null)?.statusCode;
    if (typeof code !== "number") return unreachable(connectionReason(e), e);
    const msg = engineMessage(e);
    const mapped = status?.(code, msg, e);
    if (mapped) return mapped;
    if (code === 400 && /HTTP request to an HTTPS server/i.test(msg))
      return unreachable("the engine speaks TLS, and berth's hosts file has no TLS certificates for this host", e);
    if (code === 400) return fail("INVALID", `Docker ${on} refused ${doing}: ${msg}. Check the command and its options.`, e);
    if (code === 404) return fail("NOT_FOUND", `Not found while ${doing} ${on}: ${msg}.`, e);
    if (code === 304 || code === 409) return fail("CONFLICT", `Could not finish ${doing} ${on}: ${msg || "nothing to change"}.`, e);
    return fail(
      "UNAVAILABLE",
      `Docker ${on} failed while ${doing}: ${msg}. Try again; if it keeps failing, ask the operator to check it.`,
      e,
    );
  }

  async function call<T>(
    signal: AbortSignal,
    doing: string,
    fn: (s: AbortSignal) => Promise<T>,
    opts: { deadlineMs?: number | null; status?: StatusMap } = {},
  ): Promise<T> {
    if (signal.aborted) throw translate(signal.reason, doing, signal);
    const deadline = opts.deadlineMs === undefined ? conn.timeoutMs : opts.deadlineMs;
    const ctl = new AbortController();
    // Race rather than await: dockerode never settles a call whose response body the modem timeout cut.
    const stopped = Promise.withResolvers<never>();
    const stop = (reason: unknown) => {
      ctl.abort();
      stopped.reject(reason);
    };
    const onAbort = () => stop(signal.reason);
    let timedOut = false;
    const onDeadline = () => {
      timedOut = true;
      stop(new Error("deadline"));
    };
    const timer = deadline === null ? undefined : setTimeout(onDeadline, deadline);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      // Every request waits for the API version to be pinned: an unversioned path would get the engine's newest API.
      return await Promise.race([ready().then(() => fn(ctl.signal)), stopped.promise]);
    } catch (e) {
      if (timedOut && !signal.aborted) throw unreachable(`no answer within ${Math.ceil((deadline ?? 0) / 1000)} s`, e);
      throw translate(e, doing, signal, opts.status);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
  }

  const dial = <T>(d: Docker, o: DialOptions) =>
    new Promise<T>((resolve, reject) => d.modem.dial(o, (err, data) => (err ? reject(err) : resolve(data as T))));

  return {
    ...docker,
    conn,
    installation: conn.installation ?? "",
    on,
    translate,
    call,
    dial,
    get:
      <T>(path: string) =>
      (s: AbortSignal) =>
        dial<T>(calls, { path, method: "GET", abortSignal: s, statusCodes: { 200: true, 404: "not found", 500: "server error" } }),
    hold(stream, signal) {
      const onAbort = () => stream.destroy();
      stream.on("error", () => {}); // errors surface through iteration; an unheard 'error' event would crash the process
      open.add(stream);
      signal.addEventListener("abort", onAbort, { once: true });
      return () => {
        signal.removeEventListener("abort", onAbort);
        stream.destroy();
        open.delete(stream);
      };
    },
    lost: (doing, cause) =>
      fail(
        "UNAVAILABLE",
        `Lost the connection to host "${conn.name}" while ${doing}; the stream ended. Run the command again when the host is back.`,
        cause,
      ),
    closeStreams() {
      for (const stream of open) stream.destroy();
      open.clear();
    },
  };
}
