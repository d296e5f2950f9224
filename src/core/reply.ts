import type { ContainerEngine, ContainerSummary, ServiceSummary, ServiceTask } from "../engines/ports.ts";
import type { ActionKind, ActionOf, Actor } from "./action.ts";
import type { Registry } from "./command.ts";
import { formatBytes, formatDuration } from "./duration.ts";
import type { Reply } from "./events.ts";
import { helpText } from "./help.ts";
import type { HostReport } from "./host-reports.ts";
import { type JobRegistry, jobVisible } from "./jobs.ts";
import { channel as channelRef, code, command, join, type Message, msg, strong, tone, user } from "./message.ts";
import { describeSubject, findPermission, type Policy, type Subject } from "./policy.ts";
import { quoteArgs } from "./shell-quote.ts";

export type { HostReport } from "./host-reports.ts";

export type ReplyContext = {
  engine: () => ContainerEngine; // only called for container actions, after authorization
  host?: string | undefined;
  registry: Registry;
  policy: Policy;
  subject: Subject;
  actor: Actor;
  jobs: JobRegistry;
  clock?: () => number;
  /** Every host's capabilities, each bounded by its own timeout (an unreachable host never holds up the others). */
  hosts: () => Promise<HostReport[]>;
};

/** An answer for one kind of action: one message, to the requester unless it changed something others should see. */
export type Answer<K extends ActionKind> = (action: ActionOf<K>, ctx: ReplyContext, signal: AbortSignal) => Promise<Reply>;

const ephemeral = (text: Message): Reply => ({ visibility: "ephemeral", text });
const channel = (text: Message): Reply => ({ visibility: "channel", text });

export const help: Answer<"help"> = async (action, ctx) => ephemeral(helpText(ctx.registry, action.topic, ctx.policy.runbooks));

export const whoami: Answer<"policy.explain"> = async (_action, ctx) => {
  const roles = describeSubject(ctx.policy, ctx.subject, ctx.actor);
  const you = user(ctx.actor.userId);
  return ephemeral(
    roles.length
      ? join([msg`You are ${you}. Your roles:`, ...roles.map((r) => msg`• ${r}`)])
      : msg`You are ${you} and no role is bound to you, so berth will only show help. Ask the operator to add you to a binding in the policy.`,
  );
};

export const jobList: Answer<"job.list"> = async (_action, ctx) => {
  const now = (ctx.clock ?? Date.now)();
  const seesAll = () =>
    findPermission(ctx.policy, ctx.subject, "job.list.all", { channelId: ctx.actor.channelId, channelName: ctx.actor.channelName }, now) !==
    undefined;
  const jobs = ctx.jobs.list().filter((j) => jobVisible(j, ctx.actor, seesAll));
  if (!jobs.length)
    return ephemeral(msg`${seesAll() ? "No jobs are running." : "None of your jobs, and no job in this channel, is running."}`);
  return ephemeral(
    join([
      msg`${strong("Running jobs")}`,
      ...jobs.map(
        (j) => msg`• ${code(j.id)} ${j.summary} — ${user(j.userId)} in ${channelRef(j.channelId)}, ${formatDuration(now - j.createdAt)}`,
      ),
      msg`Stop one with its Stop button or ${command("cancel JOB")}.`,
    ]),
  );
};

export const containerList: Answer<"container.list"> = async (action, ctx, signal) => {
  const list = await ctx.engine().list({ all: action.all }, signal);
  if (!list.length) {
    return ephemeral(
      action.all
        ? msg`berth has no containers on ${ctx.host ?? ""}.`
        : msg`No berth containers are running on ${ctx.host ?? ""}. ${command("ps -a")} includes stopped ones.`,
    );
  }
  return ephemeral(join([msg`${strong(`berth containers on ${ctx.host}`)}`, ...list.map(psLine)]));
};

export const containerInspect: Answer<"container.inspect"> = async (action, ctx, signal) => {
  const d = await ctx.engine().inspect(action.container, signal);
  const ended = d.finishedAt && d.state !== "running" ? `, exited ${d.exitCode} at ${d.finishedAt.toISOString()}` : "";
  const limits = `${d.memoryBytes ? formatBytes(d.memoryBytes) : "no memory limit"}, ${d.nanoCpus ? `${d.nanoCpus / 1e9} CPU` : "no CPU limit"}, ${d.pidsLimit || "no"} pids, network ${d.networkMode}`;
  return ephemeral(
    join([
      msg`${strong(d.name)} (${d.id}) on ${ctx.host ?? ""} — ${d.state}${ended}${d.oomKilled ? " (OOM-killed)" : ""}`,
      msg`image ${code(d.image)}, command ${code(quoteArgs(d.cmd) || "(image default)")}`,
      msg`limits: ${limits}${d.privileged ? msg`, ${strong("privileged")}` : ""}`,
      msg`env: ${
        d.envNames.length
          ? join(
              d.envNames.map((n) => [code(n)]),
              ", ",
            )
          : "none"
      } (values are never shown)`,
      msg`started by ${user(d.labels["io.berth.user"] ?? "?")}${d.restartCount ? `, restarted ${d.restartCount}×` : ""}`,
    ]),
  );
};

export const containerStop: Answer<"container.stop"> = async (action, ctx, signal) => {
  await ctx.engine().stop(action.container, signal);
  return channel(msg`${user(ctx.actor.userId)} stopped ${code(action.container)} on ${ctx.host ?? ""}.`);
};

export const containerStart: Answer<"container.start"> = async (action, ctx, signal) => {
  await ctx.engine().start(action.container, signal);
  return channel(
    msg`${user(ctx.actor.userId)} started ${code(action.container)} on ${ctx.host ?? ""}. Follow it with ${command(`logs -f ${action.container}`)}.`,
  );
};

export const containerRestart: Answer<"container.restart"> = async (action, ctx, signal) => {
  await ctx.engine().restart(action.container, signal);
  return channel(msg`${user(ctx.actor.userId)} restarted ${code(action.container)} on ${ctx.host ?? ""}.`);
};

export const containerRemove: Answer<"container.remove"> = async (action, ctx, signal) => {
  await ctx.engine().remove(action.container, { force: action.force }, signal);
  return channel(msg`${user(ctx.actor.userId)} removed ${code(action.container)} from ${ctx.host ?? ""}.`);
};

export const hostList: Answer<"host.list"> = async (_action, ctx) => {
  const hosts = await ctx.hosts();
  return ephemeral(join([msg`${strong("Docker hosts")}`, ...hosts.map(hostLines)]));
};

export const serviceList: Answer<"service.list"> = async (_action, ctx, signal) => {
  const list = await ctx.engine().services(signal);
  if (!list.length) return ephemeral(msg`No Swarm services on ${ctx.host ?? ""}.`);
  return ephemeral(join([msg`${strong(`Swarm services on ${ctx.host}`)}`, ...list.map(serviceLine)]));
};

export const servicePs: Answer<"service.ps"> = async (action, ctx, signal) => {
  const tasks = await ctx.engine().serviceTasks(action.service, signal);
  if (!tasks.length) return ephemeral(msg`Service ${code(action.service)} on ${ctx.host ?? ""} has no tasks.`);
  const shown = tasks.slice(0, 20);
  const more = tasks.length > shown.length ? [msg`…and ${tasks.length - shown.length} older tasks.`] : [];
  return ephemeral(join([msg`${strong("Tasks of")} ${code(action.service)} ${strong(`on ${ctx.host}`)}`, ...shown.map(taskLine), ...more]));
};

function psLine(c: ContainerSummary): Message {
  return msg`• ${code(c.name)} ${c.id} — ${c.status} — ${code(c.image)} — ${user(c.labels["io.berth.user"] ?? "?")}`;
}

function hostLines(h: HostReport): Message {
  const note = h.note ? msg`\n   ${h.note}` : [];
  if (!h.reachable) return msg`• ${tone("unreachable")} ${strong(h.name)} (${h.url}) — ${h.url ? "unreachable: " : ""}${h.error}${note}`;
  const i = h.info;
  const isolation =
    i.osType === "windows"
      ? ` · isolation ${h.isolation ?? i.defaultIsolation ?? "?"} by default${i.isolations.length ? ` (supports ${i.isolations.join(", ")})` : ""}`
      : "";
  const swarm =
    i.swarm.state === "active" ? ` · swarm ${i.swarm.role ?? "member"}` : i.swarm.state === "inactive" ? "" : ` · swarm ${i.swarm.state}`;
  const api = i.maxApiVersion !== i.apiVersion ? ` (engine up to ${i.maxApiVersion})` : "";
  const count = `${h.containers} berth container${h.containers === 1 ? "" : "s"}`;
  return join([
    msg`• ${tone("healthy")} ${strong(h.name)} (${h.url}) — ${i.osType} ${i.osBuild}, ${i.architecture}`,
    msg`   ${i.osVersion}`,
    msg`   Docker ${i.engineVersion}, API ${i.apiVersion}${api}${isolation}${swarm} · ${count}${note}`,
  ]);
}

function serviceLine(s: ServiceSummary): Message {
  const replicas = s.mode === "global" ? `${s.running} running (global)` : `${s.running}/${s.desired ?? 0}`;
  const update = s.updateState ? ` — update ${s.updateState.replace(/_/g, " ")}${s.updateMessage ? `: ${s.updateMessage}` : ""}` : "";
  return msg`• ${code(s.name)} ${s.id} — ${replicas} — ${code(s.image)}${update}`;
}

function taskLine(t: ServiceTask): Message {
  const err = t.error ? ` — ${t.error}` : "";
  return msg`• ${t.id}${t.slot ? ` slot ${t.slot}` : ""} on ${t.node ?? "?"} — ${t.state} (want ${t.desiredState}) — ${code(t.image)} — ${t.updatedAt.toISOString().slice(0, 19)}Z${err}`;
}
