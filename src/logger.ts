import { pino } from "pino";

/** Structured JSON logs on stdout, one object per line: `msg` is the event, the fields sit beside it. */
export type Log = (event: string, fields?: Record<string, unknown>) => void;

type Level = "debug" | "info" | "warn" | "error";

/**
 * Field names whose values are never written, at any of the first three levels of a logged object: callers should
 * not pass secrets, and this catches the ones that slip through (a whole Slack config, an Azure host plan, a TLS
 * connection).
 */
export const secretFields = [
  "token",
  "botToken",
  "appToken",
  "signingSecret",
  "authorization",
  "password",
  "secret",
  "clientSecret",
  "key",
  "privateKey",
  "customData",
  "adminPassword",
  "setupCommand",
] as const;
const redactPaths = secretFields.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]);

/** An error as its name, message, code and stack (and its cause, the same way), wherever it sits in the fields. */
function serializeError(error: Error, depth = 0): Record<string, unknown> {
  const { code } = error as { code?: unknown };
  return {
    name: error.name,
    message: error.message,
    ...(code !== undefined && { code }),
    stack: error.stack,
    ...(error.cause !== undefined && {
      cause: error.cause instanceof Error && depth < 5 ? serializeError(error.cause, depth + 1) : error.cause,
    }),
  };
}

/**
 * Names that hold secrets in any spelling: `SLACK_BOT_TOKEN` in a logged environment, `clientSecret`, `x-api-key`.
 * Pino's redact paths only match exact names at fixed depths; this catches the rest.
 */
const secretName = /token|secret|passw(or)?d|authorization|customdata|(^|[_-])key$|privatekey|^key$/i;
const censor = "[redacted]";

/** Errors made plain and secret-named values censored, at any depth; the caller's objects are never changed. */
function clean(value: unknown, depth = 0): unknown {
  if (value instanceof Error) return serializeError(value);
  if (value === null || typeof value !== "object" || depth > 6) return value;
  if (Array.isArray(value)) {
    const out = value.map((v) => clean(v, depth + 1));
    return out.some((c, i) => c !== value[i]) ? out : value;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) return value;
  let changed = false;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const c = secretName.test(k) && v !== undefined && v !== null && v !== "" ? censor : clean(v, depth + 1);
    changed ||= c !== v;
    out[k] = c;
  }
  return changed ? out : value;
}

export function createLogger(level: Level, write: (line: string) => void = (l) => process.stdout.write(l)) {
  const logger = pino(
    {
      level,
      base: undefined,
      messageKey: "msg",
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: redactPaths, censor },
      // Errors are already plain objects (clean); pino's own `err` serializer would reshape them again.
      serializers: { err: (e: unknown) => e },
    },
    { write },
  );
  const at =
    (l: Level): Log =>
    (event, fields = {}) =>
      // msg first, as before pino: people and scripts read (and grep) the event before its fields.
      logger[l]({ msg: event, ...(clean(fields) as Record<string, unknown>) });
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
