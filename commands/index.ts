import { createRegistry } from "../src/core/command.ts";
import approve from "./approve.ts";
import audit from "./audit.ts";
import canI from "./can-i.ts";
import cancel from "./cancel.ts";
import changes from "./changes.ts";
import deny from "./deny.ts";
import exec from "./exec.ts";
import grant from "./grant.ts";
import help from "./help.ts";
import host from "./host.ts";
import hosts from "./hosts.ts";
import inspect from "./inspect.ts";
import jobs from "./jobs.ts";
import logs from "./logs.ts";
import ps from "./ps.ts";
import pull from "./pull.ts";
import restart from "./restart.ts";
import rm from "./rm.ts";
import run from "./run.ts";
import runbook from "./runbook.ts";
import service from "./service.ts";
import start from "./start.ts";
import stats from "./stats.ts";
import stop from "./stop.ts";
import timeline from "./timeline.ts";
import top from "./top.ts";
import whoami from "./whoami.ts";

/** The one list of berth's commands; help, the parser and the tests all read it. */
export const commands = [
  help,
  run,
  ps,
  logs,
  stop,
  start,
  restart,
  rm,
  inspect,
  stats,
  top,
  exec,
  pull,
  hosts,
  host,
  service,
  jobs,
  cancel,
  approve,
  deny,
  grant,
  canI,
  whoami,
  audit,
  timeline,
  changes,
  runbook,
] as const;

export const registry = createRegistry(commands);
