import type { EngineInfo } from "../engines/ports.ts";
import { publicMessage } from "./errors.ts";
import { code, type Message, msg, user } from "./message.ts";
import type { DispatchDeps } from "./pipeline-types.ts";

/** One row of `hosts`: what berth could learn about a host just now. */
export type HostReport = {
  name: string;
  url: string;
  isolation?: string | undefined;
  /** For hosts berth made in Azure: size, region, who made it, when it expires. */
  note?: Message | undefined;
} & ({ reachable: true; info: EngineInfo; containers: number } | { reachable: false; error: Message | string });

const when = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;

/** Every host's capabilities, in parallel, each bounded by its own short timeout; then Azure hosts still in the making. */
export async function hostReports(deps: Pick<DispatchDeps, "hosts" | "engine" | "cloud">, signal: AbortSignal): Promise<HostReport[]> {
  const made = new Map(((await deps.cloud?.store.cloudHosts.live()) ?? []).map((r) => [r.name, r]));
  const note = (name: string): Message | undefined => {
    const r = made.get(name);
    return (
      r && msg`Azure VM ${r.size}, ${r.region}${r.fqdn ? `, ${r.fqdn}` : ""} · made by ${user(r.requester)} · expires ${when(r.expiresAt)}`
    );
  };
  const reports = await Promise.all(
    deps.hosts.connections.map(async (c): Promise<HostReport> => {
      const base = { name: c.name, url: c.url, isolation: deps.hosts.settings?.[c.name]?.isolation, note: note(c.name) };
      const bounded = AbortSignal.any([signal, AbortSignal.timeout(Math.min(c.timeoutMs, 5000))]);
      try {
        const engine = deps.engine(c.name);
        const [info, containers] = await Promise.all([engine.info(bounded), engine.list({ all: true }, bounded)]);
        return { ...base, reachable: true, info, containers: containers.length };
      } catch (error) {
        return { ...base, reachable: false, error: publicMessage(error) };
      }
    }),
  );
  const listed = new Set(reports.map((r) => r.name));
  for (const r of made.values()) {
    if (listed.has(r.name)) continue;
    const doing = r.status === "removing" ? "being removed" : "being created";
    reports.push({
      name: r.name,
      url: r.dockerUrl ?? "",
      reachable: false,
      error: msg`${doing} (job ${code(r.jobId)})${r.detail ? `: ${r.detail}` : ""}`,
      note: note(r.name),
    });
  }
  return reports;
}
