// Past 400 lines: one closure over the dockerode client (containers, logs, exec, events, Swarm); issue 12 splits it.
/**
 * ContainerEngine over the Docker Engine API (dockerode), the only importer of the SDK. Every dockerode error becomes
 * a BerthError here, and only berth's own containers (see `isOwned`: this installation's, with a job) are visible or
 * touched.
 *
 * "Already stopped/running" (HTTP 304) is CONFLICT, never a silent no-op, so the person in Slack learns that their
 * command changed nothing. Aborting a logs or exec stream just ends it; aborting anything else throws CANCELLED.
 */
import { createHash } from "node:crypto";
import http from "node:http";
import https from "node:https";
import type { Duplex, Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import tls from "node:tls";
import Docker from "dockerode";
import { BerthError, type ErrorCode } from "../core/errors.ts";
import { readJsonLines, readLines } from "./docker-lines.ts";
import type {
  ContainerDetails,
  ContainerEngine,
  ContainerEvent,
  ContainerSummary,
  Convergence,
  DockerConnection,
  EngineInfo,
  ExecHandle,
  Isolation,
  LogLine,
  LogQuery,
  RunSpec,
  ServiceChange,
  ServiceLogQuery,
} from "./ports.ts";
import { isOwned, labels, ownerFilters } from "./ports.ts";
import {
  changedSpec,
  convergence,
  hostnames,
  newestFirst,
  parseNodes,
  parseService,
  parseServices,
  parseTasks,
  previousImage,
  type RawService,
  summarizeService,
  toServiceTask,
} from "./swarm-convergence.ts";

const graceSeconds = 10; // stop/restart: SIGTERM, then SIGKILL this much later
/** Docker reads Memory 0 and NanoCpus 0 as "no limit", and refuses memory below 6 MiB. */
const minMemoryBytes = 6 * 1024 ** 2;
const minNanoCpus = 10_000_000;
/** The newest Engine API berth is written against (Docker 27.5); newer engines are spoken to in this version. */
const berthMaxApi = "1.47";
/** The oldest API berth speaks: the minimum of every Windows engine up to 28.x, and of Docker 1.12. */
const berthMinApi = "1.24";
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
  // An ssh:// "socket" is an SSH channel, which has no setTimeout: Node would throw from inside the request, crashing
  // the process. There `call`'s own deadline is the only bound.
  const calls = new Docker(options.protocol === "ssh" ? options : { ...options, timeout: conn.timeoutMs });
  const streams = new Docker(options);
  const negotiation = negotiator(conn, calls, streams);
  const open = new Set<Readable | Duplex>();
  const on = `on host ${conn.name}`;
  const fail = (code: ErrorCode, message: string, cause?: unknown) => new BerthError(code, message, { cause });
  const unreachable = (reason: string, cause?: unknown) =>
    fail(
      "UNAVAILABLE",
      `Docker engine "${conn.name}" is unreachable at ${conn.url}: ${reason}. ${/\bTLS\b/.test(reason) ? tlsAdvice : /^SSH login/.test(reason) ? sshAdvice : /SSH host key/.test(reason) ? "If the host was rebuilt on purpose, ask the operator to update its hostKey." : "Check that the engine is running and berth can reach it."}`,
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
      // Every request waits for the API version to be pinned: an unversioned path would get the engine's newest API.
      return await Promise.race([negotiation.api().then(() => fn(ctl.signal)), stopped.promise]);
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
  const installation = conn.installation ?? "";
  const owned = (l: Readonly<Record<string, string>> | undefined) => isOwned(l, installation);
  // Filtered by the engine and checked again here: an engine (or a proxy) that ignores a filter must not widen the set.
  const listRaw = async (all: boolean, signal: AbortSignal) =>
    installation === ""
      ? []
      : (
          await call(signal, "listing containers", (s) =>
            calls.listContainers({ all, filters: { label: ownerFilters(installation) }, abortSignal: s }),
          )
        ).filter((c) => owned(c.Labels));
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
      const reading = query.follow ? `following the logs of "${ref}"` : doing;
      try {
        yield* readLines(res, !info.Config.Tty, signal);
      } catch (e) {
        if (!signal.aborted) throw lost(reading, e);
      }
      // A follow ends when the container stops, and also, without an error, when the engine goes away: tell them apart.
      if (query.follow && !signal.aborted) await stillThere(Id, ref, info.State.StartedAt, reading, signal);
    } catch (e) {
      if (signal.aborted) return; // an aborted follow simply ends
      throw translate(e, doing, signal);
    } finally {
      release?.();
    }
  }

  const lost = (doing: string, cause?: unknown) =>
    fail(
      "UNAVAILABLE",
      `Lost the connection to host "${conn.name}" while ${doing}; the stream ended. Run the command again when the host is back.`,
      cause,
    );

  /**
   * After a follow stream ended by itself: fine when the container stopped, was restarted (as \`docker logs -f\` ends
   * then too) or removed; "lost" when the engine does not answer, or when the same run of the container is still going.
   */
  async function stillThere(id: string, ref: string, startedAt: string, doing: string, signal: AbortSignal): Promise<void> {
    let now: Docker.ContainerInspectInfo;
    try {
      now = await inspectRaw(id, ref, signal);
    } catch (e) {
      if (e instanceof BerthError && e.code === "NOT_FOUND") return; // auto-removed once it exited
      if (e instanceof BerthError && e.code === "UNAVAILABLE") throw lost(doing, e);
      throw e;
    }
    if (now.State.Running && now.State.StartedAt === startedAt) throw lost(doing);
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
    const inspectExec = () => call(signal, doing, (s) => calls.getExec(ex.id).inspect({ abortSignal: s }));
    let first: Docker.ExecInspectInfo | undefined; // taken when the output ended; saves exitCode() a round trip
    const lines = (async function* () {
      reading = true;
      try {
        yield* readLines(sock, true, signal);
        // A hijacked stream just ends when the engine goes away: ask the engine, which has to answer exitCode() anyway.
        if (!signal.aborted) first = await inspectExec();
      } catch (e) {
        if (signal.aborted) return;
        throw e instanceof BerthError && e.code !== "UNAVAILABLE" ? e : lost(doing, e);
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
        const info = first ?? (await inspectExec());
        first = undefined;
        if (!info.Running && info.ExitCode !== null) return info.ExitCode;
        if (Date.now() > deadline)
          throw fail("TIMEOUT", `The command in "${ref}" ${on} is still running after its output ended; its exit code is not known yet.`);
        await sleep(delay, undefined, { signal }).catch((e: unknown) => Promise.reject(translate(e, doing, signal)));
      }
    }
    return { lines, exitCode };
  }

  // Swarm services. Only a manager answers the Swarm API; everything else answers 503. Swarm ids are base-36.
  const swarmId = /^[0-9a-z]{1,64}$/;
  const swarmPrefix = /^[0-9a-z]{4,64}$/;
  const serviceNotFound = (ref: string, cause?: unknown) =>
    fail("NOT_FOUND", `No service "${ref}" on host ${conn.name}. Run /berth service ls to see the services.`, cause);
  const swarmStatus =
    (ref?: string, more?: StatusMap): StatusMap =>
    (code, msg, cause) => {
      if (code === 503 && /not a swarm manager|not part of a swarm/i.test(msg))
        return fail(
          "CONFLICT",
          `Host "${conn.name}" is not a Swarm manager (${msg.replace(/\.$/, "")}). Run service commands against a manager host with -H.`,
          cause,
        );
      return more?.(code, msg, cause) ?? (code === 404 && ref !== undefined ? serviceNotFound(ref, cause) : undefined);
    };
  const swarmCodes = { 200: true, 400: "bad parameter", 404: "not found", 500: "server error", 503: "node is not a swarm manager" };
  const swarmGet = (signal: AbortSignal, doing: string, path: string, options: Record<string, unknown>, ref?: string) =>
    call(
      signal,
      doing,
      (s) => dial<unknown>(calls, { path: `${path}?`, method: "GET", options, statusCodes: swarmCodes, abortSignal: s }),
      { status: swarmStatus(ref) },
    );
  const listTasks = async (signal: AbortSignal, filters: Record<string, string[]>) =>
    parseTasks(await swarmGet(signal, "listing service tasks", "/tasks", { filters }));
  const listNodes = async (signal: AbortSignal) => parseNodes(await swarmGet(signal, "listing swarm nodes", "/nodes", {}));
  /** The inspect JSON as the engine sent it (an update must send back every field) and its parsed view. */
  async function inspectService(id: string, ref: string, signal: AbortSignal) {
    const raw = await swarmGet(signal, `inspecting service "${ref}"`, `/services/${id}`, {}, ref);
    return { raw, service: parseService(raw, `service "${ref}"`) };
  }

  /** Exact id, exact name, or a unique id prefix; only an id the engine gave us goes into a request path. */
  async function findService(ref: string, signal: AbortSignal): Promise<RawService> {
    if (!nameRef.test(ref)) throw serviceNotFound(ref);
    const all = parseServices(await swarmGet(signal, "listing services", "/services", {})).filter((s) => swarmId.test(s.ID));
    const exact = all.find((s) => s.ID === ref) ?? all.find((s) => s.Spec.Name === ref);
    if (exact) return exact;
    const lower = ref.toLowerCase();
    const hits = swarmPrefix.test(lower) ? all.filter((s) => s.ID.startsWith(lower)) : [];
    if (hits[0] && hits.length === 1) return hits[0];
    if (hits.length > 1) {
      const list = hits.slice(0, 5).map((s) => `${s.ID.slice(0, 12)} (${s.Spec.Name})`);
      throw fail("CONFLICT", `"${ref}" matches ${hits.length} services ${on}: ${list.join(", ")}. Use more of the id, or the name.`);
    }
    throw serviceNotFound(ref);
  }

  async function* serviceLogs(query: ServiceLogQuery, signal: AbortSignal): AsyncGenerator<LogLine> {
    const ref = query.service;
    const doing = `reading the logs of service "${ref}"`;
    let release: (() => void) | undefined;
    try {
      const { ID } = await findService(ref, signal);
      const { service } = await inspectService(ID, ref, signal);
      const since = query.sinceSeconds === undefined ? {} : { since: Math.floor(Date.now() / 1000 - query.sinceSeconds) };
      const tail = query.tail === undefined ? "all" : Math.max(0, Math.floor(query.tail));
      const options = { follow: query.follow, stdout: true, stderr: true, timestamps: false, tail, ...since };
      const path = `/services/${ID}/logs?`;
      const res = await call(
        signal,
        doing,
        (s) => dial<Readable>(streams, { path, method: "GET", options, isStream: true, statusCodes: swarmCodes, abortSignal: s }),
        { status: swarmStatus(ref) },
      );
      release = hold(res, signal);
      if (signal.aborted) return;
      // Services created without a TTY (the default) multiplex stdout and stderr, exactly like container logs.
      yield* readLines(res, !service.Spec.TaskTemplate.ContainerSpec?.TTY, signal);
    } catch (e) {
      if (signal.aborted) return;
      throw translate(e, doing, signal);
    } finally {
      release?.();
    }
  }

  async function serviceSecretValues(ref: string, signal: AbortSignal): Promise<string[]> {
    const { ID } = await findService(ref, signal);
    const { service } = await inspectService(ID, ref, signal);
    return envValues(service.Spec.TaskTemplate.ContainerSpec?.Env ?? []);
  }

  async function updateService(ref: string, change: ServiceChange, signal: AbortSignal): Promise<{ warnings: string[] }> {
    if (change.kind === "image") checkImage(change.image);
    if (change.kind === "scale" && !(Number.isSafeInteger(change.replicas) && change.replicas >= 0))
      throw fail("INVALID", `Cannot scale service "${ref}" to ${change.replicas} replicas: give a whole number, 0 or more.`);
    const doing =
      change.kind === "scale"
        ? `scaling service "${ref}" to ${change.replicas}`
        : change.kind === "image"
          ? `updating service "${ref}" to image "${change.image}"`
          : `rolling back service "${ref}"`;
    const status = swarmStatus(ref, (_code, msg, cause) =>
      /does not have a previous spec/i.test(msg)
        ? fail("CONFLICT", `Service ${ref} has no previous version to roll back to.`, cause)
        : undefined,
    );
    const { ID } = await findService(ref, signal);
    for (let attempt = 1; ; attempt++) {
      // The version from a fresh inspect: the engine refuses an update based on a spec someone else has replaced.
      const { raw, service } = await inspectService(ID, ref, signal);
      // The version sent below pins this inspect, so the image checked here is the one the engine brings back.
      const previous = previousImage(service);
      if (change.kind === "rollback" && change.expect !== undefined && previous !== change.expect) {
        throw fail(
          "CONFLICT",
          `Service ${ref} changed since berth checked it: its previous version now runs ${previous ? `\`${previous}\`` : "nothing"}, not \`${change.expect}\`. Nothing was rolled back; run the rollback again.`,
        );
      }
      const _body = changedSpec(service, raw, change);
      // rollback=previous is what `docker service rollback` sends: the engine swaps in PreviousSpec itself.
      const _query = { version: service.Version.Index, ...(change.kind === "rollback" ? { rollback: "previous" } : {}) };
      const path = `/services/${ID}/update?`;
      try {
        const res = await call(
          signal,
          doing,
          (s) => dial<unknown>(calls, { path, method: "POST", options: { _query, _body }, statusCodes: swarmCodes, abortSignal: s }),
          { status },
        );
        const warnings = (res as { Warnings?: unknown } | null)?.Warnings;
        return { warnings: Array.isArray(warnings) ? warnings.filter((w): w is string => typeof w === "string") : [] };
      } catch (e) {
        // Someone changed the service between our inspect and our update: apply the change on top of theirs.
        if (attempt < 3 && e instanceof BerthError && /out of sequence/i.test(engineMessage(e.cause))) continue;
        throw e;
      }
    }
  }

  async function previousServiceImage(ref: string, signal: AbortSignal): Promise<string | undefined> {
    const { ID } = await findService(ref, signal);
    return previousImage((await inspectService(ID, ref, signal)).service);
  }

  async function* watchService(ref: string, signal: AbortSignal): AsyncGenerator<Convergence> {
    const doing = `watching service "${ref}"`;
    try {
      const { ID } = await findService(ref, signal);
      let since: Date | undefined;
      let firstUpdateState: string | undefined;
      let shown = "";
      for (let delay = 500; ; delay = Math.min(delay * 1.5, 2000)) {
        const [{ service }, tasks, nodes] = await Promise.all([
          inspectService(ID, ref, signal),
          listTasks(signal, { service: [ID], "_up-to-date": ["true"] }),
          listNodes(signal),
        ]);
        if (!since) {
          // The change's start on the engine's clock (berth's may differ from a remote engine's): the update's start,
          // else the spec change itself (a scale has no UpdateStatus). The margin absorbs sub-second ordering.
          const began = Date.parse(service.UpdateStatus?.StartedAt ?? service.UpdatedAt ?? "");
          since = new Date((Number.isNaN(began) ? Date.now() : began) - 1000);
          firstUpdateState = service.UpdateStatus?.State;
        }
        const c = convergence({ service, tasks, nodes, since, firstUpdateState });
        const key = JSON.stringify([c.running, c.desired, c.failed.length, c.updateState, c.done]);
        if (key !== shown) {
          shown = key;
          yield c;
        }
        if (c.done) return;
        await sleep(delay, undefined, { signal });
      }
    } catch (e) {
      if (signal.aborted) return;
      throw translate(e, doing, signal);
    }
  }

  async function* events(options: { sinceNano?: bigint | undefined }, signal: AbortSignal): AsyncGenerator<ContainerEvent> {
    const doing = "reading the container events";
    const streamLost = (reason: string, cause?: unknown) =>
      fail("UNAVAILABLE", `Lost the event stream of host ${conn.name}: ${reason}. berth reconnects by itself.`, cause);
    if (installation === "") return; // no installation: no container is berth's, so none has events to tell
    const filters = {
      type: ["container"],
      label: ownerFilters(installation),
      event: ["die", "oom", "health_status"],
    };
    const since = options.sinceNano === undefined ? {} : { since: nanoSince(options.sinceNano) };
    let res: Readable;
    try {
      res = await call(signal, doing, (s) =>
        dial<Readable>(streams, {
          path: "/events?",
          method: "GET",
          options: { filters, ...since },
          isStream: true,
          statusCodes: { 200: true, 400: "bad parameter", 500: "server error" },
          abortSignal: s,
        }),
      );
    } catch (e) {
      if (signal.aborted) return;
      throw e; // not connected: the call's own error says why (UNAVAILABLE when the engine cannot be reached)
    }
    const release = hold(res, signal);
    try {
      for await (const { text } of readLines(res, false, signal)) {
        const event = containerEvent(text);
        if (event && owned(event.labels)) yield event;
      }
    } catch (e) {
      if (signal.aborted) return;
      throw streamLost(connectionReason(e), e);
    } finally {
      release();
    }
    // An engine that stops or restarts ends the stream without an error.
    if (!signal.aborted) throw streamLost("the engine closed it");
  }

  return {
    name: conn.name,
    async info(signal) {
      const [version, info, api] = await Promise.all([
        call(signal, "reading the engine version", get<Docker.DockerVersion>("/version")),
        call(signal, "reading the engine info", get<RawInfo>("/info")),
        call(signal, "connecting to the engine", () => negotiation.api()),
      ]);
      return engineInfo(conn.name, version, info, api);
    },
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
    async run(spec, signal) {
      checkRunSpec(spec, installation);
      const { osType } = await call(signal, "connecting to the engine", () => negotiation.api());
      // A Windows engine refuses Linux-only options outright (docs/reference/windows-engine.md §6 E16/E17), and has no capabilities or
      // no-new-privileges to drop: send only what it accepts. Privileged:false is accepted; true is refused by it.
      const linuxOnly =
        osType === "windows"
          ? {}
          : {
              PidsLimit: spec.pidsLimit,
              CapDrop: ["NET_RAW"], // raw sockets only serve packet crafting/spoofing; ping works without them since Docker 20.10
              SecurityOpt: ["no-new-privileges"],
              ReadonlyRootfs: false,
            };
      const body: Docker.ContainerCreateOptions = {
        Image: spec.image,
        ...(spec.cmd.length > 0 ? { Cmd: [...spec.cmd] } : {}),
        Env: spec.env.map((e) => `${e.name}=${e.value}`),
        Labels: { ...spec.labels, [labels.managed]: "true", [labels.installation]: installation },
        Tty: spec.tty,
        HostConfig: {
          Memory: spec.memoryBytes,
          NanoCpus: spec.nanoCpus,
          NetworkMode: spec.networkMode,
          Privileged: spec.privileged,
          // Mounts, not Binds: structured fields leave no `src:dst:opts` string to smuggle options into.
          ...(spec.mounts.length && {
            Mounts: spec.mounts.map((m) => ({ Type: "bind" as const, Source: m.source, Target: m.target, ReadOnly: m.readOnly })),
          }),
          AutoRemove: spec.autoRemove,
          ...linuxOnly,
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
            /invalid isolation/i.test(msg)
              ? fail("INVALID", isolationRefused(conn.name, osType, spec.isolation), cause)
              : code === 409 && spec.name
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
        await call(signal, `starting "${wanted}"`, (s) => calls.getContainer(created.id).start({ abortSignal: s }), {
          status: (code, msg, cause) => {
            const why =
              code === 500 && osType === "windows" ? windowsStartFailure(conn.name, spec.image, info.HostConfig.Isolation, msg) : undefined;
            return why ? fail("CONFLICT", why, cause) : undefined;
          },
        });
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
      return envValues((await inspectRaw(c.Id, ref, signal)).Config.Env ?? []);
    },
    logs,
    async wait(ref, signal) {
      const { Id } = await resolve(ref, signal);
      const doing = `waiting for "${ref}" to exit`;
      // As a stream, read here: the engine sends the headers at once and the body on exit, and docker-modem does not
      // hear a connection that dies in between, so the buffered form would wait forever on an engine that is gone.
      const statusCodes = { 200: true, 404: "no such container", 500: "server error" };
      const path = `/containers/${Id}/wait?`;
      const res = await call(
        signal,
        doing,
        (s) => dial<Readable>(streams, { path, method: "POST", options: {}, isStream: true, statusCodes, abortSignal: s }),
        { deadlineMs: null, status: about(ref) },
      );
      const release = hold(res, signal);
      let body = "";
      try {
        for await (const chunk of res) body += String(chunk);
      } catch (e) {
        throw translate(e, doing, signal);
      } finally {
        release();
      }
      const r = parseJson(body);
      if (typeof r?.StatusCode !== "number")
        throw fail(
          "UNAVAILABLE",
          `Docker ${on} stopped waiting for "${ref}" without an exit code (${body.trim() || "no answer"}). Try again.`,
        );
      const oomKilled = await inspectRaw(Id, ref, signal).then(
        (i) => i.State.OOMKilled,
        (e: unknown) => (e instanceof BerthError && e.code === "NOT_FOUND" ? false : Promise.reject(e)), // auto-removed
      );
      return { exitCode: r.StatusCode, oomKilled };
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
    events,
    async services(signal) {
      const [all, tasks] = await Promise.all([
        swarmGet(signal, "listing services", "/services", {}).then(parseServices),
        listTasks(signal, { "desired-state": ["running"] }),
      ]);
      return all.map((svc) => summarizeService(svc, tasks)).sort((a, b) => a.name.localeCompare(b.name));
    },
    async serviceTasks(ref, signal) {
      const { ID } = await findService(ref, signal);
      const [tasks, nodes] = await Promise.all([listTasks(signal, { service: [ID] }), listNodes(signal)]);
      const names = hostnames(nodes);
      return tasks.sort(newestFirst).map((t) => toServiceTask(t, names));
    },
    serviceLogs,
    serviceSecretValues,
    updateService,
    previousServiceImage,
    watchService,
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

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === "object" ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function checkImage(image: string): void {
  if (image.length <= 512 && imageRef.test(image)) return;
  throw new BerthError(
    "INVALID",
    `"${image}" is not a valid image reference. Use a name like "alpine:3.20" or "registry.example.com/team/app:1.2".`,
  );
}

type EngineApi = { version: string; max: string; osType: string };

const apiNumber = (v: string) => {
  const [major = 0, minor = 0] = v.split(".").map(Number);
  return major * 1000 + minor;
};

/**
 * docker-modem does no version negotiation (docs/reference/windows-engine.md §1.2): unversioned paths get the engine's
 * newest API, which berth was not written against. So berth does what Docker's Go client does, once per engine:
 * GET /_ping on the unversioned path, read Api-Version and Ostype, and pin both clients to min(engine's max, berth's
 * max); docker-modem puts `/v<version>` in front of every path it dials from then on. A failed ping is not remembered,
 * so the next call tries again.
 */
function negotiator(conn: DockerConnection, calls: Docker, streams: Docker): { api(): Promise<EngineApi> } {
  let pinned: EngineApi | undefined;
  let pending: Promise<EngineApi> | undefined;
  async function ask(): Promise<EngineApi> {
    // Its own deadline: the first caller may be a pull or a wait, which have none.
    const deadline = AbortSignal.timeout(conn.timeoutMs);
    const dial = <T>(path: string, isStream: boolean) =>
      new Promise<T>((resolve, reject) =>
        calls.modem.dial(
          { path, method: "GET", isStream, abortSignal: deadline, statusCodes: { 200: true, 500: "server error" } },
          (err, data) => (err ? reject(err) : resolve(data as T)),
        ),
      );
    let max: string | undefined;
    let osType: string | undefined;
    try {
      const res = await dial<http.IncomingMessage>("/_ping", true);
      res.resume(); // the body is "OK"
      const header = (name: string) => {
        const v = res.headers[name];
        return typeof v === "string" && v.trim() ? v.trim() : undefined;
      };
      max = header("api-version");
      osType = header("ostype")?.toLowerCase();
      if (!max) {
        // Engines before API 1.25, and some socket proxies, send no Api-Version header; /version always has it.
        const v = await dial<{ ApiVersion?: unknown; Os?: unknown }>("/version", false);
        max = typeof v.ApiVersion === "string" ? v.ApiVersion : undefined;
        osType ??= typeof v.Os === "string" ? v.Os.toLowerCase() : undefined;
      }
    } catch (e) {
      if (deadline.aborted) throw new Error(`no answer within ${Math.ceil(conn.timeoutMs / 1000)} s`, { cause: e });
      throw e;
    }
    if (!max || !/^\d+\.\d+$/.test(max))
      throw new BerthError(
        "UNAVAILABLE",
        `Docker engine "${conn.name}" at ${conn.url} did not say which API version it speaks${max ? ` ("${max}")` : ""}. Check that ${conn.url} is a Docker engine.`,
      );
    if (apiNumber(max) < apiNumber(berthMinApi))
      throw new BerthError(
        "CONFLICT",
        `Docker engine "${conn.name}" speaks Engine API ${max}, older than ${berthMinApi}, the oldest berth supports. Ask the operator to upgrade Docker on that host.`,
      );
    const version = apiNumber(max) < apiNumber(berthMaxApi) ? max : berthMaxApi;
    for (const docker of [calls, streams]) Object.assign(docker.modem, { version: `v${version}` });
    return { version, max, osType: osType ?? "linux" };
  }
  return {
    api() {
      if (pinned) return Promise.resolve(pinned);
      pending ??= ask().then(
        (api) => {
          pinned = api;
          return api;
        },
        (e: unknown) => {
          pending = undefined;
          throw e;
        },
      );
      return pending;
    },
  };
}

type RawInfo = {
  OSType?: string;
  OperatingSystem?: string;
  OSVersion?: string;
  KernelVersion?: string;
  Architecture?: string;
  Isolation?: string;
  Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean };
};

const swarmStates = ["inactive", "pending", "active", "error", "locked"] as const;

function engineInfo(name: string, version: Docker.DockerVersion, info: RawInfo, api: EngineApi): EngineInfo {
  const osType = (info.OSType || version.Os || api.osType).toLowerCase();
  const windows = osType === "windows";
  const os = info.OperatingSystem ?? "";
  const kernel = info.KernelVersion ? `kernel ${info.KernelVersion}` : "";
  // "10.0 20348 (20348.1.amd64fre…)" is the Windows kernel version (§3.3); OSVersion says the same as "10.0.20348".
  const fromKernel = /^(\d+)\.(\d+) (\d+)/.exec(info.KernelVersion ?? "");
  const windowsBuild = info.OSVersion || (fromKernel ? `${fromKernel[1]}.${fromKernel[2]}.${fromKernel[3]}` : "");
  const defaultIsolation = info.Isolation === "process" || info.Isolation === "hyperv" ? info.Isolation : undefined;
  const state = swarmStates.find((s) => s === info.Swarm?.LocalNodeState) ?? "inactive";
  return {
    name,
    osType,
    // Windows: OperatingSystem already carries the build ("… (OS Build 20348.707)"); the kernel string adds nothing.
    osVersion: windows ? os || kernel : os && kernel ? `${os} (${kernel})` : os || kernel,
    osBuild: windows ? windowsBuild : (info.KernelVersion ?? ""),
    architecture: info.Architecture || version.Arch,
    engineVersion: version.Version,
    apiVersion: api.version,
    maxApiVersion: api.max,
    defaultIsolation: windows ? defaultIsolation : undefined,
    isolations: windows ? windowsIsolations(os, windowsBuild, defaultIsolation) : [],
    swarm: { state, role: state !== "active" ? undefined : info.Swarm?.ControlAvailable ? "manager" : "worker" },
  };
}

/**
 * Which isolation modes a Windows host runs, from /info (docs/reference/windows-engine.md §3.3, §5.1, §5.2). Server SKUs: process and
 * Hyper-V (whether the Hyper-V role is installed is not in /info: the hosts manifest narrows the list, and a start
 * without it fails with a clear CONFLICT). Client SKUs, whose OperatingSystem has no "Server" ("Microsoft Windows
 * Version 24H2 …", before Docker 23 "Windows 10 Pro …"): Hyper-V, plus process on Windows 11 (build 22000 on), which
 * runs Windows Server 2022 and 2025 images process-isolated; Windows 10 runs none that way.
 */
function windowsIsolations(operatingSystem: string, build: string, defaultIsolation: Isolation | undefined): Isolation[] {
  const client = operatingSystem ? !/\bServer\b/.test(operatingSystem) : defaultIsolation === "hyperv";
  if (!client) return ["process", "hyperv"];
  const number = Number(/^\d+\.\d+\.(\d+)/.exec(build)?.[1] ?? 0);
  return number >= 22000 ? ["hyperv", "process"] : ["hyperv"];
}

/** The engine refused HostConfig.Isolation (docs/reference/windows-engine.md §6 E12 on Windows, E13 on Linux). */
function isolationRefused(host: string, osType: string, isolation: string | undefined): string {
  const flag = isolation ? `--isolation ${isolation}` : "--isolation";
  if (osType !== "windows")
    return `Host ${host} runs Linux containers, which support only the default isolation; drop ${flag}, or pick a Windows host with -H.`;
  return `Host ${host} does not accept ${flag}; use --isolation process or --isolation hyperv, or leave it out for the host's default.`;
}

/** The HCS start failures of a Windows engine (docs/reference/windows-engine.md §6 E1, E3, E4, E6), as what to do about them. */
function windowsStartFailure(host: string, image: string, isolation: string | undefined, msg: string): string | undefined {
  const otherMode = "Run it with --isolation process if the image's Windows build is the host's (/berth hosts shows it)";
  if (/does not match the host operating system/i.test(msg))
    return isolation === "hyperv"
      ? `Image "${image}" cannot run on host ${host}: Windows says its build does not match the host's, and a newer Windows image cannot run on an older host even with Hyper-V. Use an image tag built for the host's Windows version or an older one (/berth hosts shows it).`
      : `Image "${image}" cannot run process-isolated on host ${host}: Windows says its build does not match the host's. Run it with --isolation hyperv, or use an image tag built for the host's Windows version (/berth hosts shows it).`;
  if (/No hypervisor is present/i.test(msg))
    return `Host ${host} cannot start Hyper-V isolated containers: no hypervisor is running there (virtualization is off or unavailable). ${otherMode}, or ask the operator to enable virtualization on that host.`;
  if (/required feature is not installed/i.test(msg))
    return `Hyper-V is not installed on host ${host}, so it cannot start Hyper-V isolated containers. ${otherMode}, or ask the operator to install the Hyper-V and Containers features there.`;
  if (/0xc0370106/i.test(msg))
    return `Image "${image}" exited as soon as Windows started it on host ${host}, which happens when the image has a newer Windows update than the host. Use an image tag of the host's update, or ask the operator to update the host.`;
  return undefined;
}

function engineMessage(e: unknown): string {
  const json = (e as { json?: unknown }).json;
  if (json && typeof json === "object" && "message" in json && typeof json.message === "string") return json.message.trim();
  return String((e as Error).message ?? e)
    .replace(/^\(HTTP code \d+\) [^-]*- /, "")
    .trim();
}

const tlsAdvice = "Check the TLS CA, certificate and key for this host in berth's hosts file, or ask the operator to.";
const sshAdvice =
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

/** `pinned` is "ssh-ed25519 AAAA…" (a public key line) or "SHA256:…" (as ssh-keygen -l prints it). */
function hostKeyMatches(pinned: string, key: Buffer): boolean {
  const want = pinned.trim();
  if (want.startsWith("SHA256:")) return `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}` === want;
  return want.split(/\s+/)[1] === key.toString("base64");
}

function connectionReason(e: unknown): string {
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

/** The API's `since` takes seconds with a fractional part: "SECONDS.NANOS". */
function nanoSince(nano: bigint): string {
  const second = 1_000_000_000n;
  return `${nano / second}.${(nano % second).toString().padStart(9, "0")}`;
}

type RawEvent = { Type?: unknown; Action?: unknown; id?: unknown; from?: unknown; Actor?: { ID?: unknown; Attributes?: unknown } };

/** One line of /events as a notifier event; undefined for what the notifier does not care about (exit 0, healthy). */
function containerEvent(text: string): ContainerEvent | undefined {
  let e: RawEvent;
  try {
    e = JSON.parse(text) as RawEvent;
  } catch {
    return undefined;
  }
  // JSON.parse rounds timeNano (it exceeds 2^53); read the digits. Attribute values are strings, so the last
  // `"timeNano":<digits>` in the line is the event's own.
  const nano = [...text.matchAll(/"timeNano":(\d+)/g)].at(-1)?.[1];
  const attrs = Object.fromEntries(
    Object.entries(e.Actor?.Attributes && typeof e.Actor.Attributes === "object" ? e.Actor.Attributes : {}).filter(
      (entry): entry is [string, string] => typeof entry[1] === "string",
    ),
  );
  const id = typeof e.id === "string" ? e.id : typeof e.Actor?.ID === "string" ? e.Actor.ID : "";
  if (e.Type !== "container" || !nano || !id) return undefined;
  const action = typeof e.Action === "string" ? e.Action : "";
  const exitCode = attrs.exitCode === undefined ? undefined : Number(attrs.exitCode);
  const kind = action === "die" ? "die" : action === "oom" ? "oom" : action === "health_status: unhealthy" ? "unhealthy" : undefined;
  if (!kind || (kind === "die" && exitCode === 0)) return undefined;
  return {
    kind,
    id: id.slice(0, 12),
    name: attrs.name ?? "",
    image: attrs.image ?? (typeof e.from === "string" ? e.from : ""),
    exitCode: kind === "die" && exitCode !== undefined && Number.isFinite(exitCode) ? exitCode : undefined,
    // The engine flattens labels into Attributes next to name, image and exitCode: keep berth's own.
    labels: Object.fromEntries(Object.entries(attrs).filter(([k]) => k.startsWith("io.berth."))),
    timeNano: BigInt(nano),
  };
}

/**
 * The last word before a container is created: limits Docker would read as "none", a container that would not count as
 * berth's, or a bind that did not come resolved from the policy are refused here whatever the caller checked.
 */
function checkRunSpec(spec: RunSpec, installation: string): void {
  const refuse = (why: string) => {
    throw new BerthError("INVALID", `berth refused to create this container: ${why}.`);
  };
  if (installation === "") refuse("this engine was opened without berth's installation id, so the container would not be berth's");
  if (!spec.labels[labels.job]) refuse("it has no job label, so berth could not recognise it as its own");
  if (!(spec.memoryBytes >= minMemoryBytes)) refuse(`a memory limit of ${spec.memoryBytes} bytes is below Docker's 6 MiB minimum`);
  if (!(spec.nanoCpus >= minNanoCpus)) refuse(`a CPU limit of ${spec.nanoCpus} NanoCpus is below 0.01 CPU (0 means no limit)`);
  if (!(spec.pidsLimit >= 1)) refuse(`a pids limit of ${spec.pidsLimit} would mean no limit`);
  for (const m of spec.mounts) {
    const bad = (p: string) => !p.startsWith("/") || p.split("/").includes("..") || /[:,]/.test(p);
    if (bad(m.source) || bad(m.target)) refuse(`the mount ${m.source} → ${m.target} is not an absolute path without .., : or ,`);
  }
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

/** The values of `NAME=value` environment entries worth masking (shorter ones would mask ordinary words). */
function envValues(env: readonly string[]): string[] {
  return env.map((e) => e.slice(e.indexOf("=") + 1)).filter((v) => v.length >= 4);
}
