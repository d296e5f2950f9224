import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { type Metrics, metricsHandler } from "./metrics.ts";

export type HealthReport = { ok: boolean; slack: string; engines: Record<string, { reachable: boolean; error?: string }> };

/** The paths berth answers besides Slack's: Bolt's customRoutes and the Socket Mode and metrics listeners use these. */
export const opsPaths = ["/healthz", "/healthz/details", "/readyz", "/metrics"] as const;

/**
 * Who may read the details (host names, engine errors) and the metrics on a listener: nobody (the public port when no
 * BERTH_METRICS_TOKEN is set), whoever sends the token, or anyone who can reach the listener (BERTH_METRICS_PORT,
 * bound to loopback unless the operator says otherwise).
 */
export type OpsAccess = { kind: "none" } | { kind: "token"; token: string } | { kind: "open" };

/**
 * GET /healthz, /healthz?details (or /healthz/details) and /metrics. The bare probe says only whether berth is
 * healthy, to anyone: `{"ok":true}` or 503 `{"ok":false}`. berth is healthy while it can talk to Slack; an
 * unreachable engine is reported in the details but does not fail the probe, since one remote host going away must
 * not get berth restarted.
 */
export function opsHandler(o: {
  report: () => Promise<HealthReport>;
  /**
   * GET /readyz: whether this replica should be sent deliveries now (Slack connected, the database answering, not
   * draining). Not ready is not unhealthy: a replica waiting for its database is not restarted for it.
   */
  ready?: (() => Promise<boolean>) | undefined;
  metrics?: Metrics | undefined;
  access: OpsAccess;
}) {
  const metrics = o.metrics && metricsHandler(o.metrics);
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://berth");
    if (url.pathname === "/readyz") {
      const ready = o.ready ?? (async () => (await o.report()).ok);
      ready().then(
        (ok) => send(res, ok ? 200 : 503, { ready: ok }),
        () => send(res, 503, { ready: false }),
      );
      return;
    }
    const details = url.pathname === "/healthz/details" || (url.pathname === "/healthz" && url.searchParams.has("details"));
    if (url.pathname === "/healthz" && !details) {
      o.report().then(
        (r) => send(res, r.ok ? 200 : 503, { ok: r.ok }),
        () => send(res, 503, { ok: false }),
      );
      return;
    }
    const known = details || (url.pathname === "/metrics" && metrics);
    if (!known || o.access.kind === "none") return send(res, 404, { error: "not found" });
    if (o.access.kind === "token" && !bearerMatches(req.headers.authorization, o.access.token)) {
      res.setHeader("www-authenticate", 'Bearer realm="berth"');
      return send(res, 401, { error: "send Authorization: Bearer <BERTH_METRICS_TOKEN>" });
    }
    if (!details) return (metrics as NonNullable<typeof metrics>)(req, res);
    o.report().then(
      (r) => send(res, r.ok ? 200 : 503, r),
      (error: unknown) => send(res, 503, { ok: false, error: String(error) }),
    );
  };
}

/** Compared as digests, so the time taken says nothing about how much of the token was right, nor its length. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const sent = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "")?.[1];
  if (!sent) return false;
  const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();
  return timingSafeEqual(digest(sent), digest(token));
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}
