/**
 * Host mounts are named by the operator in the policy; users only ever name one. A host path a user picks can lead,
 * through a symlink an earlier container left in a writable mount, to anywhere on the host, so no user-typed text
 * ever becomes a bind source: the policy maps a name to the operator's path.
 */

/** Mount names in the policy, and what `-v NAME:/target` must name. */
export const mountNamePattern = /^[a-z][a-z0-9_-]*$/;

/** One operator-defined mount, as the policy holds it. */
export type MountDefinition = { path: string; readOnly: boolean };

/** What a user asked for with `-v NAME:/target[:ro|rw]`; readOnly undefined = the mount's own mode. */
export type MountRequest = { name: string; target: string; readOnly?: boolean | undefined };

/** What the engine binds: only the operator's path, never anything a user typed. */
export type ResolvedMount = { source: string; target: string; readOnly: boolean };

/** Paths in the container where a host directory would hide or replace what the kernel or runtime provides. */
const sensitiveTargets = ["/proc", "/sys", "/dev"];

export const hostPathsRefused =
  "berth does not take host paths with -v, because a path someone picks can lead through a symlink (left by an earlier container) to anywhere on the host";

/** Why `target` cannot be a mount point in the container, or undefined when it can. */
export function targetProblem(target: string): string | undefined {
  if (!target.startsWith("/")) return `the container path \`${target}\` must be absolute (start with /)`;
  const segments = target.split("/");
  if (segments.includes("..")) return `the container path \`${target}\` may not contain \`..\``;
  if (!/^[A-Za-z0-9._/@+-]+$/.test(target)) return `the container path \`${target}\` may use only letters, digits and . _ - + @ /`;
  const clean = `/${segments.filter((s) => s !== "" && s !== ".").join("/")}`;
  if (clean === "/") return "a mount may not replace the container's root `/`";
  const under = sensitiveTargets.find((p) => clean === p || clean.startsWith(`${p}/`));
  if (under) return `a mount may not cover \`${under}\`, which the kernel and runtime provide`;
  return undefined;
}

/** Why `path` cannot be an operator mount (checked when the policy loads), or undefined when it can. */
export function definitionProblem(path: string): string | undefined {
  if (!path.startsWith("/")) return "host paths are absolute";
  if (path.split("/").some((s) => s === ".." || s === ".")) return "write the real path, without . or ..";
  if (/[*?[\]{}:,]/.test(path)) return "a mount is one directory: no globs, `:` or `,` (name each directory you want to offer)";
  if (path.replace(/\/+$/, "") === "") return "mounting the host's / would give away the whole host";
  return undefined;
}

/**
 * A mount inside a writable one is not a fixed directory: a container given the writable one can replace it with a
 * symlink, and Docker follows symlinks in a bind's source, so the inner mount would then reach anywhere on the host.
 */
export function nestingProblem(defined: Readonly<Record<string, MountDefinition>>): { name: string; message: string } | undefined {
  const dir = (p: string) => `${p.replace(/\/+$/, "")}/`;
  for (const [outer, o] of Object.entries(defined)) {
    if (o.readOnly) continue;
    for (const [inner, i] of Object.entries(defined)) {
      if (inner !== outer && dir(i.path).startsWith(dir(o.path)) && dir(i.path) !== dir(o.path)) {
        return {
          name: inner,
          message: `${i.path} lies inside the writable mount \`${outer}\` (${o.path}): a container could swap it for a symlink to anywhere on the host. Move it out, or make \`${outer}\` read-only.`,
        };
      }
    }
  }
  return undefined;
}

export type Resolution = { ok: true; mounts: ResolvedMount[] } | { ok: false; reason: string };

/** The operator's paths for what was asked, or why it is refused, naming the mounts the policy offers. */
export function resolveMounts(defined: Readonly<Record<string, MountDefinition>>, requested: readonly MountRequest[]): Resolution {
  const names = Object.keys(defined);
  const offered = names.length
    ? `Mounts the policy defines: ${names.map((n) => `\`${n}\`${defined[n]?.readOnly ? " (read-only)" : " (writable)"}`).join(", ")}; use e.g. \`-v ${names[0]}:/data\`.`
    : "The policy defines no mounts; ask the operator to add one under `containers.mounts`.";
  const mounts: ResolvedMount[] = [];
  for (const m of requested) {
    const own = Object.hasOwn(defined, m.name) ? defined[m.name] : undefined;
    if (!own) {
      const hostPath = /^[/~.]/.test(m.name) || m.name.includes("/");
      const what = hostPath ? `\`${m.name}\` is a host path: ${hostPathsRefused}.` : `There is no mount named \`${m.name}\`.`;
      return { ok: false, reason: `${what} ${offered}` };
    }
    if (m.readOnly === false && own.readOnly) {
      return {
        ok: false,
        reason: `The mount \`${m.name}\` is read-only in the policy; drop \`:rw\` (or ask the operator for a writable mount). ${offered}`,
      };
    }
    const problem = targetProblem(m.target);
    if (problem) return { ok: false, reason: `-v ${m.name}:${m.target}: ${problem}.` };
    if (mounts.some((x) => x.target === m.target)) return { ok: false, reason: `Two mounts on \`${m.target}\`: give each its own path.` };
    mounts.push({ source: own.path, target: m.target, readOnly: m.readOnly ?? own.readOnly });
  }
  return { ok: true, mounts };
}
