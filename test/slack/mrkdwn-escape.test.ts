import assert from "node:assert/strict";
import { test } from "node:test";
import { user, usergroup } from "../../src/core/message.ts";
import { noticeHeadline } from "../../src/notifications.ts";
import { escapeMrkdwn, mention, neutralizeMrkdwn, showInvisible, unescapeMrkdwn } from "../../src/slack/mrkdwn-escape.ts";
import { renderCard, renderGateCard, renderGateOverflow, renderNotification } from "../../src/slack/render.ts";

/** A live special mention, user-group mention or link in mrkdwn: `<!…>`, `<http…>`, `<mailto:…>` not escaped. */
const live = /<(?:!|https?:|mailto:)/i;
const hostile = "<!channel> <!here> <!everyone> <!subteam^S0EVIL> see <http://evil.example|docs> @channel";

test("untrusted text is inert: entities for & < >, and it reads back exactly", () => {
  const e = escapeMrkdwn(hostile);
  assert.doesNotMatch(e, /[<>]/);
  assert.equal(unescapeMrkdwn(e), hostile);
  assert.equal(escapeMrkdwn("a && b > c"), "a &amp;&amp; b &gt; c");
});

test("the last check keeps berth's mentions and entities, and shows everything else as text", () => {
  const out = neutralizeMrkdwn(`<@U0OPER> asks: ${hostile} &amp; <#C0INCIDENT> <!subteam^S0APPROVERS>`, ["S0APPROVERS"]);
  assert.doesNotMatch(out, live.source.includes("!") ? /<!(?:channel|here|everyone|subteam\^S0EVIL)|<http/ : live);
  assert.match(out, /^<@U0OPER> asks: /);
  assert.match(out, /&lt;!channel&gt; &lt;!here&gt; &lt;!everyone&gt; &lt;!subteam\^S0EVIL&gt;/);
  assert.match(out, /&lt;http:\/\/evil\.example\|docs&gt;/);
  assert.match(out, /@\u2060channel/, "a bare @channel is broken up");
  assert.match(out, / &amp; <#C0INCIDENT> <!subteam\^S0APPROVERS>$/, "policy user groups and entities pass");
  assert.equal(neutralizeMrkdwn(out, ["S0APPROVERS"]), out, "idempotent");
  assert.equal(neutralizeMrkdwn("a < b & c > d"), "a &lt; b &amp; c &gt; d");
});

test("a mention is built only from a user ID", () => {
  assert.equal(mention("U0OPER"), "<@U0OPER>");
  assert.equal(mention("!channel"), "!channel");
  assert.equal(mention("U1><!channel"), "U1&gt;&lt;!channel");
});

test("invisible and direction-changing characters are shown by code point", () => {
  const chars = ["\u200B", "\u200C", "\u200D", "\u200E", "\u200F", "\u202A", "\u202B", "\u202C", "\u202D", "\u202E"];
  chars.push("\u2066", "\u2067", "\u2068", "\u2069", "\uFEFF", "\u00AD", "\u2060", "\u061C", "\u0007", "\u2028");
  for (const c of chars) {
    const shown = showInvisible(`a${c}b`);
    assert.equal(shown, `a⟨U+${c.codePointAt(0)?.toString(16).toUpperCase().padStart(4, "0")}⟩b`);
  }
  assert.equal(showInvisible("echo héllo wörld ✓"), "echo héllo wörld ✓", "visible text is left alone");
});

const gate = {
  id: "r-abc123",
  gate: "approval" as const,
  requester: "U0OPER",
  expiresAt: Date.parse("2026-01-01T12:00:00Z"),
  gateRule: "four-eyes",
  approvers: [[user("U0APPROVER")], [usergroup("S0LEADS")]],
};

test("a gate card shows a command's hidden characters, and a long one in full below the card", () => {
  const long = "A".repeat(3000);
  const cmd = `echo safe \u202Eexe.txt ${long}`;
  const card = renderGateCard({
    ...gate,
    summary: `run busybox ${cmd} on local`,
    preview: ["*Host:* local (linux)", `*Command:* \`${escapeMrkdwn(cmd)}\``],
  });
  const shown = JSON.stringify(card);
  assert.ok(!shown.includes("\u202E"), "no live direction override on the card");
  assert.match(shown, /⟨U\+202E⟩exe\.txt/);
  assert.match(shown, /full command in thread/);
  assert.ok(JSON.stringify(card.blocks).length < 3 * 3000, "cut to fit, not everything");
  for (const b of card.blocks) if (b.type === "section") assert.ok((b.text?.text.length ?? 0) <= 3000);
  assert.ok(card.text.length <= 4000);
  const thread = renderGateOverflow({
    id: gate.id,
    summary: `run busybox ${cmd} on local`,
    preview: [`*Command:* \`${escapeMrkdwn(cmd)}\``],
  });
  assert.ok(thread.length >= 2, `${thread.length} messages`);
  assert.ok(thread.every((m) => m.length <= 3100));
  assert.match(thread[0] ?? "", /^Full request `r-abc123`, exactly as it will run \(\d parts\):\n```\n/);
  const body = thread.map((m) => m.slice(m.indexOf("```\n") + 4, -"\n```".length)).join("");
  const expected = [`run busybox ${cmd} on local`, `*Command:* \`${cmd}\``].map(showInvisible).join("\n");
  assert.ok(unescapeMrkdwn(body) === expected, "every character, once, in order");
});

test("a short command stays on the card alone; the confirm card points below itself", () => {
  const card = { ...gate, summary: "run busybox echo hi on local", preview: ["*Command:* `echo hi`"] };
  assert.deepEqual(renderGateOverflow(card), []);
  assert.doesNotMatch(JSON.stringify(renderGateCard(card)), /full command/);
  const confirm = renderGateCard({
    ...card,
    gate: "confirm",
    summary: `exec web ${"x".repeat(400)}`,
    preview: [`*Command:* \`${"x".repeat(400)}\``],
  });
  assert.match(JSON.stringify(confirm), /full command in the next message/);
});

test("job cards, gate cards and notifications carry no live special mention or link from user or engine text", () => {
  const cards = [
    renderCard({
      jobId: "j-1",
      summary: `run busybox echo ${hostile} on local`,
      userId: "U0OPER",
      host: "local",
      state: "failed",
      status: `Docker: ${hostile}`,
      lines: 1,
      elapsedMs: 10,
      note: hostile,
      tail: [hostile],
    }),
    renderGateCard({ ...gate, summary: `grant admin ${hostile}`, preview: [`*Reason:* ${escapeMrkdwn(hostile)}`] }),
    renderGateCard({ ...gate, summary: `grant admin ${hostile}`, preview: [`*Reason:* ${hostile}`], outcome: hostile }),
    renderNotification({
      host: "local",
      id: "abc",
      image: hostile,
      headline: noticeHeadline({ container: hostile, host: "local", headline: hostile }),
      count: 1,
      firstAt: 0,
      lastAt: 0,
      startedBy: "U0OPER",
      logsAction: "{}",
      restartAction: "{}",
    }),
  ];
  for (const c of cards) {
    const texts = [c.text, ...JSON.stringify(c.blocks).matchAll(/"text":"((?:[^"\\]|\\.)*)"/g)].map(String);
    for (const t of texts) assert.doesNotMatch(t, /<!(?:channel|here|everyone|subteam\^S0EVIL)|<http/, t);
  }
  assert.match(JSON.stringify(cards[1]?.blocks), /<!subteam\^S0LEADS>/, "the policy's approver group is still pinged");
});
