import assert from "node:assert/strict";
import { test } from "node:test";
import type { types } from "@slack/bolt";
import { deadlineReached } from "../../src/container-deadlines.ts";
import { hostReminder } from "../../src/core/host-lifetime.ts";
import { channel, code, command, msg, strong, tone, user, usergroup } from "../../src/core/message.ts";
import { quoteArgs } from "../../src/core/shell-quote.ts";
import { tokenize } from "../../src/core/tokenize.ts";
import { noticeHeadline } from "../../src/notifications.ts";
import {
  renderCard,
  renderGateCard,
  renderHostPicker,
  renderHostReminder,
  renderJobOverflow,
  renderNotification,
  toMrkdwn,
} from "../../src/slack/render.ts";

// Inline snapshots: each rendered message as the lines a reader would see, the whole expected text in the test.

type Rendered = { text: string; blocks: types.KnownBlock[] };

/** A rendered message as text: its notification text, then one line per block (buttons with their action and value). */
function snapshot(r: Rendered): string {
  const lines = [`text: ${r.text}`];
  for (const b of r.blocks) {
    if (b.type === "section") lines.push(`section: ${b.text?.text}`);
    else if (b.type === "context") lines.push(`context: ${b.elements.map((e) => ("text" in e ? e.text : "")).join(" | ")}`);
    else if (b.type === "actions") {
      const buttons = b.elements.map((e) => {
        if (e.type !== "button") return e.type;
        const extra = [e.style, e.confirm && `confirm "${e.confirm.title?.text}: ${e.confirm.confirm?.text}/${e.confirm.deny?.text}"`];
        return `[${e.text.text}] ${e.action_id}=${e.value}${extra
          .filter(Boolean)
          .map((x) => ` ${x}`)
          .join("")}`;
      });
      lines.push(`actions ${b.block_id}: ${buttons.join(", ")}`);
    } else lines.push(b.type);
  }
  return lines.join("\n");
}

test("a message with every part kind: text escaped, code, strong, mentions, the configured slash, a tone", () => {
  const m = msg`${tone("success")} ${user("U0OPER")} ran ${code("a`b")} in ${channel("C0INCIDENT")}: ${strong("done")} <!here> & ${command("ps -a")}`;
  assert.equal(toMrkdwn(m, "/ops"), ":white_check_mark: <@U0OPER> ran `aˋb` in <#C0INCIDENT>: *done* &lt;!here&gt; &amp; `/ops ps -a`");
  // What is not an ID is never a mention; a user group is one only with a group ID.
  assert.equal(toMrkdwn([user("<!channel>"), " ", channel("#general")]), "&lt;!channel&gt; #general");
  assert.equal(toMrkdwn([usergroup("S0LEADS"), " ", usergroup("<!here>")]), "<!subteam^S0LEADS> &lt;!here&gt;");
});

test("the job card: headline with the requester, status, facts, tail, note and the Stop button", () => {
  const card = renderCard({
    jobId: "j-1a2b3c",
    summary: "run busybox:1 on local",
    userId: "U0OPER",
    host: "local",
    state: "running",
    status: "Running",
    lines: 1234,
    elapsedMs: 65_000,
    tail: ["hello", "world"],
    note: "a note",
  });
  assert.equal(
    snapshot(card),
    `text: run busybox:1 on local — Running
section: :arrow_forward: *run busybox:1 on local* · <@U0OPER>
section: Running
context: job \`j-1a2b3c\` · host local · 1,234 lines · 1m 5s
section: \`\`\`
hello
world
\`\`\`
context: a note
actions job:j-1a2b3c: [Stop] berth_stop=j-1a2b3c danger`,
  );
  const done = renderCard({
    jobId: "j-1a2b3c",
    summary: "logs api on local",
    userId: "U0OPER",
    host: "local",
    state: "succeeded",
    status: "Done",
    lines: 1,
    elapsedMs: 1000,
  });
  assert.equal(
    snapshot(done),
    `text: logs api on local — Done
section: :white_check_mark: *logs api on local* · <@U0OPER>
section: Done
context: job \`j-1a2b3c\` · host local · 1 line · 1.0 s`,
  );
});

/** A running job's card for `summary`. */
const runningCard = (summary: string) =>
  renderCard({ jobId: "j-1", summary, userId: "U0OPER", host: "local", state: "running", status: "Running", lines: 0, elapsedMs: 0 });

test("a job card's title shows the command shell-quoted, as it can be sent again", () => {
  const summary = `run ${quoteArgs(["busybox:1", "sh", "-c", "for i in 1 2 3; do echo $i; done"])} on local`;
  const card = runningCard(summary);
  assert.equal(
    card.blocks[0]?.type === "section" && card.blocks[0].text?.text,
    ":arrow_forward: *run busybox:1 sh -c 'for i in 1 2 3; do echo $i; done' on local* · <@U0OPER>",
  );
  assert.deepEqual(renderJobOverflow(summary), [], "nothing in the thread: the title holds it all");
});

test("a long command's title is cut with an ellipsis; the full command, every character, goes in the thread", () => {
  const script = Array.from({ length: 400 }, (_, i) => `echo 'step ${i}' && echo "<${i}>"`).join("; ");
  const summary = `run ${quoteArgs(["busybox:1", "sh", "-c", script])} on local`;
  const card = runningCard(summary);
  const headline = card.blocks[0]?.type === "section" ? (card.blocks[0].text?.text ?? "") : "";
  assert.match(headline, /^:arrow_forward: \*run busybox:1 sh -c 'echo '\\''step 0'\\'' .*… \(full command in thread\)\* · <@U0OPER>$/);
  assert.ok(headline.length < 500, `${headline.length} characters`);
  assert.match(card.text, /… \(full command in thread\) — Running$/);
  const thread = renderJobOverflow(summary);
  assert.ok(thread.length >= 2, `${thread.length} replies`);
  assert.ok(thread.every((m, i) => m.length <= 3000 && m.startsWith(`Full command (part ${i + 1} of ${thread.length}):\n\`\`\`\n`)));
  const body = thread.map((m) => m.slice(m.indexOf("```\n") + 4, -"\n```".length)).join("");
  const full = body.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  assert.equal(full, summary, "every character, once, in order");
  const words = tokenize(full);
  assert.deepEqual(words.ok && words.words.slice(1, -2), ["busybox:1", "sh", "-c", script], "copied back, it is the same command");
});

test("the gate card: who asks, the preview, the rule, who can approve, and Approve/Deny with a confirm when dangerous", () => {
  const pending = {
    id: "r-1a2b3c",
    requester: "U0OPER",
    summary: "rm -f api on local",
    expiresAt: Date.UTC(2026, 0, 2, 3, 4),
    gateRule: "destroy-needs-approval",
  };
  const approval = renderGateCard({
    ...pending,
    gate: "approval",
    preview: ["remove container `api`"],
    approvers: [[user("U0APPR")]],
    dangerous: true,
  });
  assert.equal(
    snapshot(approval),
    `text: Approval needed: rm -f api on local
section: :raised_hand: <@U0OPER> asks for approval: *rm -f api on local*
section: remove container \`api\`
context: request \`r-1a2b3c\` · rule \`destroy-needs-approval\` · expires 03:04 UTC · can approve: <@U0APPR>
actions gate:r-1a2b3c: [Approve] berth_approve=r-1a2b3c primary confirm "Are you sure?: Approve/Back", [Deny] berth_deny=r-1a2b3c`,
  );
  const confirm = renderGateCard({ ...pending, gate: "confirm" });
  assert.equal(
    snapshot(confirm),
    `text: Confirm: rm -f api on local
section: :question: Confirm before it runs: *rm -f api on local*
context: request \`r-1a2b3c\` · rule \`destroy-needs-approval\` · expires 03:04 UTC
actions gate:r-1a2b3c: [Run] berth_approve=r-1a2b3c primary, [Cancel] berth_deny=r-1a2b3c`,
  );
  const decided = renderGateCard({ ...pending, gate: "approval", outcome: "Approved by <@U0APPR>." });
  assert.equal(
    snapshot(decided),
    `text: Approval needed: rm -f api on local — Approved by <@U0APPR>.
section: :ballot_box_with_check: <@U0OPER> asks for approval: *rm -f api on local*
context: request \`r-1a2b3c\` · rule \`destroy-needs-approval\`
section: Approved by <@U0APPR>.`,
  );
});

test("the host picker: the question, one button per host carrying the remembered request", () => {
  assert.equal(
    snapshot(renderHostPicker({ id: "h-1a2b3c", text: "Which host?", hosts: ["local", "win"] })),
    `text: Which host? local, win
section: Which host?
actions pick:h-1a2b3c: [local] berth_host:local=h-1a2b3c local, [win] berth_host:win=h-1a2b3c win`,
  );
});

test("a crash notification: what happened, how often, who started it, and Logs/Restart", () => {
  const card = renderNotification({
    host: "local",
    id: "abc123",
    image: "busybox:1",
    headline: noticeHeadline({ container: "api", host: "local", headline: "exited with code 3" }),
    count: 3,
    firstAt: Date.UTC(2026, 0, 2, 3, 4, 5),
    lastAt: Date.UTC(2026, 0, 2, 3, 9, 7),
    startedBy: "U0OPER",
    logsAction: '{"kind":"container.logs"}',
    restartAction: '{"kind":"container.restart"}',
  });
  assert.equal(
    snapshot(card),
    `text: api on local exited with code 3 (3×)
section: :rotating_light: \`api\` on local exited with code 3 · 3× since 03:04:05, last 03:09:07 UTC
context: container abc123 · image \`busybox:1\` · started by <@U0OPER>
actions notify:local:abc123: [Logs] berth_notify_logs={"kind":"container.logs"}, [Restart] berth_notify_restart={"kind":"container.restart"}`,
  );
});

test("a host's lifetime reminder, with its Extend button", () => {
  const reminder = hostReminder(
    { name: "build-1", expiresAt: Date.UTC(2026, 0, 2, 4, 0), requester: "U0OPER" },
    Date.UTC(2026, 0, 2, 3, 30),
  );
  assert.equal(
    snapshot(renderHostReminder(reminder, { name: "build-1", extendBy: "8h" }, "/ops")),
    `text: :alarm_clock: <@U0OPER> \`build-1\` is removed in 30m 0s (2026-01-02 04:00 UTC). Extend it if you still need it.
section: :alarm_clock: <@U0OPER> \`build-1\` is removed in 30m 0s (2026-01-02 04:00 UTC). Extend it if you still need it.
actions host-extend:build-1: [Extend by 8h] berth_host_extend=build-1`,
  );
});

test("a container stopped at its deadline: the commands that follow use the configured slash", () => {
  assert.equal(
    toMrkdwn(deadlineReached({ host: "local", name: "api", id: "abc123", at: "2026-01-02T03:04:05.000Z" }), "/ops"),
    ":alarm_clock: Stopped `api` (abc123) on local: its run-time limit ended at 2026-01-02T03:04:05.000Z. Its logs stay: `/ops logs api`; remove it with `/ops rm api`.",
  );
});
