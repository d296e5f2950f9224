import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { normalize } from "../../src/core/normalize.ts";
import { quoteArgs } from "../../src/core/shell-quote.ts";
import { tokenize } from "../../src/core/tokenize.ts";

const words = (text: string) => {
  const t = tokenize(text);
  assert.ok(t.ok, `${text} did not tokenize`);
  return t.words;
};

/** Characters that mean something to a shell or to berth's tokenizer, and some that do not. */
const tricky = [..." \t\n'\"\\$;|&`(){}[]<>*?!#~=%,.:/@+-^", "é", "ß", "中", "🚀", "\u00a0", "\u200b", "’"];
const trickyWord = fc.string({ unit: fc.oneof(fc.constantFrom(...tricky), fc.string({ unit: "binary", minLength: 1, maxLength: 1 })) });

test("plain words stay bare; others are single-quoted, with '\\'' for a quote and '' for an empty word", () => {
  assert.equal(quoteArgs(["sh", "-c", "for i in 1 2 3; do echo $i; done"]), "sh -c 'for i in 1 2 3; do echo $i; done'");
  assert.equal(quoteArgs(["echo", "it's"]), "echo 'it'\\''s'");
  assert.equal(quoteArgs(["printf", "", "a\\b"]), "printf '' 'a\\b'");
  assert.equal(quoteArgs(["berth-test/busybox:1", "--name=x", "a,b", "café"]), "berth-test/busybox:1 --name=x a,b café");
  assert.equal(quoteArgs(["#x", "~", "*"]), "'#x' '~' '*'");
  assert.equal(quoteArgs([]), "");
});

test("berth's tokenizer reads any quoted argv back exactly", () => {
  fc.assert(
    fc.property(fc.array(trickyWord, { maxLength: 8 }), (argv) => {
      assert.deepEqual(words(quoteArgs(argv)), argv);
    }),
    { numRuns: 2000 },
  );
});

/** What Slack delivers for text a person pasted: `&`, `<`, `>` as entities. */
const asSlackSends = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

test("a quoted command pasted back into Slack parses to the same argv (words Slack can deliver)", () => {
  // normalize() folds whitespace runs, curly quotes and long dashes, so no argv that came from Slack holds them.
  const fromSlack = [..."'\"\\$;|&`(){}[]<>*?!#~=%,.:/@+-^", "é", "中", "🚀", "&amp;", "<@U0OPER>", "<http://x|y>", "a", "1"];
  const word = fc
    .array(fc.constantFrom(...fromSlack, " "), { maxLength: 12 })
    .map((cs) => cs.join(""))
    .filter((w) => !w.includes("  "));
  fc.assert(
    fc.property(fc.array(word, { minLength: 1, maxLength: 6 }), (argv) => {
      assert.deepEqual(words(normalize(asSlackSends(`run busybox:1 ${quoteArgs(argv)}`))), ["run", "busybox:1", ...argv]);
    }),
    { numRuns: 2000 },
  );
});
