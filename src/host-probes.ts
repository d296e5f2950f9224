import { safeRegExp } from "./core/policy.ts";
import { createRedactor } from "./core/redact.ts";
import type { HealthReport } from "./health.ts";
import type { Ports } from "./ports.ts";

/** A crashed container's last lines, redacted like any output, for its notification thread. */
export function lastLines(ports: Pick<Ports, "engine" | "policy">) {
  return async (host: string, id: string): Promise<string[]> => {
    const e = ports.engine(host);
    const signal = AbortSignal.timeout(10_000);
    const redact = createRedactor(
      await e.secretValues(id, signal),
      ports.policy.current().redact.flatMap((p) => safeRegExp(p) ?? []),
    );
    const lines: string[] = [];
    for await (const line of e.logs({ container: id, follow: false, tail: 20 }, signal)) lines.push(redact.line(line));
    return lines;
  };
}

/** Whether each host's engine answers, each within 3 s, for /healthz's details. */
export function engineHealth(ports: Pick<Ports, "hosts" | "engine">) {
  return async (): Promise<Pick<HealthReport, "engines">> => {
    const entries = await Promise.all(
      ports.hosts.connections.map(async (c) => {
        try {
          await ports.engine(c.name).info(AbortSignal.timeout(3000));
          return [c.name, { reachable: true }] as const;
        } catch (error) {
          return [c.name, { reachable: false, error: (error as Error).message }] as const;
        }
      }),
    );
    return { engines: Object.fromEntries(entries) };
  };
}
