/**
 * berth's CA against real TLS: a node:tls server with the server certificate that requires client certificates, and a
 * client with berth's client certificate. The real Docker engine accepting them is in support/azure-docker-host.test.ts.
 */
import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { before, test } from "node:test";
import tls from "node:tls";
import { certificateInfo, createCa, issueClientCert, issueServerCert, type Pem } from "../../src/cloud/certificates.ts";

const serverAuth = "1.3.6.1.5.5.7.3.1";
const clientAuth = "1.3.6.1.5.5.7.3.2";
const now = new Date("2026-03-01T12:00:00Z");
const day = 24 * 60 * 60 * 1000;

let ca: Pem;
let other: Pem;
let server: Pem;
let client: Pem;
let otherClient: Pem;
let otherServer: Pem;

before(async () => {
  [ca, other] = await Promise.all([createCa("berth test CA"), createCa("another CA")]);
  const subject = { commonName: "dh1", ips: ["127.0.0.1"], dnsNames: ["dh1.westeurope.cloudapp.azure.com"] };
  [server, client, otherClient, otherServer] = await Promise.all([
    issueServerCert(ca, subject),
    issueClientCert(ca, "berth"),
    issueClientCert(other, "berth"),
    issueServerCert(other, subject),
  ]);
});

/** A TLS server that requires a client certificate from `trust` and says "ok" to each client it accepts. */
async function listen(cert: Pem, trust: string): Promise<{ port: number; close(): Promise<void> }> {
  const srv = tls.createServer({ ...cert, ca: [trust], requestCert: true, rejectUnauthorized: true }, (s) => s.end("ok"));
  srv.on("tlsClientError", () => undefined);
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  return {
    port: (srv.address() as AddressInfo).port,
    close: () => new Promise((resolve) => srv.close(() => resolve())),
  };
}

/** Resolves when the server accepted the client and answered; rejects with the TLS error otherwise. */
function exchange(port: number, o: { trust: string; cert: Pem; servername?: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, ca: [o.trust], ...o.cert, servername: o.servername });
    let data = "";
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => (data += d));
    socket.on("error", reject);
    socket.on("end", () => (data === "ok" ? resolve() : reject(new Error(`the server hung up after ${JSON.stringify(data)}`))));
  });
}

test("a client with berth's client certificate reaches the server by its IP address and by its DNS name", async (t) => {
  const srv = await listen(server, ca.cert);
  t.after(() => srv.close());
  await exchange(srv.port, { trust: ca.cert, cert: client });
  await exchange(srv.port, { trust: ca.cert, cert: client, servername: "dh1.westeurope.cloudapp.azure.com" });
});

test("the server refuses a client certificate from another CA", async (t) => {
  const srv = await listen(server, ca.cert);
  t.after(() => srv.close());
  await assert.rejects(exchange(srv.port, { trust: ca.cert, cert: otherClient }));
});

test("the client refuses a server certificate from another CA", async (t) => {
  const srv = await listen(otherServer, ca.cert);
  t.after(() => srv.close());
  await assert.rejects(exchange(srv.port, { trust: ca.cert, cert: client }), { code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" });
});

test("the client refuses the server under a name its certificate does not list", async (t) => {
  const srv = await listen(server, ca.cert);
  t.after(() => srv.close());
  await assert.rejects(exchange(srv.port, { trust: ca.cert, cert: client, servername: "dh2.westeurope.cloudapp.azure.com" }), {
    code: "ERR_TLS_CERT_ALTNAME_INVALID",
  });
});

test("the CA certificate is a CA that issued both certificates; they are not CAs", () => {
  const caCert = new X509Certificate(ca.cert);
  assert.equal(caCert.ca, true);
  assert.equal(caCert.checkIssued(caCert), true);
  for (const pem of [server.cert, client.cert]) {
    const leaf = new X509Certificate(pem);
    assert.equal(leaf.ca, false);
    assert.equal(leaf.checkIssued(caCert), true);
    assert.equal(leaf.verify(caCert.publicKey), true);
    assert.equal(leaf.verify(new X509Certificate(other.cert).publicKey), false);
  }
  assert.deepEqual(new X509Certificate(server.cert).keyUsage, [serverAuth]);
  assert.deepEqual(new X509Certificate(client.cert).keyUsage, [clientAuth]);
});

test("keys are PKCS#8 ECDSA P-256, serials are random 16-byte numbers", async () => {
  for (const pem of [ca, server, client]) {
    assert.match(pem.key, /^-----BEGIN PRIVATE KEY-----\n/);
    const key = createPrivateKey(pem.key);
    assert.equal(key.asymmetricKeyType, "ec");
    assert.equal(key.asymmetricKeyDetails?.namedCurve, "prime256v1");
    assert.equal(new X509Certificate(pem.cert).publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
  }
  const again = await issueClientCert(ca, "berth");
  const serials = [client, again].map((p) => new X509Certificate(p.cert).serialNumber);
  assert.notEqual(serials[0], serials[1]);
  for (const serial of serials) assert.match(serial, /^[0-7][0-9A-F]{31}$/);
});

test("validity: from five minutes before now, ten years for the CA and three for the others", async () => {
  const fixedCa = await createCa("berth test CA", now);
  const fixedServer = await issueServerCert(fixedCa, { commonName: "dh1", ips: ["10.0.0.4"], dnsNames: [] }, now);
  const fixedClient = await issueClientCert(fixedCa, "berth", now);
  const notBefore = new Date(now.getTime() - 5 * 60 * 1000);
  assert.deepEqual(new Date(new X509Certificate(fixedCa.cert).validFrom), notBefore);
  assert.deepEqual(certificateInfo(fixedCa.cert).notAfter, new Date(now.getTime() + 3650 * day));
  for (const leaf of [fixedServer, fixedClient]) {
    assert.deepEqual(new Date(new X509Certificate(leaf.cert).validFrom), notBefore);
    assert.deepEqual(certificateInfo(leaf.cert).notAfter, new Date(now.getTime() + 1095 * day));
  }
  assert.equal(new X509Certificate(fixedServer.cert).checkIssued(new X509Certificate(fixedCa.cert)), true);
});

test("certificateInfo reads subject, SANs and fingerprint", () => {
  const info = certificateInfo(server.cert);
  assert.equal(info.subject, "CN=dh1");
  assert.deepEqual(info.ips, ["127.0.0.1"]);
  assert.deepEqual(info.dnsNames, ["dh1.westeurope.cloudapp.azure.com"]);
  assert.equal(info.fingerprint256, new X509Certificate(server.cert).fingerprint256);
  assert.deepEqual(certificateInfo(client.cert), {
    subject: "CN=berth",
    notAfter: new Date(new X509Certificate(client.cert).validTo),
    ips: [],
    dnsNames: [],
    fingerprint256: new X509Certificate(client.cert).fingerprint256,
  });
});

test("a server certificate needs an address or a name to be verified against", async () => {
  await assert.rejects(issueServerCert(ca, { commonName: "dh1", ips: [], dnsNames: [] }), {
    name: "BerthError",
    message: /at least one IP address or DNS name/,
  });
});

test("a CA key that is not a PKCS#8 private key is a configuration problem", async () => {
  await assert.rejects(issueClientCert({ cert: ca.cert, key: ca.cert }, "berth"), { name: "BerthError", code: "CONFIG" });
});
