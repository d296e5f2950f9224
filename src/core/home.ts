import type { StoredJob } from "../store/port.ts";
import { type Action, type ActionOf, ActionSchema, type Actor, type Permission } from "./action.ts";
import type { JobResume } from "./events.ts";
import { type HostReport, hostReports } from "./host-reports.ts";
import { command, type Message, msg } from "./message.ts";
import { type DispatchDeps, now } from "./pipeline-types.ts";
import { placeOf, subjectOf } from "./place.ts";
import { describeSubject, findPermission, mayApprove, type Place, type Policy } from "./policy.ts";

/**
 * What one person's Home tab shows, decided by the policy for that person alone: the hosts (when they may list them),
 * their running jobs (everyone's when they hold `job.list.all` where a job runs), the requests they may approve, and
 * the break-glass grants they hold or gave. Structured; the Slack side renders it (src/slack/render-home.ts).
 *
 * The Home tab is not a channel, yet the policy's places are. Each thing is judged in its own channel, as the slash
 * command typed there would be: a job where it runs, a request where it was asked. A list that has no channel of its
 * own (the hosts) is shown when the person may ask for it in at least one place, which tells them nothing that typing
 * it there would not.
 */

export type HomeHost = { name: string; healthy: boolean; detail: Message };

export type HomeJob = {
  id: string;
  summary: string;
  userId: string;
  channelId: string;
  host: string | null;
  startedAt: number;
  /** Whether the Stop button is offered: their own job, or they may stop containers where it runs. */
  stoppable: boolean;
  /** `logs -f CONTAINER -H HOST` for the job's container, when it has one and the viewer may follow its logs there. */
  logs?: ActionOf<"container.logs"> | undefined;
};

export type HomeRequest = { id: string; summary: string; requester: string; channelId: string; host: string | null; expiresAt: number };

export type HomeGrant = { id: string; userId: string; role: string; approvedBy: string; expiresAt: number; reason: string };

export type HomeContent =
  | { type: "no-role"; userId: string; text: Message }
  | {
      type: "home";
      userId: string;
      at: number;
      /** undefined: the policy does not let this person list hosts anywhere. */
      hosts: HomeHost[] | undefined;
      /** Running jobs shown; `all` when they may see other people's jobs somewhere (`job.list.all`). */
      jobs: { list: HomeJob[]; all: boolean };
      /** Requests waiting for an approval this person may give. */
      approvals: HomeRequest[];
      /** Grants this person holds, and grants they approved for others, still active. */
      grants: { held: HomeGrant[]; given: HomeGrant[] };
    };

export type HomeDeps = Pick<DispatchDeps, "policy" | "store" | "hosts" | "engine" | "cloud" | "groupsOf" | "clock">;

/** Builds the Home content for `viewer` (their team as Slack reported it: `homeTeam` only for berth's own workspace). */
export async function homeFor(
  deps: HomeDeps,
  viewer: Pick<Actor, "userId" | "teamId" | "homeTeam">,
  signal: AbortSignal,
): Promise<HomeContent> {
  const policy = deps.policy();
  const at = now(deps);
  const subject = await subjectOf(deps, viewer);
  const roles = describeSubject(policy, subject, { userId: viewer.userId, channelId: "" }, at);
  if (roles.length === 0) {
    return {
      type: "no-role",
      userId: viewer.userId,
      text: msg`No role is bound to you in berth's policy, so there is nothing to show here. Ask the operator to add you to a binding; ${command("whoami")} shows what you have.`,
    };
  }
  const may = (kind: Permission, place: Place) => findPermission(policy, subject, kind, place, at) !== undefined;
  const somewhere = (kind: Permission) => placesOf(policy).some((p) => may(kind, p));

  const [hosts, running, waiting, grants] = await Promise.all([
    somewhere("host.list") ? hostReports(deps, signal).then((r) => r.map(homeHost)) : Promise.resolve(undefined),
    deps.store.jobs.running(),
    deps.store.pending.waiting(),
    deps.store.grants.active(),
  ]);

  const jobs = running
    .filter((j) => j.userId === viewer.userId || may("job.list.all", jobPlace(j)))
    .map((j) => homeJob(j, viewer.userId, may));
  const approvals: HomeRequest[] = [];
  for (const p of waiting) {
    if (p.gate !== "approval" || p.expiresAt <= at) continue;
    const parsed = ActionSchema.safeParse(p.action);
    if (!parsed.success) continue;
    const place = await placeOf(
      deps,
      parsed.data,
      { channelId: p.channelId, channelName: p.channelName ?? undefined },
      p.host ?? undefined,
    );
    const check = mayApprove(policy, subject, { requester: p.requester, action: parsed.data, place, approvers: p.approvers }, at);
    if (!check.ok) continue;
    approvals.push({ id: p.id, summary: p.summary, requester: p.requester, channelId: p.channelId, host: p.host, expiresAt: p.expiresAt });
  }
  const live = grants.filter((g) => g.expiresAt > at);
  const grant = (g: (typeof live)[number]): HomeGrant => ({
    id: g.id,
    userId: g.userId,
    role: g.role,
    approvedBy: g.approvedBy,
    expiresAt: g.expiresAt,
    reason: g.reason,
  });
  return {
    type: "home",
    userId: viewer.userId,
    at,
    hosts,
    jobs: { list: jobs, all: somewhere("job.list.all") },
    approvals,
    grants: {
      held: live.filter((g) => g.userId === viewer.userId).map(grant),
      given: live.filter((g) => g.approvedBy === viewer.userId && g.userId !== viewer.userId).map(grant),
    },
  };
}

/** Every place the policy tells apart: anywhere (no channel) and each channel a binding names. */
function placesOf(policy: Policy): Place[] {
  const channels = new Set(policy.bindings.flatMap((b) => b.channels ?? []));
  return [{ channelId: "" }, ...[...channels].map((channelId) => ({ channelId }))];
}

const jobPlace = (j: Pick<StoredJob, "channelId" | "host">): Place => ({ channelId: j.channelId, host: j.host ?? undefined });

function homeJob(j: StoredJob, viewer: string, may: (kind: Permission, place: Place) => boolean): HomeJob {
  const place = jobPlace(j);
  const container = containerOf(j);
  const logs =
    container && j.host && may("container.logs", place)
      ? ActionSchema.safeParse({ kind: "container.logs", host: j.host, container, follow: true })
      : undefined;
  return {
    id: j.id,
    summary: j.summary,
    userId: j.userId,
    channelId: j.channelId,
    host: j.host,
    startedAt: j.createdAt,
    stoppable: j.userId === viewer || may("container.stop", place),
    logs: logs?.success && logs.data.kind === "container.logs" ? logs.data : undefined,
  };
}

/** The container a job runs or follows, from what its runner stored (resume.ts): none for an exec or a host job. */
export function containerOf(j: Pick<StoredJob, "resume">): string | undefined {
  const stored = j.resume as { action?: Action; point?: JobResume } | null;
  if (!stored || typeof stored !== "object") return undefined;
  const point = stored.point as { container?: unknown; name?: unknown } | undefined;
  if (point && typeof point.name === "string" && point.name) return point.name;
  if (point && typeof point.container === "string" && point.container) return point.container;
  const action = stored.action;
  if (action?.kind === "container.logs") return action.container;
  if (action?.kind === "container.run") return action.name;
  return undefined;
}

function homeHost(r: HostReport): HomeHost {
  if (!r.reachable) return { name: r.name, healthy: false, detail: msg`unreachable: ${r.error}` };
  const i = r.info;
  return {
    name: r.name,
    healthy: true,
    detail: msg`${i.osType} ${i.osBuild}, Docker ${i.engineVersion} · ${r.containers} berth container${r.containers === 1 ? "" : "s"}`,
  };
}
