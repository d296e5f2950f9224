import { escapeMrkdwn } from "./mrkdwn-escape.ts";

// One escaping function for all of berth (src/mrkdwn-escape.ts); re-exported for the Slack layer's own users.
export { escapeMrkdwn };

/**
 * Slack's limits, in one place (docs: chat.postMessage, chat.update, Block Kit reference, rate-limit tiers).
 * Everything berth sends is cut to fit here rather than discovered through `msg_too_long` or `invalid_blocks`.
 */
export const slackLimits = {
  textChars: 4000,
  blocksPerMessage: 50,
  sectionChars: 3000,
  headerChars: 150,
  buttonTextChars: 75,
  buttonValueChars: 2000,
  /** Block Kit: buttons in one actions block are at most 25; a static select offers at most 100 options. */
  actionsElements: 25,
  selectOptions: 100,
  /** An option's text is at most 75 characters and its value at most 150. */
  optionTextChars: 75,
  optionValueChars: 150,
  contextElements: 10,
  /**
   * Text in all of a message's blocks together. Slack documents no limit for `rich_text` text (none per element or
   * per block: docs.slack.dev/reference/block-kit/blocks/rich-text-block), only 12,000 characters for all `markdown`
   * blocks of a payload (docs/reference/slack-platform.md §4.5); past about that much text in any blocks,
   * chat.postMessage answers `msg_blocks_too_long` (Slack's word in slackapi/bolt-js#2509: "12,000 text characters with
   * a buffer for block containers"; refusals seen below 12,000 in slackapi/bolt-js#2867). berth stays far under it.
   */
  blockTextChars: 12_000,
  /**
   * Output one thread reply holds: its `text` fallback (escaped, in a code fence) stays under `textChars`, and its
   * `rich_text_preformatted` copy (the same lines unescaped, never longer) far under `blockTextChars`.
   */
  outputReplyChars: 4000 - 100,
  /** chat.postMessage: about one message per second per channel (we leave a little margin). */
  postSpacingPerChannelMs: 1050,
  /**
   * chat.postMessage workspace cap: "several hundred per minute"; we stay under 280/min, split so that thread replies
   * (180/min) can never hold back new cards and answers (100/min) in a busy workspace.
   */
  postSpacingRepliesMs: Math.ceil(60_000 / 180),
  postSpacingTopLevelMs: Math.ceil(60_000 / 100),
  /** chat.update is Tier 3: 50 per minute for the whole workspace; we use at most 45. */
  updateSpacingMs: Math.ceil(60_000 / 45),
  /** files.getUploadURLExternal and files.completeUploadExternal are Tier 4 (100/min); an upload uses both. */
  uploadSpacingMs: Math.ceil(60_000 / 45),
} as const;

/** Cuts `text` to `max` characters, saying that it did. */
export function fit(text: string, max: number, note = "… (cut to fit Slack's limit)"): string {
  if (text.length <= max) return text;
  return text.slice(0, Math.max(0, max - note.length)) + note;
}

/** A code block whose escaped content fits in `max` characters including the fences. */
export function codeBlock(lines: readonly string[], max: number): string {
  const body = lines.map((l) => escapeMrkdwn(l).replace(/```/g, "`\u200b``")).join("\n");
  return `\`\`\`\n${fit(body, max - 8, "\n…")}\n\`\`\``;
}
