/**
 * ContainerEngine over the Docker Engine API (dockerode). The only importer of the SDK: every dockerode error is
 * turned into a BerthError here, and only containers labelled io.berth.managed=true are ever visible or touched.
 *
 * State conflicts are reported, never silently ignored: stopping a stopped container or starting a running one
 * (HTTP 304) is CONFLICT, so the person in Slack learns that their command changed nothing.
 */
import http from "node:http";
import https from "node:https";
import type { Duplex, Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import Docker from "dockerode";
import { BerthError } from "../errors.ts";
import { createDemuxer, createLineSplitter, type Piece } from "./docker-lines.ts";
import { labels } from "./ports.ts";
import type {
  ContainerDetails,
  ContainerEngine,
  ContainerSummary,
  DockerConnection,
  ExecHandle,
  LogLine,
  LogQuery,
  PullProgress,
  RunSpec,
} from "./ports.ts";

const stopGraceSeconds = 10;
const hexRef = /^[0-9a-f]{4,64}$/;
const nameRef = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
// Docker's reference grammar. Refs end up in request paths, and the modem follows redirects (a "../" path gets a
// 301) on a request with no error handler, which crashes the process: never send an unchecked ref.
const component = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const domain = "[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?";
const imageRef = new RegExp(
  `^(?:${domain}/)?${component}(?:/${component})*(?::\\w[\\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$`,
);

type StatusMap = (code: number, message: string, cause: unknown) => BerthError | undefined;
type CallOptions = { deadlineMs?: number | null; status?: StatusMap };
type DialOptions = Parameters<Docker["modem"]["dial"]>[0];

export function createDockerEngine(conn: DockerConnection): ContainerEngine {
  const { options, agent } = connectionOptions(conn);
  // The modem timeout is a socket idle timeout: it would also cut a quiet `logs -f`, `wait` or exec stream. Long or
  // streaming calls use `streams` (no modem timeout) and are bounded by their own deadline or the caller's signal.
  const calls = new Docker({ ...options, timeout: conn.timeoutMs });
  const streams = new Docker(options);
  const open = new Set<Readable | Duplex>();
  const host = `host ${conn.name}`;

  const unreachable = (reason: string, cause?: unknown) =>
    new BerthError(
      "UNAVAILABLE",
      `Docker engine "${conn.name}" is unreachable at ${conn.url}: ${reason}. Check that the engine is running and berth can reach it.`,
      { cause },
    );
  const notFound = (ref: string, cause?: unknown) =>
    new BerthError("NOT_FOUND", `No berth container "${ref}" on ${host}. Run \`/berth ps -a\` to see berth's containers.`, {
      cause,
    });
  const onContainer: (ref: string) => StatusMap = (ref) => (code, _m, cause) =>
    code === 404 ? notFound(ref, cause) : undefined;

  function translate(e: unknown, doing: string, signal: AbortSignal, status?: StatusMap): BerthError {
    if (e instanceof BerthError) return e;
    if (signal.aborted) return new BerthError("CANCELLED", `Cancelled while ${doing} on ${host}.`, { cause: e });
    const code = (e as { statusCode?: unknown } | null)?.statusCode;
    if (typeof code !== "number") return unreachable(connectionReason(e), e);
    const msg = engineMessage(e);
    const mapped = status?.(code, msg, e);
    if (mapped) return mapped;
    if (code === 400) return new BerthError("INVALID", `Docker on ${host} refused ${doing}: ${msg}. Check the command and its options.`, { cause: e });
    if (code === 404) return new BerthError("NOT_FOUND", `Not found while ${doing} on ${host}: ${msg}.`, { cause: e });
    if (code === 409 || code === 304) return new BerthError("CONFLICT", `Could not finish ${doing} on ${host}: ${msg || "wrong state"}.`, { cause: e });
    return new BerthError("UNAVAILABLE", `Docker on ${host} failed while ${doing}: ${msg}. Try again; if it keeps failing, ask the operator to check the engine.`, { cause: e });
  }

  /** One engine request, bounded by the caller's signal and a deadline (default conn.timeoutMs; null = none). */
  async function call<T>(signal: AbortSignal, doing: string, fn: (s: AbortSignal) => Promise<T>, opts: CallOptions = {}): Promise<T> {
    if (signal.aborted) throw translate(signal.reason, doing, signal);
    const deadline = opts.deadlineMs === undefined ? conn.timeoutMs : opts.deadlineMs;
    const ctl = new AbortController();
    // dockerode never settles a non-streaming call aborted mid-body, so we race instead of awaiting it alone.
    const stopped = Promise.withResolvers<never>();
    let timedOut = false;
    const onAbort = () => {
      ctl.abort();
      stopped.reject(signal.reason);
    };
    const timer =
      deadline === null
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            ctl.abort();
            stopped.reject(new Error("deadline"));
          }, deadline);
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

  function dial<T>(docker: Docker, o: DialOptions): Promise<T> {
    return new Promise((resolve, reject) => docker.modem.dial(o, (err, data) => (err ? reject(err) : resolve(data as T))));
  }
  const get =
    <T>(path: string) =>
    (s: AbortSignal) =>
      dial<T>(calls, { path, method: "GET", abortSignal: s, statusCodes: { 200: true, 404: "not found", 500: "server error" } });

  const listRaw = (all: boolean, signal: AbortSignal) =>
    call(signal, "listing containers", (s) =>
      calls.listContainers({ all, filters: { label: [`${labels.managed}=true`] }, abortSignal: s }),
    );

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
      throw new BerthError("CONFLICT", `"${ref}" matches ${hits.length} berth containers on ${host}: ${list.join(", ")}. Use more of the id, or the name.`);
    }
    if (nameRef.test(want)) {
      const other = await call(signal, `looking up "${ref}"`, (s) => calls.getContainer(want).inspect({ abortSignal: s }), {
        status: onContainer(ref),
      }).catch((e: unknown) => {
        if (e instanceof BerthError && e.code === "NOT_FOUND") return undefined;
        throw e;
      });
      if (other && (other.Name === `/${want}` || (hexRef.test(lower) && other.Id.startsWith(lower)))) {
        throw new BerthError("NOT_FOUND", `Container "${ref}" on ${host} was not started by berth, and berth only manages containers it started. Run \`/berth ps -a\` to see berth's containers.`);
      }
    }
    throw notFound(ref);
  }

  const inspectRaw = (id: string, ref: string, signal: AbortSignal) =>
    call(signal, `inspecting "${ref}"`, (s) => calls.getContainer(id).inspect({ abortSignal: s }), { status: onContainer(ref) });

  /** Reads a raw or multiplexed stream as lines; stops at the next line once `signal` is aborted. */
  async function* readLines(source: AsyncIterable<Buffer>, multiplexed: boolean, signal: AbortSignal): AsyncGenerator<LogLine> {
    const demux = multiplexed ? createDemuxer() : undefined;
    const split = createLineSplitter();
    for await (const chunk of source) {
      const pieces: Piece[] = demux ? demux(chunk) : [{ stream: "stdout", data: chunk }];
      for (const piece of pieces) {
        for (const line of split.push(piece.stream, piece.data)) {
          yield line;
          if (signal.aborted) return;
        }
      }
    }
    yield* split.end();
  }

  /** Keeps a stream on the close() list and destroys it when the caller aborts; returns the cleanup. */
  function hold(stream: Readable | Duplex, signal: AbortSignal): () => void {
    const onAbort = () => stream.destroy();
    stream.on("error", () => {}); // surfaces through iteration; a stray 'error' event must not crash the process
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
      const c = await resolve(ref, signal);
      const info = await inspectRaw(c.Id, ref, signal);
      const options = {
        follow: query.follow,
        stdout: true,
        stderr: true,
        timestamps: false,
        tail: query.tail === undefined ? "all" : Math.max(0, Math.floor(query.tail)),
        ...(query.sinceSeconds === undefined ? {} : { since: Math.floor(Date.now() / 1000 - query.sinceSeconds) }),
      };
      const res = await call(signal, doing, (s) =>
        dial<Readable>(streams, {
          path: `/containers/${c.Id}/logs?`,
          method: "GET",
          options,
          isStream: true,
          abortSignal: s,
          statusCodes: { 200: true, 404: "no such container", 500: "server error" },
        }),
        { status: onContainer(ref) },
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

  async function* pull(image: string, signal: AbortSignal): AsyncGenerator<PullProgress> {
    checkImage(image);
    const doing = `pulling image "${image}"`;
    const failed = (notFound: boolean, msg: string, cause: unknown) =>
      new BerthError(
        notFound || /not found|manifest unknown|does not exist|pull access denied|no such image/i.test(msg) ? "NOT_FOUND" : "UNAVAILABLE",
        `Could not pull image "${image}" on ${host}: ${msg}. Check the image name, or ask the operator to load the image on that host.`,
        { cause },
      );
    let release: (() => void) | undefined;
    try {
      // No deadline: the engine answers only once the registry does, which can take long; the signal bounds it.
      const res = await call(signal, doing, (s) => streams.pull(image, { abortSignal: s }) as Promise<Readable>, {
        deadlineMs: null,
        status: (code, msg, cause) => failed(code === 404, msg, cause),
      });
      release = hold(res, signal);
      const split = createLineSplitter(1 << 20);
      const parse = function* (lines: LogLine[]): Generator<PullProgress> {
        for (const { text } of lines) {
          const p = parseJson(text);
          if (!p) continue;
          if (typeof p.error === "string") throw failed(false, p.error, p);
          const detail = (p.progressDetail ?? {}) as { current?: unknown; total?: unknown };
          yield {
            status: String(p.status ?? ""),
            id: typeof p.id === "string" ? p.id : undefined,
            current: typeof detail.current === "number" ? detail.current : undefined,
            total: typeof detail.total === "number" ? detail.total : undefined,
          };
        }
      };
      for await (const chunk of res as AsyncIterable<Buffer>) yield* parse(split.push("stdout", chunk));
      yield* parse(split.end());
    } catch (e) {
      throw translate(e, doing, signal);
    } finally {
      release?.();
    }
  }

  async function exec(ref: string, cmd: readonly string[], signal: AbortSignal): Promise<ExecHandle> {
    const c = await resolve(ref, signal);
    const doing = `running a command in "${ref}"`;
    const status: StatusMap = (code, _m, cause) =>
      code === 409
        ? new BerthError("CONFLICT", `Container "${ref}" is not running on ${host}. Start it first with /berth start ${ref}.`, { cause })
        : onContainer(ref)(code, _m, cause);
    const opts = { Cmd: [...cmd], AttachStdin: false, AttachStdout: true, AttachStderr: true, Tty: false };
    const ex = await call(signal, doing, (s) => calls.getContainer(c.Id).exec({ ...opts, abortSignal: s }), { status });
    const sock = await call(signal, doing, (s) => streams.getExec(ex.id).start({ hijack: true, stdin: false, Detach: false, Tty: false, abortSignal: s }), { status });
    const release = hold(sock, signal);
    const ended = Promise.withResolvers<void>();
    let started = false;
    const lines = (async function* (): AsyncGenerator<LogLine> {
      started = true;
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
      if (!started) for await (const _line of lines); // nobody reads the output: drain it so the command can finish
      await ended.promise;
      // The output can end a moment before the engine records the exit code.
      const deadline = Date.now() + conn.timeoutMs;
      for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
        const info = await call(signal, doing, (s) => calls.getExec(ex.id).inspect({ abortSignal: s }));
        if (!info.Running && info.ExitCode !== null) return info.ExitCode;
        if (Date.now() > deadline) {
          throw new BerthError("TIMEOUT", `The command in "${ref}" on ${host} is still running after its output ended; its exit code is not known yet.`);
        }
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
      const os = [info.OperatingSystem, info.KernelVersion && `kernel ${info.KernelVersion}`].filter(Boolean);
      return {
        name: conn.name,
        osType: info.OSType ?? version.Os,
        osVersion: os.length === 2 ? `${os[0]} (${os[1]})` : os.join(""),
        engineVersion: version.Version,
        apiVersion: version.ApiVersion,
      };
    },
    async hasImage(image, signal) {
      checkImage(image);
      try {
        await call(signal, `looking for image "${image}"`, get(`/images/${image}/json`));
        return true;
      } catch (e) {
        if (e instanceof BerthError && e.code === "NOT_FOUND") return false;
        throw e;
      }
    },
    pull,
    async run(spec: RunSpec, signal) {
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
          AutoRemove: spec.autoRemove,
          // NET_RAW only serves packet crafting and spoofing; since Docker 20.10, ping works without it.
          CapDrop: ["NET_RAW"],
          SecurityOpt: ["no-new-privileges"],
          ReadonlyRootfs: false,
          ...(spec.isolation ? { Isolation: spec.isolation } : {}),
        },
      };
      const _query = { ...(spec.name ? { name: spec.name } : {}), ...(spec.platform ? { platform: spec.platform } : {}) };
      const wanted = spec.name ?? spec.image;
      const created = await call(signal, `creating a container from "${spec.image}"`,
        (s) => calls.createContainer({ _query, _body: body, abortSignal: s } as Docker.ContainerCreateOptions),
        {
          status: (code, msg, cause) =>
            code === 409 && spec.name
              ? new BerthError("CONFLICT", `A container named "${spec.name}" already exists on ${host}; pick another --name or remove it with /berth rm ${spec.name}`, { cause })
              : code === 404
                ? new BerthError("NOT_FOUND", `Image "${spec.image}" is not on ${host} (${msg}). Pull it first, or ask the operator to load the image on that host.`, { cause })
                : undefined,
        },
      );
      try {
        const info = await inspectRaw(created.id, wanted, signal); // before start: an auto-removed container may vanish
        await call(signal, `starting "${wanted}"`, (s) => calls.getContainer(created.id).start({ abortSignal: s }), {
          status: (code, msg, cause) =>
            code === 400
              ? new BerthError("INVALID", `Container "${wanted}" could not start on ${host}: ${msg}. Check the command and the image.`, { cause })
              : undefined,
        });
        return { id: created.id.slice(0, 12), name: info.Name.replace(/^\//, "") };
      } catch (e) {
        // A created-but-never-started container would hold the name and clutter `ps -a`.
        await call(new AbortController().signal, "cleaning up", (s) =>
          calls.getContainer(created.id).remove({ force: true, v: true, abortSignal: s }),
        ).catch(() => undefined);
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
    logs,
    async wait(ref, signal) {
      const c = await resolve(ref, signal);
      const r = await call(signal, `waiting for "${ref}" to exit`, (s) => streams.getContainer(c.Id).wait({ abortSignal: s }), {
        deadlineMs: null,
        status: onContainer(ref),
      });
      const oomKilled = await inspectRaw(c.Id, ref, signal).then(
        (i) => i.State.OOMKilled,
        (e: unknown) => (e instanceof BerthError && e.code === "NOT_FOUND" ? false : Promise.reject(e)), // auto-removed
      );
      return { exitCode: Number((r as { StatusCode?: unknown }).StatusCode), oomKilled };
    },
    async stop(ref, signal) {
      const c = await resolve(ref, signal);
      await call(signal, `stopping "${ref}"`, (s) => streams.getContainer(c.Id).stop({ t: stopGraceSeconds, abortSignal: s }), {
        deadlineMs: conn.timeoutMs + stopGraceSeconds * 1000,
        status: (code, msg, cause) =>
          code === 304
            ? new BerthError("CONFLICT", `Container "${ref}" is already stopped on ${host}; nothing changed. Start it with /berth start ${ref}.`, { cause })
            : onContainer(ref)(code, msg, cause),
      });
    },
    async start(ref, signal) {
      const c = await resolve(ref, signal);
      await call(signal, `starting "${ref}"`, (s) => calls.getContainer(c.Id).start({ abortSignal: s }), {
        status: (code, msg, cause) =>
          code === 304
            ? new BerthError("CONFLICT", `Container "${ref}" is already running on ${host}; nothing changed. Use /berth restart ${ref} to restart it.`, { cause })
            : onContainer(ref)(code, msg, cause),
      });
    },
    async restart(ref, signal) {
      const c = await resolve(ref, signal);
      await call(signal, `restarting "${ref}"`, (s) => streams.getContainer(c.Id).restart({ t: stopGraceSeconds, abortSignal: s }), {
        deadlineMs: conn.timeoutMs + stopGraceSeconds * 1000,
        status: onContainer(ref),
      });
    },
    async remove(ref, { force }, signal) {
      const c = await resolve(ref, signal);
      // v: anonymous volumes declared by the image would otherwise pile up on the host.
      await call(signal, `removing "${ref}"`, (s) => calls.getContainer(c.Id).remove({ force, v: true, abortSignal: s }), {
        status: (code, msg, cause) =>
          code !== 409
            ? onContainer(ref)(code, msg, cause)
            : /already in progress/i.test(msg)
              ? new BerthError("CONFLICT", `Container "${ref}" on ${host} is already being removed.`, { cause })
              : new BerthError("CONFLICT", `Container "${ref}" is running; stop it first or use /berth rm -f ${ref}`, { cause }),
      });
    },
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
    new BerthError("CONFIG", `Host "${conn.name}" has an unusable Docker URL "${conn.url}": ${why}. Use unix:///path, tcp://host:port or ssh://user@host.`);
  if (conn.url.startsWith("unix://")) {
    const socketPath = conn.url.slice("unix://".length);
    if (!socketPath.startsWith("/")) throw bad("the socket path must be absolute");
    const agent = new http.Agent({ keepAlive: false });
    return { options: { socketPath, agent }, agent };
  }
  let url: URL;
  try {
    url = new URL(conn.url);
  } catch (e) {
    throw bad(e instanceof Error ? e.message : "not a URL");
  }
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (url.protocol === "tcp:") {
    const port = Number(url.port || (conn.tls ? 2376 : 2375));
    if (!conn.tls) {
      const agent = new http.Agent({ keepAlive: false });
      return { options: { host: hostname, port, protocol: "http", agent }, agent };
    }
    const agent = new https.Agent({ keepAlive: false });
    const { ca, cert, key } = conn.tls;
    return { options: { host: hostname, port, protocol: "https", ca, cert, key, agent }, agent };
  }
  if (url.protocol === "ssh:") {
    // docker-modem opens one SSH connection per request (`docker system dial-stdio`) and closes it with the stream.
    const sshAgent = process.env.SSH_AUTH_SOCK;
    return {
      options: {
        host: hostname,
        port: Number(url.port || 22),
        protocol: "ssh",
        ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
        sshOptions: sshAgent ? { agent: sshAgent } : {},
      },
    };
  }
  throw bad(`unsupported scheme "${url.protocol}"`);
}

function checkImage(image: string): void {
  if (image.length > 512 || !imageRef.test(image)) {
    throw new BerthError("INVALID", `"${image}" is not a valid image reference. Use a name like "alpine:3.20" or "registry.example.com/team/app:1.2".`);
  }
}

function engineMessage(e: unknown): string {
  const json = (e as { json?: unknown }).json;
  if (json && typeof json === "object" && "message" in json && typeof json.message === "string") return json.message.trim();
  return String((e as Error).message ?? e).replace(/^\(HTTP code \d+\) [^-]*- /, "").trim();
}

function connectionReason(e: unknown): string {
  const { code, message } = (e ?? {}) as { code?: unknown; message?: unknown };
  const text = typeof message === "string" ? message : String(e);
  switch (code) {
    case "ENOENT":
      return "there is no socket at that path";
    case "ECONNREFUSED":
      return "connection refused";
    case "EACCES":
    case "EPERM":
      return "permission denied on the socket";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "the host is unreachable";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "the host name does not resolve";
    case "ETIMEDOUT":
      return "the connection timed out";
    case "ECONNRESET":
    case "EPIPE":
      return "the connection was dropped";
  }
  if (typeof code === "string" && /CERT|SSL|TLS|OSSL|SELF_SIGNED|UNABLE_TO/.test(code)) return `TLS handshake failed (${text})`;
  return text;
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === "object" ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const when = (s: string | undefined) => (!s || s.startsWith("0001-01-01") ? null : new Date(s));

function containerName(names: readonly string[]): string {
  const name = names.find((n) => n.lastIndexOf("/") === 0) ?? names[0] ?? "";
  return name.replace(/^\//, "");
}

function summarize(c: Docker.ContainerInfo): ContainerSummary {
  return {
    id: c.Id.slice(0, 12),
    name: containerName(c.Names),
    image: c.Image,
    state: c.State,
    status: c.Status,
    createdAt: new Date(c.Created * 1000),
    labels: c.Labels ?? {},
  };
}

function details(c: Docker.ContainerInfo, i: Docker.ContainerInspectInfo): ContainerDetails {
  const finishedAt = when(i.State.FinishedAt);
  return {
    ...summarize(c),
    image: i.Config.Image,
    state: i.State.Status,
    labels: i.Config.Labels ?? {},
    cmd: i.Config.Cmd ?? [],
    envNames: (i.Config.Env ?? []).map((e) => e.split("=", 1)[0] ?? ""), // values never leave the adapter
    exitCode: i.State.Running || finishedAt === null ? null : i.State.ExitCode,
    startedAt: when(i.State.StartedAt),
    finishedAt,
    restartCount: i.RestartCount,
    oomKilled: i.State.OOMKilled,
    tty: i.Config.Tty,
    memoryBytes: i.HostConfig.Memory ?? 0,
    nanoCpus: i.HostConfig.NanoCpus ?? 0,
    pidsLimit: i.HostConfig.PidsLimit ?? 0,
    networkMode: i.HostConfig.NetworkMode ?? "",
    privileged: i.HostConfig.Privileged ?? false,
  };
}
