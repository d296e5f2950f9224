import assert from "node:assert/strict";
import { test } from "node:test";
import { buttons } from "../../src/slack/buttons.ts";
import { notifyRestartActionId } from "../../src/slack/render.ts";

const restart = () => {
  const b = buttons({ pendingActions: new Map() }).find((x) => x.name === notifyRestartActionId);
  assert.ok(b, "the notification's Restart button is answered");
  return b;
};

test("a Restart button posted before several containers were possible still carries its one container", () => {
  const value = JSON.stringify({ kind: "container.restart", container: "api", host: "local" });
  assert.deepEqual(restart().toAction(value), { kind: "container.restart", container: "api", host: "local" });
});

test("a button's action is validated like typed input: the containers it names are container names, at most 20", () => {
  const several = { kind: "container.restart", container: "api", more: ["web"] };
  assert.deepEqual(restart().toAction(JSON.stringify(several)), several);
  assert.equal(restart().toAction(JSON.stringify({ ...several, more: ["a b"] })), undefined);
  const many = Array.from({ length: 20 }, (_, i) => `c${i}`);
  assert.equal(restart().toAction(JSON.stringify({ ...several, more: many })), undefined);
});
