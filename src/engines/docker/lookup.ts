/**
 * Finds berth's own containers (see `isOwned`: this installation's, with a job); every other container stays invisible
 * and untouched. Refs go into request paths only as ids the engine gave, or after checking them against `nameRef`.
 */
import type Docker from "dockerode";
import { BerthError } from "../../core/errors.ts";
import { command } from "../../core/message.ts";
import { isOwned, ownerFilters } from "../ports.ts";
import { type Client, type Conflicts, fail, type StatusMap } from "./client.ts";

const hexRef = /^[0-9a-f]{4,64}$/;
/** A container or service name as Docker accepts it. */
export const nameRef = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export type Lookup = {
  /** berth's containers (all of them, or only the running ones). */
  listRaw(all: boolean, signal: AbortSignal): Promise<Docker.ContainerInfo[]>;
  inspectRaw(id: string, ref: string, signal: AbortSignal): Promise<Docker.ContainerInspectInfo>;
  /** Finds `ref` among berth's containers only: exact id or name (with or without "/"), else a unique id prefix. */
  resolve(ref: string, signal: AbortSignal): Promise<Docker.ContainerInfo>;
  /** 404 means `ref` is gone; `conflicts` says which other codes mean "wrong state" for this operation. */
  about(ref: string, conflicts?: Conflicts): StatusMap;
};

export function containerName(names: readonly string[]): string {
  return (names.find((n) => n.lastIndexOf("/") === 0) ?? names[0] ?? "").replace(/^\//, "");
}

export function createLookup(client: Client): Lookup {
  const { call, calls, installation, on } = client;
  const notFound = (ref: string, cause?: unknown) =>
    fail("NOT_FOUND", [`No berth container "${ref}" ${on}. Run `, command("ps -a"), " to see berth's containers."], cause);
  const about =
    (ref: string, conflicts?: Conflicts): StatusMap =>
    (code, msg, cause) => {
      const conflict = conflicts?.(code, msg);
      if (conflict) return fail("CONFLICT", conflict, cause);
      return code === 404 ? notFound(ref, cause) : undefined;
    };
  // Filtered by the engine and checked again here: an engine (or a proxy) that ignores a filter must not widen the set.
  const listRaw = async (all: boolean, signal: AbortSignal) =>
    installation === ""
      ? []
      : (
          await call(signal, "listing containers", (s) =>
            calls.listContainers({ all, filters: { label: ownerFilters(installation) }, abortSignal: s }),
          )
        ).filter((c) => isOwned(c.Labels, installation));
  const inspectRaw = (id: string, ref: string, signal: AbortSignal) =>
    call(signal, `inspecting "${ref}"`, (s) => calls.getContainer(id).inspect({ abortSignal: s }), { status: about(ref) });

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
        throw fail("NOT_FOUND", [
          `Container "${ref}" ${on} was not started by berth, and berth only manages containers it started. Run `,
          command("ps -a"),
          " to see berth's containers.",
        ]);
      }
    }
    throw notFound(ref);
  }

  return { listRaw, inspectRaw, resolve, about };
}
