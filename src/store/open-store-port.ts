import { BerthError } from "../core/errors.ts";
import type { AuditKeyring } from "./audit-key.ts";
import type { StorePort } from "./port.ts";
import { openPostgresStore } from "./postgres-store.ts";
import type { SecretBox } from "./secret-box.ts";
import { openSqliteStore } from "./sqlite-store.ts";

/**
 * The store berth runs on: PostgreSQL when BERTH_DATABASE_URL is set (any number of replicas), otherwise the embedded
 * node:sqlite database in BERTH_DATA_DIR (one berth at a time).
 */
export async function openStorePort(options: {
  databaseUrl?: string | undefined;
  dataDir: string;
  clock?: (() => number) | undefined;
  secretBox?: SecretBox | undefined;
  auditKeys?: AuditKeyring | undefined;
  /** PostgreSQL only: an idle connection the server dropped (for the log; the pool has let it go). */
  onIdleError?: ((error: Error) => void) | undefined;
}): Promise<StorePort> {
  const { databaseUrl, auditKeys, onIdleError, ...rest } = options;
  if (!databaseUrl) return openSqliteStore({ ...rest, auditKeys });
  if (!auditKeys) {
    throw new BerthError(
      "CONFIG",
      "With BERTH_DATABASE_URL, every berth replica must sign the audit log with the same key, and BERTH_AUDIT_KEY is not set. Set it (id:secret, e.g. 2026a:$(openssl rand -base64 32)) in every replica's environment.",
    );
  }
  return openPostgresStore({ url: databaseUrl, auditKeys, clock: rest.clock, secretBox: rest.secretBox, onIdleError });
}
