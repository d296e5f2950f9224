import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { BerthError } from "../../src/core/errors.ts";
import { linearEngine, linearRegExp } from "../../src/core/linear-regexp.ts";
import { PolicySchema, safeRegExp } from "../../src/core/policy.ts";
import { createRedactor } from "../../src/core/redact.ts";
import { parseYaml } from "../../src/core/yaml-file.ts";

const policy = (patterns: string[]) =>
  parseYaml(`version: 1\nroles: {}\nredact:\n${patterns.map((p) => `  - ${JSON.stringify(p)}\n`).join("")}`, PolicySchema, "policy.yaml");

test("this Node runs redact patterns on V8's linear-time engine", () => {
  assert.equal(linearEngine, true, "Node 24's --enable-experimental-regexp-engine is gone: see src/core/linear-regexp.ts");
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

test("counts above the engine's 16 are split, and match exactly what the pattern says", () => {
  const acme = safeRegExp("acme_live_[A-Za-z0-9]{24}");
  assert.ok(acme);
  const r = createRedactor([], [acme]);
  assert.equal(r(`key acme_live_${"a".repeat(24)} end`), "key •••• end");
  assert.equal(r(`short acme_live_${"a".repeat(23)} end`), `short acme_live_${"a".repeat(23)} end`);
  assert.equal(policy(["acme_live_[A-Za-z0-9]{24}", "\\d{17,40}"]).redact.length, 2, "the example policy's pattern loads");
  for (const [pattern, why] of [
    ["(?:ab){20}", /counts above 16 on a group/],
    ["[a-z]{1,5000}", /repetition counts above 256/],
  ] as const) {
    assert.throws(() => policy([pattern]), why, pattern);
  }
});

test("a split count finds the same matches as the pattern on the backtracking engine (property)", () => {
  const atom = fc.constantFrom("a", "[ab]", "\\x61", "\\u0062", ".", "[^\\]a]", "\\w");
  const quantifier = fc
    .tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 }), fc.boolean(), fc.boolean())
    .map(([a, b, open, lazy]) => `{${Math.min(a, b)}${open ? "," : `,${Math.max(a, b)}`}}${lazy ? "?" : ""}`);
  const pattern = fc.tuple(atom, quantifier, fc.constantFrom("", "b", "a", "c")).map(([a, q, tail]) => `${a}${q}${tail}`);
  const text = fc.array(fc.constantFrom("a", "b", "c", "]", " "), { maxLength: 120 }).map((c) => c.join(""));
  fc.assert(
    fc.property(pattern, text, (p, t) => {
      const linear = safeRegExp(p);
      assert.ok(linear, p);
      const matches = (re: RegExp) => [...t.matchAll(re)].map((m) => [m.index, m[0]]);
      assert.deepEqual(matches(linear), matches(new RegExp(p, "g")), `${p} → ${linear.source} on "${t}"`);
    }),
    { numRuns: 500 },
  );
});
