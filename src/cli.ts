import { join } from "node:path";
import { parseArgs } from "node:util";
import { BerthError } from "./errors.ts";
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
  npx berth --help

Examples:
  npx berth policy check manifests/policy.example.yaml
  BERTH_DATA_DIR=/var/lib/berth npx berth audit export > audit.jsonl
  npx berth audit verify --data-dir ./data

Run berth itself with \`npm start\` (see README).
`;

/** The operator CLI. Returns the process exit code; reads nothing from the process but what it is given. */
export async function cli(argv: readonly string[], env: Record<string, string | undefined>, out: Out, err: Out): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: false,
    options: { help: { type: "boolean", short: "h" }, "data-dir": { type: "string" } },
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
