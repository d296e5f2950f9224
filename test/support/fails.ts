import assert from "node:assert/strict";
import { BerthError, type ErrorCode } from "../../src/core/errors.ts";

/** For assert.rejects/throws: the error is a BerthError with this code and a message matching `pattern`. */
export function fails(code: ErrorCode, pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof BerthError, `expected a BerthError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  };
}
