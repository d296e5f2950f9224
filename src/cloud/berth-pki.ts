import type { DockerConnection } from "../engines/ports.ts";
import type { CloudHostRecord, StorePort } from "../store/port.ts";
import { createCa, issueClientCert, type Pem } from "./certificates.ts";

/** berth's CA and its client certificate, made once and kept in the store, encrypted (the CA key never leaves it). */
export async function berthPki(store: StorePort, now: Date): Promise<{ ca: Pem; client: Pem }> {
  const stored = await store.secrets.get("pki");
  if (stored) return JSON.parse(stored) as { ca: Pem; client: Pem };
  const ca = await createCa("berth CA", now);
  const client = await issueClientCert(ca, "berth", now);
  return JSON.parse(await store.secrets.putOnce("pki", JSON.stringify({ ca, client }))) as { ca: Pem; client: Pem };
}

/** How berth reaches a host it made: Docker over TLS with its own client certificate. */
export function cloudConnection(record: CloudHostRecord, pki: { ca: Pem; client: Pem }): DockerConnection | undefined {
  if (!record.dockerUrl) return undefined;
  return {
    name: record.name,
    url: record.dockerUrl,
    tls: { ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key },
    timeoutMs: 15_000,
  };
}
