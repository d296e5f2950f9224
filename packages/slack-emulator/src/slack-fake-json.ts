/**
 * JSON values and request-body parsing for the Slack fake. Slack's Web API accepts form bodies (with some fields
 * holding JSON strings), JSON bodies and, for uploads, multipart forms; everything is parsed here into plain JSON.
 */
import type { IncomingMessage } from "node:http";

export type Json = null | boolean | number | string | Json[] | JsonObject;
export type JsonObject = { [key: string]: Json };

/** Form fields that @slack/web-api JSON-encodes (non-scalar arguments). */
const JSON_FORM_FIELDS = ["blocks", "attachments", "files", "view", "metadata"] as const;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** JSON.parse without `any`: undefined when the text is not JSON. */
export function tryParseJson(text: string): Json | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    return toJson(parsed);
  } catch {
    return undefined;
  }
}

function toJson(value: unknown): Json {
  if (value === null || typeof value === "boolean" || typeof value === "number" || typeof value === "string") {
    return value;
  }
  if (Array.isArray(value)) return value.map(toJson);
  if (typeof value === "object") {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value)) out[k] = toJson(v);
    return out;
  }
  return null;
}

/** A string argument; numbers are accepted as Slack does (form bodies only carry strings anyway). */
export function argString(args: JsonObject, key: string): string | undefined {
  const v = args[key];
  if (typeof v === "string") return v;
  if (typeof v === "number") return String(v);
  return undefined;
}

/** A numeric argument given as a number (JSON body) or a decimal string (form body). */
export function argNumber(args: JsonObject, key: string): number | undefined {
  const v = args[key];
  if (typeof v === "number") return v;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}

export function argBool(args: JsonObject, key: string): boolean {
  const v = args[key];
  return v === true || v === 1 || v === "true" || v === "1";
}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

export interface ParsedArgs {
  args: JsonObject;
  /** JSON-carrying fields whose value did not parse (e.g. `blocks` → invalid_blocks_format). */
  badJson: Set<string>;
  /** A body that could not be read at all (`invalid_json`, `invalid_form_data`). */
  error?: string;
}

/** Parses a Web API request body (form, JSON or multipart) plus query-string arguments. */
export async function parseApiArgs(raw: Buffer, contentType: string, query: URLSearchParams): Promise<ParsedArgs> {
  const args: JsonObject = Object.fromEntries(query);
  const badJson = new Set<string>();
  const type = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
  if (raw.length === 0) return { args, badJson };

  if (type === "application/json") {
    const body = tryParseJson(raw.toString("utf8"));
    if (!isJsonObject(body)) return { args, badJson, error: "invalid_json" };
    Object.assign(args, body);
  } else if (type === "multipart/form-data") {
    const form = await parseMultipart(raw, contentType);
    if (!form) return { args, badJson, error: "invalid_form_data" };
    for (const [key, value] of form) args[key] = typeof value === "string" ? value : await value.text();
  } else {
    for (const [key, value] of new URLSearchParams(raw.toString("utf8"))) args[key] = value;
  }

  for (const field of JSON_FORM_FIELDS) {
    const value = args[field];
    if (typeof value !== "string") continue;
    const parsed = tryParseJson(value);
    if (parsed === undefined) badJson.add(field);
    else args[field] = parsed;
  }
  return { args, badJson };
}

/** Parses multipart/form-data with the platform's own parser (undici's Response#formData). */
export async function parseMultipart(raw: Buffer, contentType: string): Promise<FormData | undefined> {
  try {
    return await new Response(new Uint8Array(raw), { headers: { "content-type": contentType } }).formData();
  } catch {
    return undefined;
  }
}

/**
 * The bytes of an upload (files v2 step 2): Slack accepts raw bytes or a multipart form. @slack/web-api sends a
 * multipart form whose file field is named `body`; any other single file field is accepted too.
 */
export async function readUploadBytes(raw: Buffer, contentType: string): Promise<Buffer | undefined> {
  if (!contentType.toLowerCase().startsWith("multipart/form-data")) return raw;
  const form = await parseMultipart(raw, contentType);
  if (!form) return undefined;
  let entry = form.get("body") ?? form.get("file");
  if (entry === null) {
    for (const [, value] of form) {
      if (typeof value !== "string") {
        entry = value;
        break;
      }
    }
  }
  if (entry === null) return undefined;
  return typeof entry === "string" ? Buffer.from(entry, "utf8") : Buffer.from(await entry.arrayBuffer());
}
