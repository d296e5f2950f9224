import assert from "node:assert/strict";
import { test } from "node:test";
import { createRedactor, redactAction } from "../../src/core/redact.ts";

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
  ["GitHub token followed by an underscore", "ghp_abcdefghijklmnopqrstuvwxyz0123456789_x", "••••_x"],
  ["JSON password", '{"user":"bob","password": "hunter22","n":1}', '{"user":"bob","password": ••••,"n":1}'],
  ["JSON token, no spaces", '{"token":"abc.def-123"}', '{"token":••••}'],
  ["JSON client_secret", '"client_secret" : "s3cr3t value"', '"client_secret" : ••••'],
  ["JSON apiKey, not a string", '{"apiKey": 123456789, "x": 1}', '{"apiKey": ••••, "x": 1}'],
  ["JSON value with an escaped quote", '{"password":"ab\\"cd"}', '{"password":••••}'],
  ["JSON secret_key", '{"aws_secret_key":"wJalrXUtnFEMI"}', '{"aws_secret_key":••••}'],
  ["Authorization: Bearer header", "> Authorization: Bearer abc.def_ghi-jkl", "> Authorization: Bearer ••••"],
  ["Authorization: Basic header", "Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: Basic ••••"],
  ["Authorization header in JSON", '{"Authorization": "Basic dXNlcjpwYXNz"}', '{"Authorization": "Basic ••••"}'],
  ["Authorization without a scheme", "authorization=s3cr3tvalue", "authorization=••••"],
  ["Bearer token anywhere", "curl -H 'X: Bearer 0123456789abcdef' url", "curl -H 'X: Bearer ••••' url"],
  ["Bearer with base64 padding", "got bearer dGhpcyBpcyBhIHRva2Vu== ok", "got bearer •••• ok"],
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

test("every secret in a line is masked, also where two rules overlap", () => {
  const r = createRedactor(["hunter22hunter22"]);
  assert.equal(r("a password=hunter22hunter22 b"), "a password=•••• b");
  assert.equal(r("x hunter22hunter22 xoxb-1234567890-abcdefghij"), "x •••• ••••");
});

test("a private key on one line, cut into pieces, is masked in every piece", () => {
  const r = createRedactor();
  const body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC".repeat(200);
  const line = `key: -----BEGIN PRIVATE KEY-----${body}-----END PRIVATE KEY----- done`;
  const pieces = [line.slice(0, 3000), line.slice(3000, 6000), line.slice(6000)];
  const shown = pieces.map((text, i) => r.line({ stream: "stdout", text, continued: i < 2 })).join("");
  assert.ok(!shown.includes("MIIE"), shown);
  assert.equal(r("after"), "after", "the key state ends with its END line");
});

test("an unended private key in one command line does not mask the next actions' command lines", () => {
  const exec = (cmd: string[]) => redactAction({ kind: "container.exec", container: "web", cmd });
  assert.deepEqual(exec(["echo", "-----BEGIN PRIVATE KEY-----", "MIIE"]).kind === "container.exec" && exec(["ls"]), {
    kind: "container.exec",
    container: "web",
    cmd: ["ls"],
  });
});
