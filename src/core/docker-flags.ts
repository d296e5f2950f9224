/**
 * Docker's own options for the commands berth mirrors (docker CLI reference: run, exec, logs, start, stop, restart,
 * rm, ps, inspect, stats, top), so that one berth does not take is named as a Docker option rather than met with "did you mean"
 * a berth option that only looks alike (`-it` is not a typo of `-H`). berth's own options are matched before this.
 */
import { code, command, type Message, msg } from "./message.ts";

const terminal = ["-i", "-t", "--interactive", "--tty"];

/** What berth does instead of a terminal: said for `-i`, `-t`, `-it` and their long forms. */
const noTerminal = (name: string): Message =>
  name === "exec"
    ? msg`berth has no terminal to attach (${code("-i")}, ${code("-t")}, ${code("-it")}): ${code("exec")} runs the command and streams its output into the thread. Run one command at a time, e.g. ${command("exec api ps aux")}, rather than a shell.`
    : msg`berth has no terminal to attach (${code("-i")}, ${code("-t")}, ${code("-it")}): the container's output streams into the thread, and ${code("exec")} runs further commands in it. Give the command to run, e.g. ${command("run busybox:1 sh -c 'uptime'")}.`;

/** Docker's options per command, long and short forms (those berth also takes are simply matched first). */
const dockerOptions: Readonly<Record<string, readonly string[]>> = {
  run: [
    ...terminal,
    "--add-host",
    "-a",
    "--attach",
    "--blkio-weight",
    "--cap-add",
    "--cap-drop",
    "--cgroup-parent",
    "--cgroupns",
    "--cidfile",
    "-c",
    "--cpu-period",
    "--cpu-quota",
    "--cpu-shares",
    "--cpuset-cpus",
    "--cpuset-mems",
    "--detach-keys",
    "--device",
    "--dns",
    "--dns-option",
    "--dns-search",
    "--domainname",
    "--entrypoint",
    "--env-file",
    "--expose",
    "--gpus",
    "--group-add",
    "--health-cmd",
    "--health-interval",
    "--health-retries",
    "--health-start-period",
    "--health-timeout",
    "-h",
    "--hostname",
    "--init",
    "--ip",
    "--ip6",
    "--ipc",
    "-l",
    "--label",
    "--label-file",
    "--link",
    "--log-driver",
    "--log-opt",
    "--mac-address",
    "--memory-reservation",
    "--memory-swap",
    "--memory-swappiness",
    "--mount",
    "--net",
    "--network-alias",
    "--no-healthcheck",
    "--oom-kill-disable",
    "--oom-score-adj",
    "--pid",
    "--pids-limit",
    "-p",
    "--publish",
    "-P",
    "--publish-all",
    "--pull",
    "-q",
    "--quiet",
    "--read-only",
    "--restart",
    "--runtime",
    "--security-opt",
    "--shm-size",
    "--sig-proxy",
    "--stop-signal",
    "--stop-timeout",
    "--storage-opt",
    "--sysctl",
    "--tmpfs",
    "--ulimit",
    "-u",
    "--user",
    "--userns",
    "--uts",
    "--volume-driver",
    "--volumes-from",
    "-w",
    "--workdir",
  ],
  exec: [...terminal, "-d", "--detach", "--detach-keys", "-e", "--env", "--env-file", "--privileged", "-u", "--user", "-w", "--workdir"],
  logs: ["--details"],
  start: ["-a", "--attach", "-i", "--interactive", "--detach-keys", "--checkpoint", "--checkpoint-dir"],
  stop: ["-s", "--signal", "-t", "--time", "--timeout"],
  restart: ["-s", "--signal", "-t", "--time", "--timeout"],
  rm: ["-l", "--link", "-v", "--volumes"],
  ps: ["-f", "--filter", "--format", "-n", "--last", "-l", "--latest", "--no-trunc", "-q", "--quiet", "-s", "--size"],
  inspect: ["-f", "--format", "-s", "--size", "--type"],
  stats: ["-a", "--all", "--format", "--no-trunc"],
};

/**
 * What berth answers for `word`, an option `command` does not take, when it is one of Docker's: what berth does
 * instead of a terminal, or that berth does not take that Docker option. Undefined for anything else (a typo).
 */
export function dockerOnlyOption(command: string, word: string): Message | undefined {
  // `docker top CONTAINER [ps OPTIONS]` hands any option to ps; berth asks the engine for its default table only.
  if (command === "top" && /^-[^-]/.test(word))
    return msg`${code(word)}: berth's ${code("top")} takes no ${code("ps")} options; it shows the engine's own columns (PID, USER, TIME, CMD).`;
  const known = dockerOptions[command];
  if (!known?.includes(word)) return undefined;
  if (terminal.includes(word) && (command === "run" || command === "exec")) return noTerminal(command);
  return msg`${code(word)} is a ${code(`docker ${command}`)} option that berth does not take. The options berth takes are in the usage below.`;
}
