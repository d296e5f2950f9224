/**
 * A hand-written Block Kit validator for the subset berth emits, with Slack's limits (docs/reference/slack-platform.md §0, §5.1). It
 * returns Slack-style messages — "[ERROR] <what> [json-pointer:/blocks/N/…]" — the strings that come back in
 * `response_metadata.messages` with `invalid_blocks`. It is pure, so bot unit tests can run it on their own.
 *
 * Slack publishes no machine-readable schema; the wording of "too long", "too many" and "missing" follows responses
 * observed from Slack. Unknown block or element types get "failed to match all allowed schemas". Block types the
 * fake does not model in depth (file, video, table, …) are accepted as long as they are objects; `rich_text`
 * is modelled down to its inline elements.
 */
import { isJsonObject, type Json, type JsonObject } from "./slack-fake-json.ts";

export const BLOCK_LIMITS = {
  messageBlocks: 50,
  surfaceBlocks: 100, // modals and App Home
  sectionText: 3000,
  sectionFields: 10,
  sectionFieldText: 2000,
  headerText: 150,
  contextElements: 10,
  actionsElements: 25,
  buttonText: 75,
  buttonValue: 2000,
  url: 3000,
  actionId: 255,
  blockId: 255,
  altText: 2000,
  markdownTotal: 12_000,
  /**
   * Text in all of a message's blocks: past it chat.postMessage answers `msg_blocks_too_long` (undocumented; Slack's
   * word in slackapi/bolt-js#2509 is "12,000 text characters with a buffer for block containers").
   */
  blocksText: 12_000,
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
  selectOptions: 100,
  optionText: 75,
  optionValue: 150,
  placeholder: 150,
  overflowOptions: 5,
  choiceOptions: 10, // checkboxes, radio_buttons
  inputLabel: 2000,
} as const;

const tooLong = (ptr: string, max: number) => `[ERROR] must be less than ${max + 1} characters [json-pointer:${ptr}]`;
const tooMany = (ptr: string, max: number) => `[ERROR] no more than ${max} items allowed [json-pointer:${ptr}]`;
const tooFew = (ptr: string, min: number) => `[ERROR] must provide at least ${min} items [json-pointer:${ptr}]`;
const missing = (ptr: string, field: string) => `[ERROR] missing required field: ${field} [json-pointer:${ptr}]`;
const empty = (ptr: string) => `[ERROR] must be more than 0 characters [json-pointer:${ptr}]`;
const noSchema = (ptr: string) => `[ERROR] failed to match all allowed schemas [json-pointer:${ptr}]`;
const notOneOf = (ptr: string, allowed: readonly string[]) =>
  `[ERROR] must be one of the following: ${allowed.join(", ")} [json-pointer:${ptr}]`;

/** Slack's wording, for the view checks of slack-fake-views.ts. */
export const blockErrors = { tooLong, tooMany, missing, empty, noSchema } as const;

/** Block types accepted without deep validation (the fake only needs to not reject them). */
const SHALLOW_BLOCKS = new Set(["file", "video", "table", "context_actions", "call"]);

export interface ValidateBlocksOptions {
  /** JSON pointer of the array, `/blocks` for messages, `/view/blocks` for views. */
  pointer?: string;
  maxBlocks?: number;
}

/** Validates a `blocks` value; an empty result means Slack would accept it. */
export function validateBlocks(blocks: Json | undefined, options: ValidateBlocksOptions = {}): string[] {
  const ptr = options.pointer ?? "/blocks";
  const max = options.maxBlocks ?? BLOCK_LIMITS.messageBlocks;
  if (!Array.isArray(blocks)) return [noSchema(ptr)];
  const errors: string[] = [];
  if (blocks.length > max) errors.push(tooMany(ptr, max));
  let markdownTotal = 0;
  blocks.forEach((block, i) => {
    const at = `${ptr}/${i}`;
    if (!isJsonObject(block) || typeof block.type !== "string") {
      errors.push(noSchema(at));
      return;
    }
    checkString(block, "block_id", at, BLOCK_LIMITS.blockId, errors);
    if (block.type === "markdown" && typeof block.text === "string") {
      markdownTotal += block.text.length;
      if (markdownTotal > BLOCK_LIMITS.markdownTotal) errors.push(tooLong(`${at}/text`, BLOCK_LIMITS.markdownTotal));
    }
    validateBlock(block, at, errors);
  });
  return errors;
}

function validateBlock(block: JsonObject, at: string, errors: string[]): void {
  switch (block.type) {
    case "section": {
      if (block.text === undefined && block.fields === undefined) errors.push(missing(at, "text"));
      if (block.text !== undefined) textObject(block.text, `${at}/text`, BLOCK_LIMITS.sectionText, false, errors);
      if (block.fields !== undefined) {
        const fields = arrayOf(block.fields, `${at}/fields`, 1, BLOCK_LIMITS.sectionFields, errors);
        fields.forEach((f, j) => {
          textObject(f, `${at}/fields/${j}`, BLOCK_LIMITS.sectionFieldText, false, errors);
        });
      }
      if (block.accessory !== undefined) element(block.accessory, `${at}/accessory`, errors);
      return;
    }
    case "header":
      if (block.text === undefined) errors.push(missing(at, "text"));
      else textObject(block.text, `${at}/text`, BLOCK_LIMITS.headerText, true, errors);
      return;
    case "context": {
      const elements = arrayOf(block.elements, `${at}/elements`, 1, BLOCK_LIMITS.contextElements, errors);
      elements.forEach((e, j) => {
        const p = `${at}/elements/${j}`;
        if (isJsonObject(e) && e.type === "image") imageElement(e, p, errors);
        else textObject(e, p, BLOCK_LIMITS.sectionText, false, errors);
      });
      return;
    }
    case "actions": {
      const elements = arrayOf(block.elements, `${at}/elements`, 1, BLOCK_LIMITS.actionsElements, errors);
      elements.forEach((e, j) => {
        element(e, `${at}/elements/${j}`, errors);
      });
      return;
    }
    case "divider":
      return;
    case "image":
      imageElement(block, at, errors);
      if (block.title !== undefined) textObject(block.title, `${at}/title`, BLOCK_LIMITS.altText, true, errors);
      return;
    case "markdown":
      if (typeof block.text !== "string") errors.push(missing(at, "text"));
      return;
    case "input":
      // Modals and Home tabs only; a label and exactly one element (docs/reference/slack-platform.md §5.3).
      if (block.label === undefined) errors.push(missing(at, "label"));
      else textObject(block.label, `${at}/label`, BLOCK_LIMITS.inputLabel, true, errors);
      if (block.hint !== undefined) textObject(block.hint, `${at}/hint`, BLOCK_LIMITS.inputLabel, true, errors);
      if (block.element === undefined) errors.push(missing(at, "element"));
      else element(block.element, `${at}/element`, errors);
      return;
    case "rich_text":
      arrayOf(block.elements, `${at}/elements`, 1, Number.MAX_SAFE_INTEGER, errors).forEach((e, j) => {
        richTextObject(e, `${at}/elements/${j}`, errors);
      });
      return;
    default:
      if (typeof block.type === "string" && SHALLOW_BLOCKS.has(block.type)) return;
      errors.push(noSchema(at));
  }
}

/**
 * The parts of a `rich_text` block (docs.slack.dev/reference/block-kit/blocks/rich-text-block and the element pages it
 * links): sections, quotes and preformatted text hold inline elements, a list holds sections. Preformatted text takes
 * only `text` and `link` ("An array of text or link elements"; others are refused in practice too). Slack documents
 * no length limit for rich text: its text counts toward the message's `msg_blocks_too_long` budget instead.
 */
const RICH_TEXT_INLINE = new Set([
  "text",
  "link",
  "emoji",
  "user",
  "usergroup",
  "channel",
  "broadcast",
  "date",
  "team",
  "color",
  "attachment_mention",
  "canvas",
  "canvas_user_mention",
  "canvas_message_unfurl",
  "citation",
  "file",
  "list_record",
  "message_mention",
  "salesforce_data_field",
  "tag",
  "work_object_mention",
  "workflow_mention",
]);
const PREFORMATTED_INLINE = new Set(["text", "link"]);
/** Fields an inline element cannot go without (the rest of each element page is optional). */
const INLINE_REQUIRED: Readonly<Record<string, readonly string[]>> = {
  text: ["text"],
  link: ["url"],
  emoji: ["name"],
  user: ["user_id"],
  usergroup: ["usergroup_id"],
  channel: ["channel_id"],
  broadcast: ["range"],
  team: ["team_id"],
  color: ["value"],
};

function richTextObject(value: Json, at: string, errors: string[]): void {
  if (!isJsonObject(value) || typeof value.type !== "string") {
    errors.push(noSchema(at));
    return;
  }
  const inline = (allowed: ReadonlySet<string>) =>
    arrayOf(value.elements, `${at}/elements`, 0, Number.MAX_SAFE_INTEGER, errors).forEach((e, j) => {
      richTextInline(e, `${at}/elements/${j}`, allowed, errors);
    });
  switch (value.type) {
    case "rich_text_section":
    case "rich_text_quote":
      inline(RICH_TEXT_INLINE);
      break;
    case "rich_text_preformatted":
      inline(PREFORMATTED_INLINE);
      if (value.language !== undefined && typeof value.language !== "string") errors.push(noSchema(`${at}/language`));
      break;
    case "rich_text_list":
      if (value.style !== "bullet" && value.style !== "ordered") errors.push(notOneOf(`${at}/style`, ["bullet", "ordered"]));
      arrayOf(value.elements, `${at}/elements`, 1, Number.MAX_SAFE_INTEGER, errors).forEach((e, j) => {
        if (isJsonObject(e) && e.type === "rich_text_section") richTextObject(e, `${at}/elements/${j}`, errors);
        else errors.push(noSchema(`${at}/elements/${j}`));
      });
      break;
    default:
      errors.push(noSchema(at));
      return;
  }
  if (value.border !== undefined && value.border !== 0 && value.border !== 1) errors.push(notOneOf(`${at}/border`, ["0", "1"]));
}

function richTextInline(value: Json, at: string, allowed: ReadonlySet<string>, errors: string[]): void {
  if (!isJsonObject(value) || typeof value.type !== "string" || !allowed.has(value.type)) {
    errors.push(noSchema(at));
    return;
  }
  for (const field of INLINE_REQUIRED[value.type] ?? []) {
    if (value[field] === undefined) errors.push(missing(at, field));
    else if (typeof value[field] !== "string") errors.push(noSchema(`${at}/${field}`));
  }
  if (value.type === "broadcast" && typeof value.range === "string" && !["here", "channel", "everyone"].includes(value.range)) {
    errors.push(notOneOf(`${at}/range`, ["here", "channel", "everyone"]));
  }
  if (value.style !== undefined && !isJsonObject(value.style)) errors.push(noSchema(`${at}/style`));
}

/**
 * Characters of text in a message's blocks, every `text` string at any depth: what Slack holds against
 * `BLOCK_LIMITS.blocksText` before it answers `msg_blocks_too_long`.
 */
export function blocksTextLength(value: Json | undefined): number {
  if (Array.isArray(value)) return value.reduce<number>((sum, v) => sum + blocksTextLength(v), 0);
  if (!isJsonObject(value)) return 0;
  let sum = 0;
  for (const [key, v] of Object.entries(value)) sum += key === "text" && typeof v === "string" ? v.length : blocksTextLength(v);
  return sum;
}

/** Interactive and non-interactive block elements (buttons, selects, overflow, images, …). */
function element(value: Json, at: string, errors: string[]): void {
  if (!isJsonObject(value) || typeof value.type !== "string") {
    errors.push(noSchema(at));
    return;
  }
  checkString(value, "action_id", at, BLOCK_LIMITS.actionId, errors);
  if (value.confirm !== undefined) confirmObject(value.confirm, `${at}/confirm`, errors);
  switch (value.type) {
    case "button":
      if (value.text === undefined) errors.push(missing(at, "text"));
      else textObject(value.text, `${at}/text`, BLOCK_LIMITS.buttonText, true, errors);
      checkString(value, "value", at, BLOCK_LIMITS.buttonValue, errors);
      checkString(value, "url", at, BLOCK_LIMITS.url, errors);
      checkString(value, "accessibility_label", at, BLOCK_LIMITS.buttonText, errors);
      if (value.style !== undefined && value.style !== "primary" && value.style !== "danger") {
        errors.push(notOneOf(`${at}/style`, ["primary", "danger"]));
      }
      return;
    case "static_select":
    case "multi_static_select":
      placeholder(value, at, errors);
      if (value.options === undefined && value.option_groups === undefined) errors.push(missing(at, "options"));
      if (value.options !== undefined) options(value.options, `${at}/options`, BLOCK_LIMITS.selectOptions, errors);
      if (value.option_groups !== undefined) {
        const groups = arrayOf(value.option_groups, `${at}/option_groups`, 1, BLOCK_LIMITS.selectOptions, errors);
        groups.forEach((g, j) => {
          if (isJsonObject(g)) options(g.options, `${at}/option_groups/${j}/options`, BLOCK_LIMITS.selectOptions, errors);
          else errors.push(noSchema(`${at}/option_groups/${j}`));
        });
      }
      return;
    case "overflow":
      options(value.options, `${at}/options`, BLOCK_LIMITS.overflowOptions, errors);
      return;
    case "checkboxes":
    case "radio_buttons":
      options(value.options, `${at}/options`, BLOCK_LIMITS.choiceOptions, errors);
      return;
    case "image":
      imageElement(value, at, errors);
      return;
    case "users_select":
    case "multi_users_select":
    case "conversations_select":
    case "multi_conversations_select":
    case "channels_select":
    case "multi_channels_select":
    case "external_select":
    case "multi_external_select":
    case "datepicker":
    case "timepicker":
    case "datetimepicker":
    case "plain_text_input":
    case "number_input":
    case "email_text_input":
    case "url_text_input":
    case "rich_text_input":
    case "file_input":
    case "workflow_button":
      placeholder(value, at, errors);
      return;
    default:
      errors.push(noSchema(at));
  }
}

function textObject(value: Json, at: string, max: number, plainOnly: boolean, errors: string[]): void {
  const types = plainOnly ? ["plain_text"] : ["plain_text", "mrkdwn"];
  if (!isJsonObject(value) || typeof value.type !== "string" || !types.includes(value.type)) {
    errors.push(noSchema(at));
    return;
  }
  if (typeof value.text !== "string") errors.push(missing(at, "text"));
  else if (value.text.length === 0) errors.push(empty(`${at}/text`));
  else if (value.text.length > max) errors.push(tooLong(`${at}/text`, max));
}

function imageElement(value: JsonObject, at: string, errors: string[]): void {
  if (typeof value.alt_text !== "string") errors.push(missing(at, "alt_text"));
  else if (value.alt_text.length > BLOCK_LIMITS.altText) errors.push(tooLong(`${at}/alt_text`, BLOCK_LIMITS.altText));
  if (value.image_url === undefined && value.slack_file === undefined) errors.push(missing(at, "image_url"));
  checkString(value, "image_url", at, BLOCK_LIMITS.url, errors);
}

function confirmObject(value: Json, at: string, errors: string[]): void {
  if (!isJsonObject(value)) {
    errors.push(noSchema(at));
    return;
  }
  const parts: [string, number, boolean][] = [
    ["title", BLOCK_LIMITS.confirmTitle, true],
    ["text", BLOCK_LIMITS.confirmText, false],
    ["confirm", BLOCK_LIMITS.confirmButton, true],
    ["deny", BLOCK_LIMITS.confirmButton, true],
  ];
  for (const [key, max, plainOnly] of parts) {
    const part = value[key];
    if (part === undefined) errors.push(missing(at, key));
    else textObject(part, `${at}/${key}`, max, plainOnly, errors);
  }
  if (value.style !== undefined && value.style !== "primary" && value.style !== "danger") {
    errors.push(notOneOf(`${at}/style`, ["primary", "danger"]));
  }
}

function options(value: Json | undefined, at: string, max: number, errors: string[]): void {
  arrayOf(value, at, 1, max, errors).forEach((option, j) => {
    const p = `${at}/${j}`;
    if (!isJsonObject(option)) {
      errors.push(noSchema(p));
      return;
    }
    if (option.text === undefined) errors.push(missing(p, "text"));
    else textObject(option.text, `${p}/text`, BLOCK_LIMITS.optionText, false, errors);
    if (typeof option.value !== "string") errors.push(missing(p, "value"));
    else if (option.value.length > BLOCK_LIMITS.optionValue) errors.push(tooLong(`${p}/value`, BLOCK_LIMITS.optionValue));
  });
}

function placeholder(value: JsonObject, at: string, errors: string[]): void {
  if (value.placeholder !== undefined) {
    textObject(value.placeholder, `${at}/placeholder`, BLOCK_LIMITS.placeholder, true, errors);
  }
}

/** Checks an array's presence and size; returns its items (possibly empty) so callers can go on validating. */
function arrayOf(value: Json | undefined, at: string, min: number, max: number, errors: string[]): Json[] {
  if (value === undefined) {
    const slash = at.lastIndexOf("/");
    errors.push(missing(at.slice(0, slash), at.slice(slash + 1)));
    return [];
  }
  if (!Array.isArray(value)) {
    errors.push(noSchema(at));
    return [];
  }
  if (value.length < min) errors.push(tooFew(at, min));
  if (value.length > max) errors.push(tooMany(at, max));
  return value;
}

function checkString(obj: JsonObject, key: string, at: string, max: number, errors: string[]): void {
  const v = obj[key];
  if (v === undefined) return;
  if (typeof v !== "string") errors.push(noSchema(`${at}/${key}`));
  else if (v.length > max) errors.push(tooLong(`${at}/${key}`, max));
}
