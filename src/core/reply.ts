import type { ContainerEngine, ContainerSummary, EngineInfo, ServiceSummary, ServiceTask } from "../engines/ports.ts";
import { escapeMrkdwn as esc, mention } from "../slack/mrkdwn-escape.ts";
import type { Action, Actor } from "./action.ts";
import type { Registry } from "./command.ts";
import { formatBytes, formatDuration } from "./duration.ts";
import type { Reply } from "./events.ts";
import { helpText } from "./help.ts";
import { type JobRegistry, jobVisible } from "./jobs.ts";
import { describeSubject, findPermission, type Policy, type Subject } from "./policy.ts";

export type ReplyAction = Exclude<
  Action,
  {
    kind:
      | "container.run"
      | "container.logs"
      | "container.exec"
      | "service.logs"
      | "service.scale"
      | "service.update"
      | "service.rollback"
      | "job.cancel"
      | "approval.decide"
      | "grant.request"
      | "audit.query"
      | "host.create"
      | "host.remove"
      | "host.extend";
  }
>;

/** One row of `hosts`: what berth could learn about a host just now. */
export type HostReport = {
  name: string;
  url: string;
  isolation?: string | undefined;
  /** For hosts berth made in Azure: size, region, who made it, when it expires. */
  note?: string | undefined;
} & ({ reachable: true; info: EngineInfo; containers: number } | { reachable: false; error: string });

export type ReplyContext = {
  engine: () => ContainerEngine; // only called for container actions, after authorization
  host?: string | undefined;
  registry: Registry;
  policy: Policy;
  subject: Subject;
  actor: Actor;
  jobs: JobRegistry;
  slash: string;
  clock?: () => number;
  /** Every host's capabilities, each bounded by its own timeout (an unreachable host never holds up the others). */
  hosts: () => Promise<HostReport[]>;
};

const ephemeral = (text: string): Reply => ({ visibility: "ephemeral", text });
const channel = (text: string): Reply => ({ visibility: "channel", text });

/** Commands answered with one message: lists, inspections, and quick lifecycle changes. */
export async function answer(action: ReplyAction, ctx: ReplyContext, signal: AbortSignal): Promise<Reply> {
  const by = `<@${ctx.actor.userId}>`;
  switch (action.kind) {
    case "help":
      return ephemeral(helpText(ctx.registry, action.topic, ctx.slash));
    case "policy.explain": {
      const roles = describeSubject(ctx.policy, ctx.subject, ctx.actor);
      return ephemeral(
        roles.length
          ? [`You are <@${ctx.actor.userId}>. Your roles:`, ...roles.map((r) => `• ${r}`)].join("\n")
          : `You are <@${ctx.actor.userId}> and no role is bound to you, so berth will only show help. Ask the operator to add you to a binding in the policy.`,
      );
    }
    case "job.list": {
      const now = (ctx.clock ?? Date.now)();
      const seesAll = () =>
        findPermission(
          ctx.policy,
          ctx.subject,
          "job.list.all",
          { channelId: ctx.actor.channelId, channelName: ctx.actor.channelName },
          now,
        ) !== undefined;
      const jobs = ctx.jobs.list().filter((j) => jobVisible(j, ctx.actor, seesAll));
      if (!jobs.length) return ephemeral(seesAll() ? "No jobs are running." : "None of your jobs, and no job in this channel, is running.");
      return ephemeral(
        [
          "*Running jobs*",
          ...jobs.map(
            (j) => `• \`${j.id}\` ${esc(j.summary)} — ${mention(j.userId)} in <#${j.channelId}>, ${formatDuration(now - j.createdAt)}`,
          ),
          "Stop one with its Stop button or `/berth cancel JOB`.",
        ].join("\n"),
      );
    }
    case "container.list": {
      const list = await ctx.engine().list({ all: action.all }, signal);
      if (!list.length) {
        return ephemeral(
          action.all
            ? `berth has no containers on ${ctx.host}.`
            : `No berth containers are running on ${ctx.host}. \`/berth ps -a\` includes stopped ones.`,
        );
      }
      return ephemeral([`*berth containers on ${ctx.host}*`, ...list.map(psLine)].join("\n"));
    }
    case "container.inspect": {
      const d = await ctx.engine().inspect(action.container, signal);
      const ended = d.finishedAt && d.state !== "running" ? `, exited ${d.exitCode} at ${d.finishedAt.toISOString()}` : "";
      return ephemeral(
        [
          `*${esc(d.name)}* (${esc(d.id)}) on ${ctx.host} — ${esc(d.state)}${ended}${d.oomKilled ? " (OOM-killed)" : ""}`,
          `image \`${esc(d.image)}\`, command \`${esc(d.cmd.join(" ")) || "(image default)"}\``,
          `limits: ${d.memoryBytes ? formatBytes(d.memoryBytes) : "no memory limit"}, ${d.nanoCpus ? `${d.nanoCpus / 1e9} CPU` : "no CPU limit"}, ${d.pidsLimit || "no"} pids, network ${esc(d.networkMode)}${d.privileged ? ", *privileged*" : ""}`,
          `env: ${d.envNames.length ? d.envNames.map((n) => `\`${esc(n)}\``).join(", ") : "none"} (values are never shown)`,
          `started by ${mention(d.labels["io.berth.user"] ?? "?")}${d.restartCount ? `, restarted ${d.restartCount}×` : ""}`,
        ].join("\n"),
      );
    }
    case "container.stop":
      await ctx.engine().stop(action.container, signal);
      return channel(`${by} stopped \`${action.container}\` on ${ctx.host}.`);
    case "container.start":
      await ctx.engine().start(action.container, signal);
      return channel(`${by} started \`${action.container}\` on ${ctx.host}. Follow it with \`/berth logs -f ${action.container}\`.`);
    case "container.restart":
      await ctx.engine().restart(action.container, signal);
      return channel(`${by} restarted \`${action.container}\` on ${ctx.host}.`);
    case "container.remove":
      await ctx.engine().remove(action.container, { force: action.force }, signal);
      return channel(`${by} removed \`${action.container}\` from ${ctx.host}.`);
    case "host.list": {
      const hosts = await ctx.hosts();
      return ephemeral(["*Docker hosts*", ...hosts.map(hostLines)].join("\n"));
    }
    case "service.list": {
      const list = await ctx.engine().services(signal);
      if (!list.length) return ephemeral(`No Swarm services on ${ctx.host}.`);
      return ephemeral([`*Swarm services on ${ctx.host}*`, ...list.map(serviceLine)].join("\n"));
    }
    case "service.ps": {
      const tasks = await ctx.engine().serviceTasks(action.service, signal);
      if (!tasks.length) return ephemeral(`Service \`${action.service}\` on ${ctx.host} has no tasks.`);
      const shown = tasks.slice(0, 20);
      const more = tasks.length > shown.length ? [`…and ${tasks.length - shown.length} older tasks.`] : [];
      return ephemeral([`*Tasks of \`${action.service}\` on ${ctx.host}*`, ...shown.map(taskLine), ...more].join("\n"));
    }
    default: {
      const never: never = action;
      throw new Error(`unhandled reply action ${JSON.stringify(never)}`);
    }
  }
}

function psLine(c: ContainerSummary): string {
  return `• \`${esc(c.name)}\` ${esc(c.id)} — ${esc(c.status)} — \`${esc(c.image)}\` — ${mention(c.labels["io.berth.user"] ?? "?")}`;
}

function hostLines(h: HostReport): string {
  const note = h.note ? `\n   ${h.note}` : "";
  if (!h.reachable) return `• :red_circle: *${h.name}* (${esc(h.url)}) — ${h.url ? "unreachable: " : ""}${esc(h.error)}${note}`;
  const i = h.info;
  const isolation =
    i.osType === "windows"
      ? ` · isolation ${h.isolation ?? i.defaultIsolation ?? "?"} by default${i.isolations.length ? ` (supports ${i.isolations.join(", ")})` : ""}`
      : "";
  const swarm =
    i.swarm.state === "active" ? ` · swarm ${i.swarm.role ?? "member"}` : i.swarm.state === "inactive" ? "" : ` · swarm ${i.swarm.state}`;
  return (
    [
      `• :large_green_circle: *${h.name}* (${esc(h.url)}) — ${esc(i.osType)} ${esc(i.osBuild)}, ${esc(i.architecture)}`,
      `   ${esc(i.osVersion)}`,
      `   Docker ${esc(i.engineVersion)}, API ${esc(i.apiVersion)}${i.maxApiVersion !== i.apiVersion ? ` (engine up to ${i.maxApiVersion})` : ""}${isolation}${swarm} · ${h.containers} berth container${h.containers === 1 ? "" : "s"}`,
    ].join("\n") + note
  );
}

function serviceLine(s: ServiceSummary): string {
  const replicas = s.mode === "global" ? `${s.running} running (global)` : `${s.running}/${s.desired ?? 0}`;
  const update = s.updateState
    ? ` — update ${esc(s.updateState.replace(/_/g, " "))}${s.updateMessage ? `: ${esc(s.updateMessage)}` : ""}`
    : "";
  return `• \`${esc(s.name)}\` ${esc(s.id)} — ${replicas} — \`${esc(s.image)}\`${update}`;
}

function taskLine(t: ServiceTask): string {
  const err = t.error ? ` — ${esc(t.error)}` : "";
  return `• ${esc(t.id)}${t.slot ? ` slot ${t.slot}` : ""} on ${esc(t.node ?? "?")} — ${esc(t.state)} (want ${esc(t.desiredState)}) — \`${esc(t.image)}\` — ${t.updatedAt.toISOString().slice(0, 19)}Z${err}`;
}
