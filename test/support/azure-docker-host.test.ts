/**
 * The whole chain with the real Docker engine: berth's CA issues the certificates, linuxCloudInit embeds them, and a
 * real dockerd started from that customData accepts berth's client certificate and no other.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import https from "node:https";
import net from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { stringify } from "yaml";
import { createCa, issueClientCert, issueServerCert, type Pem } from "../../src/cloud/certificates.ts";
import { linuxCloudInit } from "../../src/cloud/host-bootstrap.ts";
import { readCloudInit, startDockerFromCustomData } from "./azure-docker-host.ts";
import type { TlsDaemon } from "./tls-daemon.ts";

const execFileAsync = promisify(execFile);

let ca: Pem;
let server: Pem;
let client: Pem;
let stranger: Pem;
let port: number;
let daemon: TlsDaemon | undefined;

before(async () => {
  const other = await createCa("another CA");
  ca = await createCa("berth test CA");
  [server, client, stranger] = await Promise.all([
    issueServerCert(ca, { commonName: "dh1", ips: ["127.0.0.1"], dnsNames: ["localhost"] }),
    issueClientCert(ca, "berth"),
    issueClientCert(other, "berth"),
  ]);
  port = await freePort();
  const customData = Buffer.from(linuxCloudInit({ ca: ca.cert, server, dockerPort: port })).toString("base64");
  daemon = await startDockerFromCustomData(customData);
});

after(() => daemon?.stop());

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port: free } = srv.address() as net.AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return free;
}

function get(path: string, cert: Pem): Promise<{ status: number | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: "127.0.0.1", port, path, ca: ca.cert, ...cert, agent: false, timeout: 10_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("no answer within 10 s")));
  });
}

test("dockerd listens on the drop-in's port with berth's certificates", async () => {
  assert.ok(daemon);
  assert.equal(daemon.url, `tcp://127.0.0.1:${port}`);
  assert.equal(daemon.ca, ca.cert);
  assert.deepEqual(await get("/_ping", client), { status: 200, body: "OK" });
  const version = await get("/version", client);
  assert.equal(version.status, 200);
  assert.match(JSON.parse(version.body).ApiVersion, /^\d+\.\d+$/);
});

test("the docker CLI reaches it with --tlsverify and berth's client certificate", async () => {
  const dir = await mkdtemp("/tmp/berth-certs-");
  try {
    await writeFile(join(dir, "ca.pem"), ca.cert);
    await writeFile(join(dir, "cert.pem"), client.cert);
    await writeFile(join(dir, "key.pem"), client.key, { mode: 0o600 });
    const { stdout } = await execFileAsync("docker", ["version", "--format", "{{.Server.Version}}"], {
      env: { ...process.env, DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: dir },
    });
    assert.match(stdout.trim(), /^\d+\.\d+\.\d+/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a client certificate from another CA is refused", async () => {
  // Go's TLS server answers a certificate it cannot verify with alert 42, bad_certificate.
  await assert.rejects(get("/_ping", stranger), /alert bad certificate/);
});

const pems = () => ({ ca: "CA PEM\n", cert: "CERT PEM\n", key: "KEY PEM\n" });
const dropIn = (p: number) =>
  `[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H unix:///var/run/docker.sock -H tcp://0.0.0.0:${p} --tlsverify --tlscacert /etc/docker/ca.pem --tlscert /etc/docker/server.pem --tlskey /etc/docker/server-key.pem\n`;

test("readCloudInit accepts every write_files encoding cloud-init knows", () => {
  const { ca: caPem, cert, key } = pems();
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const doc = {
    write_files: [
      { path: "/etc/docker/ca.pem", encoding: "base64", content: b64(caPem) },
      { path: "/etc/docker/server.pem", encoding: "gz+b64", content: gzipSync(cert).toString("base64") },
      // Raw gzip goes into YAML as !!binary.
      { path: "/etc/docker/server-key.pem", encoding: "gzip", content: new Uint8Array(gzipSync(key)) },
      { path: "/etc/systemd/system/docker.service.d/10-machine.conf", content: dropIn(2376) },
    ],
  };
  const customData = b64(`#cloud-config\n${stringify(doc, { customTags: ["binary"] })}`);
  assert.deepEqual(readCloudInit(customData), { ca: caPem, cert, key, port: 2376 });
  const plain = { write_files: doc.write_files.map((f) => ({ path: f.path, content: f.path.endsWith("conf") ? f.content : "same\n" })) };
  assert.deepEqual(readCloudInit(b64(`#cloud-config\n${stringify(plain)}`)), { ca: "same\n", cert: "same\n", key: "same\n", port: 2376 });
});

test("readCloudInit reads berth's own document back", () => {
  const customData = Buffer.from(linuxCloudInit({ ca: ca.cert, server, dockerPort: 2376 })).toString("base64");
  assert.deepEqual(readCloudInit(customData), { ca: ca.cert, cert: server.cert, key: server.key, port: 2376 });
});

test("readCloudInit says what is missing", () => {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  assert.throws(() => readCloudInit(b64("#!/bin/sh\necho hi\n")), /not a #cloud-config document/);
  assert.throws(() => readCloudInit(b64(`#cloud-config\n${stringify({ write_files: [] })}`)), /no docker.service drop-in/);
  const withoutKey = { write_files: [{ path: "/etc/systemd/system/docker.service.d/x.conf", content: dropIn(2376) }] };
  assert.throws(
    () => readCloudInit(b64(`#cloud-config\n${stringify(withoutKey)}`)),
    /refers to \/etc\/docker\/ca.pem, which customData does not write/,
  );
});
