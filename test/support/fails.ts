import assert from "node:assert/strict";
import { BerthError, type ErrorCode } from "../../src/core/errors.ts";
import { toMrkdwn } from "../../src/slack/render.ts";

/**
 * For assert.rejects/throws: the error is a BerthError with this code, and what a person is shown (its Slack text, or
 * the plain text operators see in logs and the CLI) matches `pattern`.
 */
export function fails(code: ErrorCode, pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof BerthError, `expected a BerthError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    const shown = toMrkdwn(e.text);
    assert.ok(
      pattern.test(shown) || pattern.test(e.message),
      `${pattern} matches neither ${JSON.stringify(shown)} nor ${JSON.stringify(e.message)}`,
    );
    return true;
  };
}
