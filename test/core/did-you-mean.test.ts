import assert from "node:assert/strict";
import { test } from "node:test";
import { registry } from "../../commands/index.ts";
import { correctionChoices, corrections, shownLine } from "../../src/core/did-you-mean.ts";
import { parse } from "../../src/core/parse.ts";

test("a mistyped command is corrected into a line that parses, with the rest kept as typed", () => {
  const parsed = parse("lgos -f api", registry);
  assert.equal(parsed.ok, false);
  const found = corrections(parsed, registry);
  assert.deepEqual(
    found.map((c) => c.words),
    [["logs", "-f", "api"]],
  );
  assert.deepEqual(found[0]?.action, { kind: "container.logs", container: "api", follow: true });
});

test("two typos in a row (command and option) are both corrected", () => {
  const parsed = parse("lgos --folow --tail=5 api", registry);
  const found = corrections(parsed, registry);
  assert.deepEqual(found[0]?.words, ["logs", "--follow", "--tail=5", "api"]);
  assert.equal(found[0]?.action.kind, "container.logs");
});

test("a mistyped option keeps its inline value", () => {
  const found = corrections(parse("logs --tial=20 api", registry), registry);
  assert.deepEqual(found[0]?.words, ["logs", "--tail=20", "api"]);
  assert.deepEqual(found[0]?.action, { kind: "container.logs", container: "api", follow: false, tail: 20 });
});

test("nothing is offered when no correction parses, or when nothing is close", () => {
  // `logs` is close, but `logs` needs a container: the corrected line still fails, and no fix of it is named.
  assert.deepEqual(corrections(parse("lgos", registry), registry), []);
  assert.deepEqual(corrections(parse("frobnicate api", registry), registry), []);
  // A Docker option berth does not take is explained, never "corrected" into another option.
  assert.deepEqual(corrections(parse("exec -it api sh", registry), registry), []);
});

test("a correction's label hides environment values like a card does, while its action keeps them", () => {
  const parsed = parse("rnu -e TOKEN=s3cret --env=B=x busybox:1 env", registry);
  const [choice] = correctionChoices(parsed, registry);
  assert.ok(choice);
  assert.equal(choice.label, "Run: run -e TOKEN=… --env=B=… busybox:1 env");
  assert.doesNotMatch(choice.label, /s3cret/);
  assert.equal(choice.action.kind, "container.run");
  assert.deepEqual(choice.action.kind === "container.run" && choice.action.env, [
    { name: "TOKEN", value: "s3cret" },
    { name: "B", value: "x" },
  ]);
  assert.equal(shownLine(["run", "busybox:1", "sh", "-c", "echo a b"]), "run busybox:1 sh -c 'echo a b'");
});
