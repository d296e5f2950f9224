import { createBerth } from "./berth.ts";
import { loadConfig, slackSetupHelp } from "./config.ts";
import { BerthError } from "./errors.ts";

/** The edge: the only place that reads process.env, and the only place that exits the process. */
async function main(): Promise<void> {
  const config = loadConfig(process.env);
  if (config.mode === "none") {
    process.stderr.write(`${slackSetupHelp}\n`);
    process.exitCode = 2;
    return;
  }
  const berth = createBerth(config);
  await berth.start();
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    berth.log.info("stopping", { signal });
    berth.stop().then(
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
