/**
 * Encryption of what berth keeps on disk but must never store in clear (its CA's private key): AES-256-GCM under a
 * key derived from BERTH_SECRET_KEY, a fresh nonce per value, the value's name as associated data (a ciphertext
 * cannot be moved to another name), and a version and key id in front so that a wrong key is named, not guessed at.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, scryptSync } from "node:crypto";
import { BerthError } from "../core/errors.ts";

export type SecretBox = {
  /** 8 hex characters that name the key (not secret: derived one-way, separately from the encryption key). */
  readonly keyId: string;
  seal(name: string, plaintext: string): string;
  open(name: string, sealed: string): string;
};

const version = "berth-box-v1";
/** The shortest BERTH_SECRET_KEY accepted: `openssl rand -base64 32` gives 44 characters. */
export const minSecretKeyChars = 32;

/** True when `value` was written by a SecretBox (anything else in the secrets table is an old clear-text value). */
export const isSealed = (value: string): boolean => value.startsWith(`${version}:`);

/**
 * scrypt, not a bare hash: BERTH_SECRET_KEY may be a passphrase someone typed. Done once at start-up (about 0.1 s);
 * the salt is fixed because each value has its own nonce, and the key itself is what must stay secret.
 */
export function createSecretBox(secret: string): SecretBox {
  if (secret.length < minSecretKeyChars) {
    throw new BerthError(
      "CONFIG",
      `BERTH_SECRET_KEY is ${secret.length} characters; use at least ${minSecretKeyChars} random ones (e.g. \`openssl rand -base64 32\`).`,
    );
  }
  const master = scryptSync(secret, `${version} master`, 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
  const key = Buffer.from(hkdfSync("sha256", master, Buffer.alloc(0), `${version} aes-256-gcm`, 32));
  const keyId = createHash("sha256")
    .update(Buffer.from(hkdfSync("sha256", master, Buffer.alloc(0), `${version} key id`, 32)))
    .digest("hex")
    .slice(0, 8);
  return {
    keyId,
    seal(name, plaintext) {
      const nonce = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, nonce);
      cipher.setAAD(Buffer.from(name, "utf8"));
      const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
      return `${version}:${keyId}:${Buffer.concat([nonce, body, cipher.getAuthTag()]).toString("base64")}`;
    },
    open(name, sealed) {
      const [v, id, data = ""] = sealed.split(":");
      if (v !== version) throw new BerthError("CONFIG", `The stored secret "${name}" is not in a format this berth reads (${v}).`);
      if (id !== keyId) {
        throw new BerthError(
          "CONFIG",
          `The stored secret "${name}" was encrypted with another BERTH_SECRET_KEY (key id ${id}; the key set now has id ${keyId}). Set the key berth used before; without it the secret cannot be read.`,
        );
      }
      const raw = Buffer.from(data, "base64");
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, 12));
        decipher.setAAD(Buffer.from(name, "utf8"));
        decipher.setAuthTag(raw.subarray(raw.length - 16));
        return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString("utf8");
      } catch (cause) {
        throw new BerthError(
          "CONFIG",
          `The stored secret "${name}" does not decrypt with BERTH_SECRET_KEY (it was altered, or moved from another name).`,
          { cause },
        );
      }
    },
  };
}
