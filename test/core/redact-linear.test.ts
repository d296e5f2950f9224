import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ansi, builtinPatterns, secretKey } from "../../src/core/redact.ts";
import { regexSteps } from "../support/regex-steps.ts";

/**
 * Every built-in redaction pattern runs on output a container controls: its work must grow linearly with the line.
 * Measured as the steps of a backtracking matcher (test/support/regex-steps.ts), never as time: a text four times
 * longer may cost about four times the steps, where a quadratic pattern costs sixteen.
 */
const checked: RegExp[] = [...builtinPatterns, secretKey, ansi];

const small = 1024;
const large = 4 * small;
const fill = (prefix: string, unit: string, length: number) => (prefix + unit.repeat(Math.ceil(length / unit.length))).slice(0, length);
/** Steps at the large size over what linear growth from the small size allows (≤ 1 is linear). */
function growth(pattern: RegExp, prefix: string, unit: string): number {
  const a = regexSteps(pattern, fill(prefix, unit, small));
  const b = regexSteps(pattern, fill(prefix, unit, large));
  return b / (4.5 * a + 2000);
}

/** Pieces of the patterns themselves: the way to make a backtracking pattern work hard is to almost match it. */
const pieces = [
  ..."aZ09-_. =:\"'\\/@,;&{}[]\t\u0007\u001bé",
  "://",
  "eyJ",
  "eyJa-",
  "xoxb-",
  "xapp-1-",
  "AKIA",
  "ghp_",
  "github_pat_",
  "-----BEGIN ",
  "-----END ",
  "PRIVATE KEY",
  "-----",
  "Authorization",
  "Bearer ",
  "bearer",
  "Basic ",
  "password",
  "token",
  "api_key",
  "secret_key",
  "AccountKey=",
  "\u001b[",
  "\u001b]",
];

/** Inputs that made berth's earlier patterns quadratic, and others of the same families. */
const crafted = [
  "eyJa-",
  "a.",
  "a-",
  "eyJaaaaaaaaa.",
  "eyJaaaaaaaa.eyJaaaaaaaa.",
  'token="a ',
  "pwd='a ",
  "password ",
  "password=",
  "a://a:",
  "x://u:p",
  "ghp_aaaa",
  "-----BEGIN A ",
  "-----BEGIN PRIVATE KEY PRIVATE KEY",
  "\u001b]a",
  "Authorization:",
  "Authorization: a",
  "Bearer aaaaaaa ",
];

test("every built-in pattern does linear work on crafted lines", () => {
  for (const pattern of checked) {
    for (const unit of crafted) {
      const g = growth(pattern, "", unit);
      assert.ok(g <= 1, `${pattern} on "${unit}"…: ${g.toFixed(2)}× what linear growth allows`);
    }
  }
});

test("every built-in pattern does linear work on generated repetitive lines (property)", () => {
  const unit = fc.array(fc.constantFrom(...pieces), { minLength: 1, maxLength: 4 }).map((p) => p.join(""));
  fc.assert(
    fc.property(fc.constantFrom(...checked), fc.constantFrom("", ...pieces), unit, (pattern, prefix, u) => {
      const g = growth(pattern, prefix, u);
      assert.ok(g <= 1, `${pattern} on "${prefix}" + "${u}"…: ${g.toFixed(2)}× what linear growth allows`);
    }),
    { numRuns: 300 },
  );
});

test("the step count catches the earlier patterns that stalled berth", () => {
  // The JWT and connection-string patterns before the fix: both rescanned the rest of a run from every start in it.
  const jwt = /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g;
  const url = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/\s@]+:)[^@\s/]+@/gi;
  assert.ok(growth(jwt, "", "eyJa-") > 2);
  assert.ok(growth(url, "", "a.") > 2);
  assert.ok(growth(/x[a-z-]+!/g, "", "xa-") > 2, "a plain run that fails at its end, from every start");
});
