import { createBerth, slackSettings } from "./berth.ts";
import { loadConfig } from "./config.ts";
import { BerthError } from "./core/errors.ts";
import { buildPorts } from "./ports.ts";

/**
 * The edge and the composition root: the only place that reads process.env and the only place that exits the process.
 * It builds the ports once (policy, store, engines, cloud) and hands them to a transport: Slack, or the playground.
 */
async function main(): Promise<void> {
  const config = loadConfig(process.env);
  let service: { log: { info(event: string, fields: Record<string, unknown>): void }; stop(): Promise<void> };
  if (config.mode === "none") {
    // No Slack credentials: berth runs against the in-process Slack emulator, shown as a web page (README, "The two commands").
    // Loaded only here: a berth connected to Slack never carries the emulator.
    const { playgroundConfig, startPlayground } = await import("./playground/playground.ts");
    const ports = await buildPorts(playgroundConfig(config));
    const playground = await startPlayground(ports);
    process.stdout.write(
      `berth playground on ${playground.url} — no Slack credentials set, so berth talks to a local Slack emulator; README: 'From zero to berth in your workspace' to connect one\n`,
    );
    service = { log: ports.log, stop: () => playground.stop() };
  } else {
    const ports = await buildPorts(config);
    const berth = createBerth(ports, slackSettings(config));
    await berth.start();
    service = berth;
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    service.log.info("stopping", { signal });
    service.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((error: unknown) => {
  const message =
    error instanceof BerthError ? `berth cannot start: ${error.message}` : `berth crashed: ${(error as Error).stack ?? String(error)}`;
  process.stderr.write(`${message}\n`);
  process.exitCode = 1;
});
