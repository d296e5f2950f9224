import type { IncomingMessage, ServerResponse } from "node:http";

export type HealthReport = { ok: boolean; slack: string; engines: Record<string, { reachable: boolean; error?: string }> };

/**
 * GET /healthz. berth is healthy while it can talk to Slack; an unreachable engine is reported but does not fail
 * the probe, since one remote host going away must not get berth restarted.
 */
export function healthHandler(report: () => Promise<HealthReport>) {
  return (_req: IncomingMessage, res: ServerResponse) => {
    report().then(
      (r) => {
        res.writeHead(r.ok ? 200 : 503, { "content-type": "application/json" });
        res.end(JSON.stringify(r));
      },
      (error: unknown) => {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ ok: false, error: String(error) }));
      },
    );
  };
}
