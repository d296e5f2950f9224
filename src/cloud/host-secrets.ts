import { generateKeyPairSync, randomInt } from "node:crypto";
import type { CloudHostRecord } from "../store/records.ts";
import { issueServerCert, type Pem } from "./certificates.ts";
import { linuxCloudInit, windowsSetup } from "./host-bootstrap.ts";
import type { CloudSettings } from "./provision-deps.ts";

/**
 * The customData (and for Windows the setup command and password): made once, kept until the VM exists. It carries
 * the host's TLS server key, so it is never logged.
 */
export async function bootstrapFor(
  record: CloudHostRecord,
  pki: { ca: Pem },
  settings: CloudSettings,
): Promise<CloudHostRecord["bootstrap"]> {
  const ips = record.address ? [record.address] : [];
  const server = await issueServerCert(pki.ca, { commonName: record.name, ips, dnsNames: record.fqdn ? [record.fqdn] : [] });
  if (record.os === "linux") {
    return {
      customData: linuxCloudInit({ ca: pki.ca.cert, server, dockerPort: settings.dockerPort }),
      // Made once and kept with the customData: a VM's SSH keys, like its customData, cannot change on a retried PUT.
      sshPublicKey: settings.sshPublicKey ? undefined : throwawaySshKey(),
    };
  }
  const w = windowsSetup({ ca: pki.ca.cert, server, dockerPort: settings.dockerPort, hyperv: record.hyperv });
  return { customData: w.customData, setupCommand: w.command, adminPassword: windowsPassword() };
}

/**
 * Azure insists on a log-in for a Linux VM. Without an operator key, berth gives it a key whose private half it never
 * keeps: the host is only ever reached through Docker's TLS port.
 */
function throwawaySshKey(): string {
  const { publicKey } = generateKeyPairSync("ed25519");
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x as string, "base64url");
  const field = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([field(Buffer.from("ssh-ed25519")), field(raw)]).toString("base64")} berth-unused`;
}

/** A password Azure accepts (12–123 chars, 3 of 4 classes); berth does not keep it once the VM exists. */
function windowsPassword(): string {
  const sets = ["ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnopqrstuvwxyz", "23456789", "!#%+-.:=?@_"];
  const chars = sets.map((s) => s[randomInt(s.length)]);
  const all = sets.join("");
  while (chars.length < 28) chars.push(all[randomInt(all.length)]);
  return chars.join("");
}
