import { z } from "zod";
import { defineCommand } from "../src/command.ts";
import { bytesOption, durationOption, envOption, flag, hostOption, leadingPositionals } from "../src/command-options.ts";

export default defineCommand({
  name: "run",
  summary: "Run a container and stream its output into a thread",
  usage: "run [OPTIONS] IMAGE [CMD [ARG...]]",
  examples: [
    "run busybox:1 echo hello",
    "run -e LEVEL=debug --memory 128m busybox:1 sh -c 'env | grep LEVEL'",
    "run -d --name worker-1 -H local busybox:1 sleep 600",
    "run --timeout 2m --rm busybox:1 ping -c 3 127.0.0.1",
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
  ],
  interspersed: false,
  args: z.object({
    _: leadingPositionals(["IMAGE"], "CMD"),
    host: z.string().optional(),
    name: z.string().optional(),
    env: envOption,
    memory: bytesOption,
    cpus: z.coerce
      .number({ error: "write a number of CPUs, e.g. 0.5" })
      .positive("must be more than 0")
      .max(64, "at most 64")
      .optional(),
    isolation: z.enum(["process", "hyperv", "default"], { error: "write process or hyperv" }).optional(),
    platform: z.string().optional(),
    detach: flag,
    timeout: durationOption,
    rm: flag,
  }),
  toAction: ({ _: [image = "", ...cmd], env, detach, rm, memory, timeout, ...o }) => ({
    kind: "container.run",
    image,
    cmd,
    env,
    detach,
    autoRemove: rm,
    ...(o.host !== undefined && { host: o.host }),
    ...(o.name !== undefined && { name: o.name }),
    ...(memory !== undefined && { memoryBytes: memory }),
    ...(o.cpus !== undefined && { cpus: o.cpus }),
    ...(o.isolation !== undefined && { isolation: o.isolation }),
    ...(o.platform !== undefined && { platform: o.platform }),
    ...(timeout !== undefined && { timeoutSeconds: timeout }),
  }),
});
