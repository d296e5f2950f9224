import { formatBytes, parseBytes, parseDuration } from "./duration.ts";
import { type Policy, roleActions } from "./policy.ts";

/**
 * widens: someone may now do more (actions, bindings, images, limits); removes-gate: a confirmation or approval no
 * longer applies, or more people may approve; narrows: the opposite; neutral: neither.
 */
export type ChangeEffect = "widens" | "removes-gate" | "narrows" | "neutral";

/** One structural change between two policies. `ids` names the rules, roles and bindings it touches. */
export type PolicyChange = { area: string; effect: ChangeEffect; text: string; ids: string[] };

export type PolicyDiff = {
  changes: PolicyChange[];
  widens: boolean;
  removesGate: boolean;
  /** One line: counts per area, and the loud words when the rules got looser. */
  summary: string;
};

const strength = { confirm: 1, approval: 2 } as const;
const list = (xs: readonly string[]) => xs.map((x) => `\`${x}\``).join(", ");
const minus = (a: readonly string[], b: readonly string[]) => a.filter((x) => !b.includes(x));
const bindingText = (b: Policy["bindings"][number]) =>
  [
    `role ${b.role}`,
    b.users && `users ${b.users.join(" ")}`,
    b.usergroups && `usergroups ${b.usergroups.join(" ")}`,
    b.channels && `in ${b.channels.join(" ")}`,
    b.hosts && `on ${b.hosts.join(" ")}`,
  ]
    .filter(Boolean)
    .join(", ");
const bindingKey = (b: Policy["bindings"][number]) =>
  JSON.stringify([b.role, b.users ?? [], b.usergroups ?? [], b.channels ?? null, b.hosts ?? null]);

/**
 * Is `next`'s scope at least `prev`'s? A missing list means "everywhere", so it covers anything; a list covers another
 * list when it keeps every entry of it.
 */
const covers = (next: readonly string[] | undefined, prev: readonly string[] | undefined) =>
  next === undefined || (prev?.every((p) => next.includes(p)) ?? false);

/** What changed between two valid policies, each change classified, so a loosening is said out loud. */
export function diffPolicies(prev: Policy, next: Policy): PolicyDiff {
  const changes: PolicyChange[] = [];
  const add = (area: string, effect: ChangeEffect, text: string, ids: string[] = []) => changes.push({ area, effect, text, ids });

  for (const name of Object.keys(next.roles)) {
    if (!prev.roles[name]) {
      add("roles", "neutral", `role \`${name}\` added (${list(roleActions(next, name)) || "no actions"})`, [`role:${name}`]);
      continue;
    }
    const before = roleActions(prev, name);
    const after = roleActions(next, name);
    const gained = minus(after, before);
    const lost = minus(before, after);
    if (gained.length) add("roles", "widens", `role \`${name}\` gains ${list(gained)}`, [`role:${name}`]);
    if (lost.length) add("roles", "narrows", `role \`${name}\` loses ${list(lost)}`, [`role:${name}`]);
  }
  for (const name of minus(Object.keys(prev.roles), Object.keys(next.roles))) {
    add("roles", "narrows", `role \`${name}\` removed`, [`role:${name}`]);
  }

  const prevBindings = new Set(prev.bindings.map(bindingKey));
  const nextBindings = new Set(next.bindings.map(bindingKey));
  for (const [i, b] of next.bindings.entries()) {
    if (prevBindings.has(bindingKey(b))) continue;
    const everyone = b.users?.includes("*") ? " — to EVERYONE (users: *)" : "";
    add("bindings", "widens", `binding added: ${bindingText(b)}${everyone}`, [`bindings[${i}]`, `role:${b.role}`]);
  }
  for (const [i, b] of prev.bindings.entries()) {
    if (!nextBindings.has(bindingKey(b)))
      add("bindings", "narrows", `binding removed: ${bindingText(b)}`, [`bindings[${i}]`, `role:${b.role}`]);
  }

  for (const r of next.rules) {
    const old = prev.rules.find((x) => x.id === r.id);
    const id = `rules.${r.id}`;
    if (!old) {
      add("rules", "narrows", `rule \`${r.id}\` added: ${list(r.actions)} require ${r.require}`, [id]);
      continue;
    }
    if (strength[r.require] < strength[old.require]) {
      add("rules", "removes-gate", `rule \`${r.id}\` weakened from ${old.require} to ${r.require}`, [id]);
    } else if (strength[r.require] > strength[old.require]) {
      add("rules", "narrows", `rule \`${r.id}\` raised from ${old.require} to ${r.require}`, [id]);
    }
    const scope = (["actions", "channels", "hosts", "images"] as const).filter(
      (k) => JSON.stringify(r[k] ?? null) !== JSON.stringify(old[k] ?? null),
    );
    if (scope.length) {
      const narrower = scope.filter((k) => !covers(r[k], old[k]));
      if (narrower.length) {
        add("rules", "removes-gate", `rule \`${r.id}\` now applies to less (${narrower.join(", ")} changed)`, [id]);
      } else add("rules", "narrows", `rule \`${r.id}\` now applies to more (${scope.join(", ")})`, [id]);
    }
    if (JSON.stringify(r.approvers ?? null) !== JSON.stringify(old.approvers ?? null)) {
      const wider = r.approvers === undefined || (old.approvers !== undefined && minus(r.approvers, old.approvers).length > 0);
      const who = r.approvers ? list(r.approvers) : "anyone allowed the action";
      add("rules", wider ? "removes-gate" : "narrows", `rule \`${r.id}\` approvers ${wider ? "widened" : "narrowed"} to ${who}`, [id]);
    }
  }
  for (const r of prev.rules) {
    if (!next.rules.some((x) => x.id === r.id)) {
      add("rules", "removes-gate", `rule \`${r.id}\` removed (${list(r.actions)} no longer require ${r.require})`, [`rules.${r.id}`]);
    }
  }

  const imagesAdded = minus(next.images ?? [], prev.images ?? []);
  const imagesRemoved = minus(prev.images ?? [], next.images ?? []);
  if (imagesAdded.length) add("images", "widens", `images allowed: ${list(imagesAdded)}`);
  if (imagesRemoved.length) add("images", "narrows", `images no longer allowed: ${list(imagesRemoved)}`);

  diffLimits(prev, next, add);

  for (const g of next.grants) {
    const key = JSON.stringify(g);
    if (prev.grants.some((x) => JSON.stringify(x) === key)) continue;
    const old = prev.grants.find((x) => x.role === g.role);
    add(
      "grants",
      old && !grantWider(old, g) ? "narrows" : "widens",
      `break-glass for \`${g.role}\` ${old ? "changed" : "added"}: up to ${g.maxDuration}, approvers ${list(g.approvers)}`,
      [`grant:${g.role}`],
    );
  }
  for (const g of prev.grants) {
    if (!next.grants.some((x) => x.role === g.role)) add("grants", "narrows", `break-glass for \`${g.role}\` removed`, [`grant:${g.role}`]);
  }

  const redactRemoved = minus(prev.redact, next.redact);
  if (redactRemoved.length) add("redact", "widens", `no longer masked: ${list(redactRemoved)}`);
  const redactAdded = minus(next.redact, prev.redact);
  if (redactAdded.length) add("redact", "narrows", `also masked: ${list(redactAdded)}`);
  if (next.approvals.ttl !== prev.approvals.ttl) {
    const longer = (parseDuration(next.approvals.ttl) ?? 0) > (parseDuration(prev.approvals.ttl) ?? 0);
    add("approvals", longer ? "widens" : "narrows", `approvals wait ${next.approvals.ttl} (was ${prev.approvals.ttl})`);
  }
  // Neutral: a runbook lets nobody do more, since each of its steps is authorized as the person who runs it.
  for (const r of next.runbooks) {
    const was = prev.runbooks.find((x) => x.name === r.name);
    if (!was) add("runbooks", "neutral", `runbook \`${r.name}\` added`, [`runbook:${r.name}`]);
    else if (JSON.stringify(was) !== JSON.stringify(r)) add("runbooks", "neutral", `runbook \`${r.name}\` changed`, [`runbook:${r.name}`]);
  }
  for (const r of prev.runbooks) {
    if (!next.runbooks.some((x) => x.name === r.name)) add("runbooks", "neutral", `runbook \`${r.name}\` removed`, [`runbook:${r.name}`]);
  }

  const widens = changes.some((c) => c.effect === "widens");
  const removesGate = changes.some((c) => c.effect === "removes-gate");
  const perArea = new Map<string, number>();
  for (const c of changes) perArea.set(c.area, (perArea.get(c.area) ?? 0) + 1);
  const counts = [...perArea].map(([area, n]) => `${area} ${n}`);
  const loud = [removesGate && "REMOVES GATE", widens && "WIDENS"].filter(Boolean).join(", ");
  const summary = changes.length ? `${loud ? `${loud}: ` : ""}${changes.length} changes (${counts.join(", ")})` : "no change in effect";
  return { changes, widens, removesGate, summary };
}

const grantWider = (old: Policy["grants"][number], g: Policy["grants"][number]) =>
  (parseDuration(g.maxDuration) ?? 0) > (parseDuration(old.maxDuration) ?? 0) ||
  minus(g.requesters.users ?? [], old.requesters.users ?? []).length > 0 ||
  minus(g.requesters.usergroups ?? [], old.requesters.usergroups ?? []).length > 0 ||
  minus(g.approvers, old.approvers).length > 0;

/** Container and Azure limits: a raised maximum, a new network or mount, privileged mode all widen. */
function diffLimits(prev: Policy, next: Policy, add: (area: string, effect: ChangeEffect, text: string) => void): void {
  const c0 = prev.containers;
  const c1 = next.containers;
  const sizes = ["memory", "maxMemory"] as const;
  for (const k of sizes) {
    const a = parseBytes(c0[k]) ?? 0;
    const b = parseBytes(c1[k]) ?? 0;
    if (a !== b) add("containers", b > a ? "widens" : "narrows", `containers.${k} ${formatBytes(b)} (was ${formatBytes(a)})`);
  }
  for (const k of ["cpus", "maxCpus", "pids"] as const) {
    if (c0[k] !== c1[k]) add("containers", c1[k] > c0[k] ? "widens" : "narrows", `containers.${k} ${c1[k]} (was ${c0[k]})`);
  }
  for (const k of ["timeout", "maxTimeout"] as const) {
    const a = parseDuration(c0[k]) ?? 0;
    const b = parseDuration(c1[k]) ?? 0;
    if (a !== b) add("containers", b > a ? "widens" : "narrows", `containers.${k} ${c1[k]} (was ${c0[k]})`);
  }
  if (c0.privileged !== c1.privileged) add("containers", c1.privileged ? "widens" : "narrows", `containers.privileged ${c1.privileged}`);
  if (c0.network !== c1.network) {
    add("containers", c1.network === "none" ? "narrows" : "widens", `containers.network ${c1.network} (was ${c0.network})`);
  }
  const networksAdded = minus(c1.networks ?? [], c0.networks ?? []);
  const networksRemoved = minus(c0.networks ?? [], c1.networks ?? []);
  if (networksAdded.length) add("containers", "widens", `containers.networks added ${list(networksAdded)}`);
  if (networksRemoved.length) add("containers", "narrows", `containers.networks removed ${list(networksRemoved)}`);
  // A mount is widened by being new, by pointing elsewhere, or by becoming writable.
  for (const [name, m] of Object.entries(c1.mounts)) {
    const was = c0.mounts[name];
    if (!was) add("containers", "widens", `containers.mounts added ${name} (${m.path}${m.readOnly ? ", read-only" : ", writable"})`);
    else if (was.path !== m.path) add("containers", "widens", `containers.mounts.${name} now ${m.path} (was ${was.path})`);
    else if (was.readOnly && !m.readOnly) add("containers", "widens", `containers.mounts.${name} now writable`);
    else if (!was.readOnly && m.readOnly) add("containers", "narrows", `containers.mounts.${name} now read-only`);
  }
  const mountsRemoved = Object.keys(c0.mounts).filter((name) => !c1.mounts[name]);
  if (mountsRemoved.length) add("containers", "narrows", `containers.mounts removed ${list(mountsRemoved)}`);
  const a0 = prev.azure;
  const a1 = next.azure;
  for (const k of ["sizes", "regions"] as const) {
    const added = minus(a1[k], a0[k]);
    if (added.length) add("azure", "widens", `azure.${k} added ${list(added)}`);
    const removed = minus(a0[k], a1[k]);
    if (removed.length) add("azure", "narrows", `azure.${k} removed ${list(removed)}`);
  }
  if (a1.maxHostsPerUser !== a0.maxHostsPerUser) {
    add(
      "azure",
      a1.maxHostsPerUser > a0.maxHostsPerUser ? "widens" : "narrows",
      `azure.maxHostsPerUser ${a1.maxHostsPerUser} (was ${a0.maxHostsPerUser})`,
    );
  }
  for (const k of ["defaultTtl", "maxTtl"] as const) {
    const a = parseDuration(a0[k]) ?? 0;
    const b = parseDuration(a1[k]) ?? 0;
    if (a !== b) add("azure", b > a ? "widens" : "narrows", `azure.${k} ${a1[k]} (was ${a0[k]})`);
  }
}
