import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { BerthError } from "./core/errors.ts";
import { type HealthReport, type OpsAccess, opsHandler, opsPaths } from "./health.ts";
import type { Metrics } from "./metrics.ts";

/**
 * berth's answers besides Slack's (health, details, metrics) and the listeners that serve them: the public port's
 * routes (Bolt serves them in HTTP mode; in Socket Mode berth listens on PORT itself) and the optional
 * BERTH_METRICS_PORT listener.
 */
export function createOpsServer(o: {
  report: () => Promise<HealthReport>;
  ready?: () => Promise<boolean>;
  metrics?: Metrics | undefined;
  /** Bearer token for details and metrics on the public port; without it they are not served there. */
  token?: string | undefined;
  /** A separate listener for details and metrics, open to whoever can reach it. */
  separate?: { port?: number | undefined; host?: string | undefined } | undefined;
}) {
  const publicAccess: OpsAccess = o.token ? { kind: "token", token: o.token } : { kind: "none" };
  const handler = opsHandler({ report: o.report, ready: o.ready, metrics: o.metrics, access: publicAccess });
  let publicServer: Server | undefined;
  let separateServer: Server | undefined;
  return {
    /** The public port's routes, for Bolt's HTTP receiver. */
    routes: opsPaths.map((path) => ({ path, method: ["GET"], handler })),
    /** Starts the BERTH_METRICS_PORT listener when one is configured (loopback unless BERTH_METRICS_HOST says otherwise). */
    async startSeparate(): Promise<void> {
      const port = o.separate?.port;
      if (port === undefined) return;
      separateServer = await listen(
        opsHandler({ report: o.report, ready: o.ready, metrics: o.metrics, access: { kind: "open" } }),
        port,
        o.separate?.host ?? "127.0.0.1",
      );
    },
    /** Serves the public routes on their own listener (Socket Mode: Bolt opens no port); resolves with its port. */
    async startPublic(port: number, host: string): Promise<number> {
      const server = createServer(opsOnly(handler));
      publicServer = server;
      await new Promise<void>((r) => server.listen(port, host, r));
      return (server.address() as AddressInfo).port;
    },
    /** The BERTH_METRICS_PORT listener's port, once started (undefined without one). */
    separatePort: () => (separateServer?.address() as AddressInfo | null)?.port,
    stop(): void {
      publicServer?.close();
      separateServer?.close();
    },
  };
}

/** A listener that answers only GET on the health and metrics paths. */
function opsOnly(handler: ReturnType<typeof opsHandler>) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://berth").pathname;
    if (req.method === "GET" && (opsPaths as readonly string[]).includes(path)) return handler(req, res);
    res.writeHead(404).end();
  };
}

async function listen(handler: ReturnType<typeof opsHandler>, port: number, host: string): Promise<Server> {
  const server = createServer(opsOnly(handler));
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) =>
      reject(
        new BerthError(
          "CONFIG",
          `berth cannot serve metrics on ${host}:${port} (${error.message}); check BERTH_METRICS_PORT and BERTH_METRICS_HOST.`,
          { cause: error },
        ),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  return server;
}
