import assert from "node:assert/strict";
import net from "node:net";
import { after, before, beforeEach, describe, it } from "node:test";
import { acrScope, createAcrTokens, jwtExpiry } from "../../src/cloud/azure/acr.ts";
import { type AcrExchangeFake, startAcrExchangeFake } from "../support/acr-exchange-fake.ts";
import { fails } from "../support/fails.ts";

const aadToken = "aad-access-token-for-acr";
const never = new AbortController().signal;

describe("ACR logins from berth's Azure identity (against a local token exchange)", () => {
  let fake: AcrExchangeFake;
  let now = Date.UTC(2026, 0, 1);
  const scopes: unknown[] = [];
  const credential = {
    async getToken(scope: string | string[]) {
      scopes.push(scope);
      return { token: aadToken, expiresOnTimestamp: now + 3600_000 };
    },
  };
  before(async () => {
    fake = await startAcrExchangeFake({ aadToken, expiresAt: now / 1000 + 3 * 3600 });
  });
  after(() => fake.close());
  beforeEach(() => {
    fake.requests.length = 0;
    fake.refuse = false;
    scopes.length = 0;
  });
  const tokens = () => createAcrTokens({ credential, exchangeUrl: () => fake.url, clock: () => now });

  it("exchanges an access token for ACR's audience, form-encoded, for the registry's refresh token", async () => {
    const token = await tokens()("myreg.azurecr.io", never);
    assert.equal(token, fake.issued.at(-1));
    assert.deepEqual(scopes, [acrScope]);
    assert.equal(acrScope, "https://containerregistry.azure.net/.default");
    assert.deepEqual(fake.requests, [
      {
        contentType: "application/x-www-form-urlencoded",
        form: { grant_type: "access_token", service: "myreg.azurecr.io", access_token: aadToken },
      },
    ]);
  });

  it("keeps the refresh token until five minutes before its exp, then exchanges again; concurrent pulls share one exchange", async () => {
    const get = tokens();
    const [a, b] = await Promise.all([get("myreg.azurecr.io", never), get("myreg.azurecr.io", never)]);
    assert.equal(a, b);
    assert.equal(fake.requests.length, 1);
    now += 3 * 3600_000 - 5 * 60_000 - 1000; // just before the renewal point
    assert.equal(await get("myreg.azurecr.io", never), a);
    assert.equal(fake.requests.length, 1);
    now += 2000;
    const renewed = await get("myreg.azurecr.io", never);
    assert.notEqual(renewed, a);
    assert.equal(fake.requests.length, 2);
    await get("other.azurecr.io", never);
    assert.equal(fake.requests.length, 3, "each registry has its own token");
    fake.expiresAt = now / 1000 + 3 * 3600;
  });

  it("a refusal names the registry and the role to give; no token is in the message", async () => {
    fake.refuse = true;
    await assert.rejects(tokens()("myreg.azurecr.io", never), (e: unknown) => {
      fails(
        "FORBIDDEN",
        /^Azure Container Registry myreg\.azurecr\.io refused berth's Azure identity \(HTTP 401\)\. Give that identity the AcrPull role on the registry/,
      )(e);
      assert.doesNotMatch(JSON.stringify({ m: (e as Error).message, c: String((e as Error).cause) }), /aad-access-token/);
      return true;
    });
  });

  it("an exchange that cannot be reached names the registry", async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const { port } = closed.address() as net.AddressInfo;
    await new Promise((r) => closed.close(r));
    const get = createAcrTokens({ credential, exchangeUrl: () => `http://127.0.0.1:${port}/oauth2/exchange` });
    await assert.rejects(
      get("gone.azurecr.io", never),
      fails("UNAVAILABLE", /^berth cannot reach Azure Container Registry gone\.azurecr\.io to log in \(ECONNREFUSED\)\./),
    );
  });

  it("no usable Azure identity is a configuration problem, said as such", async () => {
    const broken = {
      async getToken(): Promise<never> {
        throw Object.assign(new Error("EnvironmentCredential is unavailable"), { name: "CredentialUnavailableError" });
      },
    };
    await assert.rejects(
      createAcrTokens({ credential: broken, exchangeUrl: () => fake.url })("myreg.azurecr.io", never),
      fails(
        "CONFIG",
        /^berth could not log in to Azure Container Registry myreg\.azurecr\.io: it has no usable Azure identity \(CredentialUnavailableError\)/,
      ),
    );
    assert.equal(fake.requests.length, 0);
  });

  it("a registry without the exchange is not an ACR: use a username and password instead", async () => {
    const get = createAcrTokens({ credential, exchangeUrl: () => fake.url.replace("/oauth2/exchange", "/elsewhere") });
    await assert.rejects(get("ghcr.io", never), fails("CONFIG", /^Registry ghcr\.io has no Azure token exchange \(HTTP 404\)/));
  });

  it("reads a JWT's exp, and nothing from a token that is not one", () => {
    const jwt = (payload: unknown) => `e30.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.sig`;
    assert.equal(jwtExpiry(jwt({ exp: 1_800_000_000 })), 1_800_000_000_000);
    assert.equal(jwtExpiry(jwt({ iat: 1 })), undefined);
    assert.equal(jwtExpiry("opaque-token"), undefined);
    assert.equal(jwtExpiry("a.%%%.c"), undefined);
  });
});
