import { type Action, ActionSchema, type Actor, hostOf, targetsHost } from "./action.ts";
import { auditDecision } from "./audit.ts";
import type { Parsed } from "./command.ts";
import { BerthError } from "./errors.ts";
import type { Choice } from "./events.ts";
import type { Target } from "./handlers/handler.ts";
import { handlerOf } from "./handlers.ts";
import { resolveHostFor } from "./host-pick.ts";
import { code, type Message, msg } from "./message.ts";
import { type DispatchDeps, now, type Outcome } from "./pipeline-types.ts";
import { placeOf, subjectOf } from "./place.ts";
import { authorize, type Place, type Policy, type Subject } from "./policy.ts";
import { suggest } from "./suggest.ts";

/** A read made to offer candidates never holds a request up for long: past this, the usual answer is given. */
const listTimeoutMs = 5000;

type Candidate = { name: string; note: string };

/** berth's containers (in the state the action needs) or the Swarm services on `host`, newest first. */
async function candidates(
  target: Exclude<Target, { of: "host" }>,
  deps: Pick<DispatchDeps, "engine">,
  host: string,
  signal: AbortSignal,
): Promise<Candidate[]> {
  const bounded = AbortSignal.any([signal, AbortSignal.timeout(listTimeoutMs)]);
  if (target.of === "service") {
    const services = await deps.engine(host).services(bounded);
    return services.map((s) => ({ name: s.name, note: s.mode === "global" ? `${s.running} running` : `${s.running}/${s.desired ?? 0}` }));
  }
  const containers = await deps.engine(host).list({ all: target.state !== "running" }, bounded);
  return containers
    .filter((c) => (target.state === "running" ? c.state === "running" : target.state === "stopped" ? c.state !== "running" : true))
    .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())
    .map((c) => ({ name: c.name, note: c.status }));
}

/** `action` acting on `name` instead, validated again (a name from the engine is still input to an action). */
function actingOn(action: Action, target: Target, name: string, host: string): Action | undefined {
  const parsed = ActionSchema.safeParse({ ...action, host, [target.of === "service" ? "service" : "container"]: name });
  return parsed.success ? parsed.data : undefined;
}

/** The candidates as taps: only those this person may act on here (gated ones too: the tap meets the gate). */
function offered(
  found: readonly Candidate[],
  toAction: (name: string) => Action | undefined,
  who: { policy: Policy; subject: Subject; place: Place; at: number },
): Choice[] {
  return found.flatMap((c) => {
    const action = toAction(c.name);
    if (!action || !authorize(who.policy, who.subject, action, who.place, who.at).allow) return [];
    return [{ label: `${c.name} · ${c.note}`, action }];
  });
}

/** berth's containers on `host` (any state), newest first, each with its status: candidates for a runbook's container. */
export function containerCandidates(deps: Pick<DispatchDeps, "engine">, host: string, signal: AbortSignal): Promise<Candidate[]> {
  return candidates({ of: "container", state: "any" }, deps, host, signal);
}

/**
 * Listing candidates is a `ps` (`service ls`) by this person: allowed without a gate and audited as one, or nothing is
 * listed. The place it was decided in, for deciding each candidate.
 */
export async function listedAsPs(
  listed: Extract<Action, { kind: "container.list" | "service.list" }> & { host: string },
  actor: Actor,
  subject: Subject,
  deps: DispatchDeps,
  requestId: string,
): Promise<Place | undefined> {
  const place = await placeOf(deps, listed, actor, listed.host);
  const decision = authorize(deps.policy(), subject, listed, place, now(deps));
  if (!decision.allow || decision.gate !== "none") return undefined;
  await auditDecision(deps, { requestId, actor, action: listed, host: listed.host, decision });
  return place;
}

const what = (target: Target) => (target.of === "service" ? "service" : "container");

/**
 * A command that left out what it acts on (`logs -f`, `stop`): instead of a usage error, the containers or services
 * this person may act on in this channel, newest first, as taps. Listing them is itself a `ps` (`service ls`) by this
 * person: authorized and audited as one. undefined when nothing can be offered: the usual usage error stands.
 */
export async function pickTarget(
  parsed: Extract<Parsed, { ok: false }>,
  actor: Actor,
  deps: DispatchDeps,
  signal: AbortSignal,
  requestId: string,
): Promise<Outcome | undefined> {
  const probe = parsed.complete?.("x");
  if (!probe?.ok || !parsed.complete) return undefined;
  const target = handlerOf(probe.action).target;
  if (!target) return undefined;
  const subject = await subjectOf(deps, actor);
  const policy = deps.policy();
  if (target.of === "host") return pickHost(parsed, actor, subject, policy, deps, requestId);
  if (!targetsHost(probe.action)) return undefined;
  const listing: Extract<Action, { kind: "container.list" | "service.list" }> =
    target.of === "service"
      ? { kind: "service.list", host: probe.action.host }
      : { kind: "container.list", all: true, host: probe.action.host };
  const where = resolveHostFor(listing, actor, subject, policy, deps, requestId);
  const host = where.type === "host" ? where.host : where.type === "retry" && targetsHost(where.action) ? where.action.host : undefined;
  if (!host) return undefined;
  const place = await listedAsPs({ ...listing, host }, actor, subject, deps, requestId);
  if (!place) return undefined;
  let found: Candidate[];
  try {
    found = await candidates(target, deps, host, signal);
  } catch {
    return undefined;
  }
  const complete = parsed.complete;
  const choices = offered(
    found,
    (name) => {
      const c = complete(name);
      return c.ok ? actingOn(c.action, target, name, host) : undefined;
    },
    { policy, subject, place: { ...place, host: hostOf(probe.action, host) }, at: now(deps) },
  );
  const usage = parsed.usage ? msg`\n${parsed.usage}` : [];
  const text: Message = choices.length
    ? msg`Which ${what(target)} on ${host}? Newest first; tap one.${usage}`
    : msg`${parsed.message}. berth found no ${what(target)} on ${host} that you may act on with this here.${usage}`;
  return { type: "reply", reply: { visibility: "ephemeral", text, ...(choices.length && { choices }) }, requestId, result: "usage_error" };
}

/**
 * `host extend` or `host rm` without a name: the hosts berth made (from its own records, no engine or cloud call) that
 * this person may extend or remove here, newest first.
 */
async function pickHost(
  parsed: Extract<Parsed, { ok: false }>,
  actor: Actor,
  subject: Subject,
  policy: Policy,
  deps: DispatchDeps,
  requestId: string,
): Promise<Outcome | undefined> {
  const complete = parsed.complete;
  if (!deps.cloud || !complete) return undefined;
  const hosts = (await deps.cloud.store.cloudHosts.live()).filter((h) => h.status === "ready" || h.status === "unreachable");
  const at = now(deps);
  const choices = hosts
    .sort((a, b) => b.createdAt - a.createdAt)
    .flatMap((h): Choice[] => {
      const c = complete(h.name);
      if (!c.ok) return [];
      const place: Place = { channelId: actor.channelId, channelName: actor.channelName, host: h.name, hostOwner: h.requester };
      if (!authorize(policy, subject, c.action, place, at).allow) return [];
      const left = Math.max(0, Math.round((h.expiresAt - at) / 60_000));
      return [{ label: `${h.name} · ${h.os}, ${left} min left`, action: c.action }];
    });
  const usage = parsed.usage ? msg`\n${parsed.usage}` : [];
  if (!choices.length) return undefined;
  return {
    type: "reply",
    reply: { visibility: "ephemeral", text: msg`Which host? Newest first; tap one.${usage}`, choices },
    requestId,
    result: "usage_error",
  };
}

/**
 * A name that matches none of berth's containers (services) on the host exactly: `api` when there are `api-1` and
 * `api-2`, or a typo. The ones it could mean, that this person may act on here, as taps; undefined to go on as typed
 * (an exact match, nothing close, or the engine could not say within a few seconds: the action's own answer stands).
 */
export async function closeTargets(
  action: Action,
  host: string,
  who: { policy: Policy; subject: Subject; place: Place },
  deps: DispatchDeps,
  signal: AbortSignal,
  requestId: string,
): Promise<Outcome | undefined> {
  const target = handlerOf(action).target;
  if (!target || target.of === "host") return undefined; // berth's own records name the hosts: the handler says what is wrong
  const named = target.of === "service" && "service" in action ? action.service : "container" in action ? action.container : undefined;
  // Several containers are each answered on their own line (not found, stopped…), as docker does.
  if (typeof named !== "string" || ("more" in action && action.more?.length)) return undefined;
  let found: Candidate[];
  try {
    // Every one of berth's (whatever its state): a name that exists in the wrong state gets the action's own answer.
    found = await candidates(target.of === "service" ? target : { of: "container", state: "any" }, deps, host, signal);
  } catch (error) {
    if (error instanceof BerthError && error.code === "UNAVAILABLE") throw error; // the pipeline offers other hosts
    return undefined;
  }
  const ref = named.toLowerCase();
  if (found.some((c) => c.name === named)) return undefined;
  // An id or id prefix is the engine's to resolve; only names are offered here.
  if (/^[0-9a-f]{4,64}$/.test(ref)) return undefined;
  const names = found.map((c) => c.name);
  const close = new Set([...names.filter((n) => n.toLowerCase().startsWith(ref)), ...suggest(named, names)]);
  const choices = offered(
    found.filter((c) => close.has(c.name)),
    (name) => actingOn(action, target, name, host),
    { ...who, at: now(deps) },
  );
  if (!choices.length) return undefined;
  const text =
    choices.length > 1
      ? msg`No berth ${what(target)} is called ${code(named)} on ${host}; ${choices.length} have a close name. Tap the one you meant.`
      : msg`No berth ${what(target)} is called ${code(named)} on ${host}. Did you mean this one?`;
  return { type: "reply", reply: { visibility: "ephemeral", text, choices }, requestId, result: "usage_error" };
}
