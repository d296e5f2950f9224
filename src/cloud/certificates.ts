/**
 * berth's own certificate authority for the Docker hosts it provisions, in the pattern docker-machine used: one CA,
 * a server certificate per host (its address and name as SANs) and a client certificate berth presents. ECDSA P-256
 * with SHA-256, made in-process with WebCrypto (no openssl on the bot's image).
 */
import { X509Certificate as NodeX509Certificate, type webcrypto as WebCrypto } from "node:crypto";
import type { Extension, JsonGeneralName } from "@peculiar/x509";
import { BerthError } from "../core/errors.ts";

/** A certificate and its private key, both PEM; the key is PKCS#8 ("PRIVATE KEY"). */
export type Pem = { cert: string; key: string };

const webcrypto = globalThis.crypto;
let library: Promise<typeof import("@peculiar/x509")> | undefined;
const keyAlgorithm = { name: "ECDSA", namedCurve: "P-256" } as const;
const signingAlgorithm = { name: "ECDSA", hash: "SHA-256" } as const;
const minute = 60_000;
const day = 24 * 60 * minute;
const caValidityDays = 3650;
// docker-machine's 1080 days, rounded to three years.
const leafValidityDays = 1095;
// A host whose clock runs a little behind berth's must still accept a certificate issued a moment ago.
const clockSkew = 5 * minute;

/** A new CA (basicConstraints CA, keyCertSign and cRLSign), valid for ten years. */
export async function createCa(commonName: string, now: Date = new Date()): Promise<Pem> {
  const { BasicConstraintsExtension, KeyUsageFlags, KeyUsagesExtension, SubjectKeyIdentifierExtension, X509CertificateGenerator } =
    await x509();
  const keys = await generateKeys();
  const cert = await X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerial(),
      name: [{ CN: [commonName] }],
      notBefore: new Date(now.getTime() - clockSkew),
      notAfter: new Date(now.getTime() + caValidityDays * day),
      keys,
      signingAlgorithm,
      extensions: [
        new BasicConstraintsExtension(true, 0, true),
        new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign | KeyUsageFlags.digitalSignature, true),
        await SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
      ],
    },
    webcrypto,
  );
  return { cert: `${cert.toString("pem")}\n`, key: await exportKey(keys.privateKey) };
}

/** A Docker daemon's certificate (serverAuth) for these addresses and names, valid for three years. */
export async function issueServerCert(
  ca: Pem,
  subject: { commonName: string; ips: string[]; dnsNames: string[] },
  now: Date = new Date(),
): Promise<Pem> {
  if (subject.ips.length + subject.dnsNames.length === 0) {
    throw new BerthError(
      "INTERNAL",
      `A server certificate for ${subject.commonName} needs at least one IP address or DNS name to verify against.`,
    );
  }
  const { ExtendedKeyUsage, ExtendedKeyUsageExtension, KeyUsageFlags, KeyUsagesExtension, SubjectAlternativeNameExtension } = await x509();
  const names: JsonGeneralName[] = [
    ...subject.ips.map((value): JsonGeneralName => ({ type: "ip", value })),
    ...subject.dnsNames.map((value): JsonGeneralName => ({ type: "dns", value })),
  ];
  return issue(ca, subject.commonName, now, [
    new KeyUsagesExtension(KeyUsageFlags.digitalSignature | KeyUsageFlags.keyAgreement, true),
    new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth]),
    new SubjectAlternativeNameExtension(names),
  ]);
}

/** The certificate berth presents to the daemons this CA's servers run (clientAuth), valid for three years. */
export async function issueClientCert(ca: Pem, commonName: string, now: Date = new Date()): Promise<Pem> {
  const { ExtendedKeyUsage, ExtendedKeyUsageExtension, KeyUsageFlags, KeyUsagesExtension } = await x509();
  return issue(ca, commonName, now, [
    new KeyUsagesExtension(KeyUsageFlags.digitalSignature | KeyUsageFlags.keyAgreement, true),
    new ExtendedKeyUsageExtension([ExtendedKeyUsage.clientAuth]),
  ]);
}

/** What a certificate says about itself, for logs, the audit trail and tests. */
export function certificateInfo(pem: string): {
  subject: string;
  notAfter: Date;
  ips: string[];
  dnsNames: string[];
  fingerprint256: string;
} {
  const cert = new NodeX509Certificate(pem);
  // Node renders SANs as "DNS:a, IP Address:1.2.3.4"; names Node had to escape come quoted (JSON string syntax).
  const sans = (cert.subjectAltName ?? "").match(/(?:[^,"]|"(?:[^"\\]|\\.)*")+/g) ?? [];
  const ips: string[] = [];
  const dnsNames: string[] = [];
  for (const raw of sans.map((s) => s.trim())) {
    const colon = raw.indexOf(":");
    const kind = raw.slice(0, colon);
    let value = raw.slice(colon + 1);
    if (value.startsWith('"')) value = JSON.parse(value) as string;
    if (kind === "IP Address") ips.push(value);
    else if (kind === "DNS") dnsNames.push(value);
  }
  return { subject: cert.subject, notAfter: new Date(cert.validTo), ips, dnsNames, fingerprint256: cert.fingerprint256 };
}

async function issue(ca: Pem, commonName: string, now: Date, extensions: Extension[]): Promise<Pem> {
  const {
    AuthorityKeyIdentifierExtension,
    BasicConstraintsExtension,
    SubjectKeyIdentifierExtension,
    X509Certificate,
    X509CertificateGenerator,
  } = await x509();
  const caCert = new X509Certificate(ca.cert);
  const caKey = await webcrypto.subtle.importKey("pkcs8", await pemBody(ca.key, "PRIVATE KEY"), keyAlgorithm, false, ["sign"]);
  const keys = await generateKeys();
  const cert = await X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject: [{ CN: [commonName] }],
      issuer: caCert.subjectName,
      notBefore: new Date(now.getTime() - clockSkew),
      notAfter: new Date(now.getTime() + leafValidityDays * day),
      publicKey: keys.publicKey,
      signingKey: caKey,
      signingAlgorithm,
      extensions: [
        new BasicConstraintsExtension(false, undefined, true),
        ...extensions,
        await SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
        await AuthorityKeyIdentifierExtension.create(caCert.publicKey, false, webcrypto),
      ],
    },
    webcrypto,
  );
  return { cert: `${cert.toString("pem")}\n`, key: await exportKey(keys.privateKey) };
}

async function generateKeys(): Promise<WebCrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(keyAlgorithm, true, ["sign", "verify"]);
}

async function exportKey(key: WebCrypto.CryptoKey): Promise<string> {
  const { PemConverter } = await x509();
  return `${PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY")}\n`;
}

async function pemBody(pem: string, label: string): Promise<ArrayBuffer> {
  const { PemConverter } = await x509();
  const [der] = PemConverter.decode(pem);
  if (!der || !pem.includes(`-----BEGIN ${label}-----`)) {
    throw new BerthError(
      "CONFIG",
      `berth's CA key is not a PEM "${label}" (PKCS#8). Check the CA berth was configured with, or create a new one with createCa.`,
    );
  }
  return der;
}

/** 16 random bytes, positive (top bit clear) and never zero, as RFC 5280 asks of a serial number. */
function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return Buffer.from(bytes).toString("hex");
}

/**
 * @peculiar/x509 wires its algorithms with tsyringe, which needs the Reflect metadata API (reflect-metadata) loaded
 * first. Loaded on first use: berth without Azure never pays for it.
 */
function x509(): Promise<typeof import("@peculiar/x509")> {
  library ??= import("reflect-metadata").then(() => import("@peculiar/x509"));
  return library;
}
