import type { Action, Actor } from "./action.ts";
import { jobVisible } from "./jobs.ts";
import { code, command, type Message, msg } from "./message.ts";
import { type DispatchDeps, now } from "./pipeline-types.ts";
import { authorize, type Decision, findPermission, type Place, type Subject } from "./policy.ts";

export const noSuchJob = (id: string): Message => msg`No running job ${code(id)}. ${command("jobs")} lists the running ones.`;

/**
 * The one policy decision of a request. Stopping someone else's job is decided as stopping a container where it runs;
 * a job the person cannot see is denied as if it did not exist (`hidden`: the answer is the plain "no such job").
 */
export async function authorizeRequest(
  action: Action,
  actor: Actor,
  subject: Subject,
  place: Place,
  deps: Pick<DispatchDeps, "policy" | "jobs" | "clock" | "store">,
): Promise<{ decision: Decision; hidden?: Message }> {
  const policy = deps.policy();
  const decision = authorize(policy, subject, action, place, now(deps));
  if (action.kind !== "job.cancel") return { decision };
  // The job may run on another replica: the store knows every running job, this process only its own.
  const live = deps.jobs.get(action.job);
  const stored = live ? undefined : await deps.store.jobs.get(action.job);
  const target = live ?? (stored?.status === "running" ? { record: stored, channelName: undefined } : undefined);
  if (!target) return { decision };
  // Someone else's job is only there for you if `jobs` shows it to you (this channel's, or job.list.all): a job
  // from a channel you cannot see answers exactly like one that does not exist.
  const seesAll = () => findPermission(policy, subject, "job.list.all", place, now(deps)) !== undefined;
  if (!jobVisible(target.record, actor, seesAll)) {
    const hidden = noSuchJob(action.job);
    return { decision: { allow: false, rule: "job:not-visible", reason: hidden }, hidden };
  }
  // Anyone may stop their own job; stopping someone else's needs the right to stop containers where it runs.
  if (target.record.userId === actor.userId) return { decision };
  const jobHost = target.record.host ?? undefined;
  const asStop = authorize(
    policy,
    subject,
    { kind: "container.stop", container: "job", host: jobHost },
    { channelId: target.record.channelId, channelName: target.channelName, host: jobHost },
    now(deps),
  );
  // Stopping a stream or a run only ever reduces what happens, so it is never held for a confirmation or approval.
  return { decision: asStop.allow ? { ...asStop, gate: "none", gateRule: undefined, approvers: undefined } : asStop };
}
