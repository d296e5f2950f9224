/**
 * Azure Container Registry's token exchange for tests: `POST /oauth2/exchange` with a form body
 * (grant_type=access_token, service, access_token), answered `{"refresh_token": "<JWT>"}` as ACR does (the ACR
 * AAD-OAuth flow; the ACR SDKs' ExchangeAadAccessTokenForAcrRefreshToken). The refresh token is a JWT whose `exp` the
 * test chooses. A wrong AAD token, or `refuse`, gets ACR's 401 with its error body. Plain HTTP on 127.0.0.1: the
 * adapter's `exchangeUrl` points at it. Callers must `after(() => fake.close())`.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export type ExchangeRequest = { contentType: string | undefined; form: Record<string, string> };

export type AcrExchangeFake = {
  url: string;
  requests: ExchangeRequest[];
  /** The `exp` (epoch seconds) of the refresh tokens it issues from now on. */
  expiresAt: number;
  /** Answer every exchange 401, as ACR does for an identity without access. */
  refuse: boolean;
  /** The refresh tokens issued, in order. */
  issued: string[];
  close(): Promise<void>;
};

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");

export async function startAcrExchangeFake(options: { aadToken: string; expiresAt: number }): Promise<AcrExchangeFake> {
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      body += chunk;
    });
    req.on("end", () => {
      const form = Object.fromEntries(new URLSearchParams(body));
      fake.requests.push({ contentType: req.headers["content-type"], form });
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(value));
      };
      if (req.method !== "POST" || req.url !== "/oauth2/exchange")
        return json(404, { errors: [{ code: "NOT_FOUND", message: "not found" }] });
      if (req.headers["content-type"] !== "application/x-www-form-urlencoded" || form.grant_type !== "access_token" || !form.service)
        return json(400, { errors: [{ code: "BAD_REQUEST", message: "invalid request" }] });
      if (fake.refuse || form.access_token !== options.aadToken)
        return json(401, {
          errors: [
            { code: "UNAUTHORIZED", message: "authentication required, visit https://aka.ms/acr/authorization for more information." },
          ],
        });
      const token = `${b64({ alg: "RS256", typ: "JWT" })}.${b64({ aud: form.service, exp: fake.expiresAt, n: fake.issued.length })}.c2ln`;
      fake.issued.push(token);
      return json(200, { refresh_token: token });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const fake: AcrExchangeFake = {
    url: `http://127.0.0.1:${port}/oauth2/exchange`,
    requests: [],
    expiresAt: options.expiresAt,
    refuse: false,
    issued: [],
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return fake;
}
