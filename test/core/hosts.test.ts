import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { BerthError } from "../../src/core/errors.ts";
import { loadHosts, resolveHost } from "../../src/core/hosts.ts";
import { mrkdwn } from "../support/text.ts";

const dir = mkdtempSync(join(tmpdir(), "berth-hosts-"));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

test("TLS material comes from files or from environment variables", () => {
  const ca = file("ca.pem", pem);
  const hosts = loadHosts(
    file(
      "h1.yaml",
      `hosts:
  - name: remote
    url: tcp://10.0.0.5:2376
    tls: { ca: ${ca}, cert: "env:REMOTE_CERT", key: "env:REMOTE_KEY" }
    isolation: hyperv
    notify: C0ALERTS
notifications: { channel: C0OPS }
`,
    ),
    { REMOTE_CERT: "cert-pem", REMOTE_KEY: "key\\nline2" },
  );
  const remote = hosts.connections[0];
  assert.equal(remote?.tls?.ca, pem);
  assert.equal(remote?.tls?.cert, "cert-pem");
  assert.equal(remote?.tls?.key, "key\nline2", "literal \\n in a one-line secret becomes a newline");
  assert.deepEqual(hosts.settings?.remote, { isolation: "hyperv", notify: "C0ALERTS" });
  assert.deepEqual(hosts.notifications, { channel: "C0OPS", enabled: true });
});

test("a TLS variable that is not set names the host and the variable", () => {
  const path = file("h2.yaml", `hosts:\n  - { name: r, url: "tcp://h:2376", tls: { ca: "env:CA", cert: "env:CERT", key: "env:KEY" } }\n`);
  assert.throws(
    () => loadHosts(path, { CERT: "x", KEY: "y" }),
    (e: unknown) => e instanceof BerthError && e.code === "CONFIG" && /Host "r".*CA, which is not set/.test(e.message),
  );
});

test("the manifest refuses TLS on a non-TCP host, unknown isolation, and a channel name instead of an ID", () => {
  for (const [text, problem] of [
    [`hosts:\n  - { name: a, url: "unix:///x.sock", tls: { ca: a, cert: b, key: c } }\n`, /tls applies to tcp:\/\/ hosts only/],
    [`hosts:\n  - { name: a, url: "tcp://h:1", isolation: vm }\n`, /isolation/],
    [`hosts:\n  - { name: a, url: "unix:///x.sock", notify: "#alerts" }\n`, /a channel ID like C0123ABCD/],
    [`hosts:\n  - { name: a, url: "npipe:////./pipe/docker_engine" }\n`, /unix:\/\/\/path, tcp:\/\/host:port or ssh:\/\/user@host/],
  ] as const) {
    assert.throws(() => loadHosts(file("bad.yaml", text)), problem);
  }
});

test("with several hosts and no default, the choice lists them instead of failing", () => {
  const hosts = {
    connections: [
      { name: "a", url: "unix:///a", timeoutMs: 1 },
      { name: "b", url: "unix:///b", timeoutMs: 1 },
    ],
    channels: { "#prod-*": "b" },
  };
  const none = resolveHost(hosts, undefined, { id: "C1", name: "random" });
  assert.equal(none.ok, false);
  assert.deepEqual(!none.ok && none.choices, ["a", "b"]);
  assert.deepEqual(resolveHost(hosts, undefined, { id: "C2", name: "prod-db" }), { ok: true, host: "b" });
  assert.deepEqual(resolveHost(hosts, "a", { id: "C2", name: "prod-db" }), { ok: true, host: "a" }, "-H wins over the channel default");
  const unknown = resolveHost(hosts, "c", { id: "C1" });
  assert.ok(!unknown.ok && /no host `c`/.test(mrkdwn(unknown.message)) && !unknown.choices);
});

test("the example hosts manifest is valid (its TLS files are the operator's, so only the schema is checked)", async () => {
  const { parse } = await import("yaml");
  const { readFileSync } = await import("node:fs");
  const { HostsSchema } = await import("../../src/core/hosts.ts");
  const parsed = HostsSchema.safeParse(parse(readFileSync(new URL("../../manifests/hosts.example.yaml", import.meta.url), "utf8")));
  assert.equal(parsed.success, true, parsed.success ? "" : JSON.stringify(parsed.error.issues));
  assert.deepEqual(
    parsed.data?.hosts.map((h) => h.url.split(":")[0]),
    ["unix", "tcp", "tcp", "tcp", "ssh"],
  );
});
