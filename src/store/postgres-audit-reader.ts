/**
 * The audit log in PostgreSQL as the operator CLI reads it (`berth audit verify|export|anchor` with
 * BERTH_DATABASE_URL): one connection in a read-only session, no migrations, no writes, so checking a live fleet's
 * log can never change it or the replicas' state.
 */
import { Client } from "pg";
import { BerthError } from "../core/errors.ts";
import { createChainChecker } from "./audit-chain.ts";
import type { AuditKeyring } from "./audit-key.ts";
import type { AuditHead, AuditRecord, ChainReport } from "./audit-log.ts";
import { redactedUrl } from "./postgres-store.ts";
import { toAuditHead, toAuditRecord, toAuditRow } from "./rows.ts";

export type AuditReader = {
  /** Where the log is, for messages (the URL without its password). */
  path: string;
  all(): Promise<AuditRecord[]>;
  check(from?: { seq: number; hash: string }): Promise<ChainReport>;
  at(seq: number): Promise<AuditHead | undefined>;
  close(): Promise<void>;
};

const columns = "seq, at, record, prev_hash, hash, key_id";

export async function openPostgresAuditReader(url: string, keys: AuditKeyring): Promise<AuditReader> {
  const where = redactedUrl(url);
  const client = new Client({ connectionString: url, application_name: "berth-cli" });
  try {
    await client.connect();
    await client.query("SET default_transaction_read_only = on");
    const table = await client.query("SELECT to_regclass('audit') AS t");
    if (table.rows[0]?.t === null) {
      throw new BerthError(
        "CONFIG",
        `${where} has no berth audit log (no audit table). Nothing was created. Check BERTH_DATABASE_URL: it must be the database the berth replicas use.`,
      );
    }
  } catch (error) {
    await client.end().catch(() => undefined);
    if (error instanceof BerthError) throw error;
    throw new BerthError("UNAVAILABLE", `Cannot read the audit log in ${where}: ${(error as Error).message}`, { cause: error });
  }
  const rows = async (sql: string, params: unknown[] = []) => (await client.query(sql, params)).rows.map(toAuditRow);
  return {
    path: where,
    all: async () => (await rows(`SELECT ${columns} FROM audit ORDER BY seq`)).map(toAuditRecord),
    async check(from) {
      const checker = createChainChecker(keys, from);
      let after = from ? from.seq - 1 : 0;
      for (;;) {
        const page = await rows(`SELECT ${columns} FROM audit WHERE seq > $1 ORDER BY seq LIMIT 1000`, [after]);
        for (const r of page) if (!checker.push(r)) return checker.finish();
        if (page.length < 1000) return checker.finish();
        after = page.at(-1)?.seq ?? after;
      }
    },
    async at(seq) {
      const [r] = await rows(`SELECT ${columns} FROM audit WHERE seq = $1`, [seq]);
      return r && toAuditHead(r);
    },
    close: () => client.end(),
  };
}
