import assert from "node:assert/strict";
import { test } from "node:test";
import { normalize } from "../../src/core/normalize.ts";
import { tokenize } from "../../src/core/tokenize.ts";

const cases: [string, string, string][] = [
  ["em dash for --", "logs \u2014follow api", "logs --follow api"],
  ["en dash for --", "logs \u2013tail 5 api", "logs --tail 5 api"],
  ["long dash before one letter is a short option", "logs \u2014f api", "logs -f api"],
  ["dash inside a word is kept", "run img echo 2020\u20132021", "run img echo 2020\u20132021"],
  ["smart double quotes", "run img echo \u201Chello world\u201D", 'run img echo "hello world"'],
  ["smart single quotes", "run img sh -c \u2018ls -l\u2019", "run img sh -c 'ls -l'"],
  ["entities", "run img sh -c 'a &amp;&amp; b &gt; c &lt; d'", "run img sh -c 'a && b > c < d'"],
  ["user mention keeps the id", "audit --user <@U0ABC|alice>", "audit --user @U0ABC"],
  ["channel mention", "run <#C0123|incident-db>", "run #incident-db"],
  ["auto-linked image", "run <http://registry.example.com/app|registry.example.com/app>:1", "run registry.example.com/app:1"],
  ["bare link", "run <https://x.test/a>", "run https://x.test/a"],
  ["non-breaking and repeated spaces", "ps\u00A0  -a ", "ps -a"],
  ["zero-width characters", "p\u200Bs", "ps"],
  ["newlines become spaces", "run img\necho hi", "run img echo hi"],
  ["literal < typed by a person arrives escaped", "run img echo &lt;tag&gt;", "run img echo <tag>"],
];

for (const [name, input, expected] of cases) {
  test(`normalize: ${name}`, () => assert.equal(normalize(input), expected));
}

const tokens: [string, string, string[] | RegExp][] = [
  ["plain words", "run busybox echo hi", ["run", "busybox", "echo", "hi"]],
  ["double quotes group", 'echo "a b"  c', ["echo", "a b", "c"]],
  ["single quotes are literal", "echo 'a \"b\" \\n'", ["echo", 'a "b" \\n']],
  ["escaped quote in double quotes", 'echo "say \\"hi\\""', ["echo", 'say "hi"']],
  ["backslash escapes a space", "echo a\\ b", ["echo", "a b"]],
  ["empty quoted word", "echo ''", ["echo", ""]],
  ["adjacent quoted parts join", "echo a'b c'd", ["echo", "ab cd"]],
  ["unbalanced double quote", 'echo "abc', /Unbalanced quote: the " at character 6 is never closed/],
  ["unbalanced single quote", "echo 'abc", /Unbalanced quote: the ' at character 6/],
  ["no shell expansion", "echo $(rm -rf /) `id` ; ls", ["echo", "$(rm", "-rf", "/)", "`id`", ";", "ls"]],
];

for (const [name, input, expected] of tokens) {
  test(`tokenize: ${name}`, () => {
    const result = tokenize(input);
    if (expected instanceof RegExp) {
      assert.equal(result.ok, false);
      assert.match(result.ok ? "" : result.message, expected);
    } else {
      assert.deepEqual(result, { ok: true, words: expected });
    }
  });
}
