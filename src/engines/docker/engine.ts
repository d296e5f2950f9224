/**
 * ContainerEngine over the Docker Engine API (dockerode). This folder is the only importer of the SDK, and this file
 * its only value import: the resource modules receive the two clients built here. Every dockerode error becomes a
 * BerthError (client.ts), and only berth's own containers are visible or touched (lookup.ts).
 *
 * Aborting a logs or exec stream just ends it; aborting anything else throws CANCELLED.
 */
import Docker from "dockerode";
import type { ContainerEngine, DockerConnection } from "../ports.ts";
import { createClient } from "./client.ts";
import { connectionOptions } from "./connection.ts";
import { createContainers } from "./containers.ts";
import { createEvents } from "./events.ts";
import { createExec } from "./exec.ts";
import { createImages } from "./images.ts";
import { createLogs } from "./logs.ts";
import { createLookup } from "./lookup.ts";
import { createInfo, negotiator } from "./negotiation.ts";
import { createPastEvents } from "./past-events.ts";
import { createRun } from "./run.ts";
import { createServices } from "./services.ts";
import { createStats } from "./stats.ts";

export function createDockerEngine(conn: DockerConnection): ContainerEngine {
  const { options, agent } = connectionOptions(conn);
  // The modem timeout is a socket idle timeout: it would also cut a quiet `logs -f`, `wait` or exec stream. Streaming
  // and long calls go through `streams` (no modem timeout), bounded by their own deadline or the caller's signal.
  // An ssh:// "socket" is an SSH channel, which has no setTimeout: Node would throw from inside the request, crashing
  // the process. There `call`'s own deadline is the only bound.
  const calls = new Docker(options.protocol === "ssh" ? options : { ...options, timeout: conn.timeoutMs });
  const streams = new Docker(options);
  const negotiation = negotiator(conn, { calls, streams });
  const client = createClient(conn, { calls, streams }, () => negotiation.api());
  const lookup = createLookup(client);
  return {
    name: conn.name,
    info: createInfo(client, negotiation),
    ...createImages(client),
    run: createRun(client, lookup, negotiation),
    ...createContainers(client, lookup),
    logs: createLogs(client, lookup),
    exec: createExec(client, lookup),
    ...createStats(client, lookup),
    events: createEvents(client),
    pastEvents: createPastEvents(client),
    ...createServices(client),
    close() {
      client.closeStreams();
      agent?.destroy();
    },
  };
}
