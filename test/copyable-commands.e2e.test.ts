import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  cardText,
  eventually,
  findCard,
  isFinished,
  removeOwnContainers,
  startBerth,
  testImage,
  threadLines,
} from "./support/berth-harness.ts";
import { SEED, SlackFake } from "./support/slack-fake.ts";

// Card titles show the command shell-quoted, so a long-press copy sends the same thing again; a title cut to fit
// says so, and the job's thread starts with the full command (issue 14, item 6).

let fake: SlackFake;
let berth: Awaited<ReturnType<typeof startBerth>>;

before(async () => {
  fake = await SlackFake.start();
  berth = await startBerth(fake);
});

after(async () => {
  if (berth) await removeOwnContainers(berth.berth.store);
  await berth?.stop();
  await fake?.stop();
});

const finishedCard = (summary: string, after = "") =>
  eventually(`the finished card of ${summary}`, () => {
    const c = findCard(fake, SEED.incidentChannel, summary);
    return c && c.ts !== after && isFinished(c) ? c : undefined;
  });

/** The text of a section block as a person reads it: Slack's entities decoded. */
const headline = (card: { blocks?: unknown[] }) => {
  const block = card.blocks?.[0] as { text?: { text?: string } } | undefined;
  return (block?.text?.text ?? "").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
};

test("a run card's title shows the command quoted, and the title copied back runs the same thing", async () => {
  const title = `run ${testImage} sh -c 'for i in 1 2 3; do echo $i; done' on local`;
  await berth.command(`run ${testImage} sh -c 'for i in 1 2 3; do echo $i; done'`);
  const card = await finishedCard(title);
  assert.match(headline(card), new RegExp(`^:white_check_mark: \\*${title.replace(/[$()*+.?[\\\]^{|}]/g, "\\$&")}\\* · `));
  assert.deepEqual(threadLines(fake, SEED.incidentChannel, card.ts), ["1", "2", "3"]);
  assert.ok(
    !fake.thread(SEED.incidentChannel, card.ts).some((m) => m.text.startsWith("Full command")),
    "a title that fits has no full command",
  );

  // What a long-press copies: the title, less where it ran.
  await berth.command(title.replace(/ on local$/, ""));
  const again = await finishedCard(title, card.ts);
  assert.deepEqual(threadLines(fake, SEED.incidentChannel, again.ts), ["1", "2", "3"]);
});

test("a long command's title is cut with an ellipsis and the job's thread starts with the full command", async () => {
  const pad = "x".repeat(400);
  await berth.command(`run ${testImage} sh -c "echo begin; true ${pad}; echo it\\'s done"`);
  const card = await finishedCard(`run ${testImage} sh -c 'echo begin; true xxx`);
  assert.match(cardText(card), /Exited with code 0/);
  assert.match(headline(card), /x… \(full command in thread\)\* · /);
  assert.doesNotMatch(headline(card), /it.s done/, "the end of the command is not on the card");
  const replies = fake.thread(SEED.incidentChannel, card.ts);
  const full = `run ${testImage} sh -c 'echo begin; true ${pad}; echo it\\'\\''s done' on local`;
  assert.equal(replies[0]?.text, `Full command:\n\`\`\`\n${full}\n\`\`\``, "the first reply");
  assert.deepEqual(threadLines(fake, SEED.incidentChannel, card.ts), ["begin", "it's done"]);
  assert.ok(!cardText(card).includes("Full log"), "the full command is not output: two lines need no full log");
});
