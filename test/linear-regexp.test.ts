import assert from "node:assert/strict";
import { test } from "node:test";
import { BerthError } from "../src/errors.ts";
import { linearEngine, linearRegExp } from "../src/linear-regexp.ts";
import { PolicySchema, safeRegExp } from "../src/policy.ts";
import { createRedactor } from "../src/redact.ts";
import { parseYaml } from "../src/yaml-file.ts";

const policy = (patterns: string[]) =>
  parseYaml(`version: 1\nroles: {}\nredact:\n${patterns.map((p) => `  - ${JSON.stringify(p)}\n`).join("")}`, PolicySchema, "policy.yaml");

test("this Node runs redact patterns on V8's linear-time engine", () => {
  assert.equal(linearEngine, true, "Node 24's --enable-experimental-regexp-engine is gone: see src/linear-regexp.ts");
  assert.ok(safeRegExp("acme_live_[A-Za-z0-9]{8}")?.flags.includes("l"));
});

test("a policy pattern that would backtrack is refused at load, saying what to write instead", () => {
  for (const [pattern, why] of [
    ["(a)\\1", /backreferences/],
    ["(?<!x)tok_[a-z]+", /lookbehind/],
    ["tok_(?=[a-z])", /lookahead/],
    ["[", /not a valid regular expression/],
  ] as const) {
    assert.throws(
      () => policy([pattern]),
      (e: unknown) => e instanceof BerthError && e.code === "CONFIG" && /line 4 \(redact\.0\)/.test(e.message) && why.test(e.message),
      pattern,
    );
  }
  assert.deepEqual(policy(["acme_live_[A-Za-z0-9]{8}", "(a+)+b"]).redact, ["acme_live_[A-Za-z0-9]{8}", "(a+)+b"]);
});

test("a pattern that is exponential on a backtracking engine is masked in linear time", () => {
  // (a+)+b on a long run of a's without b: ~2^n steps for a backtracking engine, one pass for the linear one.
  const pattern = safeRegExp("(a+)+b");
  assert.ok(pattern);
  const r = createRedactor([], [pattern]);
  assert.equal(r(`x ${"a".repeat(16 * 1024)}`), `x ${"a".repeat(16 * 1024)}`);
  assert.equal(r("x aaab y"), "x •••• y");
  assert.equal(linearRegExp("(a+)+b") instanceof RegExp, true);
});
