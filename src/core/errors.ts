import { type Message, plainText } from "./message.ts";

/**
 * The one error class berth throws for unexpected failures. Expected outcomes (a usage error, a denial) are values,
 * not exceptions. `message` is written for the person in Slack: what went wrong and what to do next.
 */
export const errorCodes = [
  "NOT_FOUND", // a container, job or host that does not exist (or is not berth's)
  "CONFLICT", // the thing exists but is in the wrong state (already stopped, name taken)
  "UNAVAILABLE", // an engine or Slack cannot be reached
  "TIMEOUT",
  "INVALID", // input that got past parsing but the engine refused (bad image reference, bad command)
  "CANCELLED",
  "CONFIG", // operator configuration (policy, hosts, env) is wrong
  "CAPACITY", // the cloud has no room for this size here (another size or region)
  "QUOTA", // the subscription's quota would be exceeded (ask for more, or a smaller size)
  "THROTTLED", // the cloud asked us to slow down and retries ran out
  "FORBIDDEN", // berth's own cloud identity lacks a permission (the operator fixes its role)
  "INTERNAL",
] as const;
export type ErrorCode = (typeof errorCodes)[number];

export class BerthError extends Error {
  readonly code: ErrorCode;
  /** What the person is shown, with its commands and names as parts; `message` is the same as plain text (for logs). */
  readonly text: Message;
  constructor(code: ErrorCode, message: string | Message, options?: { cause?: unknown }) {
    const text = typeof message === "string" ? [message] : message;
    super(plainText(text), options);
    this.name = "BerthError";
    this.code = code;
    this.text = text;
  }
}

/** What a person may be shown for any error: our own messages verbatim, anything else as an internal failure. */
export function publicMessage(error: unknown, ref?: string): Message {
  if (error instanceof BerthError && error.code !== "INTERNAL") return error.text;
  return [`Something failed on berth's side${ref ? ` (ref ${ref})` : ""}. The operator can find the details in berth's logs.`];
}
