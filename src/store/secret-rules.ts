/**
 * The rules for berth's own secrets, the same in both store adapters: sealed with the
 * secret box at rest, a value an older berth stored in clear is sealed in place the first time it is read with a
 * key, and a database that outlives the process never takes a secret in clear.
 */
import { BerthError } from "../core/errors.ts";
import type { SecretStore } from "./port.ts";
import { isSealed, type SecretBox } from "./secret-box.ts";

export const noSecretKey = (name: string) =>
  new BerthError(
    "CONFIG",
    `berth needs BERTH_SECRET_KEY to keep "${name}" (its CA's private key) in its store, and it is not set. Set it to at least 32 random characters (\`openssl rand -base64 32\`) or file:PATH, kept outside BERTH_DATA_DIR and the database, and restart berth.`,
  );

/** The raw operations an adapter offers; the rules above are applied on top of them. */
export type SecretRows = {
  read(name: string): Promise<string | undefined>;
  insertIfAbsent(name: string, value: string): Promise<void>;
  /** Replaces `from` by `to`; true when it did (another writer may have sealed it first). */
  replace(name: string, from: string, to: string): Promise<boolean>;
  remove(name: string): Promise<boolean>;
};

export function secretStore(rows: SecretRows, box: SecretBox | undefined, durable: boolean): SecretStore {
  return {
    async get(name) {
      const value = await rows.read(name);
      if (value === undefined) return undefined;
      if (isSealed(value)) {
        if (!box) throw noSecretKey(name);
        return box.open(name, value);
      }
      if (box) await rows.replace(name, value, box.seal(name, value));
      return value;
    },
    async putOnce(name, value) {
      if (!box && durable) throw noSecretKey(name);
      await rows.insertIfAbsent(name, box ? box.seal(name, value) : value);
      const kept = String(await rows.read(name));
      return box && isSealed(kept) ? box.open(name, kept) : kept;
    },
    remove: (name) => rows.remove(name),
  };
}
