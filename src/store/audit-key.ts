import { createHmac, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BerthError } from "../core/errors.ts";

/**
 * The keys the audit chain is signed with. The first key signs new records; the others only verify older ones (key
 * rotation). The secrets stay inside this closure: the object can be passed around and logged without leaking them.
 */
export type AuditKeyring = {
  /** The key that signs new records; "" when the keyring can only be used to read. */
  readonly currentId: string;
  readonly ids: readonly string[];
  /** HMAC-SHA256 (hex) of `data` under key `id`; undefined when that key is not held. */
  mac(id: string, data: string): string | undefined;
  /** Where the keys came from, for messages ("BERTH_AUDIT_KEY", "the key file …"). */
  readonly source: string;
};

const idPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;
const minSecretChars = 16;

/**
 * `id:secret[,id:secret…]`, first = current; a single entry without an id is key "default". A secret may contain ':'
 * (only the text before the first ':' is read as an id, and only when it looks like one).
 */
export function parseAuditKeys(text: string, source: string): AuditKeyring {
  const keys = new Map<string, Buffer>();
  for (const entry of text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const colon = entry.indexOf(":");
    const named = colon > 0 && idPattern.test(entry.slice(0, colon));
    const id = named ? entry.slice(0, colon) : "default";
    const secret = named ? entry.slice(colon + 1) : entry;
    if (secret.includes("REPLACE-ME")) {
      throw new BerthError(
        "CONFIG",
        `${source}: the audit key "${id}" is still the example's placeholder; generate one with \`openssl rand -base64 32\`.`,
      );
    }
    if (secret.length < minSecretChars) {
      throw new BerthError(
        "CONFIG",
        `${source}: the audit key "${id}" is ${secret.length} characters long; use at least ${minSecretChars} random characters (e.g. \`openssl rand -base64 32\`).`,
      );
    }
    if (keys.has(id)) throw new BerthError("CONFIG", `${source}: the audit key id "${id}" appears twice; each key needs its own id.`);
    keys.set(id, Buffer.from(secret, "utf8"));
  }
  const [currentId] = keys.keys();
  if (currentId === undefined) {
    throw new BerthError("CONFIG", `${source} holds no key: set it to id:secret (e.g. 2026a:$(openssl rand -base64 32)).`);
  }
  return keyring(keys, currentId, source);
}

function keyring(keys: Map<string, Buffer>, currentId: string, source: string): AuditKeyring {
  return {
    currentId,
    ids: [...keys.keys()],
    mac(id, data) {
      const secret = keys.get(id);
      return secret && createHmac("sha256", secret).update(data).digest("hex");
    },
    source,
  };
}

/** A keyring that holds no key: enough to export, and to verify a legacy (unkeyed) chain. */
export const noAuditKeys = (source: string): AuditKeyring => keyring(new Map(), "", source);

/** A key that lives as long as the process: `:memory:` stores (tests) have nothing to verify later. */
export const ephemeralAuditKeys = (): AuditKeyring => keyring(new Map([["ephemeral", randomBytes(32)]]), "ephemeral", "an in-memory key");

/**
 * BERTH_AUDIT_KEY: the keys themselves, or `file:PATH` of a file holding them (a mounted secret). Read once, at start.
 * Undefined when the variable is not set.
 */
export function auditKeysFromEnv(value: string | undefined): AuditKeyring | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  if (!value.startsWith("file:")) return parseAuditKeys(value, "BERTH_AUDIT_KEY");
  const path = value.slice("file:".length);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (cause) {
    throw new BerthError(
      "CONFIG",
      `Cannot read the audit key file ${path} (BERTH_AUDIT_KEY=file:${path}): ${(cause as Error).message}. Mount the secret there, or set BERTH_AUDIT_KEY to the key itself.`,
      { cause },
    );
  }
  return parseAuditKeys(text, `The audit key file ${path} (BERTH_AUDIT_KEY)`);
}

export const localKeyFile = (dataDir: string) => join(dataDir, "audit.key");

/**
 * The key file berth keeps in its data dir when BERTH_AUDIT_KEY is not set (playground, tests, a first try), made
 * (mode 0600) when missing. It protects nothing against someone who can write the data dir; berth says so in its log.
 */
export function ensureLocalAuditKeys(dataDir: string): { keys: AuditKeyring; path: string; created: boolean } {
  const path = localKeyFile(dataDir);
  mkdirSync(dataDir, { recursive: true });
  let created = false;
  try {
    writeFileSync(path, `local:${randomBytes(32).toString("base64url")}\n`, { mode: 0o600, flag: "wx" });
    created = true;
  } catch (error) {
    if ((error as { code?: string }).code !== "EEXIST") throw error;
  }
  return { keys: readKeyFile(path), path, created };
}

/** The data dir's key file for reading (`audit verify`); undefined when there is none. Never creates it. */
export function readLocalAuditKeys(dataDir: string): AuditKeyring | undefined {
  const path = localKeyFile(dataDir);
  return existsSync(path) ? readKeyFile(path) : undefined;
}

function readKeyFile(path: string): AuditKeyring {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (cause) {
    throw new BerthError("CONFIG", `Cannot read the audit key file ${path}: ${(cause as Error).message}.`, { cause });
  }
  return parseAuditKeys(text, `the key file ${path} (next to the database; BERTH_AUDIT_KEY is not set)`);
}
