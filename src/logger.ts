/** Structured JSON logs on stdout, one object per line. Callers pass fields, never tokens. */
export type Log = (event: string, fields?: Record<string, unknown>) => void;

const levels = { debug: 10, info: 20, warn: 30, error: 40 } as const;

export function createLogger(level: keyof typeof levels, write: (line: string) => void = (l) => process.stdout.write(l)) {
  const at =
    (l: keyof typeof levels): Log =>
    (event, fields = {}) => {
      if (levels[l] < levels[level]) return;
      write(`${JSON.stringify({ time: new Date().toISOString(), level: l, msg: event, ...fields }, replacer)}\n`);
    };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const { code } = value as { code?: unknown };
    return { name: value.name, message: value.message, ...(code !== undefined && { code }), stack: value.stack, cause: value.cause };
  }
  return value;
}
