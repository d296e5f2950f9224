// Past 400 lines: the policy schema and the pure decision functions over it (authorize, mayApprove, limits).
// Issue 12 (one pipeline) splits mounts/limits and host scope into their own files; kept together until then.
import { z } from "zod";
import {
  type Action,
  type Actor,
  defaultGate,
  type Gate,
  hostOf,
  minCpus,
  minMemoryBytes,
  onAnotherPersonsHost,
  type Permission,
  permissions,
  risk,
} from "./action.ts";
import { formatBytes, formatDuration, parseBytes, parseDuration } from "./duration.ts";
import { BerthError } from "./errors.ts";
import { globMatch, normalizeImage } from "./glob.ts";
import { linearRegExp } from "./linear-regexp.ts";
import { code, command, join, type Message, msg, strong, user, usergroup } from "./message.ts";
import { definitionProblem, mountNamePattern, nestingProblem, resolveMounts } from "./mounts.ts";

const actionPattern = z.string().refine((p) => p === "*" || permissions.some((k) => globMatch(p, k)), {
  error: (issue) => `unknown action "${String(issue.input)}"; known actions: ${permissions.join(", ")}`,
});
const size = z.string().refine((s) => parseBytes(s) !== undefined, "a size such as 256m or 1g");
/** Docker refuses less than 6 MiB, and reads 0 as "no limit": a container limit is at least that. */
const memoryLimit = size.refine((s) => (parseBytes(s) ?? 0) >= minMemoryBytes, "at least 6m (Docker's minimum)");
/** Fewer CPUs than this round to NanoCpus 0, which Docker reads as "no limit". */
const cpuLimit = z.number().min(minCpus, `at least ${minCpus} (less would mean no limit at all)`);
const duration = z.string().refine((s) => (parseDuration(s) ?? 0) > 0, "a duration such as 30m or 2h");
const userId = z.string().regex(/^([UW][A-Z0-9]+|\*)$/, "a Slack user ID like U0123ABCD, or *");
const groupId = z.string().regex(/^S[A-Z0-9]+$/, "a Slack user group ID like S0123ABCD");
const roleName = z.string().regex(/^[a-z][a-z0-9_-]*$/, "role names are lower-case words");
/**
 * Channels by ID only: a name (or a name glob) matches any channel a member creates or renames to fit it, so it
 * would hand the binding's role to whoever names a channel that way.
 */
const channelId = z.string().superRefine((c, ctx) => {
  if (/^[CGD][A-Z0-9]{2,}$/.test(c)) return;
  ctx.addIssue({
    code: "custom",
    message: c.startsWith("#")
      ? `"${c}" names a channel by name, and any member can create or rename a channel to match a name, so berth binds channels by ID only. Find the ID in Slack (open the channel, click its name: the ID is at the bottom of About; or copy the channel's link, the C… part) and write it instead, e.g. C0123ABCD with the name in a comment`
      : `"${c}" is not a Slack channel ID like C0123ABCD (channels C…, private channels G…, direct messages D…)`,
  });
});

const Binding = z
  .object({
    role: z.string(),
    users: z.array(userId).optional(),
    usergroups: z.array(groupId).optional(),
    channels: z.array(channelId).optional(),
    hosts: z.array(z.string().min(1)).optional(),
  })
  .strict()
  .refine((b) => (b.users?.length ?? 0) + (b.usergroups?.length ?? 0) > 0, "a binding needs users or usergroups");

/** A rule raises some actions (in some places) to a confirmation tap or to a second person's approval. */
const Rule = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, "rule ids are lower-case words"),
    actions: z.array(actionPattern).min(1),
    channels: z.array(channelId).optional(),
    hosts: z.array(z.string().min(1)).optional(),
    images: z.array(z.string()).optional(),
    require: z.enum(["confirm", "approval"]),
    /** Roles whose holders may approve; default: anyone (else) allowed the action in that place. */
    approvers: z.array(z.string()).optional(),
  })
  .strict();

/** Break-glass: who may ask for a role for a while, who approves, and for how long at most. */
const GrantRule = z
  .object({
    role: z.string(),
    requesters: z.object({ users: z.array(userId).optional(), usergroups: z.array(groupId).optional() }).strict(),
    approvers: z.array(z.string()).min(1, "name the roles that approve this grant"),
    maxDuration: duration,
  })
  .strict();

/** One host directory the operator offers under a name; read-only unless the policy says otherwise. */
const Mount = z
  .object({
    path: z.string().superRefine((p, ctx) => {
      const problem = definitionProblem(p);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    }),
    readOnly: z.boolean().default(true),
  })
  .strict();

const legacyMounts = (globs: unknown[]) =>
  `\`mounts\` is now a map of named mounts, and user-typed host paths are no longer accepted (a path a user picks can reach the whole host through a symlink; see docs/security.md, "Host mounts"). Replace the list ${JSON.stringify(globs)} with e.g. \`mounts: { scratch: { path: /srv/berth-scratch } }\` (read-only; add \`readOnly: false\` only for a dedicated filesystem), and users write \`-v scratch:/data\`.`;

/** Defaults applied to every container berth runs, and the most a user may ask for. Safe unless relaxed. */
const Containers = z
  .object({
    memory: memoryLimit.default("256m"),
    maxMemory: memoryLimit.default("1g"),
    cpus: cpuLimit.default(1),
    maxCpus: cpuLimit.default(2),
    pids: z.number().int().positive().default(256),
    timeout: duration.default("30m"),
    maxTimeout: duration.default("4h"),
    /** The network a container gets; `networks` lists the ones a user may pick with --network. */
    network: z.string().default("none"),
    networks: z.array(z.string()).optional(),
    privileged: z.boolean().default(false),
    /** Host directories users may mount by name with `-v NAME:/path`; none by default. */
    mounts: z
      .record(z.string().regex(mountNamePattern), Mount, {
        error: (issue) =>
          Array.isArray(issue.input)
            ? legacyMounts(issue.input)
            : issue.code === "invalid_key"
              ? "mount names are lower-case words, e.g. scratch"
              : undefined,
      })
      .default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    const problem = nestingProblem(c.mounts);
    if (problem) ctx.addIssue({ code: "custom", path: ["mounts", problem.name], message: problem.message });
  });

/** Limits on Docker hosts berth creates in Azure (`host create`). The first size is the default. */
const Azure = z
  .object({
    sizes: z
      .array(z.string().regex(/^[A-Za-z0-9_]+$/, "an Azure VM size such as Standard_D2s_v5"))
      .min(1)
      .default(["Standard_B2s", "Standard_D2s_v5"]),
    /** Regions a host may be created in; empty: only AZURE_LOCATION. */
    regions: z.array(z.string()).default([]),
    maxHostsPerUser: z.number().int().nonnegative().default(2),
    /** Lifetime when --ttl is not given, and the longest a host may live in all (extensions included). */
    defaultTtl: duration.default("8h"),
    maxTtl: duration.default("7d"),
    /** How long before expiry the thread gets a reminder with an Extend button. */
    reminder: duration.default("30m"),
    /** How long Docker may take to answer over TLS once the VM exists (cloud-init installs it). */
    readyTimeout: duration.default("20m"),
    /** Keep a host whose Docker never answered, for inspection (it still expires), instead of removing it. */
    keepUnreachable: z.boolean().default(false),
  })
  .strict()
  .superRefine((a, ctx) => {
    if ((parseDuration(a.defaultTtl) ?? 0) > (parseDuration(a.maxTtl) ?? 0)) {
      ctx.addIssue({ code: "custom", path: ["defaultTtl"], message: "defaultTtl is longer than maxTtl" });
    }
  });

export const PolicySchema = z
  .object({
    version: z.literal(1),
    roles: z.record(
      roleName,
      z.object({ actions: z.array(actionPattern).default([]), inherits: z.array(z.string()).default([]) }).strict(),
    ),
    bindings: z.array(Binding).default([]),
    images: z.array(z.string()).optional(),
    rules: z.array(Rule).default([]),
    approvals: z
      .object({ ttl: duration.default("15m") })
      .strict()
      .default({ ttl: "15m" }),
    grants: z.array(GrantRule).default([]),
    containers: Containers.default(Containers.parse({})),
    azure: Azure.default(Azure.parse({})),
    /** Extra secret patterns (JavaScript regular expressions) masked in everything berth shows. */
    redact: z
      .array(
        z.string().superRefine((p, ctx) => {
          const compiled = linearRegExp(p);
          if (typeof compiled === "string") ctx.addIssue({ code: "custom", message: compiled });
        }),
      )
      .default([]),
  })
  .strict()
  .superRefine((p, ctx) => {
    const roleExists = (role: string, path: (string | number)[]) => {
      if (!p.roles[role]) {
        ctx.addIssue({ code: "custom", path, message: `no role named "${role}"; roles: ${Object.keys(p.roles).join(", ")}` });
      }
    };
    for (const [name, role] of Object.entries(p.roles)) {
      for (const [i, parent] of role.inherits.entries()) roleExists(parent, ["roles", name, "inherits", i]);
      if (inherited(p.roles, name, []).includes(name)) {
        ctx.addIssue({ code: "custom", path: ["roles", name, "inherits"], message: `role "${name}" inherits itself` });
      }
    }
    for (const [i, b] of p.bindings.entries()) roleExists(b.role, ["bindings", i, "role"]);
    for (const [i, r] of p.rules.entries()) {
      for (const [j, role] of (r.approvers ?? []).entries()) roleExists(role, ["rules", i, "approvers", j]);
      if (p.rules.findIndex((x) => x.id === r.id) !== i) {
        ctx.addIssue({ code: "custom", path: ["rules", i, "id"], message: `duplicate rule id "${r.id}"` });
      }
    }
    for (const [i, g] of p.grants.entries()) {
      roleExists(g.role, ["grants", i, "role"]);
      for (const [j, role] of g.approvers.entries()) roleExists(role, ["grants", i, "approvers", j]);
    }
  });

export type Policy = z.output<typeof PolicySchema>;
type Roles = Policy["roles"];
export type Rule = Policy["rules"][number];

/** A policy `redact:` pattern, compiled to run in linear time on any output (see linear-regexp.ts). */
export function safeRegExp(pattern: string): RegExp | undefined {
  const compiled = linearRegExp(pattern);
  return typeof compiled === "string" ? undefined : compiled;
}

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

/** An approved break-glass grant: the role applies to this one user, everywhere, until it expires. */
export type ActiveGrant = { id: string; userId: string; role: string; expiresAt: number };

/**
 * The person asking: Slack user ID, the user groups they belong to, their active grants, and whether they belong to
 * the workspace berth serves (`users: ["*"]` means everyone in it, never a Slack Connect guest from elsewhere).
 */
export type Subject = {
  userId: string;
  groups: ReadonlySet<string>;
  grants?: readonly ActiveGrant[];
  teamId?: string | undefined;
  homeTeam: boolean;
};
/**
 * Where the action would happen. `host` is resolved (explicit -H or the default) before authorizing; `hostOwner` is
 * who made the host, for hosts berth made (removing or extending someone else's needs a wider permission).
 */
export type Place = {
  channelId: string;
  channelName?: string | undefined;
  host?: string | undefined;
  hostOwner?: string | undefined;
};

export type Decision =
  | {
      allow: true;
      /** The binding or grant that allowed it. */
      rule: string;
      /** What must happen before it runs, and the rule that asked for it. */
      gate: Gate;
      gateRule?: string | undefined;
      approvers?: readonly string[] | undefined;
      grant?: string | undefined;
    }
  | { allow: false; rule: string; reason: Message };

const subjectMatches = (users: readonly string[] | undefined, groups: readonly string[] | undefined, s: Subject) =>
  (users ?? []).some((u) => (u === "*" ? s.homeTeam : u === s.userId)) || (groups ?? []).some((g) => s.groups.has(g));

const channelMatches = (channels: readonly string[] | undefined, place: Pick<Place, "channelId">) =>
  !channels || channels.includes(place.channelId);

/** Fails closed: a binding or rule that names hosts never matches an action that concerns no host. */
const hostMatches = (hosts: readonly string[] | undefined, host: string | undefined) =>
  !hosts || (host !== undefined && hosts.some((h) => globMatch(h, host)));

function grants(policy: Policy, role: string, kind: Permission): boolean {
  return roleActions(policy, role).some((p) => globMatch(p, kind));
}

const where = (b: { channels?: readonly string[] | undefined; hosts?: readonly string[] | undefined }) =>
  [b.channels ? `in ${b.channels.join(", ")}` : "", b.hosts ? `on hosts ${b.hosts.join(", ")}` : ""].filter(Boolean).join(" ") ||
  "everywhere";

/** Which binding (or active grant) gives `subject` the right to `kind` at `place`, if any. */
export function findPermission(policy: Policy, subject: Subject, kind: Permission, place: Place, now: number) {
  const host = place.host;
  const index = policy.bindings.findIndex(
    (b) =>
      subjectMatches(b.users, b.usergroups, subject) &&
      channelMatches(b.channels, place) &&
      hostMatches(b.hosts, host) &&
      grants(policy, b.role, kind),
  );
  const binding = policy.bindings[index];
  if (binding) return { rule: `bindings[${index}] (role ${binding.role})`, role: binding.role, grant: undefined };
  const grant = (subject.grants ?? []).find((g) => g.userId === subject.userId && g.expiresAt > now && grants(policy, g.role, kind));
  if (grant) return { rule: `grant ${grant.id} (role ${grant.role})`, role: grant.role, grant: grant.id };
  return undefined;
}

/**
 * Decides whether `subject` may perform `action` at `place`, and what must happen first. Pure; deny by default; the
 * decision names the binding that allowed it, or says exactly what permission was missing and where it is granted.
 */
export function authorize(policy: Policy, subject: Subject, action: Action, place: Place, now: number = Date.now()): Decision {
  if (risk[action.kind] === "self") return { allow: true, rule: "builtin:self-service", gate: "none" };
  const at = { ...place, host: hostOf(action, place.host) };
  const limits = checkLimits(policy, action);
  if (limits) return { allow: false, rule: "policy:containers", reason: limits };
  // A service update puts a new image into production just as surely as `run` does: the same allow-list applies.
  if (action.kind === "container.run" || action.kind === "service.update") {
    const refused = imageRefusal(policy, action.image);
    if (refused) return { allow: false, rule: "policy:images", reason: refused };
  }
  if (action.kind === "grant.request") return authorizeGrant(policy, subject, action);
  const found = permitted(policy, subject, action, at, now);
  if (found.ok) return { allow: true, rule: found.rule, grant: found.grant, ...gateFor(policy, action, at) };
  return { allow: false, rule: "default:deny", reason: found.reason };
}

/** Why `image` may not be deployed (run, service update, or brought back by a rollback); undefined when allowed. */
export function imageRefusal(policy: Policy, image: string): Message | undefined {
  const normal = normalizeImage(image);
  const allowed = (policy.images ?? []).some((g) => globMatch(g, normal, { segments: true }) || globMatch(g, image, { segments: true }));
  if (allowed) return undefined;
  const list = policy.images?.length
    ? join(
        policy.images.map((g) => [code(g)]),
        ", ",
      )
    : msg`none`;
  return msg`The image ${code(image)} is not on berth's image allow-list (allowed: ${list}). Use an allowed image, or ask the operator to add it to ${code("images")} in the policy.`;
}

/**
 * Every permission the action needs here, each from some binding or grant: its own, and the wider `.any` one when it
 * touches a host someone else made. The decision names the binding that gave the last (widest) one.
 */
function permitted(
  policy: Policy,
  subject: Subject,
  action: Action,
  at: Place,
  now: number,
): { ok: true; rule: string; grant: string | undefined } | { ok: false; missing: Permission; reason: Message } {
  const own = findPermission(policy, subject, action.kind, at, now);
  if (!own) return { ok: false, missing: action.kind, reason: denial(policy, subject, action.kind, at) };
  const wider = (onAnotherPersonsHost as Partial<Record<string, Permission>>)[action.kind];
  if (!wider || at.hostOwner === undefined || at.hostOwner === subject.userId) return { ok: true, ...own };
  const any = findPermission(policy, subject, wider, at, now);
  if (any) return { ok: true, ...any };
  return {
    ok: false,
    missing: wider,
    reason: msg`${code(at.host ?? "")} was made by ${user(at.hostOwner)}, not you: ${action.kind === "host.remove" ? "removing" : "extending"} a host someone else made needs permission ${code(wider)} as well. ${denial(policy, subject, wider, at)}`,
  };
}

function denial(policy: Policy, subject: Subject, kind: Permission, place: Place): Message {
  const yours = policy.bindings.filter((b) => subjectMatches(b.users, b.usergroups, subject) && grants(policy, b.role, kind));
  const roles = Object.keys(policy.roles).filter((r) => grants(policy, r, kind));
  const here = `${place.channelName ? `#${place.channelName}` : place.channelId}${place.host ? ` on host ${place.host}` : ""}`;
  const grantable = policy.grants.filter(
    (g) => grants(policy, g.role, kind) && subjectMatches(g.requesters.users, g.requesters.usergroups, subject),
  );
  const breakGlass = grantable.length
    ? msg` In an emergency you may ask for ${join(
        grantable.map((g) => [command(`grant ${g.role} --for ${g.maxDuration} --reason "…"`)]),
        " or ",
      )}.`
    : [];
  // A host-scoped role never applies to a request that names no host (fail closed): say how to name one.
  const noHost =
    place.host === undefined && yours.length && yours.every((b) => b.hosts)
      ? kind === "audit.query"
        ? msg` This request names no host, and your role only applies on some hosts: add ${code("-H HOST")} to see that host's records.`
        : " This request names no host, and your role only applies on some hosts."
      : "";
  return yours.length
    ? msg`You may not ${code(kind)} in ${here}. Your role ${yours.map((b) => `${b.role} allows it ${where(b)}`).join("; ")}.${noHost}${breakGlass}`
    : msg`You need permission ${code(kind)} in ${here}, and no binding gives it to you. Roles that allow it: ${roles.join(", ") || "none"}. Ask the operator to bind you to one, and see ${command("whoami")} for what you have.${breakGlass}`;
}

/** The strongest gate among the action's default tier and every rule that matches it here. */
function gateFor(policy: Policy, action: Action, place: Place): { gate: Gate; gateRule?: string; approvers?: readonly string[] } {
  const strength = { none: 0, confirm: 1, approval: 2 } as const;
  let best: { gate: Gate; gateRule?: string; approvers?: readonly string[] } = {
    gate: defaultGate[risk[action.kind]],
    ...(defaultGate[risk[action.kind]] !== "none" && { gateRule: `tier:${risk[action.kind]}` }),
  };
  for (const r of policy.rules) {
    if (!r.actions.some((p) => globMatch(p, action.kind))) continue;
    if (!channelMatches(r.channels, place) || !hostMatches(r.hosts, place.host)) continue;
    if (
      r.images &&
      !(
        (action.kind === "container.run" || action.kind === "service.update") &&
        r.images.some((g) => globMatch(g, normalizeImage(action.image), { segments: true }))
      )
    )
      continue;
    if (strength[r.require] > strength[best.gate]) best = { gate: r.require, gateRule: `rules.${r.id}`, approvers: r.approvers };
  }
  return best;
}

function authorizeGrant(policy: Policy, subject: Subject, action: Extract<Action, { kind: "grant.request" }>): Decision {
  const index = policy.grants.findIndex(
    (g) => g.role === action.role && subjectMatches(g.requesters.users, g.requesters.usergroups, subject),
  );
  const rule = policy.grants[index];
  if (!rule) {
    const roles = policy.grants.filter((g) => subjectMatches(g.requesters.users, g.requesters.usergroups, subject)).map((g) => g.role);
    return {
      allow: false,
      rule: "default:deny",
      reason: msg`You may not ask for a ${code(action.role)} grant. ${roles.length ? `You may ask for: ${roles.join(", ")}.` : "The policy lets you ask for no grant."}`,
    };
  }
  const max = parseDuration(rule.maxDuration) ?? 0;
  if (action.durationSeconds > max) {
    return {
      allow: false,
      rule: `grants[${index}]`,
      reason: msg`A ${code(action.role)} grant lasts at most ${rule.maxDuration}. Ask for less (e.g. ${code(`--for ${rule.maxDuration}`)}).`,
    };
  }
  return {
    allow: true,
    rule: `grants[${index}] (role ${rule.role})`,
    gate: "approval",
    gateRule: `grants[${index}]`,
    approvers: rule.approvers,
  };
}

/**
 * May `approver` approve a request that `decision` gated? Not the requester; they must be allowed the action in that
 * place themselves, and hold one of the rule's approver roles when it names some.
 */
export function mayApprove(
  policy: Policy,
  approver: Subject,
  request: { requester: string; action: Action; place: Place; approvers?: readonly string[] | undefined },
  now: number,
): { ok: true; rule: string } | { ok: false; reason: Message } {
  if (approver.userId === request.requester) return { ok: false, reason: msg`You cannot approve your own request; another person has to.` };
  const place = { ...request.place, host: hostOf(request.action, request.place.host) };
  const roles = request.approvers;
  if (roles?.length) {
    const index = policy.bindings.findIndex(
      (b) =>
        roles.includes(b.role) &&
        subjectMatches(b.users, b.usergroups, approver) &&
        channelMatches(b.channels, place) &&
        hostMatches(b.hosts, place.host),
    );
    if (index === -1) return { ok: false, reason: msg`Only someone with the role ${roles.join(" or ")} here may approve this.` };
    if (request.action.kind === "grant.request") return { ok: true, rule: `bindings[${index}] (role ${policy.bindings[index]?.role})` };
  }
  // The approver needs every permission the requester needs, the wider one for someone else's host included.
  const found = permitted(policy, approver, request.action, place, now);
  if (!found.ok) return { ok: false, reason: msg`You may not approve this: you are not allowed ${code(found.missing)} here yourself.` };
  return { ok: true, rule: found.rule };
}

/** Who could approve: the users and groups bound to a role that may approve, each as a message (a mention in Slack). */
export function approversFor(
  policy: Policy,
  request: { action: Action; place: Place; approvers?: readonly string[] | undefined },
): Message[] {
  const place = { ...request.place, host: hostOf(request.action, request.place.host) };
  const roles = request.approvers?.length
    ? request.approvers
    : Object.keys(policy.roles).filter((r) => grants(policy, r, request.action.kind));
  const people = policy.bindings
    .filter((b) => roles.includes(b.role) && channelMatches(b.channels, place) && hostMatches(b.hosts, place.host))
    .flatMap((b) => [
      ...(b.users ?? []).map((u): Message => (u === "*" ? ["anyone"] : [user(u)])),
      ...(b.usergroups ?? []).map((g): Message => [usergroup(g)]),
    ]);
  return [...new Map(people.map((m) => [JSON.stringify(m), m])).values()];
}

function checkLimits(policy: Policy, action: Action): Message | undefined {
  if (action.kind !== "container.run") return undefined;
  const c = policy.containers;
  const maxMemory = parseBytes(c.maxMemory) ?? 0;
  if (action.memoryBytes !== undefined && action.memoryBytes > maxMemory) {
    return msg`--memory ${formatBytes(action.memoryBytes)} is above the policy's limit of ${formatBytes(maxMemory)}. Ask for less.`;
  }
  // The schema refuses these too; a limit that reads as "unlimited" must never get past the policy, whatever built the action.
  if (action.memoryBytes !== undefined && action.memoryBytes < minMemoryBytes) {
    return msg`--memory ${formatBytes(action.memoryBytes)} is below Docker's minimum of ${formatBytes(minMemoryBytes)}. Ask for more.`;
  }
  if (action.cpus !== undefined && !(action.cpus >= minCpus)) {
    return msg`--cpus ${action.cpus} is below berth's minimum of ${minCpus} (less would mean no CPU limit at all). Ask for more.`;
  }
  if (action.cpus !== undefined && action.cpus > c.maxCpus) {
    return msg`--cpus ${action.cpus} is above the policy's limit of ${c.maxCpus}. Ask for less.`;
  }
  const maxTimeout = parseDuration(c.maxTimeout) ?? 0;
  if (action.timeoutSeconds !== undefined && action.timeoutSeconds > maxTimeout) {
    return msg`--timeout is above the policy's limit of ${c.maxTimeout}. Ask for less.`;
  }
  if (action.privileged && !c.privileged) {
    return msg`--privileged is not allowed by the policy (${code("containers.privileged: false")}). Run without it.`;
  }
  if (action.network !== undefined && action.network !== c.network && !(c.networks ?? []).includes(action.network)) {
    const allowed = join(
      [c.network, ...(c.networks ?? [])].map((n) => [code(n)]),
      ", ",
    );
    return msg`--network ${action.network} is not allowed by the policy (allowed: ${allowed}).`;
  }
  const mounts = resolveMounts(c.mounts, action.mounts);
  if (!mounts.ok) return msg`${mounts.reason}`;
  return undefined;
}

/**
 * The resolved container limits for a run: what was asked, else the policy's defaults. Mounts are resolved against
 * the policy in force now (it may have changed while the run waited for approval): CONFIG when they no longer pass.
 */
export function containerLimits(policy: Policy, action: Extract<Action, { kind: "container.run" }>) {
  const c = policy.containers;
  const mounts = resolveMounts(c.mounts, action.mounts);
  if (!mounts.ok) throw new BerthError("CONFIG", `The policy no longer allows these mounts: ${mounts.reason}`);
  return {
    memoryBytes: action.memoryBytes ?? (parseBytes(c.memory) as number),
    nanoCpus: Math.round((action.cpus ?? c.cpus) * 1e9),
    pidsLimit: c.pids,
    timeoutSeconds: action.timeoutSeconds ?? (parseDuration(c.timeout) as number),
    networkMode: action.network ?? c.network,
    privileged: action.privileged && c.privileged,
    mounts: mounts.mounts,
  };
}

/** Azure sizes that run Hyper-V inside the VM (nested virtualization): Dv3/Ev3 and newer D and E families. */
export function supportsNestedVirtualization(size: string): boolean {
  return /^Standard_[DE]\d+[a-z]*_v[3-9]$/i.test(size);
}

export type HostRequest = Extract<Action, { kind: "host.create" }>;
export type HostLimits = { ok: true; size: string; region: string; ttlSeconds: number } | { ok: false; reason: string };

/** Resolves a `host create` against the policy's Azure limits: defaults filled in, or why it is refused and what to ask for. */
export function hostLimits(policy: Policy, action: HostRequest, defaults: { region: string }): HostLimits {
  const a = policy.azure;
  const size = action.size ?? (a.sizes[0] as string);
  const region = action.region ?? defaults.region;
  const regions = a.regions.length ? a.regions : [defaults.region];
  const maxTtl = parseDuration(a.maxTtl) as number;
  const ttlSeconds = action.ttlSeconds ?? (parseDuration(a.defaultTtl) as number);
  const same = (x: string, y: string) => x.toLowerCase() === y.toLowerCase();
  if (!a.sizes.some((s) => same(s, size))) {
    return { ok: false, reason: `The policy does not allow size ${size}. Allowed: ${a.sizes.join(", ")} (pick one with --size).` };
  }
  if (!regions.some((r) => same(r, region))) {
    return { ok: false, reason: `The policy does not allow region ${region}. Allowed: ${regions.join(", ")} (pick one with --region).` };
  }
  if (ttlSeconds > maxTtl) {
    return { ok: false, reason: `--ttl ${formatDuration(ttlSeconds * 1000)} is longer than the policy's maximum of ${a.maxTtl}.` };
  }
  if (action.hyperv && action.os !== "windows") return { ok: false, reason: "--hyperv is for Windows hosts: add --os windows." };
  if (action.hyperv && !supportsNestedVirtualization(size)) {
    const nested = a.sizes.filter(supportsNestedVirtualization);
    return {
      ok: false,
      reason: `Hyper-V isolation needs nested virtualization, which ${size} does not have (Dv3/Ev3 and newer D/E sizes do). ${
        nested.length
          ? `Allowed sizes that have it: ${nested.join(", ")}.`
          : "No size the policy allows has it; ask an admin to allow one (e.g. Standard_D4s_v5)."
      }`,
    };
  }
  return {
    ok: true,
    size: a.sizes.find((s) => same(s, size)) as string,
    region: regions.find((r) => same(r, region)) as string,
    ttlSeconds,
  };
}

/** For `whoami`: the roles bound to this person, what they grant, and where; then their active grants. */
export function describeSubject(policy: Policy, subject: Subject, actor: Actor, now: number = Date.now()): Message[] {
  const bound = policy.bindings
    .filter((b) => subjectMatches(b.users, b.usergroups, subject))
    .map((b) => {
      const here = channelMatches(b.channels, actor) ? " (applies here)" : "";
      return msg`${strong(b.role)} ${where(b)}${here}: ${roleActions(policy, b.role).join(", ")}`;
    });
  const granted = (subject.grants ?? [])
    .filter((g) => g.expiresAt > now)
    .map(
      (g) =>
        msg`${strong(g.role)} everywhere, by grant ${g.id} until ${new Date(g.expiresAt).toISOString()}: ${roleActions(policy, g.role).join(", ")}`,
    );
  return [...bound, ...granted];
}

/** User groups the policy mentions, so the Slack adapter only resolves the ones that matter. */
export function policyUsergroups(policy: Policy): string[] {
  return [
    ...new Set([...policy.bindings.flatMap((b) => b.usergroups ?? []), ...policy.grants.flatMap((g) => g.requesters.usergroups ?? [])]),
  ];
}
