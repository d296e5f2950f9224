/**
 * ContainerEngine over the Docker Engine API (dockerode), the only importer of the SDK. Every dockerode error becomes
 * a BerthError here, and only containers labelled io.berth.managed=true are visible or touched.
 *
 * "Already stopped/running" (HTTP 304) is CONFLICT, never a silent no-op, so the person in Slack learns that their
 * command changed nothing. Aborting a logs or exec stream just ends it; aborting anything else throws CANCELLED.
 */
import http from "node:http";
import https from "node:https";
import type { Duplex, Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import tls from "node:tls";
import Docker from "dockerode";
import { BerthError, type ErrorCode } from "../errors.ts";
import { readJsonLines, readLines } from "./docker-lines.ts";
import type { ContainerDetails, ContainerEngine, ContainerSummary, DockerConnection, ExecHandle, LogLine, LogQuery } from "./ports.ts";
import { labels } from "./ports.ts";

const graceSeconds = 10; // stop/restart: SIGTERM, then SIGKILL this much later
const hexRef = /^[0-9a-f]{4,64}$/;
const nameRef = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
// Docker's reference grammar. Refs go into request paths, and a "../" path gets a 301 that docker-modem follows with
// a request that has no error handler, crashing the process: never send an unchecked ref.
const part = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const dns = "[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?";
const digest = "@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
const imageRef = new RegExp(`^(?:${dns}(?:\\.${dns})*(?::[0-9]+)?/)?${part}(?:/${part})*(?::\\w[\\w.-]{0,127})?(?:${digest})?$`);

type StatusMap = (code: number, message: string, cause: unknown) => BerthError | undefined;
type Conflicts = (code: number, message: string) => string | undefined;

export function createDockerEngine(conn: DockerConnection): ContainerEngine {
  const { options, agent } = connectionOptions(conn);
  // The modem timeout is a socket idle timeout: it would also cut a quiet `logs -f`, `wait` or exec stream. Streaming
  // and long calls go through `streams` (no modem timeout), bounded by their own deadline or the caller's signal.
  const calls = new Docker({ ...options, timeout: conn.timeoutMs });
  const streams = new Docker(options);
  const open = new Set<Readable | Duplex>();
  const on = `on host ${conn.name}`;
  const fail = (code: ErrorCode, message: string, cause?: unknown) => new BerthError(code, message, { cause });
  const unreachable = (reason: string, cause?: unknown) =>
    fail(
      "UNAVAILABLE",
      `Docker engine "${conn.name}" is unreachable at ${conn.url}: ${reason}. Check that the engine is running and berth can reach it.`,
      cause,
    );
  const notFound = (ref: string, cause?: unknown) =>
    fail("NOT_FOUND", `No berth container "${ref}" ${on}. Run \`/berth ps -a\` to see berth's containers.`, cause);
  /** 404 means `ref` is gone; `conflicts` says which other codes mean "wrong state" for this operation. */
  const about =
    (ref: string, conflicts?: Conflicts): StatusMap =>
    (code, msg, cause) => {
      const conflict = conflicts?.(code, msg);
      if (conflict) return fail("CONFLICT", conflict, cause);
      return code === 404 ? notFound(ref, cause) : undefined;
    };

  function translate(e: unknown, doing: string, signal: AbortSignal, status?: StatusMap): BerthError {
    if (e instanceof BerthError) return e;
    if (signal.aborted) return fail("CANCELLED", `Cancelled while ${doing} ${on}.`, e);
    const code = (e as { statusCode?: unknown } | null)?.statusCode;
    if (typeof code !== "number") return unreachable(connectionReason(e), e);
    const msg = engineMessage(e);
    const mapped = status?.(code, msg, e);
    if (mapped) return mapped;
    if (code === 400) return fail("INVALID", `Docker ${on} refused ${doing}: ${msg}. Check the command and its options.`, e);
    if (code === 404) return fail("NOT_FOUND", `Not found while ${doing} ${on}: ${msg}.`, e);
    if (code === 304 || code === 409) return fail("CONFLICT", `Could not finish ${doing} ${on}: ${msg || "nothing to change"}.`, e);
    return fail(
      "UNAVAILABLE",
      `Docker ${on} failed while ${doing}: ${msg}. Try again; if it keeps failing, ask the operator to check it.`,
      e,
    );
  }

  /** One engine request, bounded by the caller's signal and a deadline (default conn.timeoutMs; null = none). */
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
      return await Promise.race([fn(ctl.signal), stopped.promise]);
    } catch (e) {
      if (timedOut && !signal.aborted) throw unreachable(`no answer within ${Math.ceil((deadline ?? 0) / 1000)} s`, e);
      throw translate(e, doing, signal, opts.status);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
  }

  const dial = <T>(docker: Docker, o: Parameters<Docker["modem"]["dial"]>[0]) =>
    new Promise<T>((resolve, reject) => docker.modem.dial(o, (err, data) => (err ? reject(err) : resolve(data as T))));
  const get =
    <T>(path: string) =>
    (s: AbortSignal) =>
      dial<T>(calls, { path, method: "GET", abortSignal: s, statusCodes: { 200: true, 404: "not found", 500: "server error" } });
  const listRaw = (all: boolean, signal: AbortSignal) =>
    call(signal, "listing containers", (s) =>
      calls.listContainers({ all, filters: { label: [`${labels.managed}=true`] }, abortSignal: s }),
    );
  const inspectRaw = (id: string, ref: string, signal: AbortSignal) =>
    call(signal, `inspecting "${ref}"`, (s) => calls.getContainer(id).inspect({ abortSignal: s }), { status: about(ref) });

  /** Finds `ref` among berth's containers only: exact id or name (with or without "/"), else a unique id prefix. */
  async function resolve(ref: string, signal: AbortSignal): Promise<Docker.ContainerInfo> {
    const want = ref.startsWith("/") ? ref.slice(1) : ref;
    const lower = want.toLowerCase();
    const mine = await listRaw(true, signal);
    const exact = mine.find((c) => c.Id === lower) ?? mine.find((c) => c.Names.includes(`/${want}`));
    if (exact) return exact;
    const hits = hexRef.test(lower) ? mine.filter((c) => c.Id.startsWith(lower)) : [];
    if (hits[0] && hits.length === 1) return hits[0];
    if (hits.length > 1) {
      const list = hits.slice(0, 5).map((c) => `${c.Id.slice(0, 12)} (${containerName(c.Names)})`);
      throw fail(
        "CONFLICT",
        `"${ref}" matches ${hits.length} berth containers ${on}: ${list.join(", ")}. Use more of the id, or the name.`,
      );
    }
    if (nameRef.test(want)) {
      const other = await inspectRaw(want, ref, signal).catch((e: unknown) =>
        e instanceof BerthError && e.code === "NOT_FOUND" ? undefined : Promise.reject(e),
      );
      if (other && (other.Name === `/${want}` || (hexRef.test(lower) && other.Id.startsWith(lower)))) {
        throw fail(
          "NOT_FOUND",
          `Container "${ref}" ${on} was not started by berth, and berth only manages containers it started. Run \`/berth ps -a\` to see berth's containers.`,
        );
      }
    }
    throw notFound(ref);
  }

  /** Resolves `ref`, then makes one request on that container. `slow` calls may take the stop grace period. */
  async function act(
    ref: string,
    signal: AbortSignal,
    doing: string,
    fn: (c: Docker.Container, s: AbortSignal) => Promise<unknown>,
    slow = false,
    conflicts?: Conflicts,
  ) {
    const { Id } = await resolve(ref, signal);
    await call(signal, `${doing} "${ref}"`, (s) => fn((slow ? streams : calls).getContainer(Id), s), {
      deadlineMs: slow ? conn.timeoutMs + graceSeconds * 1000 : undefined,
      status: about(ref, conflicts),
    });
  }

  /** Puts a stream on the close() list and destroys it when the caller aborts; returns its cleanup. */
  function hold(stream: Readable | Duplex, signal: AbortSignal): () => void {
    const onAbort = () => stream.destroy();
    stream.on("error", () => {}); // errors surface through iteration; an unheard 'error' event would crash the process
    open.add(stream);
    signal.addEventListener("abort", onAbort, { once: true });
    return () => {
      signal.removeEventListener("abort", onAbort);
      stream.destroy();
      open.delete(stream);
    };
  }

  async function* logs(query: LogQuery, signal: AbortSignal): AsyncGenerator<LogLine> {
    const ref = query.container;
    const doing = `reading the logs of "${ref}"`;
    let release: (() => void) | undefined;
    try {
      const { Id } = await resolve(ref, signal);
      const info = await inspectRaw(Id, ref, signal);
      const since = query.sinceSeconds === undefined ? {} : { since: Math.floor(Date.now() / 1000 - query.sinceSeconds) };
      const tail = query.tail === undefined ? "all" : Math.max(0, Math.floor(query.tail));
      const options = { follow: query.follow, stdout: true, stderr: true, timestamps: false, tail, ...since };
      const statusCodes = { 200: true, 404: "no such container", 500: "server error" };
      // Always a stream: dockerode would buffer a non-follow answer whole (and JSON-parse it).
      const path = `/containers/${Id}/logs?`;
      const res = await call(
        signal,
        doing,
        (s) => dial<Readable>(streams, { path, method: "GET", options, isStream: true, statusCodes, abortSignal: s }),
        {
          status: about(ref),
        },
      );
      release = hold(res, signal);
      if (signal.aborted) return;
      yield* readLines(res, !info.Config.Tty, signal);
    } catch (e) {
      if (signal.aborted) return; // an aborted follow simply ends
      throw translate(e, doing, signal);
    } finally {
      release?.();
    }
  }

  async function* pull(image: string, signal: AbortSignal) {
    checkImage(image);
    const failed = (notFound: boolean, msg: string, cause: unknown) =>
      fail(
        notFound || /not found|manifest unknown|does not exist|pull access denied|no such image/i.test(msg) ? "NOT_FOUND" : "UNAVAILABLE",
        `Could not pull image "${image}" ${on}: ${msg}. Check the image name, or ask the operator to load the image on that host.`,
        cause,
      );
    let release: (() => void) | undefined;
    try {
      // No deadline: the engine answers once the registry does, which can take long; the caller's signal bounds it.
      const res = await call(signal, `pulling image "${image}"`, (s) => streams.pull(image, { abortSignal: s }) as Promise<Readable>, {
        deadlineMs: null,
        status: (code, msg, cause) => failed(code === 404, msg, cause),
      });
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

  async function exec(ref: string, cmd: readonly string[], signal: AbortSignal): Promise<ExecHandle> {
    const { Id } = await resolve(ref, signal);
    const doing = `running a command in "${ref}"`;
    const status = about(ref, (code) =>
      code === 409 ? `Container "${ref}" is not running ${on}. Start it first with /berth start ${ref}.` : undefined,
    );
    const create = { Cmd: [...cmd], AttachStdin: false, AttachStdout: true, AttachStderr: true, Tty: false };
    const ex = await call(signal, doing, (s) => calls.getContainer(Id).exec({ ...create, abortSignal: s }), { status });
    const start = { hijack: true, stdin: false, Detach: false, Tty: false };
    const sock = await call(signal, doing, (s) => streams.getExec(ex.id).start({ ...start, abortSignal: s }), { status });
    const release = hold(sock, signal);
    const ended = Promise.withResolvers<void>();
    let reading = false;
    const lines = (async function* () {
      reading = true;
      try {
        yield* readLines(sock, true, signal);
      } catch (e) {
        if (!signal.aborted) throw translate(e, doing, signal);
      } finally {
        release();
        ended.resolve();
      }
    })();
    async function exitCode(): Promise<number> {
      if (!reading) for await (const _line of lines); // nobody reads the output: drain it so the command can finish
      await ended.promise;
      // The output can end a moment before the engine records the exit code.
      const deadline = Date.now() + conn.timeoutMs;
      for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
        const info = await call(signal, doing, (s) => calls.getExec(ex.id).inspect({ abortSignal: s }));
        if (!info.Running && info.ExitCode !== null) return info.ExitCode;
        if (Date.now() > deadline)
          throw fail("TIMEOUT", `The command in "${ref}" ${on} is still running after its output ended; its exit code is not known yet.`);
        await sleep(delay, undefined, { signal }).catch((e: unknown) => Promise.reject(translate(e, doing, signal)));
      }
    }
    return { lines, exitCode };
  }

  return {
    name: conn.name,
    async info(signal) {
      const [version, info] = await Promise.all([
        call(signal, "reading the engine version", get<Docker.DockerVersion>("/version")),
        call(signal, "reading the engine info", get<{ OSType?: string; OperatingSystem?: string; KernelVersion?: string }>("/info")),
      ]);
      const kernel = info.KernelVersion ? `kernel ${info.KernelVersion}` : "";
      return {
        name: conn.name,
        osType: info.OSType ?? version.Os,
        osVersion: info.OperatingSystem && kernel ? `${info.OperatingSystem} (${kernel})` : info.OperatingSystem || kernel,
        engineVersion: version.Version,
        apiVersion: version.ApiVersion,
      };
    },
    async hasImage(image, signal) {
      checkImage(image);
      return call(signal, `looking for image "${image}"`, get(`/images/${image}/json`)).then(
        () => true,
        (e: unknown) => (e instanceof BerthError && e.code === "NOT_FOUND" ? false : Promise.reject(e)),
      );
    },
    pull,
    async run(spec, signal) {
      const body: Docker.ContainerCreateOptions = {
        Image: spec.image,
        ...(spec.cmd.length > 0 ? { Cmd: [...spec.cmd] } : {}),
        Env: spec.env.map((e) => `${e.name}=${e.value}`),
        Labels: { ...spec.labels, [labels.managed]: "true" },
        Tty: spec.tty,
        HostConfig: {
          Memory: spec.memoryBytes,
          NanoCpus: spec.nanoCpus,
          PidsLimit: spec.pidsLimit,
          NetworkMode: spec.networkMode,
          Privileged: spec.privileged,
          ...(spec.mounts.length && { Binds: spec.mounts.map((m) => `${m.source}:${m.target}${m.readOnly ? ":ro" : ""}`) }),
          AutoRemove: spec.autoRemove,
          CapDrop: ["NET_RAW"], // raw sockets only serve packet crafting/spoofing; ping works without them since Docker 20.10
          SecurityOpt: ["no-new-privileges"],
          ReadonlyRootfs: false,
          ...(spec.isolation ? { Isolation: spec.isolation } : {}),
        },
      };
      const _query = { ...(spec.name ? { name: spec.name } : {}), ...(spec.platform ? { platform: spec.platform } : {}) };
      const created = await call(
        signal,
        `creating a container from "${spec.image}"`,
        (s) => calls.createContainer({ _query, _body: body, abortSignal: s } as Docker.ContainerCreateOptions),
        {
          status: (code, msg, cause) =>
            code === 409 && spec.name
              ? fail(
                  "CONFLICT",
                  `A container named "${spec.name}" already exists ${on}; pick another --name or remove it with /berth rm ${spec.name}`,
                  cause,
                )
              : code === 404
                ? fail(
                    "NOT_FOUND",
                    `Image "${spec.image}"${spec.platform ? ` for ${spec.platform}` : ""} is not ${on} (${msg}). Pull it first, or ask the operator to load the image on that host.`,
                    cause,
                  )
                : undefined,
        },
      );
      const wanted = spec.name ?? spec.image;
      try {
        const info = await inspectRaw(created.id, wanted, signal); // before start: an auto-removed container may vanish
        await call(signal, `starting "${wanted}"`, (s) => calls.getContainer(created.id).start({ abortSignal: s }));
        return { id: created.id.slice(0, 12), name: info.Name.replace(/^\//, "") };
      } catch (e) {
        // A created-but-never-started container would hold the name and clutter `ps -a`.
        const cleanup = (s: AbortSignal) => calls.getContainer(created.id).remove({ force: true, v: true, abortSignal: s });
        await call(new AbortController().signal, "cleaning up", cleanup).catch(() => undefined);
        throw e;
      }
    },
    async list({ all }, signal) {
      return (await listRaw(all, signal)).map(summarize);
    },
    async inspect(ref, signal) {
      const c = await resolve(ref, signal);
      return details(c, await inspectRaw(c.Id, ref, signal));
    },
    async secretValues(ref, signal) {
      const c = await resolve(ref, signal);
      const env = (await inspectRaw(c.Id, ref, signal)).Config.Env ?? [];
      return env.map((e) => e.slice(e.indexOf("=") + 1)).filter((v) => v.length >= 4);
    },
    logs,
    async wait(ref, signal) {
      const { Id } = await resolve(ref, signal);
      const r = await call(signal, `waiting for "${ref}" to exit`, (s) => streams.getContainer(Id).wait({ abortSignal: s }), {
        deadlineMs: null,
        status: about(ref),
      });
      const oomKilled = await inspectRaw(Id, ref, signal).then(
        (i) => i.State.OOMKilled,
        (e: unknown) => (e instanceof BerthError && e.code === "NOT_FOUND" ? false : Promise.reject(e)), // auto-removed
      );
      return { exitCode: Number((r as { StatusCode?: unknown }).StatusCode), oomKilled };
    },
    stop: (ref, signal) =>
      act(
        ref,
        signal,
        "stopping",
        (c, s) => c.stop({ t: graceSeconds, abortSignal: s }),
        true,
        (code) =>
          code === 304 ? `Container "${ref}" is already stopped ${on}; nothing changed. Start it with /berth start ${ref}.` : undefined,
      ),
    start: (ref, signal) =>
      act(
        ref,
        signal,
        "starting",
        (c, s) => c.start({ abortSignal: s }),
        false,
        (code) =>
          code === 304
            ? `Container "${ref}" is already running ${on}; nothing changed. Use /berth restart ${ref} to restart it.`
            : undefined,
      ),
    restart: (ref, signal) => act(ref, signal, "restarting", (c, s) => c.restart({ t: graceSeconds, abortSignal: s }), true),
    // v: anonymous volumes declared by the image would otherwise pile up on the host.
    remove: (ref, { force }, signal) =>
      act(
        ref,
        signal,
        "removing",
        (c, s) => c.remove({ force, v: true, abortSignal: s }),
        false,
        (code, msg) =>
          code !== 409
            ? undefined
            : /already in progress/i.test(msg)
              ? `Container "${ref}" ${on} is already being removed.`
              : `Container "${ref}" is running; stop it first or use /berth rm -f ${ref}`,
      ),
    exec,
    close() {
      for (const stream of open) stream.destroy();
      open.clear();
      agent?.destroy();
    },
  };
}

function connectionOptions(conn: DockerConnection): { options: Docker.DockerOptions & { agent?: http.Agent }; agent?: http.Agent } {
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
    const sshOptions = sshAuth ? { agent: sshAuth } : {};
    return { options: { host, port: Number(url.port || 22), protocol: "ssh", ...username, sshOptions } };
  }
  throw bad("use unix:///path/to/docker.sock, tcp://host:port or ssh://user@host");
}

function checkImage(image: string): void {
  if (image.length <= 512 && imageRef.test(image)) return;
  throw new BerthError(
    "INVALID",
    `"${image}" is not a valid image reference. Use a name like "alpine:3.20" or "registry.example.com/team/app:1.2".`,
  );
}

function engineMessage(e: unknown): string {
  const json = (e as { json?: unknown }).json;
  if (json && typeof json === "object" && "message" in json && typeof json.message === "string") return json.message.trim();
  return String((e as Error).message ?? e)
    .replace(/^\(HTTP code \d+\) [^-]*- /, "")
    .trim();
}

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
};

function connectionReason(e: unknown): string {
  const { code, message } = (e ?? {}) as { code?: unknown; message?: unknown };
  const text = typeof message === "string" ? message : String(e);
  if (typeof code !== "string") return text;
  if (code === "EPROTO" || /CERT|SSL|TLS|OSSL|SELF_SIGNED|UNABLE_TO/.test(code)) {
    const openssl = /:error:[0-9A-F]+:[^:]*:[^:]*:([^:]+)/.exec(text)?.[1]; // "…:SSL routines:fn:wrong version number:file:line"
    return `the TLS handshake failed (${openssl ?? text.trim()})`;
  }
  return reasons[code] ?? text;
}

const when = (s: string | undefined) => (!s || s.startsWith("0001-01-01") ? null : new Date(s));

function containerName(names: readonly string[]): string {
  return (names.find((n) => n.lastIndexOf("/") === 0) ?? names[0] ?? "").replace(/^\//, "");
}

function summarize(c: Docker.ContainerInfo): ContainerSummary {
  const { Image: image, State: state, Status: status } = c;
  return {
    id: c.Id.slice(0, 12),
    name: containerName(c.Names),
    image,
    state,
    status,
    createdAt: new Date(c.Created * 1000),
    labels: c.Labels ?? {},
  };
}

function details(c: Docker.ContainerInfo, i: Docker.ContainerInspectInfo): ContainerDetails {
  const { State: state, Config: config, HostConfig: hc } = i;
  const finishedAt = when(state.FinishedAt);
  return {
    ...summarize(c),
    image: config.Image,
    state: state.Status,
    labels: config.Labels ?? {},
    cmd: config.Cmd ?? [],
    envNames: (config.Env ?? []).map((e) => e.split("=", 1)[0] ?? ""), // values never leave the adapter
    exitCode: state.Running || finishedAt === null ? null : state.ExitCode,
    startedAt: when(state.StartedAt),
    finishedAt,
    restartCount: i.RestartCount,
    oomKilled: state.OOMKilled,
    tty: config.Tty,
    memoryBytes: hc.Memory ?? 0,
    nanoCpus: hc.NanoCpus ?? 0,
    pidsLimit: hc.PidsLimit ?? 0,
    networkMode: hc.NetworkMode ?? "",
    privileged: hc.Privileged ?? false,
  };
}
