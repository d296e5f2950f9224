import { type Action, type Actor, hostOf, onAnotherPersonsHost, targetsHost } from "./action.ts";
import { resolveHost } from "./hosts.ts";
import type { Message } from "./message.ts";
import type { DispatchDeps } from "./pipeline-types.ts";
import type { ActiveGrant, Place, Subject } from "./policy.ts";

/** Who asks, for policy. `homeTeam` only when the Slack adapter vouched for it: `users: ["*"]` does not match a stranger. */
export async function subjectOf(
  deps: Pick<DispatchDeps, "store" | "groupsOf">,
  actor: Pick<Actor, "userId" | "teamId" | "homeTeam">,
): Promise<Subject> {
  const grants: ActiveGrant[] = (await deps.store.grants.active()).filter((g) => g.userId === actor.userId);
  return {
    userId: actor.userId,
    groups: await deps.groupsOf(actor.userId),
    grants,
    teamId: actor.teamId,
    homeTeam: actor.homeTeam === true,
  };
}

/**
 * Where an action happens, for policy: the channel, the host it concerns (see `hostOf`), for removing or extending a
 * host berth made, who made it, and for revoking a grant, who holds it and who approved it.
 */
export async function placeOf(
  deps: Pick<DispatchDeps, "cloud" | "store">,
  action: Action,
  channel: { channelId: string; channelName?: string | undefined },
  host: string | undefined,
): Promise<Place> {
  const concerned = hostOf(action, host);
  const made =
    concerned !== undefined && action.kind in onAnotherPersonsHost ? await deps.cloud?.store.cloudHosts.get(concerned) : undefined;
  const grant = action.kind === "grant.revoke" ? await deps.store.grants.get(action.grant) : undefined;
  return {
    channelId: channel.channelId,
    channelName: channel.channelName,
    host: concerned,
    hostOwner: made && made.status !== "removed" ? made.requester : undefined,
    ...(grant && { grant: { id: grant.id, userId: grant.userId, approvedBy: grant.approvedBy } }),
  };
}

/** The host an action runs on (none for actions that touch no engine), or why it cannot be chosen. */
export function hostFor(
  action: Action,
  actor: Actor,
  deps: Pick<DispatchDeps, "hosts">,
): { ok: true; host: string | undefined } | { ok: false; message: Message; choices?: readonly string[] | undefined } {
  if (!targetsHost(action)) return { ok: true, host: undefined };
  return resolveHost(deps.hosts, action.host, { id: actor.channelId, name: actor.channelName });
}
