/**
 * Azure Container Registry logins from berth's own Azure identity, as `az acr login` makes them (the ACR AAD-OAuth
 * flow): an Entra ID access token for ACR's audience is exchanged at `POST https://REGISTRY/oauth2/exchange`
 * (form: grant_type=access_token, service, access_token) for an ACR refresh token, which Docker takes as the password
 * of user 00000000-0000-0000-0000-000000000000 and trades for access tokens itself. Each registry's refresh token is
 * kept until shortly before it expires (its JWT `exp`). No token is ever put into an error, a log line or a message.
 */
import { DefaultAzureCredential, type TokenCredential } from "@azure/identity";
import { BerthError } from "../../core/errors.ts";

/** The audience of ACR's data plane in Azure's public cloud (what the ACR SDKs ask for by default). */
export const acrScope = "https://containerregistry.azure.net/.default";
/** A refresh token is renewed this long before its `exp`, so a pull never starts with one about to lapse. */
const renewBeforeMs = 5 * 60_000;
const exchangeTimeoutMs = 30_000;

export type AcrTokenOptions = {
  /** Default: new DefaultAzureCredential(), the identity berth's Azure adapter uses. */
  credential?: Pick<TokenCredential, "getToken"> | undefined;
  /** Where a registry's exchange endpoint is (tests: a local fake); default `https://SERVER/oauth2/exchange`. */
  exchangeUrl?: ((server: string) => string) | undefined;
  clock?: (() => number) | undefined;
};

/** The refresh token for a registry, from the cache or a new exchange. */
export function createAcrTokens(options: AcrTokenOptions = {}): (server: string, signal: AbortSignal) => Promise<string> {
  const clock = options.clock ?? Date.now;
  const url = options.exchangeUrl ?? ((server: string) => `https://${server}/oauth2/exchange`);
  let credential = options.credential;
  const cache = new Map<string, { token: string; renewAt: number }>();
  const inFlight = new Map<string, Promise<string>>();

  // Bounded by its own deadline, not a caller's signal: pulls that start together share it, and one of them being
  // stopped must not fail the others.
  async function exchange(server: string): Promise<string> {
    const signal = AbortSignal.timeout(exchangeTimeoutMs);
    credential ??= new DefaultAzureCredential();
    let aad: string;
    try {
      const got = await credential.getToken(acrScope, { abortSignal: signal });
      if (!got) throw new Error("the credential returned no token");
      aad = got.token;
    } catch (cause) {
      throw new BerthError(
        "CONFIG",
        `berth could not log in to Azure Container Registry ${server}: it has no usable Azure identity (${(cause as Error).name}). Set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH), or give berth a managed identity.`,
        { cause },
      );
    }
    let res: Response;
    try {
      res = await fetch(url(server), {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
        body: new URLSearchParams({ grant_type: "access_token", service: server, access_token: aad }).toString(),
        signal,
        redirect: "error", // a token is never sent on to wherever a redirect points
      });
    } catch (cause) {
      const why = signal.aborted
        ? `no answer within ${exchangeTimeoutMs / 1000} s`
        : ((cause as { cause?: { code?: string } }).cause?.code ?? (cause as Error).name);
      throw new BerthError(
        "UNAVAILABLE",
        `berth cannot reach Azure Container Registry ${server} to log in (${why}). Check the registry's name in the hosts manifest, and that berth can reach it.`,
        { cause: why },
      );
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw new BerthError(
        "FORBIDDEN",
        `Azure Container Registry ${server} refused berth's Azure identity (HTTP ${res.status}). Give that identity the AcrPull role on the registry (docs/azure.md).`,
      );
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new BerthError(
        res.status === 404 ? "CONFIG" : "UNAVAILABLE",
        res.status === 404
          ? `Registry ${server} has no Azure token exchange (HTTP 404): it does not look like an Azure Container Registry. Give it a username and password in the hosts manifest instead of azure: true.`
          : `Azure Container Registry ${server} failed to log berth in (HTTP ${res.status}). Try again; if it keeps failing, check the registry's status in Azure.`,
      );
    }
    const body = (await res.json().catch(() => undefined)) as { refresh_token?: unknown } | undefined;
    if (typeof body?.refresh_token !== "string" || body.refresh_token === "")
      throw new BerthError("UNAVAILABLE", `Azure Container Registry ${server} answered the login without a refresh token. Try again.`);
    const exp = jwtExpiry(body.refresh_token);
    if (exp !== undefined) cache.set(server, { token: body.refresh_token, renewAt: exp - renewBeforeMs });
    return body.refresh_token;
  }

  return async (server, signal) => {
    const cached = cache.get(server);
    if (cached && clock() < cached.renewAt) return cached.token;
    cache.delete(server);
    // Pulls that start together share one exchange.
    let pending = inFlight.get(server);
    if (!pending) {
      pending = exchange(server).finally(() => inFlight.delete(server));
      inFlight.set(server, pending);
    }
    const stopped = Promise.withResolvers<never>();
    const onAbort = () => stopped.reject(new BerthError("CANCELLED", `Cancelled while logging in to registry ${server}.`));
    if (signal.aborted) onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      return await Promise.race([pending, stopped.promise]);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  };
}

/** A JWT's `exp` in ms, or undefined when the token is not a JWT with one (then it is not cached). */
export function jwtExpiry(token: string): number | undefined {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { exp?: unknown }).exp;
    return typeof exp === "number" && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
