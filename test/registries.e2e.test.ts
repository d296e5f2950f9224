/**
 * Private registries end to end: signed slash commands → berth → the real Docker engine → registries that want a
 * login (test/support/registry-fake.ts). `pull` of an image whose registry has a login in the hosts manifest succeeds;
 * `run` of a missing image sends its registry's login too; a refusal names the registry and what to do. And the
 * passwords appear nowhere berth writes: not in any Slack call, nor its log, nor the audit log.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { acrTokenUser } from "../src/core/registries.ts";
import { type AcrExchangeFake, startAcrExchangeFake } from "./support/acr-exchange-fake.ts";
import { cardText, eventually, findCard, isFinished, removeOwnContainers, startBerth } from "./support/berth-harness.ts";
import { type RegistryFake, startRegistryFake } from "./support/registry-fake.ts";
import { SEED, SlackFake } from "./support/slack-fake.ts";

const execFileAsync = promisify(execFile);
const goodPassword = "good-Registry-Pa55word-7f3a";
const stalePassword = "stale-Registry-Pa55word-91c2";

let fake: SlackFake;
let berth: Awaited<ReturnType<typeof startBerth>>;
let good: RegistryFake; // the manifest has its login
let rotated: RegistryFake; // the manifest has an old password for it
let unlisted: RegistryFake; // not in the manifest
let acr: RegistryFake; // `azure: true`: logged in to with the refresh token ACR's exchange gave berth's identity
let exchange: AcrExchangeFake;
const aadToken = "aad-token-of-berths-identity";

before(async () => {
  exchange = await startAcrExchangeFake({ aadToken, expiresAt: Math.floor(Date.now() / 1000) + 3 * 3600 });
  [good, rotated, unlisted, acr] = await Promise.all([
    startRegistryFake({ username: "robot", password: goodPassword }),
    startRegistryFake({ username: "robot", password: "the-new-password" }),
    startRegistryFake({ username: "robot", password: "whatever-it-is" }),
    startRegistryFake({ username: acrTokenUser, password: () => exchange.issued.at(-1) }),
  ]);
  fake = await SlackFake.start();
  berth = await startBerth(fake, {
    policy: `version: 1
roles:
  puller: { actions: [image.pull, container.run] }
bindings:
  - { role: puller, users: [${SEED.operator}] }
images: ["berth-test/**", "${good.server}/**", "${rotated.server}/**", "${unlisted.server}/**", "${acr.server}/**"]
`,
    hosts: `hosts:
  - { name: local, url: "unix:///var/run/docker.sock" }
registries:
  - { server: "${good.server}", username: robot, password: "env:GOOD_REGISTRY_PASSWORD" }
  - { server: "${rotated.server}", username: robot, password: "env:ROTATED_REGISTRY_PASSWORD" }
  - { server: "${acr.server}", azure: true }
`,
    env: { GOOD_REGISTRY_PASSWORD: goodPassword, ROTATED_REGISTRY_PASSWORD: stalePassword },
    azure: {
      credential: { getToken: async () => ({ token: aadToken, expiresOnTimestamp: Date.now() + 3600_000 }) },
      acrExchangeUrl: () => exchange.url,
    },
  });
});

after(async () => {
  if (berth) await removeOwnContainers(berth.berth.store);
  await berth?.stop();
  await fake?.stop();
  await exchange?.close();
  for (const r of [good, rotated, unlisted, acr]) {
    if (!r) continue;
    await execFileAsync("docker", ["image", "rm", r.image]).catch(() => undefined); // only the tag: the image is the test image
    await r.close();
  }
});

const finishedCard = (summary: string) =>
  eventually(`the finished card of "${summary}"`, () => {
    const card = findCard(fake, SEED.incidentChannel, summary);
    return card && isFinished(card) ? card : undefined;
  });

test("pull from a registry the manifest has a login for: the engine logs in with it and the card says it is done", async () => {
  await berth.command(`pull ${good.image}`);
  const card = await finishedCard(`pull ${good.image} on local`);
  assert.match(cardText(card), /:white_check_mark:/);
  assert.match(cardText(card), new RegExp(`(Downloaded newer image|Image is up to date) for ${good.image.replace(/\./g, "\\.")} on local`));
  const basic = `Basic ${Buffer.from(`robot:${goodPassword}`).toString("base64")}`;
  assert.ok(good.authorizations.includes(basic));
});

test("run of a missing image sends its registry's login; a refused login names the registry and says to check it", async () => {
  await berth.command(`run --rm ${rotated.image} echo never`);
  const card = await finishedCard(`run ${rotated.image} echo never on local`);
  assert.match(cardText(card), /:x:/);
  assert.match(
    cardText(card),
    new RegExp(`Registry \`${rotated.server}\` refused berth's login when pulling \`${rotated.image}\` on host local: unauthorized`),
  );
  assert.match(cardText(card), /check that login in `registries:` of the hosts manifest/);
  const stale = `Basic ${Buffer.from(`robot:${stalePassword}`).toString("base64")}`;
  assert.ok(rotated.authorizations.includes(stale), "the run's pull carried the manifest's login");
});

test("a registry without a login in the manifest: no credentials go out, and the answer names it and says to add it", async () => {
  await berth.command(`pull ${unlisted.image}`);
  const card = await finishedCard(`pull ${unlisted.image} on local`);
  assert.match(
    cardText(card),
    new RegExp(
      `Registry \`${unlisted.server}\` refused to let berth pull \`${unlisted.image}\` on host local: .*no basic auth credentials`,
    ),
  );
  assert.match(cardText(card), new RegExp(`add a login for \`${unlisted.server}\` to \`registries:\` in the hosts manifest`));
  assert.ok(unlisted.authorizations.every((a) => a === undefined));
});

test("azure: true: berth's identity's token is exchanged for an ACR refresh token, which the engine logs in with", async () => {
  await berth.command(`pull ${acr.image}`);
  const card = await finishedCard(`pull ${acr.image} on local`);
  assert.match(cardText(card), /:white_check_mark:/);
  assert.deepEqual(
    exchange.requests.map((r) => r.form),
    [{ grant_type: "access_token", service: acr.server, access_token: aadToken }],
  );
  const token = exchange.issued.at(-1) as string;
  assert.ok(acr.authorizations.includes(`Basic ${Buffer.from(`${acrTokenUser}:${token}`).toString("base64")}`));
});

test("the passwords are nowhere berth wrote: no Slack call, response, log line or audit record holds them", async () => {
  const audit = await berth.berth.store.audit.all();
  assert.ok(
    audit.some((r) => JSON.stringify(r).includes("image.pull")),
    "the pulls were audited",
  );
  const everything = [
    JSON.stringify(fake.calls()),
    JSON.stringify(fake.responses()),
    ...fake.messages(SEED.incidentChannel).map((m) => JSON.stringify(m)),
    berth.logs.join("\n"),
    JSON.stringify(audit),
  ].join("\n");
  assert.ok(everything.includes(good.server), "the search covers what berth said about these registries");
  assert.ok(
    berth.logs.some((l) => l.includes("job failed") && l.includes(rotated.server)),
    "the log holds the refused pull's error and its cause",
  );
  for (const secret of [goodPassword, stalePassword, aadToken, ...exchange.issued]) {
    assert.equal(everything.includes(secret), false, "a password leaked");
    assert.equal(everything.includes(Buffer.from(secret).toString("base64")), false, "a password leaked (base64)");
    for (const user of ["robot", acrTokenUser])
      assert.equal(everything.includes(Buffer.from(`${user}:${secret}`).toString("base64")), false, "a Basic login leaked");
  }
});
