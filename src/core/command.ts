import type { z } from "zod";
import { type Action, ActionSchema } from "./action.ts";
import { dockerOnlyOption } from "./docker-flags.ts";
import { code, command, join, type Message, msg } from "./message.ts";
import { suggest } from "./suggest.ts";

/** One docker-CLI-style option. `flag` takes no value; `value` takes one; `list` may repeat (`-e A=1 -e B=2`). */
export type OptionSpec = {
  long: string;
  short?: string | undefined;
  type: "flag" | "value" | "list";
  valueName?: string | undefined;
  help: string;
};

/** What the option parser hands to a command's schema: options by long name, plus positional words in `_`. */
export type Argv = { _: string[]; [option: string]: string | boolean | string[] };

export type CommandSpec<Args extends z.ZodType> = {
  name: string;
  aliases?: readonly string[];
  summary: string;
  usage: string;
  /** Shown in help, and every one is asserted to parse by the test suite. */
  examples: readonly string[];
  options: readonly OptionSpec[];
  /** false for `run`/`exec`: options end at the first positional, so `run img sh -c "ls -l"` keeps `-c`. */
  interspersed: boolean;
  args: Args;
  toAction: (args: z.output<Args>) => Action;
  /**
   * True when the positional words typed leave out what the command acts on (a container, a service, a host), which is
   * then added at the end: the pipeline offers the candidates as taps instead of a usage error (core/target-picker.ts).
   */
  picks?: (positionals: readonly string[]) => boolean;
};

/**
 * A parse that failed may name `fixes`: the whole command line's words as berth guesses they were meant (a command or
 * option one typo away), offered as a tap instead of a retype (core/did-you-mean.ts).
 */
export type Parsed =
  | { ok: true; action: Action }
  | {
      ok: false;
      message: Message;
      usage?: Message | undefined;
      fixes?: readonly (readonly string[])[] | undefined;
      /** The command with what it acts on added, when only that was left out (see CommandSpec.picks). */
      complete?: ((target: string) => Parsed) | undefined;
    };

export type Command = Omit<CommandSpec<z.ZodType>, "args" | "toAction" | "picks"> & {
  parse(words: readonly string[]): Parsed;
};

/** Declares a command; the argument type stays inside the closure so the registry can hold any mix of commands. */
export function defineCommand<Args extends z.ZodType>(spec: CommandSpec<Args>): Command {
  const { args, toAction, picks, ...meta } = spec;
  const fail = (message: Message): Parsed => ({ ok: false, message, usage: usageOf(meta) });
  const command: Command = {
    ...meta,
    parse(words) {
      const argv = parseArgv(words, meta);
      if (!argv.ok) {
        const fixes = argv.fixes?.map((fixed) => [meta.name, ...fixed]);
        return { ...fail(argv.message), ...(fixes?.length && { fixes }) };
      }
      const result = args.safeParse(argv.argv);
      if (!result.success) {
        const failed = fail(describeIssues(result.error, meta));
        return picks?.(argv.argv._) ? { ...failed, complete: (target) => command.parse([...words, target]) } : failed;
      }
      const action = ActionSchema.safeParse(toAction(result.data));
      if (!action.success) return fail(describeIssues(action.error, meta));
      return { ok: true, action: action.data };
    },
  };
  return command;
}

type ArgvResult = { ok: true; argv: Argv } | { ok: false; message: Message; fixes?: string[][] };

function parseArgv(words: readonly string[], cmd: Pick<CommandSpec<never>, "name" | "options" | "interspersed">): ArgvResult {
  const argv: Argv = { _: [] };
  const byLong = new Map(cmd.options.map((o) => [o.long, o]));
  const byShort = new Map(cmd.options.filter((o) => o.short).map((o) => [o.short as string, o]));
  const set = (o: OptionSpec, value: string | true) => {
    if (o.type === "list") argv[o.long] = [...((argv[o.long] as string[] | undefined) ?? []), String(value)];
    else argv[o.long] = value;
  };
  /** `at`: where the unknown option is in `words` when it is a whole word (not one letter of `-fa`), with any `=value`. */
  const unknown = (word: string, at?: { index: number; rest: string }): ArgvResult => {
    const docker = dockerOnlyOption(cmd.name, word);
    if (docker) return { ok: false, message: docker };
    const names = cmd.options.flatMap((o) => [`--${o.long}`, ...(o.short ? [`-${o.short}`] : [])]);
    const close = suggest(word, names).slice(0, 2);
    const fixes = at ? close.map((c) => words.map((w, k) => (k === at.index ? `${c}${at.rest}` : w))) : [];
    const hint = close.length
      ? msg` Did you mean ${join(
          close.map((c) => [code(c)]),
          " or ",
        )}?`
      : [];
    return { ok: false, message: msg`${code(cmd.name)} has no option ${code(word)}.${hint}`, ...(fixes.length && { fixes }) };
  };
  let optionsDone = false;
  for (let i = 0; i < words.length; i++) {
    const word = words[i] as string;
    if (optionsDone || word === "-" || !word.startsWith("-") || /^-\d/.test(word)) {
      argv._.push(word);
      if (!cmd.interspersed) optionsDone = true;
      continue;
    }
    if (word === "--") {
      optionsDone = true;
      continue;
    }
    const takeValue = (inline: string | undefined): string | undefined => {
      if (inline !== undefined) return inline;
      const next = words[i + 1];
      if (next === undefined) return undefined;
      i++;
      return next;
    };
    if (word.startsWith("--")) {
      const eq = word.indexOf("=");
      const name = eq === -1 ? word.slice(2) : word.slice(2, eq);
      const o = byLong.get(name);
      if (!o) return eq === -1 ? unknown(word, { index: i, rest: "" }) : unknown(word.slice(0, eq), { index: i, rest: word.slice(eq) });
      if (o.type === "flag") {
        const inline = eq === -1 ? undefined : word.slice(eq + 1);
        if (inline !== undefined && !/^(true|false)$/.test(inline)) {
          return { ok: false, message: msg`${code(`--${name}`)} is a switch; write ${code(`--${name}`)} alone.` };
        }
        argv[o.long] = inline !== "false";
        continue;
      }
      const value = takeValue(eq === -1 ? undefined : word.slice(eq + 1));
      if (value === undefined) return missing(o, `--${name}`);
      set(o, value);
      continue;
    }
    // A cluster of short options (`-fa`), where the last may take a value (`-e A=1`, `-eA=1`, `-n5`).
    for (let k = 1; k < word.length; k++) {
      const letter = word[k] as string;
      const o = byShort.get(letter);
      if (!o) return k === 1 ? unknown(word.slice(0, 2), word.length === 2 ? { index: i, rest: "" } : undefined) : unknown(`-${letter}`);
      if (o.type === "flag") {
        argv[o.long] = true;
        continue;
      }
      const rest = word.slice(k + 1);
      const value = takeValue(rest === "" ? undefined : rest.replace(/^=/, ""));
      if (value === undefined) return missing(o, `-${letter}`);
      set(o, value);
      break;
    }
  }
  return { ok: true, argv };
}

function missing(o: OptionSpec, shown: string): ArgvResult {
  return { ok: false, message: msg`${code(shown)} needs a value: ${code(`${shown} ${o.valueName ?? "VALUE"}`)}.` };
}

/** zod issues as one sentence each, naming the option or argument the person typed. */
function describeIssues(error: z.ZodError, cmd: Pick<CommandSpec<never>, "name" | "options">): Message {
  const messages = error.issues.map((issue) => {
    const head = issue.path[0];
    const option = cmd.options.find((o) => o.long === head);
    return option ? msg`${code(`--${option.long}`)}: ${issue.message}` : msg`${issue.message}`;
  });
  return msg`${code(cmd.name)}: ${join(messages, "; ")}`;
}

export function usageOf(cmd: Pick<CommandSpec<never>, "usage">): Message {
  return msg`Usage: ${command(cmd.usage)}`;
}

export type Registry = {
  readonly commands: readonly Command[];
  find(name: string): Command | undefined;
  suggest(name: string): string[];
};

/** The one list of commands. A name or alias claimed twice is a programming error, caught at start-up. */
export function createRegistry(commands: readonly Command[]): Registry {
  const byName = new Map<string, Command>();
  for (const c of commands) {
    for (const n of [c.name, ...(c.aliases ?? [])]) {
      const taken = byName.get(n);
      if (taken) throw new Error(`command collision: "${n}" is claimed by both "${taken.name}" and "${c.name}"`);
      byName.set(n, c);
    }
    const longs = new Set<string>();
    const shorts = new Set<string>();
    for (const o of c.options) {
      if (longs.has(o.long) || (o.short && shorts.has(o.short))) {
        throw new Error(`option collision in "${c.name}": --${o.long}${o.short ? ` / -${o.short}` : ""}`);
      }
      longs.add(o.long);
      if (o.short) shorts.add(o.short);
    }
  }
  return {
    commands,
    find: (name) => byName.get(name),
    suggest: (name) => suggest(name, [...byName.keys()]).slice(0, 3),
  };
}
