import { z } from "zod";
import { type Action, type ActionKind, type Actor, actionKinds, risk, targetsHost } from "./action.ts";
import { formatBytes, parseBytes, parseDuration } from "./duration.ts";
import { globMatch, normalizeImage } from "./glob.ts";

const actionPattern = z.string().refine((p) => p === "*" || actionKinds.some((k) => globMatch(p, k)), {
  error: (issue) => `unknown action "${String(issue.input)}"; known actions: ${actionKinds.join(", ")}`,
});
const size = z.string().refine((s) => parseBytes(s) !== undefined, "a size such as 256m or 1g");
const duration = z.string().refine((s) => (parseDuration(s) ?? 0) > 0, "a duration such as 30m or 2h");

const Binding = z
  .object({
    role: z.string(),
    users: z.array(z.string().regex(/^([UW][A-Z0-9]+|\*)$/, "a Slack user ID like U0123ABCD, or *")).optional(),
    usergroups: z.array(z.string().regex(/^S[A-Z0-9]+$/, "a Slack user group ID like S0123ABCD")).optional(),
    channels: z.array(z.string().min(1)).optional(),
    hosts: z.array(z.string().min(1)).optional(),
  })
  .strict()
  .refine((b) => (b.users?.length ?? 0) + (b.usergroups?.length ?? 0) > 0, "a binding needs users or usergroups");

/** Defaults applied to every container berth runs, and the most a user may ask for. Safe unless relaxed. */
const Containers = z
  .object({
    memory: size.default("256m"),
    maxMemory: size.default("1g"),
    cpus: z.number().positive().default(1),
    maxCpus: z.number().positive().default(2),
    pids: z.number().int().positive().default(256),
    timeout: duration.default("30m"),
    maxTimeout: duration.default("4h"),
    network: z.string().default("none"),
  })
  .strict();

export const PolicySchema = z
  .object({
    version: z.literal(1),
    roles: z.record(
      z.string().regex(/^[a-z][a-z0-9_-]*$/, "role names are lower-case words"),
      z.object({ actions: z.array(actionPattern).default([]), inherits: z.array(z.string()).default([]) }).strict(),
    ),
    bindings: z.array(Binding).default([]),
    images: z.array(z.string()).optional(),
    containers: Containers.default(Containers.parse({})),
  })
  .strict()
  .superRefine((p, ctx) => {
    for (const [name, role] of Object.entries(p.roles)) {
      role.inherits.forEach((parent, i) => {
        if (!p.roles[parent]) {
          ctx.addIssue({ code: "custom", path: ["roles", name, "inherits", i], message: `no role named "${parent}"` });
        }
      });
      if (inherited(p.roles, name, []).includes(name)) {
        ctx.addIssue({ code: "custom", path: ["roles", name, "inherits"], message: `role "${name}" inherits itself` });
      }
    }
    p.bindings.forEach((b, i) => {
      if (!p.roles[b.role]) {
        ctx.addIssue({
          code: "custom",
          path: ["bindings", i, "role"],
          message: `no role named "${b.role}"; roles: ${Object.keys(p.roles).join(", ")}`,
        });
      }
    });
  });

export type Policy = z.output<typeof PolicySchema>;
type Roles = Policy["roles"];

function inherited(roles: Roles, name: string, seen: string[]): string[] {
  for (const parent of roles[name]?.inherits ?? []) {
    if (seen.includes(parent)) continue;
    seen.push(parent);
    inherited(roles, parent, seen);
  }
  return seen;
}

/** Every action pattern a role grants, its own and inherited. */
export function roleActions(policy: Policy, role: string): string[] {
  return [role, ...inherited(policy.roles, role, [])].flatMap((r) => policy.roles[r]?.actions ?? []);
}

/** The person asking: Slack user ID and the user groups they belong to. */
export type Subject = { userId: string; groups: ReadonlySet<string> };
/** Where the action would happen. `host` is resolved (explicit -H or the default) before authorizing. */
export type Place = { channelId: string; channelName?: string | undefined; host?: string | undefined };

export type Decision = { allow: true; rule: string } | { allow: false; rule: string; reason: string };

type Binding = Policy["bindings"][number];

function bindsSubject(b: Binding, s: Subject): boolean {
  return (b.users ?? []).some((u) => u === "*" || u === s.userId) || (b.usergroups ?? []).some((g) => s.groups.has(g));
}

function bindsChannel(b: Binding, place: Place): boolean {
  if (!b.channels) return true;
  return b.channels.some((c) =>
    c.startsWith("#") ? place.channelName !== undefined && globMatch(c.slice(1), place.channelName) : c === place.channelId,
  );
}

function bindsHost(b: Binding, host: string | undefined): boolean {
  return !b.hosts || host === undefined || b.hosts.some((h) => globMatch(h, host));
}

function grants(policy: Policy, role: string, kind: ActionKind): boolean {
  return roleActions(policy, role).some((p) => globMatch(p, kind));
}

const where = (b: Binding) =>
  [b.channels ? `in ${b.channels.join(", ")}` : "", b.hosts ? `on hosts ${b.hosts.join(", ")}` : ""].filter(Boolean).join(" ") ||
  "everywhere";

/**
 * Decides whether `subject` may perform `action` at `place`. Pure; deny by default; the decision names the binding
 * that allowed it, or says exactly what permission was missing and where it would be granted.
 */
export function authorize(policy: Policy, subject: Subject, action: Action, place: Place): Decision {
  if (risk[action.kind] === "self") return { allow: true, rule: "builtin:self-service" };
  const host = targetsHost(action) ? place.host : undefined;
  const limits = checkLimits(policy, action);
  if (limits) return { allow: false, rule: "policy:containers", reason: limits };
  if (action.kind === "container.run") {
    const image = normalizeImage(action.image);
    const allowed = (policy.images ?? []).some(
      (g) => globMatch(g, image, { segments: true }) || globMatch(g, action.image, { segments: true }),
    );
    if (!allowed) {
      const list = policy.images?.length ? policy.images.map((g) => `\`${g}\``).join(", ") : "none";
      return {
        allow: false,
        rule: "policy:images",
        reason: `The image \`${action.image}\` is not on berth's image allow-list (allowed: ${list}). Use an allowed image, or ask the operator to add it to \`images\` in the policy.`,
      };
    }
  }
  const index = policy.bindings.findIndex(
    (b) => bindsSubject(b, subject) && bindsChannel(b, place) && bindsHost(b, host) && grants(policy, b.role, action.kind),
  );
  const found = policy.bindings[index];
  if (found) return { allow: true, rule: `bindings[${index}] (role ${found.role})` };

  const yours = policy.bindings.filter((b) => bindsSubject(b, subject) && grants(policy, b.role, action.kind));
  const roles = Object.keys(policy.roles).filter((r) => grants(policy, r, action.kind));
  const here = `${place.channelName ? `#${place.channelName}` : place.channelId}${host ? ` on host ${host}` : ""}`;
  const reason = yours.length
    ? `You may not \`${action.kind}\` in ${here}. Your role ${yours.map((b) => `${b.role} allows it ${where(b)}`).join("; ")}.`
    : `You need permission \`${action.kind}\` in ${here}, and no binding gives it to you. Roles that allow it: ${roles.join(", ") || "none"}. Ask the operator to bind you to one, and see \`/berth whoami\` for what you have.`;
  return { allow: false, rule: "default:deny", reason };
}

function checkLimits(policy: Policy, action: Action): string | undefined {
  if (action.kind !== "container.run") return undefined;
  const c = policy.containers;
  const maxMemory = parseBytes(c.maxMemory) ?? 0;
  if (action.memoryBytes !== undefined && action.memoryBytes > maxMemory) {
    return `--memory ${formatBytes(action.memoryBytes)} is above the policy's limit of ${formatBytes(maxMemory)}. Ask for less.`;
  }
  if (action.cpus !== undefined && action.cpus > c.maxCpus) {
    return `--cpus ${action.cpus} is above the policy's limit of ${c.maxCpus}. Ask for less.`;
  }
  const maxTimeout = parseDuration(c.maxTimeout) ?? 0;
  if (action.timeoutSeconds !== undefined && action.timeoutSeconds > maxTimeout) {
    return `--timeout is above the policy's limit of ${c.maxTimeout}. Ask for less.`;
  }
  return undefined;
}

/** The resolved container limits for a run: what was asked, else the policy's defaults. */
export function containerLimits(policy: Policy, action: Extract<Action, { kind: "container.run" }>) {
  const c = policy.containers;
  return {
    memoryBytes: action.memoryBytes ?? (parseBytes(c.memory) as number),
    nanoCpus: Math.round((action.cpus ?? c.cpus) * 1e9),
    pidsLimit: c.pids,
    timeoutSeconds: action.timeoutSeconds ?? (parseDuration(c.timeout) as number),
    networkMode: c.network,
  };
}

/** For `whoami`: the roles bound to this person, what they grant, and where. */
export function describeSubject(policy: Policy, subject: Subject, actor: Actor): string[] {
  return policy.bindings
    .filter((b) => bindsSubject(b, subject))
    .map((b) => {
      const here = bindsChannel(b, { channelId: actor.channelId, channelName: actor.channelName }) ? " (applies here)" : "";
      return `*${b.role}* ${where(b)}${here}: ${roleActions(policy, b.role).join(", ")}`;
    });
}

/** User groups the policy mentions, so the Slack adapter only resolves the ones that matter. */
export function policyUsergroups(policy: Policy): string[] {
  return [...new Set(policy.bindings.flatMap((b) => b.usergroups ?? []))];
}
