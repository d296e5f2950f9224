/**
 * Swarm services: list, tasks, logs, update (scale, image, rollback) and watching one converge. Only a manager answers
 * the Swarm API; everything else answers 503, which becomes a CONFLICT that says to pick a manager host.
 */
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { BerthError } from "../../core/errors.ts";
import { command } from "../../core/message.ts";
import type { ContainerEngine, Convergence, LogLine, ServiceChange, ServiceLogQuery } from "../ports.ts";
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
} from "../swarm-convergence.ts";
import { type Client, engineMessage, fail, type StatusMap } from "./client.ts";
import { envValues } from "./containers.ts";
import { checkImage } from "./images.ts";
import { readLines } from "./lines.ts";
import { nameRef } from "./lookup.ts";

type ServiceCalls = Pick<
  ContainerEngine,
  "services" | "serviceTasks" | "serviceLogs" | "serviceSecretValues" | "updateService" | "previousServiceImage" | "watchService"
>;

// Swarm ids are base-36.
const swarmId = /^[0-9a-z]{1,64}$/;
const swarmPrefix = /^[0-9a-z]{4,64}$/;
const swarmCodes = { 200: true, 400: "bad parameter", 404: "not found", 500: "server error", 503: "node is not a swarm manager" };

export function createServices(client: Client): ServiceCalls {
  const { call, calls, conn, dial, hold, on, streams, translate } = client;
  const serviceNotFound = (ref: string, cause?: unknown) =>
    fail("NOT_FOUND", [`No service "${ref}" on host ${conn.name}. Run `, command("service ls"), " to see the services."], cause);
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

  return {
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
  };
}
