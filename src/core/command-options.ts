import { z } from "zod";
import { maxContainers, minMemoryBytes } from "./action.ts";
import type { OptionSpec } from "./command.ts";
import { formatBytes, parseBytes, parseDuration } from "./duration.ts";
import { targetProblem } from "./mounts.ts";

/** Options and argument schemas that several commands share, so they read and fail the same way everywhere. */
export const hostOption: OptionSpec = {
  long: "host",
  short: "H",
  type: "value",
  valueName: "HOST",
  help: "the Docker host to use (the hosts command lists them); defaults to the channel's or the only host",
};

/** Exactly these positional arguments, each named in the message when missing or extra. */
export function positionals<const N extends readonly string[]>(names: N) {
  return z.array(z.string()).superRefine((words, ctx) => {
    const missingName = names[words.length];
    if (missingName !== undefined) ctx.addIssue({ code: "custom", message: `missing ${missingName}` });
    if (words.length > names.length) {
      ctx.addIssue({ code: "custom", message: `unexpected extra argument \`${words[names.length]}\`` });
    }
  }) as unknown as z.ZodType<{ [K in keyof N]: string }, string[]>;
}

/**
 * `CONTAINER [CONTAINER...]` as `docker stop a b c` takes them: at least one, a name typed twice counted once, at most
 * `maxContainers` (one card, one line each: a longer list is split over several commands, and the answer says so).
 */
export const containerNames = z.array(z.string()).transform((words, ctx) => {
  const names = [...new Set(words)];
  const [container, ...more] = names;
  if (container === undefined) {
    ctx.addIssue({ code: "custom", message: "missing CONTAINER" });
    return z.NEVER;
  }
  if (names.length > maxContainers) {
    ctx.addIssue({
      code: "custom",
      message: `${names.length} containers named, and one command takes at most ${maxContainers}: split them over several commands`,
    });
    return z.NEVER;
  }
  return { container, ...(more.length > 0 && { more }) };
});

/** At least `names.length` words; the rest are kept (a command line, for instance). */
export function leadingPositionals(names: readonly string[], restName: string) {
  return z.array(z.string()).superRefine((words, ctx) => {
    const missingName = names[words.length];
    if (missingName !== undefined) ctx.addIssue({ code: "custom", message: `missing ${missingName}` });
    if (restName.endsWith("!") && words.length === names.length) {
      ctx.addIssue({ code: "custom", message: `missing ${restName.slice(0, -1)}` });
    }
  });
}

export const flag = z.boolean().default(false);

export const durationOption = z
  .string()
  .optional()
  .transform((text, ctx) => {
    if (text === undefined) return undefined;
    const seconds = parseDuration(text);
    if (seconds === undefined || seconds <= 0) {
      ctx.addIssue({ code: "custom", message: `\`${text}\` is not a duration; write e.g. 30s, 5m, 1h30m` });
      return z.NEVER;
    }
    return seconds;
  });

/** `-e NAME=value`, repeated. Values may contain `=`; a bare name is refused (berth has no environment to copy). */
export const envOption = z
  .array(z.string())
  .default([])
  .transform((pairs, ctx) =>
    pairs.flatMap((pair) => {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(pair);
      if (!m) {
        ctx.addIssue({
          code: "custom",
          message: `\`${pair}\` is not NAME=value; write e.g. \`-e LOG_LEVEL=debug\` (names: letters, digits, _)`,
        });
        return [];
      }
      return [{ name: m[1] as string, value: m[2] as string }];
    }),
  );

/**
 * `-v NAME:/container/path[:ro|rw]`, repeated. NAME is a mount the operator defined in the policy; the policy resolves
 * it, and refuses (listing the names it offers) anything else, host paths included. No suffix: the mount's own mode.
 */
export const volumeOption = z
  .array(z.string())
  .default([])
  .transform((specs, ctx) =>
    specs.flatMap((spec) => {
      const m = /^([^:]+):([^:]+)(?::(ro|rw))?$/.exec(spec);
      if (!m) {
        ctx.addIssue({ code: "custom", message: `\`${spec}\` is not NAME:/container/path[:ro]; NAME is a mount the policy defines` });
        return [];
      }
      const [, name = "", target = "", mode] = m;
      const problem = targetProblem(target);
      if (problem) {
        ctx.addIssue({ code: "custom", message: `\`${spec}\`: ${problem}` });
        return [];
      }
      return [{ name, target, ...(mode && { readOnly: mode === "ro" }) }];
    }),
  );

/** `--memory SIZE`: at least Docker's minimum, since the engine reads 0 as "no limit" and refuses less than 6m. */
export const memoryOption = z
  .string()
  .optional()
  .transform((text, ctx) => {
    if (text === undefined) return undefined;
    const bytes = parseBytes(text);
    if (bytes === undefined) {
      const zero = /^0*(\.0*)?\s*[kmg]?(i?b)?$/i.test(text.trim()) && /\d/.test(text);
      ctx.addIssue({
        code: "custom",
        message: zero
          ? `\`${text}\` would mean no memory limit at all; ask for at least 6m`
          : `\`${text}\` is not a size; write e.g. 256m or 1g`,
      });
      return z.NEVER;
    }
    if (bytes < minMemoryBytes) {
      ctx.addIssue({ code: "custom", message: `${formatBytes(bytes)} is below Docker's minimum of 6m; ask for at least 6m` });
      return z.NEVER;
    }
    return bytes;
  });
