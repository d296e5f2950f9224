import {
  type Action,
  type Actor,
  type ContainersAction,
  defaultGate,
  eachContainer,
  type Gate,
  hostOf,
  namesSeveral,
  onAnotherPersonsHost,
  type Permission,
  risk,
} from "./action.ts";
import { parseDuration } from "./duration.ts";
import { globMatch, normalizeImage } from "./glob.ts";
import { checkLimits } from "./limits.ts";
import { linearRegExp } from "./linear-regexp.ts";
import { code, command, join, type Message, msg, strong, user, usergroup } from "./message.ts";
import { inherited, type Policy } from "./policy-schema.ts";

export { containerLimits, type HostLimits, type HostRequest, hostLimits, supportsNestedVirtualization } from "./limits.ts";
export { type Policy, PolicySchema, type Rule } from "./policy-schema.ts";

/** A policy `redact:` pattern, compiled to run in linear time on any output (see linear-regexp.ts). */
export function safeRegExp(pattern: string): RegExp | undefined {
  const compiled = linearRegExp(pattern);
  return typeof compiled === "string" ? undefined : compiled;
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
  /** For revoking a grant: the grant, who holds it and who approved it (absent when berth knows no such grant). */
  grant?: { id: string; userId: string; approvedBy: string } | undefined;
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
  if (namesSeveral(action)) return authorizeEach(policy, subject, action, place, now);
  return authorizeOne(policy, subject, action, place, now);
}

export const gateStrength = { none: 0, confirm: 1, approval: 2 } as const satisfies Record<Gate, number>;

/**
 * `stop a b c` is decided as `stop a`, `stop b` and `stop c`, so whatever holds for one container holds for each. All or
 * nothing: one refused container refuses the request, and the answer names which and why (an on-call engineer can
 * reason about "nothing ran" far better than about a half-done list). Allowed, it waits behind the strongest gate any
 * one of them needs, once for all of them.
 */
function authorizeEach(policy: Policy, subject: Subject, action: ContainersAction, place: Place, now: number): Decision {
  return allOrNothing(
    eachContainer(action).map((one) => ({ name: one.container, decision: authorizeOne(policy, subject, one, place, now) })),
  );
}

/** One decision from each container's: refused if any one is (naming which, grouped by why), else the strongest gate. */
export function allOrNothing(decided: readonly { name: string; decision: Decision }[]): Decision {
  const refusals = new Map<string, { names: string[]; rule: string; reason: Message }>();
  for (const { name, decision } of decided) {
    if (decision.allow) continue;
    const key = JSON.stringify([decision.rule, decision.reason]);
    const same = refusals.get(key);
    if (same) same.names.push(name);
    else refusals.set(key, { names: [name], rule: decision.rule, reason: decision.reason });
  }
  const refused = [...refusals.values()];
  if (refused[0]) {
    const count = refused.reduce((n, r) => n + r.names.length, 0);
    const lines = refused.map(
      (r) =>
        msg`• ${join(
          r.names.map((n) => [code(n)]),
          ", ",
        )}: ${r.reason}`,
    );
    return {
      allow: false,
      rule: refused[0].rule,
      reason: msg`Nothing was done: ${count === decided.length ? `none of the ${count} containers is allowed` : `${count} of the ${decided.length} containers ${count === 1 ? "is" : "are"} not allowed`}, and berth runs all of a request or none of it.\n${join(lines, "\n")}`,
    };
  }
  const allowed = decided.map((d) => d.decision).filter((d) => d.allow);
  return allowed.reduce((strongest, d) => (gateStrength[d.gate] > gateStrength[strongest.gate] ? d : strongest));
}

function authorizeOne(policy: Policy, subject: Subject, action: Action, place: Place, now: number): Decision {
  if (risk[action.kind] === "self") return { allow: true, rule: "builtin:self-service", gate: "none" };
  const at = { ...place, host: hostOf(action, place.host) };
  const limits = checkLimits(policy, action);
  if (limits) return { allow: false, rule: "policy:containers", reason: limits };
  // A service update puts a new image into production just as surely as `run` does, and a pull puts it on the host
  // for the next run: the same allow-list applies.
  if (action.kind === "container.run" || action.kind === "service.update" || action.kind === "image.pull") {
    const refused = imageRefusal(policy, action.image);
    if (refused) return { allow: false, rule: "policy:images", reason: refused };
  }
  if (action.kind === "grant.request") return authorizeGrant(policy, subject, action);
  if (action.kind === "grant.revoke") return authorizeRevoke(policy, subject, at, now);
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
export function gateFor(policy: Policy, action: Action, place: Place): { gate: Gate; gateRule?: string; approvers?: readonly string[] } {
  const strength = gateStrength;
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
        (action.kind === "container.run" || action.kind === "service.update" || action.kind === "image.pull") &&
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
 * Ending a grant early only takes access away. Its holder may always end it, and whoever approved it may take back
 * what they gave; anyone else needs `grant.revoke` here. Never held for a confirmation or an approval, whatever the
 * rules say: waiting for a second person would only keep the access open longer (as stopping a job is never held). A
 * grant berth does not know changes nothing when revoked: it goes through, and the handler says there is none.
 */
function authorizeRevoke(policy: Policy, subject: Subject, place: Place, now: number): Decision {
  const g = place.grant;
  if (g === undefined) return { allow: true, rule: "grant:unknown", gate: "none" };
  if (g.userId === subject.userId) return { allow: true, rule: `grant:holder (${g.id})`, gate: "none" };
  if (g.approvedBy === subject.userId) return { allow: true, rule: `grant:approver (${g.id})`, gate: "none" };
  const found = findPermission(policy, subject, "grant.revoke", place, now);
  if (found) return { allow: true, rule: found.rule, grant: found.grant, gate: "none" };
  return {
    allow: false,
    rule: "default:deny",
    reason: msg`Grant ${code(g.id)} is ${user(g.userId)}'s, approved by ${user(g.approvedBy)}: they may end it, and so may anyone the policy allows it. ${denial(policy, subject, "grant.revoke", place)}`,
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
