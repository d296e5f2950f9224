/**
 * Creating and starting a container: the last check of its spec, the options each OS accepts, and the engine's
 * refusals (a taken name, a missing image, a Windows isolation mode the host cannot run) as what to do about them.
 */
import type Docker from "dockerode";
import { BerthError } from "../../core/errors.ts";
import { command, type Message } from "../../core/message.ts";
import { type ContainerEngine, labels, type RunSpec } from "../ports.ts";
import { type Client, fail } from "./client.ts";
import type { Lookup } from "./lookup.ts";
import type { Negotiation } from "./negotiation.ts";

/** Docker reads Memory 0 and NanoCpus 0 as "no limit", and refuses memory below 6 MiB. */
const minMemoryBytes = 6 * 1024 ** 2;
const minNanoCpus = 10_000_000;

export function createRun(client: Client, lookup: Lookup, negotiation: Negotiation): ContainerEngine["run"] {
  const { call, calls, conn, installation, on } = client;
  return async (spec, signal) => {
    checkRunSpec(spec, installation);
    const { osType } = await call(signal, "connecting to the engine", () => negotiation.api());
    // A Windows engine refuses Linux-only options outright (docs/reference/windows-engine.md §6 E16/E17), and has no capabilities or
    // no-new-privileges to drop: send only what it accepts. Privileged:false is accepted; true is refused by it.
    const linuxOnly =
      osType === "windows"
        ? {}
        : {
            PidsLimit: spec.pidsLimit,
            CapDrop: ["NET_RAW"], // raw sockets only serve packet crafting/spoofing; ping works without them since Docker 20.10
            SecurityOpt: ["no-new-privileges"],
            ReadonlyRootfs: false,
          };
    const body: Docker.ContainerCreateOptions = {
      Image: spec.image,
      ...(spec.cmd.length > 0 ? { Cmd: [...spec.cmd] } : {}),
      Env: spec.env.map((e) => `${e.name}=${e.value}`),
      Labels: { ...spec.labels, [labels.managed]: "true", [labels.installation]: installation },
      Tty: spec.tty,
      HostConfig: {
        Memory: spec.memoryBytes,
        NanoCpus: spec.nanoCpus,
        NetworkMode: spec.networkMode,
        Privileged: spec.privileged,
        // Mounts, not Binds: structured fields leave no `src:dst:opts` string to smuggle options into.
        ...(spec.mounts.length && {
          Mounts: spec.mounts.map((m) => ({ Type: "bind" as const, Source: m.source, Target: m.target, ReadOnly: m.readOnly })),
        }),
        AutoRemove: spec.autoRemove,
        ...linuxOnly,
        ...(spec.isolation ? { Isolation: spec.isolation } : {}),
      },
    };
    const _query = { ...(spec.name ? { name: spec.name } : {}), ...(spec.platform ? { platform: spec.platform } : {}) };
    const created = await call(
      signal,
      `creating a container from "${spec.image}"`,
      (s) => calls.createContainer({ _query, _body: body, abortSignal: s } as Docker.ContainerCreateOptions),
      {
        status: (code, msg, cause) =>
          /invalid isolation/i.test(msg)
            ? fail("INVALID", isolationRefused(conn.name, osType, spec.isolation), cause)
            : code === 409 && spec.name
              ? fail(
                  "CONFLICT",
                  [
                    `A container named "${spec.name}" already exists ${on}; pick another --name or remove it with `,
                    command(`rm ${spec.name}`),
                  ],
                  cause,
                )
              : code === 404
                ? fail(
                    "NOT_FOUND",
                    `Image "${spec.image}"${spec.platform ? ` for ${spec.platform}` : ""} is not ${on} (${msg}). Pull it first, or ask the operator to load the image on that host.`,
                    cause,
                  )
                : undefined,
      },
    );
    const wanted = spec.name ?? spec.image;
    try {
      const info = await lookup.inspectRaw(created.id, wanted, signal); // before start: an auto-removed container may vanish
      await call(signal, `starting "${wanted}"`, (s) => calls.getContainer(created.id).start({ abortSignal: s }), {
        status: (code, msg, cause) => {
          const why =
            code === 500 && osType === "windows" ? windowsStartFailure(conn.name, spec.image, info.HostConfig.Isolation, msg) : undefined;
          return why ? fail("CONFLICT", why, cause) : undefined;
        },
      });
      return { id: created.id.slice(0, 12), name: info.Name.replace(/^\//, "") };
    } catch (e) {
      // A created-but-never-started container would hold the name and clutter `ps -a`.
      const cleanup = (s: AbortSignal) => calls.getContainer(created.id).remove({ force: true, v: true, abortSignal: s });
      await call(new AbortController().signal, "cleaning up", cleanup).catch(() => undefined);
      throw e;
    }
  };
}

/**
 * The last word before a container is created: limits Docker would read as "none", a container that would not count as
 * berth's, or a bind that did not come resolved from the policy are refused here whatever the caller checked.
 */
function checkRunSpec(spec: RunSpec, installation: string): void {
  const refuse = (why: string) => {
    throw new BerthError("INVALID", `berth refused to create this container: ${why}.`);
  };
  if (installation === "") refuse("this engine was opened without berth's installation id, so the container would not be berth's");
  if (!spec.labels[labels.job]) refuse("it has no job label, so berth could not recognise it as its own");
  if (!(spec.memoryBytes >= minMemoryBytes)) refuse(`a memory limit of ${spec.memoryBytes} bytes is below Docker's 6 MiB minimum`);
  if (!(spec.nanoCpus >= minNanoCpus)) refuse(`a CPU limit of ${spec.nanoCpus} NanoCpus is below 0.01 CPU (0 means no limit)`);
  if (!(spec.pidsLimit >= 1)) refuse(`a pids limit of ${spec.pidsLimit} would mean no limit`);
  for (const m of spec.mounts) {
    const bad = (p: string) => !p.startsWith("/") || p.split("/").includes("..") || /[:,]/.test(p);
    if (bad(m.source) || bad(m.target)) refuse(`the mount ${m.source} → ${m.target} is not an absolute path without .., : or ,`);
  }
}

/** The engine refused HostConfig.Isolation (docs/reference/windows-engine.md §6 E12 on Windows, E13 on Linux). */
function isolationRefused(host: string, osType: string, isolation: string | undefined): string {
  const flag = isolation ? `--isolation ${isolation}` : "--isolation";
  if (osType !== "windows")
    return `Host ${host} runs Linux containers, which support only the default isolation; drop ${flag}, or pick a Windows host with -H.`;
  return `Host ${host} does not accept ${flag}; use --isolation process or --isolation hyperv, or leave it out for the host's default.`;
}

/** The HCS start failures of a Windows engine (docs/reference/windows-engine.md §6 E1, E3, E4, E6), as what to do about them. */
function windowsStartFailure(host: string, image: string, isolation: string | undefined, msg: string): Message | undefined {
  const hostsShowIt = [" (", command("hosts"), " shows it)"];
  const otherMode = ["Run it with --isolation process if the image's Windows build is the host's", ...hostsShowIt];
  if (/does not match the host operating system/i.test(msg))
    return isolation === "hyperv"
      ? [
          `Image "${image}" cannot run on host ${host}: Windows says its build does not match the host's, and a newer Windows image cannot run on an older host even with Hyper-V. Use an image tag built for the host's Windows version or an older one`,
          ...hostsShowIt,
          ".",
        ]
      : [
          `Image "${image}" cannot run process-isolated on host ${host}: Windows says its build does not match the host's. Run it with --isolation hyperv, or use an image tag built for the host's Windows version`,
          ...hostsShowIt,
          ".",
        ];
  if (/No hypervisor is present/i.test(msg))
    return [
      `Host ${host} cannot start Hyper-V isolated containers: no hypervisor is running there (virtualization is off or unavailable). `,
      ...otherMode,
      ", or ask the operator to enable virtualization on that host.",
    ];
  if (/required feature is not installed/i.test(msg))
    return [
      `Hyper-V is not installed on host ${host}, so it cannot start Hyper-V isolated containers. `,
      ...otherMode,
      ", or ask the operator to install the Hyper-V and Containers features there.",
    ];
  if (/0xc0370106/i.test(msg))
    return [
      `Image "${image}" exited as soon as Windows started it on host ${host}, which happens when the image has a newer Windows update than the host. Use an image tag of the host's update, or ask the operator to update the host.`,
    ];
  return undefined;
}
