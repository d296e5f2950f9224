/**
 * What to do when a Slack call fails, decided from the error @slack/web-api throws (docs/reference/slack-platform.md
 * §4): wait and send again, back off and send again, or tell the caller.
 */
export type Verdict =
  /** Slack said "slow down": a 429, or `{"ok":false,"error":"ratelimited"}` with HTTP 200. Same call, after `ms`. */
  | { kind: "wait"; ms: number }
  /** Slack or the network failed (5xx, a reset, no answer within the deadline): same call, after a backoff. */
  | { kind: "retry"; reason: string }
  /** Slack refused the call itself (`not_in_channel`, `invalid_blocks`…): sending it again cannot help. */
  | { kind: "fail" };

/** `ok:false` codes Slack documents as its own trouble rather than the call's. */
const transientCodes = new Set(["internal_error", "fatal_error", "service_unavailable", "request_timeout"]);

type SlackErrorShape = {
  code?: string;
  retryAfter?: number;
  statusCode?: number;
  data?: { error?: unknown; response_metadata?: { retryAfter?: number } };
  original?: { name?: string; message?: string };
};

export function verdict(error: unknown): Verdict {
  const e = (typeof error === "object" && error !== null ? error : {}) as SlackErrorShape;
  switch (e.code) {
    case "slack_webapi_rate_limited_error":
      return { kind: "wait", ms: Math.max(1, e.retryAfter ?? 1) * 1000 };
    case "slack_webapi_platform_error": {
      const code = e.data?.error;
      // Slack sometimes answers a rate limit with HTTP 200 and this body: the same limit, said differently.
      if (code === "ratelimited") return { kind: "wait", ms: Math.max(1, e.data?.response_metadata?.retryAfter ?? 1) * 1000 };
      return typeof code === "string" && transientCodes.has(code) ? { kind: "retry", reason: code } : { kind: "fail" };
    }
    case "slack_webapi_http_error":
      return (e.statusCode ?? 0) >= 500 || e.statusCode === 408 ? { kind: "retry", reason: `HTTP ${e.statusCode}` } : { kind: "fail" };
    case "slack_webapi_request_error":
      return { kind: "retry", reason: e.original?.name === "TimeoutError" ? "no answer" : (e.original?.message ?? "network error") };
    case "berth_upload_error":
      return { kind: "retry", reason: (error as Error).message };
    default:
      return { kind: "fail" };
  }
}

/** The wait before try `n` (1-based) of a failing call: doubling from `firstMs`, never above `maxMs`. */
export function backoff(n: number, firstMs: number, maxMs: number): number {
  return Math.min(maxMs, firstMs * 2 ** Math.max(0, n - 1));
}
