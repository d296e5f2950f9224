/**
 * `rich_text` blocks in the Slack fake: validated in depth like the other blocks berth sends (unknown element types,
 * a missing `text`), and the text of a message's blocks held to Slack's `msg_blocks_too_long` budget, through the
 * real WebClient.
 */
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { BLOCK_LIMITS, type Json, SEED, SlackFake, validateBlocks } from "@berth/slack-emulator";
import { type Logger, LogLevel, WebAPIPlatformError, WebClient } from "@slack/web-api";

const C = SEED.incidentChannel;

const quietLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  setLevel: () => {},
  getLevel: () => LogLevel.ERROR,
  setName: () => {},
};

const pre = (...elements: Json[]): Json => ({ type: "rich_text", elements: [{ type: "rich_text_preformatted", elements }] });
const text = (t: string): Json => ({ type: "text", text: t });

async function slackError(call: Promise<unknown>): Promise<WebAPIPlatformError> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof WebAPIPlatformError, `expected a platform error, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the call to fail");
}

describe("rich_text through the real WebClient", () => {
  let fake: SlackFake;
  let client: WebClient;
  before(async () => {
    fake = await SlackFake.start({ limits: "off" });
    client = new WebClient(fake.botToken, { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 }, logger: quietLogger });
  });
  after(() => fake.stop());
  beforeEach(() => fake.reset());

  test("a preformatted block is stored as sent, its text literal", async () => {
    const line = "<@U123> <!channel> ``` &amp; <http://evil|innocent>";
    const blocks = [pre(text(line))];
    assert.ok((await client.chat.postMessage({ channel: C, text: "fallback", blocks: blocks as never })).ok);
    assert.deepEqual(fake.messages(C).at(-1)?.blocks, blocks);
  });

  test("malformed rich text is invalid_blocks with Slack's JSON-pointer messages", async () => {
    const bad = await slackError(
      client.chat.postMessage({
        channel: C,
        text: "x",
        blocks: [
          pre({ type: "user", user_id: "U123" }, { type: "text" }),
          { type: "rich_text", elements: [{ type: "rich_text_table" }] },
        ] as never,
      }),
    );
    assert.equal(bad.data.error, "invalid_blocks");
    assert.deepEqual(bad.data.response_metadata?.messages, [
      "[ERROR] failed to match all allowed schemas [json-pointer:/blocks/0/elements/0/elements/0]",
      "[ERROR] missing required field: text [json-pointer:/blocks/0/elements/0/elements/1]",
      "[ERROR] failed to match all allowed schemas [json-pointer:/blocks/1/elements/0]",
    ]);
    assert.equal(fake.messages(C).length, 0, "rejected messages are not stored");
  });

  test("more block text than Slack takes in one message is msg_blocks_too_long, with nothing else said", async () => {
    const half = BLOCK_LIMITS.blocksText / 2;
    assert.ok(
      (
        await client.chat.postMessage({
          channel: C,
          text: "x",
          blocks: [pre(text("a".repeat(half))), pre(text("b".repeat(half)))] as never,
        })
      ).ok,
    );
    const over = await slackError(
      client.chat.postMessage({ channel: C, text: "x", blocks: [pre(text("a".repeat(half))), pre(text("b".repeat(half + 1)))] as never }),
    );
    assert.deepEqual(over.data, { ok: false, error: "msg_blocks_too_long", response_metadata: {} });
    assert.equal(fake.messages(C).length, 1);
  });
});

describe("validateBlocks on rich_text (pure)", () => {
  test("sections, quotes and lists hold inline elements; preformatted text holds only text and links", () => {
    const ok: Json = [
      {
        type: "rich_text",
        elements: [
          { type: "rich_text_section", elements: [text("hi "), { type: "user", user_id: "U1" }, { type: "emoji", name: "wave" }] },
          { type: "rich_text_quote", elements: [{ type: "broadcast", range: "here" }] },
          { type: "rich_text_list", style: "bullet", elements: [{ type: "rich_text_section", elements: [text("one")] }] },
          { type: "rich_text_preformatted", border: 0, elements: [text("$ ls"), { type: "link", url: "https://example.com" }] },
        ],
      },
    ];
    assert.deepEqual(validateBlocks(ok), []);
  });

  test("what Slack refuses: no elements, an unknown element, a list without its style, a bad border or range", () => {
    assert.deepEqual(validateBlocks([{ type: "rich_text" }]), ["[ERROR] missing required field: elements [json-pointer:/blocks/0]"]);
    assert.deepEqual(validateBlocks([{ type: "rich_text", elements: [] }]), [
      "[ERROR] must provide at least 1 items [json-pointer:/blocks/0/elements]",
    ]);
    assert.deepEqual(validateBlocks([{ type: "rich_text", elements: [{ type: "rich_text_preformatted" }] }]), [
      "[ERROR] missing required field: elements [json-pointer:/blocks/0/elements/0]",
    ]);
    assert.deepEqual(validateBlocks([pre({ type: "text", text: 7 })]), [
      "[ERROR] failed to match all allowed schemas [json-pointer:/blocks/0/elements/0/elements/0/text]",
    ]);
    assert.deepEqual(validateBlocks([pre({ type: "link" })]), [
      "[ERROR] missing required field: url [json-pointer:/blocks/0/elements/0/elements/0]",
    ]);
    assert.deepEqual(
      validateBlocks([
        {
          type: "rich_text",
          elements: [
            { type: "rich_text_list", elements: [text("not a section")] },
            { type: "rich_text_preformatted", border: 2, elements: [text("x")] },
            { type: "rich_text_section", elements: [{ type: "broadcast", range: "world" }, { type: "sparkle" }] },
          ],
        },
      ]),
      [
        "[ERROR] must be one of the following: bullet, ordered [json-pointer:/blocks/0/elements/0/style]",
        "[ERROR] failed to match all allowed schemas [json-pointer:/blocks/0/elements/0/elements/0]",
        "[ERROR] must be one of the following: 0, 1 [json-pointer:/blocks/0/elements/1/border]",
        "[ERROR] must be one of the following: here, channel, everyone [json-pointer:/blocks/0/elements/2/elements/0/range]",
        "[ERROR] failed to match all allowed schemas [json-pointer:/blocks/0/elements/2/elements/1]",
      ],
    );
  });
});
