import { type ActionOf, containersOf } from "../action.ts";
import { formatDuration } from "../duration.ts";
import { containerExec, containerLogs, runContainer } from "../execute.ts";
import { code, join, type Message, msg, strong } from "../message.ts";
import { containerLimits } from "../policy.ts";
import { containerInspect, containerList, containerRemove, containerRestart, containerStart, containerStop } from "../reply.ts";
import { runPrecheck } from "../run-precheck.ts";
import { quoteArgs } from "../shell-quote.ts";
import { containerStats, containerTop } from "../stats-report.ts";
import { answered, answeredEach, engineJob } from "./execution.ts";
import { containerPreview, containersPreview, type Handler, noPreview, plainSummary } from "./handler.ts";
import { undoToggle } from "./undo.ts";

// Commands are shown shell-quoted (`sh -c 'echo $i'`): what a card shows can be copied and sent again as it is.
const runSummary = (a: ActionOf<"container.run">, host: string | undefined) => `run ${quoteArgs([a.image, ...a.cmd])} on ${host ?? "?"}`;
const logsSummary = (a: ActionOf<"container.logs">, host: string | undefined) =>
  `logs${a.follow ? " -f" : ""} ${a.container} on ${host ?? "?"}`;
const execSummary = (a: ActionOf<"container.exec">, host: string | undefined) =>
  `exec ${quoteArgs([a.container, ...a.cmd])} on ${host ?? "?"}`;

export const run: Handler<"container.run"> = {
  runs: "job",
  summary: runSummary,
  preview(a, { policy }) {
    const l = containerLimits(policy, a);
    const lines: Message[] = [
      msg`${strong("Image:")} ${code(a.image)}`,
      msg`${strong("Command:")} ${a.cmd.length ? code(quoteArgs(a.cmd)) : "the image's default"}`,
      msg`${strong("Limits:")} ${Math.round(l.memoryBytes / 1024 ** 2)} MiB, ${l.nanoCpus / 1e9} CPU, ${l.pidsLimit} pids, network ${l.networkMode}, ${a.detach ? "detached" : `stopped after ${formatDuration(l.timeoutSeconds * 1000)}`}${l.privileged ? msg`, ${strong("privileged")}` : ""}`,
    ];
    if (l.mounts.length)
      lines.push(msg`${strong("Mounts:")} ${l.mounts.map((m) => `${m.source} → ${m.target}${m.readOnly ? " (ro)" : ""}`).join(", ")}`);
    lines.push(
      msg`${strong("Environment:")} ${
        a.env.length
          ? join(
              a.env.map((e) => [code(e.name)]),
              ", ",
            )
          : "none"
      } (values hidden)`,
    );
    return lines;
  },
  precheck: runPrecheck,
  execute: engineJob(runContainer, runSummary),
  // A named container can be removed again; an unnamed one's name is only known once it runs.
  inverse: (a) => (a.name ? { kind: "container.remove", host: a.host, container: a.name, force: true } : undefined),
};

export const logs: Handler<"container.logs"> = {
  runs: "job",
  target: { of: "container", state: "any" },
  summary: logsSummary,
  preview: containerPreview,
  execute: engineJob(containerLogs, logsSummary),
  inverse: undefined,
};

export const exec: Handler<"container.exec"> = {
  runs: "job",
  target: { of: "container", state: "running" },
  summary: execSummary,
  preview: (a) => [msg`${strong("Container:")} ${code(a.container)}`, msg`${strong("Command:")} ${code(quoteArgs(a.cmd))}`],
  execute: engineJob(containerExec, execSummary),
  inverse: undefined,
};

export const list: Handler<"container.list"> = {
  runs: "reply",
  summary: plainSummary,
  preview: noPreview,
  execute: answered(containerList),
  inverse: undefined,
};

export const inspect: Handler<"container.inspect"> = {
  runs: "reply",
  target: { of: "container", state: "any" },
  summary: plainSummary,
  preview: containerPreview,
  execute: answered(containerInspect),
  inverse: undefined,
};

export const stop: Handler<"container.stop"> = {
  runs: "reply",
  target: { of: "container", state: "running" },
  summary: plainSummary,
  preview: containerPreview,
  execute: answeredEach(containerStop, undoToggle("container.start", "stopped")),
  inverse: (a) => ({ ...a, kind: "container.start" }),
};

export const start: Handler<"container.start"> = {
  runs: "reply",
  target: { of: "container", state: "stopped" },
  summary: plainSummary,
  preview: containerPreview,
  execute: answeredEach(containerStart, undoToggle("container.stop", "running")),
  inverse: (a) => ({ ...a, kind: "container.stop" }),
};

export const restart: Handler<"container.restart"> = {
  runs: "reply",
  target: { of: "container", state: "any" },
  summary: plainSummary,
  preview: containerPreview,
  execute: answeredEach(containerRestart),
  inverse: undefined,
};

export const remove: Handler<"container.remove"> = {
  runs: "reply",
  target: { of: "container", state: "any" },
  summary: (a, host) => `rm${a.force ? " -f" : ""} ${containersOf(a).join(" ")} on ${host}`,
  preview: (a) => containersPreview(a, a.force ? " (forced, even if running)" : ""),
  execute: answeredEach(containerRemove),
  inverse: undefined,
};

const statsSummary = (a: ActionOf<"container.stats">, host: string | undefined) =>
  `stats${a.containers.length ? ` ${a.containers.join(" ")}` : ""} on ${host ?? "?"}`;

// A job, not an answer: the channel sees one snapshot, ten busiest on the card and the rest in its thread.
export const stats: Handler<"container.stats"> = {
  runs: "job",
  summary: statsSummary,
  preview: (a) => (a.containers.length ? [msg`${strong("Containers:")} ${a.containers.join(", ")}`] : []),
  execute: engineJob(containerStats, statsSummary),
  inverse: undefined,
};

export const top: Handler<"container.top"> = {
  runs: "reply",
  target: { of: "container", state: "running" },
  summary: plainSummary,
  preview: containerPreview,
  execute: answered(containerTop),
  inverse: undefined,
};
