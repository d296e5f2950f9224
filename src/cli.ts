import { existsSync, statSync } from "node:fs";
import { parseArgs } from "node:util";
import { registry } from "../commands/index.ts";
import { BerthError } from "./core/errors.ts";
import { loadHosts } from "./core/hosts.ts";
import { loadPolicyFile } from "./core/policy-file.ts";
import { runbookProblems } from "./core/runbook-check.ts";
import { createDockerEngine } from "./engines/docker/engine.ts";
import { appendAnchor, compareWithAnchors, readAnchors } from "./store/audit-anchor.ts";
import { type AuditKeyring, auditKeysFromEnv, noAuditKeys, readLocalAuditKeys } from "./store/audit-key.ts";
import { type AuditHead, type AuditLog, type ChainProblem, openAuditLogReadOnly } from "./store/audit-log.ts";
import { type AuditReader, openPostgresAuditReader } from "./store/postgres-audit-reader.ts";

type Out = { write(text: string): unknown };

const help = `berth — operator commands

Usage:
  npx berth policy check [FILE]     validate a policy file (default: $BERTH_POLICY or manifests/policy.yaml)
  npx berth audit export [--data-dir DIR]
                                    print the audit log as JSON lines (one record per line, oldest first)
  npx berth audit verify [--data-dir DIR] [--anchors FILE]
                                    re-check the HMAC chain (key: $BERTH_AUDIT_KEY) and compare it with the
                                    anchors in FILE (default $BERTH_AUDIT_ANCHOR_FILE); exit 1 and name the first
                                    record that was edited, removed or reordered, or a log cut off after an anchor;
                                    prints the head (seq, hash) to compare with the audit channel's last anchor
  npx berth audit anchor [--data-dir DIR] [--anchors FILE]
                                    verify, then append the head to the anchor file now (berth itself anchors
                                    every $BERTH_AUDIT_ANCHOR_INTERVAL, at start and at shutdown)
  npx berth hosts check [FILE] [--connect] [--timeout MS]
                                    validate a hosts file (default: $BERTH_HOSTS or manifests/hosts.yaml) and list
                                    its hosts; --connect asks each engine for /info (OS, Docker version) within its
                                    timeout (or --timeout MS); exit 1 if the file is invalid or a host is unreachable
  npx berth --help

The audit commands open berth.db read-only, safe against a running berth: no recovery, no migration, no write,
and a data dir that does not exist is reported, never created. With BERTH_DATABASE_URL set (and no --data-dir) they
read the replicas' shared PostgreSQL log instead, in a read-only session, with $BERTH_AUDIT_KEY. Exit codes: 0 done, 1 the check failed or the
data dir, database or file is missing, 2 a usage mistake (an unknown command or option, a stray argument).

Examples:
  npx berth policy check manifests/policy.example.yaml
  BERTH_DATA_DIR=/var/lib/berth npx berth audit export > audit.jsonl
  npx berth audit verify --data-dir ./data
  npx berth audit verify --data-dir ./data --anchors /var/log/berth/anchors.jsonl
  BERTH_DATABASE_URL=postgres://berth@db:5432/berth npx berth audit verify
  npx berth audit anchor --data-dir ./data --anchors /var/log/berth/anchors.jsonl
  npx berth hosts check manifests/hosts.example.yaml
  npx berth hosts check --connect --timeout 5000

Run berth itself with \`npm start\` (see README).
`;

type OptionSpec = { type: "string" | "boolean"; short?: string };
type CommandSpec = {
  /** The command's options besides --help, each with the placeholder its value takes ("" for a switch). */
  options: Record<string, { spec: OptionSpec; value: string }>;
  /** The FILE argument it takes, if any. */
  file?: string;
};

const dataDirOption = { "data-dir": { spec: { type: "string" }, value: "DIR" } } as const;
const anchorsOption = { anchors: { spec: { type: "string" }, value: "FILE" } } as const;
const commands: Record<string, CommandSpec> = {
  "policy check": { options: {}, file: "FILE" },
  "audit export": { options: { ...dataDirOption } },
  "audit verify": { options: { ...dataDirOption, ...anchorsOption } },
  "audit anchor": { options: { ...dataDirOption, ...anchorsOption } },
  "hosts check": {
    options: { connect: { spec: { type: "boolean" }, value: "" }, timeout: { spec: { type: "string" }, value: "MS" } },
    file: "FILE",
  },
};
const helpOption: Record<string, OptionSpec> = { help: { type: "boolean", short: "h" } };
const optionSpecs = (command: CommandSpec | undefined): Record<string, OptionSpec> => {
  const all = command ? [command] : Object.values(commands);
  return Object.assign({ ...helpOption }, ...all.map((c) => Object.fromEntries(Object.entries(c.options).map(([n, o]) => [n, o.spec]))));
};
const optionList = (command: CommandSpec) =>
  [...Object.entries(command.options).map(([name, o]) => `--${name}${o.value ? ` ${o.value}` : ""}`), "--help"].join(", ");

/**
 * Reads the command line strictly: an option the command does not know (`--data-dr`), an option without its value and
 * a stray argument are refused (exit 2) rather than ignored, for an ignored `--data-dir` typo would check ./data.
 */
function parseCommandLine(
  argv: readonly string[],
): { help: true } | { problem: string } | { name: string; values: Record<string, string | boolean | undefined>; file: string | undefined } {
  // First loosely, to learn which command it is; then strictly, with that command's options.
  const loose = parseArgs({ args: [...argv], strict: false, allowPositionals: true, tokens: true, options: optionSpecs(undefined) });
  const [group, verb, ...rest] = loose.positionals;
  const name = `${group} ${verb}`;
  const command = commands[name];
  const unknown = (known: Record<string, OptionSpec>) => loose.tokens.find((t) => t.kind === "option" && !(t.name in known));
  if (!command) {
    const stray = unknown(optionSpecs(undefined));
    if (stray?.kind === "option")
      return { problem: `Unknown option ${stray.rawName}. See \`npx berth --help\` for each command's options.` };
    if (loose.values.help === true) return { help: true };
    return { problem: group === undefined ? "" : `Unknown command: ${loose.positionals.join(" ")}\n\n${help.trimEnd()}` };
  }
  const where = `\`npx berth ${name}\``;
  try {
    const { values } = parseArgs({ args: [...argv], strict: true, allowPositionals: true, options: optionSpecs(command) });
    if (values.help === true) return { help: true };
    const [file, ...extra] = rest;
    if (file !== undefined && !command.file) {
      const hint = "data-dir" in command.options ? " Give the data directory with --data-dir DIR." : "";
      return { problem: `${where} takes no argument, but was given "${file}".${hint}` };
    }
    if (extra.length > 0)
      return { problem: `${where} takes at most one ${command.file}, but was given ${rest.map((a) => `"${a}"`).join(" ")}.` };
    return { name, values, file };
  } catch (error) {
    const stray = unknown(optionSpecs(command));
    const what =
      stray?.kind === "option"
        ? `Unknown option ${stray.rawName} for ${where}.${closest(stray.name, Object.keys(command.options))}`
        : `${(error as Error).message} (${where}).`;
    return { problem: `${what} Its options: ${optionList(command)}.` };
  }
}

/** " Did you mean --data-dir?" when a known option is one or two typos away from `name`. */
function closest(name: string, known: string[]): string {
  const distance = (a: string, b: string) => {
    let row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const next = [i];
      for (let j = 1; j <= b.length; j++) {
        next[j] = Math.min((row[j] ?? 0) + 1, (next[j - 1] ?? 0) + 1, (row[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
      }
      row = next;
    }
    return row[b.length] ?? Number.POSITIVE_INFINITY;
  };
  const best = known.map((k) => ({ k, d: distance(name, k) })).sort((x, y) => x.d - y.d)[0];
  return best && best.d <= 2 ? ` Did you mean --${best.k}?` : "";
}

/** The operator CLI. Returns the process exit code; reads nothing from the process but what it is given. */
export async function cli(argv: readonly string[], env: Record<string, string | undefined>, out: Out, err: Out): Promise<number> {
  const parsed = parseCommandLine(argv);
  if ("help" in parsed) {
    out.write(help);
    return 0;
  }
  if ("problem" in parsed) {
    if (parsed.problem) err.write(`${parsed.problem}\n`);
    else out.write(help);
    return 2;
  }
  const { name, values, file: arg } = parsed;
  const [group, verb] = name.split(" ");
  const dataDir = typeof values["data-dir"] === "string" ? values["data-dir"] : (env.BERTH_DATA_DIR ?? "./data");
  const dataDirFrom =
    typeof values["data-dir"] === "string"
      ? "given with --data-dir"
      : env.BERTH_DATA_DIR !== undefined
        ? "from BERTH_DATA_DIR"
        : "the default, as neither --data-dir nor BERTH_DATA_DIR is set";
  try {
    if (group === "policy" && verb === "check") {
      const path = arg ?? env.BERTH_POLICY ?? "manifests/policy.yaml";
      const policy = loadPolicyFile(path);
      const problems = runbookProblems(policy, registry);
      if (problems.length) {
        err.write(
          `${path}: ${problems.length} runbook problem${problems.length === 1 ? "" : "s"}:\n${problems.map((p) => `  - ${p}\n`).join("")}`,
        );
        return 1;
      }
      out.write(
        `${path}: valid — ${Object.keys(policy.roles).length} roles, ${policy.bindings.length} bindings, ${policy.rules.length} rules, ${policy.grants.length} grant rules, ${policy.runbooks.length} runbooks\n`,
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
    if (group === "audit" && (verb === "export" || verb === "verify" || verb === "anchor")) {
      // A fleet's log is in PostgreSQL (BERTH_DATABASE_URL) unless a data directory is named explicitly.
      const databaseUrl = typeof values["data-dir"] === "string" ? undefined : env.BERTH_DATABASE_URL || undefined;
      const missing = databaseUrl ? undefined : missingDataDir(dataDir, dataDirFrom);
      if (missing) {
        err.write(missing);
        return 1;
      }
      const keys =
        verb === "export"
          ? { keys: noAuditKeys("(export needs no key)"), warning: undefined }
          : databaseUrl
            ? {
                keys:
                  auditKeysFromEnv(env.BERTH_AUDIT_KEY) ?? noAuditKeys("BERTH_AUDIT_KEY (not set: give the key the replicas sign with)"),
                warning: undefined,
              }
            : verifyKeys(env, dataDir);
      // Read-only: a verification must not create, migrate or change what it verifies.
      const log = databaseUrl
        ? await openPostgresAuditReader(databaseUrl, keys.keys)
        : sqliteReader(openAuditLogReadOnly(dataDir, keys.keys));
      try {
        if (verb === "export") {
          for (const record of await log.all()) out.write(`${JSON.stringify(record)}\n`);
          return 0;
        }
        const anchors = typeof values.anchors === "string" ? values.anchors : env.BERTH_AUDIT_ANCHOR_FILE;
        return verb === "anchor" ? await auditAnchor(log, anchors, out, err) : await auditVerify(log, anchors, keys.warning, out, err);
      } finally {
        await log.close();
      }
    }
    err.write(`Unknown command: ${name}\n`);
    return 2;
  } catch (error) {
    err.write(`${error instanceof BerthError ? error.message : String(error)}\n`);
    return 1;
  }
}

/**
 * Why `dataDir` cannot be berth's data directory, checked before anything is opened: the CLI reads a store, it never
 * makes one (an empty new store would verify as "intact" and hide the operator's mistake).
 */
function missingDataDir(dataDir: string, from: string): string | undefined {
  const fix =
    "Nothing was created. Point --data-dir (or BERTH_DATA_DIR) at the directory the running berth uses: its BERTH_DATA_DIR, the one that holds berth.db (/data in the compose file and Kubernetes manifests).\n";
  if (!existsSync(dataDir)) return `The data directory ${dataDir} (${from}) does not exist. ${fix}`;
  if (!statSync(dataDir).isDirectory()) return `${dataDir} (${from}) is not a directory. ${fix}`;
  return undefined;
}

/** The keys `audit verify` checks with: BERTH_AUDIT_KEY, else the key file berth made in the data dir. */
function verifyKeys(env: Record<string, string | undefined>, dataDir: string): { keys: AuditKeyring; warning: string | undefined } {
  const configured = auditKeysFromEnv(env.BERTH_AUDIT_KEY);
  if (configured) return { keys: configured, warning: undefined };
  const local = readLocalAuditKeys(dataDir);
  if (!local) return { keys: noAuditKeys(`BERTH_AUDIT_KEY (not set, and ${dataDir} has no audit.key)`), warning: undefined };
  return {
    keys: local,
    warning:
      "warning: verified with the key file next to the database (BERTH_AUDIT_KEY is not set): whoever can write the data dir can read it and forge records. Set BERTH_AUDIT_KEY from a secret store (docs/security.md).",
  };
}

/** The embedded log behind the same reader as PostgreSQL's. */
function sqliteReader(log: AuditLog & { path: string; close(): void }): AuditReader {
  return {
    path: log.path,
    all: async () => log.all(),
    check: async (from) => log.check(from),
    at: async (seq) => log.at(seq),
    close: async () => log.close(),
  };
}

/** The anchors' records, read before comparing (compareWithAnchors asks for them one at a time, synchronously). */
async function anchoredHeads(log: AuditReader, anchors: readonly { seq: number }[]): Promise<(seq: number) => AuditHead | undefined> {
  const heads = new Map<number, AuditHead | undefined>();
  for (const a of anchors) if (!heads.has(a.seq)) heads.set(a.seq, await log.at(a.seq));
  return (seq) => heads.get(seq);
}

async function auditVerify(
  log: AuditReader,
  anchorFile: string | undefined,
  warning: string | undefined,
  out: Out,
  err: Out,
): Promise<number> {
  const report = await log.check();
  if (report.problem) {
    err.write(chainProblem(report.problem));
    return 1;
  }
  const anchors = anchorFile ? readAnchors(anchorFile) : undefined;
  const mismatch = anchors && compareWithAnchors(report.head, await anchoredHeads(log, anchors.anchors), anchors.anchors);
  if (mismatch) {
    err.write(`audit log TAMPERED: ${mismatch.problem} (anchor file ${anchorFile}).\n`);
    return 1;
  }
  const { head, legacy } = report;
  out.write(
    `audit log intact: ${report.records} records, ${report.keyIds.length ? `HMAC-SHA256 chain verified with key ${report.keyIds.join(", ")}` : "chain verified"} (${log.path})\n`,
  );
  if (legacy > 0) {
    out.write(
      `legacy: records 1–${legacy} are in the legacy format (plain SHA-256, written before the chain was keyed); their links hold, but whoever could write berth.db could have rewritten them.${legacy === report.records ? " No record is keyed yet." : ""}\n`,
    );
  }
  out.write(
    head
      ? `head: seq ${head.seq}, hash ${head.hash}, key ${head.keyId ?? "(legacy)"}. Compare with the last anchor in the audit channel: its record must be at or before seq ${head.seq}, with the same hash there.\n`
      : "head: the log is empty.\n",
  );
  if (anchors) {
    const lastAnchor = anchors.anchors.at(-1);
    out.write(
      lastAnchor
        ? `anchors: ${anchors.anchors.length} in ${anchorFile} agree with the log; the last is record ${lastAnchor.seq} at ${new Date(lastAnchor.at).toISOString()}.${anchors.skipped ? ` (${anchors.skipped} unreadable lines skipped.)` : ""}\n`
        : `anchors: ${anchorFile} holds no anchor yet.\n`,
    );
  } else {
    out.write(
      "anchors: none compared (give --anchors FILE or set BERTH_AUDIT_ANCHOR_FILE): a log cut off at its end is only caught by an anchor.\n",
    );
  }
  if (warning) err.write(`${warning}\n`);
  return 0;
}

const chainProblem = ({ seq, problem, kind }: ChainProblem) =>
  kind === "unknown-key"
    ? `audit log CANNOT BE VERIFIED: record ${seq} ${problem}. Add that key to BERTH_AUDIT_KEY after the current one (current:secret,old:secret) to verify older records.\n`
    : `audit log TAMPERED: record ${seq} ${problem}. Records from ${seq} on cannot be trusted.\n`;

/** An anchor on demand: only a head whose chain holds, and that agrees with the anchors before it, is written down. */
async function auditAnchor(log: AuditReader, anchorFile: string | undefined, out: Out, err: Out): Promise<number> {
  if (!anchorFile) {
    err.write("audit anchor needs an anchor file: give --anchors FILE or set BERTH_AUDIT_ANCHOR_FILE.\n");
    return 2;
  }
  const report = await log.check();
  if (report.problem) {
    err.write(`${chainProblem(report.problem)}Nothing was anchored.\n`);
    return 1;
  }
  const anchors = existsSync(anchorFile) ? readAnchors(anchorFile).anchors : [];
  const mismatch = compareWithAnchors(report.head, await anchoredHeads(log, anchors), anchors);
  if (mismatch) {
    err.write(`audit log TAMPERED: ${mismatch.problem} (anchor file ${anchorFile}). Nothing was anchored.\n`);
    return 1;
  }
  const { head } = report;
  const last = anchors.at(-1);
  if (!head || (last && last.seq === head.seq && last.hash === head.hash)) {
    out.write(`nothing to anchor: ${head ? `the head (seq ${head.seq}) is anchored already` : "the log is empty"}.\n`);
    return 0;
  }
  appendAnchor(anchorFile, { ...head, at: Date.now() });
  out.write(`anchored: seq ${head.seq}, hash ${head.hash}, key ${head.keyId ?? "(legacy)"} in ${anchorFile}\n`);
  return 0;
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
