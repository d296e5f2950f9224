/** The policy file's schema (zod): roles, bindings, rules, containers, Azure, approvals. What it means is policy.ts. */
import { z } from "zod";
import { minCpus, minMemoryBytes, permissions } from "./action.ts";
import { parseBytes, parseDuration } from "./duration.ts";
import { globMatch } from "./glob.ts";
import { linearRegExp } from "./linear-regexp.ts";
import { definitionProblem, mountNamePattern, nestingProblem } from "./mounts.ts";
import { Runbooks } from "./runbook-schema.ts";

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
    /** How long a change offers its Undo button (stop, start, service scale and update, host extend). */
    undo: z
      .object({ window: duration.default("15m") })
      .strict()
      .default({ window: "15m" }),
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
    /** Named sequences of berth commands with typed parameters (`runbook NAME`): see runbook-schema.ts. */
    runbooks: Runbooks,
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

/** The roles a role inherits from, transitively (a role that inherits itself shows up in its own list). */
export function inherited(roles: Roles, name: string, seen: string[]): string[] {
  for (const parent of roles[name]?.inherits ?? []) {
    if (seen.includes(parent)) continue;
    seen.push(parent);
    inherited(roles, parent, seen);
  }
  return seen;
}
