import { join } from "node:path";
import { parseArgs } from "node:util";
import { createDockerEngine } from "./engines/docker.ts";
import { BerthError } from "./errors.ts";
import { loadHosts } from "./hosts.ts";
import { loadPolicyFile } from "./policy-file.ts";
import { openStore } from "./store.ts";

type Out = { write(text: string): unknown };

const help = `berth — operator commands

Usage:
  npx berth policy check [FILE]     validate a policy file (default: $BERTH_POLICY or manifests/policy.yaml)
  npx berth audit export [--data-dir DIR]
                                    print the audit log as JSON lines (one record per line, oldest first)
  npx berth audit verify [--data-dir DIR]
                                    re-check the hash chain; exit 1 and name the first record that was
                                    edited, removed or reordered
  npx berth hosts check [FILE] [--connect] [--timeout MS]
                                    validate a hosts file (default: $BERTH_HOSTS or manifests/hosts.yaml) and list
                                    its hosts; --connect asks each engine for /info (OS, Docker version) within its
                                    timeout (or --timeout MS); exit 1 if the file is invalid or a host is unreachable
  npx berth --help

Examples:
  npx berth policy check manifests/policy.example.yaml
  BERTH_DATA_DIR=/var/lib/berth npx berth audit export > audit.jsonl
  npx berth audit verify --data-dir ./data
  npx berth hosts check manifests/hosts.example.yaml
  npx berth hosts check --connect --timeout 5000

Run berth itself with \`npm start\` (see README).
`;

/** The operator CLI. Returns the process exit code; reads nothing from the process but what it is given. */
export async function cli(argv: readonly string[], env: Record<string, string | undefined>, out: Out, err: Out): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: false,
    options: {
      help: { type: "boolean", short: "h" },
      "data-dir": { type: "string" },
      connect: { type: "boolean" },
      timeout: { type: "string" },
    },
  });
  const [group, verb, arg] = positionals;
  if (values.help || !group) {
    out.write(help);
    return values.help ? 0 : 2;
  }
  const dataDir = typeof values["data-dir"] === "string" ? values["data-dir"] : (env.BERTH_DATA_DIR ?? "./data");
  try {
    if (group === "policy" && verb === "check") {
      const path = arg ?? env.BERTH_POLICY ?? "manifests/policy.yaml";
      const policy = loadPolicyFile(path);
      out.write(
        `${path}: valid — ${Object.keys(policy.roles).length} roles, ${policy.bindings.length} bindings, ${policy.rules.length} rules, ${policy.grants.length} grant rules\n`,
      );
      return 0;
    }
    if (group === "hosts" && verb === "check") {
      const timeout = values.timeout === undefined ? undefined : Number(values.timeout);
      if (timeout !== undefined && !(Number.isInteger(timeout) && timeout > 0)) {
        err.write(`--timeout takes milliseconds, a whole number above 0 (got ${String(values.timeout)}).\n`);
        return 2;
      }
      return await hostsCheck(arg ?? env.BERTH_HOSTS ?? "manifests/hosts.yaml", env, { connect: values.connect === true, timeout }, out);
    }
    if (group === "audit" && (verb === "export" || verb === "verify")) {
      const store = openStore(dataDir);
      try {
        if (verb === "export") {
          for (const record of store.audit.all()) out.write(`${JSON.stringify(record)}\n`);
          return 0;
        }
        const problem = store.audit.verify();
        const count = store.audit.all().length;
        if (!problem) {
          out.write(`audit log intact: ${count} records, hash chain verified (${join(dataDir, "berth.db")})\n`);
          return 0;
        }
        err.write(`audit log TAMPERED: record ${problem.seq} ${problem.problem}. Records from ${problem.seq} on cannot be trusted.\n`);
        return 1;
      } finally {
        store.close();
      }
    }
    err.write(`Unknown command: ${positionals.join(" ")}\n\n${help}`);
    return 2;
  } catch (error) {
    err.write(`${error instanceof BerthError ? error.message : String(error)}\n`);
    return 1;
  }
}

/** Validates a hosts manifest as berth loads it at start-up; with `connect`, asks every engine for /info at once. */
async function hostsCheck(
  path: string,
  env: Record<string, string | undefined>,
  options: { connect: boolean; timeout: number | undefined },
  out: Out,
): Promise<number> {
  const hosts = loadHosts(path, env);
  const width = Math.max(...hosts.connections.map((c) => c.name.length));
  out.write(`${path}: valid — ${hosts.connections.length} host${hosts.connections.length === 1 ? "" : "s"}\n`);
  for (const c of hosts.connections) {
    out.write(`  ${c.name.padEnd(width)}  ${c.url}${hosts.default === c.name ? "  (default)" : ""}\n`);
  }
  if (!options.connect) return 0;
  out.write("Connecting:\n");
  const results = await Promise.all(
    hosts.connections.map(async (c) => {
      const timeoutMs = options.timeout ?? c.timeoutMs;
      const engine = createDockerEngine({ ...c, timeoutMs, sshAuthSock: env.SSH_AUTH_SOCK });
      try {
        // The engine's own deadline covers each call; this bounds the version negotiation and the call together.
        const info = await engine.info(AbortSignal.timeout(timeoutMs * 2));
        return {
          name: c.name,
          ok: true,
          text: `reachable — ${info.osVersion} (${info.osType}/${info.architecture}), Docker ${info.engineVersion}, API ${info.apiVersion}`,
        };
      } catch (error) {
        const reason = error instanceof BerthError ? error.message : String(error);
        return { name: c.name, ok: false, text: `UNREACHABLE — ${reason}` };
      } finally {
        engine.close();
      }
    }),
  );
  for (const r of results) out.write(`  ${r.name.padEnd(width)}  ${r.text}\n`);
  const down = results.filter((r) => !r.ok).length;
  if (down > 0) out.write(`${down} of ${results.length} hosts unreachable.\n`);
  return down > 0 ? 1 : 0;
}
