import assert from "node:assert/strict";
import { test } from "node:test";
import { legacyText } from "../../src/core/legacy-text.ts";
import { toMrkdwn } from "../../src/slack/render.ts";

test("legacy Slack text: mentions and /berth commands become parts, everything else stays literal", () => {
  const m = legacyText("Ask <@U0LEAD> or run `/berth grant admin --for 1h`; `-H HOST` and <!channel> are text.");
  assert.deepEqual(m, [
    "Ask ",
    { user: "U0LEAD" },
    " or run ",
    { command: "grant admin --for 1h" },
    "; `-H HOST` and <!channel> are text.",
  ]);
  assert.equal(toMrkdwn(m, "/ops"), "Ask <@U0LEAD> or run `/ops grant admin --for 1h`; `-H HOST` and &lt;!channel&gt; are text.");
});
