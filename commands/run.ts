import { z } from "zod";
import { minCpus } from "../src/core/action.ts";
import { defineCommand } from "../src/core/command.ts";
import {
  durationOption,
  envOption,
  flag,
  hostOption,
  leadingPositionals,
  memoryOption,
  volumeOption,
} from "../src/core/command-options.ts";

export default defineCommand({
  name: "run",
  summary: "Run a container and stream its output into a thread",
  usage: "run [OPTIONS] IMAGE [CMD [ARG...]]",
  examples: [
    "run busybox:1 echo hello",
    "run -e LEVEL=debug --memory 128m busybox:1 sh -c 'env | grep LEVEL'",
    "run -d --name worker-1 -H local busybox:1 sleep 600",
    "run --timeout 2m --rm busybox:1 ping -c 3 127.0.0.1",
    "run -v scratch:/data:ro busybox:1 ls /data",
    "Run —rm busybox:1 echo “typed on a phone”",
  ],
  options: [
    { ...hostOption },
    { long: "name", type: "value", valueName: "NAME", help: "name the container" },
    { long: "env", short: "e", type: "list", valueName: "NAME=value", help: "set an environment variable (repeatable)" },
    { long: "memory", short: "m", type: "value", valueName: "SIZE", help: "memory limit, e.g. 256m" },
    { long: "cpus", type: "value", valueName: "N", help: "CPU limit, e.g. 0.5" },
    { long: "isolation", type: "value", valueName: "MODE", help: "Windows hosts: process or hyperv" },
    { long: "platform", type: "value", valueName: "OS/ARCH", help: "image platform, e.g. linux/amd64" },
    { long: "detach", short: "d", type: "flag", help: "start it and return; don't stream output" },
    { long: "timeout", type: "value", valueName: "DURATION", help: "stop it after this long (e.g. 10m)" },
    { long: "rm", type: "flag", help: "remove the container when it exits" },
    { long: "network", type: "value", valueName: "NAME", help: "network mode, if the policy allows it (default: none)" },
    {
      long: "volume",
      short: "v",
      type: "list",
      valueName: "NAME:/ctr[:ro]",
      help: "mount a host directory the policy offers under NAME (host paths are not accepted)",
    },
    { long: "privileged", type: "flag", help: "run privileged, only where the policy allows it" },
  ],
  interspersed: false,
  args: z.object({
    _: leadingPositionals(["IMAGE"], "CMD"),
    host: z.string().optional(),
    name: z.string().optional(),
    env: envOption,
    memory: memoryOption,
    cpus: z.coerce
      .number({ error: "write a number of CPUs, e.g. 0.5" })
      .min(minCpus, `at least ${minCpus} (less would mean no CPU limit at all)`)
      .max(64, "at most 64")
      .optional(),
    isolation: z.enum(["process", "hyperv", "default"], { error: "write process or hyperv" }).optional(),
    platform: z.string().optional(),
    detach: flag,
    timeout: durationOption,
    rm: flag,
    network: z.string().optional(),
    volume: volumeOption,
    privileged: flag,
  }),
  toAction: ({ _: [image = "", ...cmd], env, detach, rm, memory, timeout, volume, privileged, ...o }) => ({
    kind: "container.run",
    image,
    cmd,
    env,
    detach,
    autoRemove: rm,
    privileged,
    mounts: volume,
    ...(o.network !== undefined && { network: o.network }),
    ...(o.host !== undefined && { host: o.host }),
    ...(o.name !== undefined && { name: o.name }),
    ...(memory !== undefined && { memoryBytes: memory }),
    ...(o.cpus !== undefined && { cpus: o.cpus }),
    ...(o.isolation !== undefined && { isolation: o.isolation }),
    ...(o.platform !== undefined && { platform: o.platform }),
    ...(timeout !== undefined && { timeoutSeconds: timeout }),
  }),
});
