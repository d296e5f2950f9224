import assert from "node:assert/strict";
import { test } from "node:test";
import { createRedactor, redactAction } from "../src/redact.ts";

const cases: [string, string, string][] = [
  ["ANSI colours are stripped", "\u001b[31mred\u001b[0m ok", "red ok"],
  ["Slack bot token", "token xoxb-1234567890-abcdefghij", "token ••••"],
  ["Slack app token", "xapp-1-A0123-4567-abcdefabcdef", "••••"],
  ["AWS key id", "key AKIAABCDEFGHIJKLMNOP here", "key •••• here"],
  ["GitHub token", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "••••"],
  ["JWT", "auth eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.abcdefghijk", "auth ••••"],
  ["password= pair", "password=hunter22 next", "password=•••• next"],
  ["api_key: pair", "api_key: 'abc'", "api_key: ••••"],
  ["connection string credentials", "db=postgres://user:s3cret@db:5432/x", "db=postgres://user:••••@db:5432/x"],
  ["Azure connection string", "AccountKey=abc123==;Endpoint", "AccountKey=••••;Endpoint"],
  ["ordinary text is untouched", "plain line 42 <tag> & more", "plain line 42 <tag> & more"],
];
for (const [name, input, expected] of cases) test(`redact: ${name}`, () => assert.equal(createRedactor()(input), expected));

test("literal values (a run's -e values) and policy patterns are masked", () => {
  const r = createRedactor(["hunter2hunter2", "abc"], [/acme_live_[A-Za-z0-9]{8}/g]);
  assert.equal(
    r("pw hunter2hunter2 and acme_live_ABCDEFGH and abc"),
    "pw •••• and •••• and abc",
    "values under 4 characters are not masked",
  );
});

test("a private key's body lines are masked until its END line", () => {
  const r = createRedactor();
  const out = [
    "before",
    "-----BEGIN RSA PRIVATE KEY-----",
    "MIIEvQIBADANBgkq",
    "hkiG9w0BAQEFAASC",
    "-----END RSA PRIVATE KEY-----",
    "after",
  ].map(r);
  assert.deepEqual(out, ["before", "••••", "••••", "••••", "••••", "after"]);
});

test("actions keep env names but never values; secrets in a command line are masked", () => {
  const action = redactAction({
    kind: "container.run",
    image: "busybox:1",
    cmd: ["sh", "-c", "curl -H 'token xoxb-1234567890-abcdefghij'"],
    env: [{ name: "DB_PASSWORD", value: "p4ss" }],
    detach: false,
    autoRemove: false,
    privileged: false,
    mounts: [],
  });
  assert.deepEqual(action.kind === "container.run" && action.env, [{ name: "DB_PASSWORD", value: "••••" }]);
  assert.equal(action.kind === "container.run" && action.cmd[2], "curl -H 'token ••••'");
});
