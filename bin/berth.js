#!/usr/bin/env node
// The operator CLI's edge: it hands the process's arguments and environment to src/cli.ts.
import { cli } from "../src/cli.ts";

process.exitCode = await cli(process.argv.slice(2), process.env, process.stdout, process.stderr);
