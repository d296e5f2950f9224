/**
 * berth's containers once they exist: list, inspect, wait, stop, start, restart, remove. "Already stopped/running"
 * (HTTP 304) is CONFLICT, never a silent no-op, so the person in Slack learns that their command changed nothing.
 */
import type { Readable } from "node:stream";
import type Docker from "dockerode";
import { BerthError } from "../../core/errors.ts";
import { command } from "../../core/message.ts";
import type { ContainerDetails, ContainerEngine, ContainerSummary } from "../ports.ts";
import { type Client, type Conflicts, fail } from "./client.ts";
import { containerName, type Lookup } from "./lookup.ts";

/** stop/restart: SIGTERM, then SIGKILL this much later. */
const graceSeconds = 10;

type ContainerCalls = Pick<ContainerEngine, "list" | "inspect" | "secretValues" | "wait" | "stop" | "start" | "restart" | "remove">;

export function createContainers(client: Client, lookup: Lookup): ContainerCalls {
  const { call, calls, streams, conn, on } = client;
  const { resolve, inspectRaw, about } = lookup;

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

  return {
    async list({ all }, signal) {
      return (await lookup.listRaw(all, signal)).map(summarize);
    },
    async inspect(ref, signal) {
      const c = await resolve(ref, signal);
      return details(c, await inspectRaw(c.Id, ref, signal));
    },
    async secretValues(ref, signal) {
      const c = await resolve(ref, signal);
      return envValues((await inspectRaw(c.Id, ref, signal)).Config.Env ?? []);
    },
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
        (s) => client.dial<Readable>(streams, { path, method: "POST", options: {}, isStream: true, statusCodes, abortSignal: s }),
        { deadlineMs: null, status: about(ref) },
      );
      const release = client.hold(res, signal);
      let body = "";
      try {
        for await (const chunk of res) body += String(chunk);
      } catch (e) {
        throw client.translate(e, doing, signal);
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
          code === 304
            ? [`Container "${ref}" is already stopped ${on}; nothing changed. Start it with `, command(`start ${ref}`), "."]
            : undefined,
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
            ? [`Container "${ref}" is already running ${on}; nothing changed. Use `, command(`restart ${ref}`), " to restart it."]
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
              : [`Container "${ref}" is running; stop it first or use `, command(`rm -f ${ref}`)],
      ),
  };
}

/** The values of `NAME=value` environment entries worth masking (shorter ones would mask ordinary words). */
export function envValues(env: readonly string[]): string[] {
  return env.map((e) => e.slice(e.indexOf("=") + 1)).filter((v) => v.length >= 4);
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === "object" ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const when = (s: string | undefined) => (!s || s.startsWith("0001-01-01") ? null : new Date(s));

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
