import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { BerthError } from "../../src/core/errors.ts";
import { loadHosts } from "../../src/core/hosts.ts";
import { acrTokenUser, createRegistryCredentials, noRegistries, registryOf } from "../../src/core/registries.ts";

const dir = mkdtempSync(join(tmpdir(), "berth-registries-"));
let n = 0;
const manifest = (registries: string) => {
  const path = join(dir, `hosts-${n++}.yaml`);
  writeFileSync(path, `hosts:\n  - { name: local, url: "unix:///var/run/docker.sock" }\nregistries:\n${registries}`);
  return path;
};
const never = new AbortController().signal;

test("the registry of an image reference follows Docker's rule: a dot, a colon, localhost or upper case, else Docker Hub", () => {
  for (const [image, registry] of [
    ["busybox", "docker.io"],
    ["busybox:1", "docker.io"],
    ["library/busybox:1", "docker.io"],
    ["acme/api:2", "docker.io"],
    ["docker.io/acme/api:2", "docker.io"],
    ["index.docker.io/acme/api", "docker.io"],
    ["registry-1.docker.io/acme/api", "docker.io"],
    ["ghcr.io/acme/api:2", "ghcr.io"],
    ["myreg.azurecr.io/team/api@sha256:0123456789abcdef0123456789abcdef", "myreg.azurecr.io"],
    ["localhost/app", "localhost"],
    ["localhost:5000/app:1", "localhost:5000"],
    ["127.0.0.1:5000/team/app:1", "127.0.0.1:5000"],
    ["registry:5000/app", "registry:5000"],
    ["Registry/app", "registry"],
    ["team/sub/app:1", "docker.io"],
  ] as const) {
    assert.equal(registryOf(image), registry, image);
  }
});

test("registries: logins from environment variables, Docker Hub access tokens and ACR via Azure; names normalised", async () => {
  const path = manifest(`  - { server: ghcr.io, username: acme-bot, password: "env:GHCR_TOKEN" }
  - { server: "https://index.docker.io/v1/", username: acme, password: "env:DOCKERHUB_TOKEN" }
  - { server: MyReg.azurecr.io, azure: true }
`);
  const hosts = loadHosts(path, { GHCR_TOKEN: "ghp_x", DOCKERHUB_TOKEN: "dckr_pat_y" });
  assert.deepEqual(hosts.registries, [
    { server: "ghcr.io", username: "acme-bot", password: "ghp_x" },
    { server: "docker.io", username: "acme", password: "dckr_pat_y" },
    { server: "myreg.azurecr.io", azure: true },
  ]);
  const acr: string[] = [];
  const credentials = createRegistryCredentials(hosts.registries ?? [], async (server) => {
    acr.push(server);
    return "refresh";
  });
  assert.deepEqual(await credentials.authFor("ghcr.io/acme/api:1", never), {
    username: "acme-bot",
    password: "ghp_x",
    serveraddress: "ghcr.io",
  });
  // Docker Hub's login goes out under the address Docker's CLI uses for it.
  assert.deepEqual(await credentials.authFor("acme/private:1", never), {
    username: "acme",
    password: "dckr_pat_y",
    serveraddress: "https://index.docker.io/v1/",
  });
  assert.deepEqual(await credentials.authFor("myreg.azurecr.io/team/api:7", never), {
    username: acrTokenUser,
    password: "refresh",
    serveraddress: "myreg.azurecr.io",
  });
  assert.deepEqual(acr, ["myreg.azurecr.io"]);
  assert.equal(await credentials.authFor("quay.io/other/app:1", never), undefined);
  assert.equal(credentials.has("ghcr.io"), true);
  assert.equal(credentials.has("quay.io"), false);
  assert.equal(await noRegistries.authFor("ghcr.io/acme/api:1", never), undefined);
  const plain = join(dir, "plain.yaml");
  writeFileSync(plain, `hosts:\n  - { name: local, url: "unix:///var/run/docker.sock" }\n`);
  assert.deepEqual(loadHosts(plain).registries, [], "no registries: key, no logins");
});

test("a password variable that is not set stops berth with the registry and the variable named", () => {
  const path = manifest(`  - { server: ghcr.io, username: acme-bot, password: "env:GHCR_TOKEN" }\n`);
  assert.throws(
    () => loadHosts(path, {}),
    (e: unknown) =>
      e instanceof BerthError &&
      e.code === "CONFIG" &&
      e.message ===
        'Registry "ghcr.io" in the hosts manifest takes its password from GHCR_TOKEN, which is not set. Set it, or remove the registry.',
  );
});

test("the manifest refuses a password written in it, half a login, both kinds at once, a bad name and a repeat", () => {
  for (const [text, problem] of [
    [
      `  - { server: ghcr.io, username: a, password: hunter2 }\n`,
      /line 4 \(registries\.0\.password\): env:NAME, the environment variable holding the password/,
    ],
    [`  - { server: ghcr.io, username: a }\n`, /give username and password \(password: env:NAME\), or azure: true/],
    [`  - { server: ghcr.io, password: "env:X" }\n`, /registries\.0\.username\): give username and password/],
    [
      `  - { server: x.azurecr.io, azure: true, username: a, password: "env:X" }\n`,
      /either azure: true or username and password, not both/,
    ],
    [`  - { server: "ghcr.io/acme", username: a, password: "env:X", azure: false }\n`, /azure: true, or leave it out/],
    [`  - { server: "bad host!", username: a, password: "env:X" }\n`, /a registry host name like ghcr\.io/],
    [
      `  - { server: ghcr.io, username: a, password: "env:X" }\n  - { server: GHCR.io, username: b, password: "env:Y" }\n`,
      /line 5 \(registries\.1\.server\): registry "ghcr\.io" is listed twice/,
    ],
    [`  - { server: ghcr.io, user: a, password: "env:X" }\n`, /Unrecognized key: "user"/],
  ] as const) {
    assert.throws(
      () => loadHosts(manifest(text), { X: "x", Y: "y" }),
      (e: unknown) => e instanceof BerthError && e.code === "CONFIG" && problem.test(e.message),
      text,
    );
  }
});
