import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { BerthError } from "./errors.ts";
import type { Policy } from "./policy.ts";
import { diffPolicies, type PolicyDiff } from "./policy-diff.ts";
import { parsePolicyText } from "./policy-file.ts";

/** One look at the policy file: its bytes and what stat said about them. */
export type FileSnapshot = { text: string; mtimeMs: number; size: number };

export type ReloadResult =
  /** Validated and in force; `diff` says what changed, and whether it widened the rules or removed a gate. */
  | { type: "applied"; path: string; sha256: string; diff: PolicyDiff }
  /** Invalid: the previous policy stays in force, and berth would refuse to start with this file. */
  | { type: "refused"; path: string; sha256: string | undefined; reason: string }
  /** Still being written (two reads a settle interval apart differed every time): nothing applied, the next change retries. */
  | { type: "unsettled"; path: string }
  /** The file's content means the same policy as the one in force (a touch, a comment): nothing to apply. */
  | { type: "unchanged"; path: string };

export type ReloadDeps = {
  path: string;
  current: () => Policy;
  apply: (policy: Policy) => void;
  /** Reads the file (default: the file system). Throws when it cannot. */
  read?: (path: string) => FileSnapshot;
  /** Waits the settle interval (default: a timer); tests hand in a function that changes the file instead of sleeping. */
  wait?: (ms: number) => Promise<void>;
  /** Between the two reads that must agree (ms). An editor that writes in place finishes well within this. */
  settleMs?: number;
  /** Read pairs tried before giving up until the next change. */
  attempts?: number;
};

export const readSnapshot = (path: string): FileSnapshot => {
  const before = statSync(path);
  const text = readFileSync(path, "utf8");
  return { text, mtimeMs: before.mtimeMs, size: before.size };
};

const same = (a: FileSnapshot, b: FileSnapshot) => a.text === b.text && a.mtimeMs === b.mtimeMs && a.size === b.size;
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * Reloads the policy only from a file that is complete and stable: after a change is seen, it is read until two reads a
 * settle interval apart agree (content, mtime and size), and only those bytes are validated and applied. An editor
 * that saves in place is caught mid-write instead of a truncated file loosening the rules; one that renames a complete
 * file into place settles at once. Calls run one at a time; changes seen meanwhile are folded into one more run.
 */
export function createPolicyReloader(deps: ReloadDeps) {
  const read = deps.read ?? readSnapshot;
  const wait = deps.wait ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const settleMs = deps.settleMs ?? 500;
  const attempts = deps.attempts ?? 5;

  async function stableText(): Promise<string | undefined> {
    let previous = read(deps.path);
    for (let i = 0; i < attempts; i++) {
      await wait(settleMs);
      const next = read(deps.path);
      if (same(previous, next)) return next.text;
      previous = next;
    }
    return undefined;
  }

  async function once(): Promise<ReloadResult> {
    const { path } = deps;
    let text: string | undefined;
    try {
      text = await stableText();
    } catch (error) {
      return { type: "refused", path, sha256: undefined, reason: `Cannot read the policy file ${path}: ${(error as Error).message}` };
    }
    if (text === undefined) return { type: "unsettled", path };
    let next: Policy;
    try {
      next = parsePolicyText(text, path);
    } catch (error) {
      return { type: "refused", path, sha256: sha256(text), reason: error instanceof BerthError ? error.message : String(error) };
    }
    const diff = diffPolicies(deps.current(), next);
    if (!diff.changes.length && JSON.stringify(next) === JSON.stringify(deps.current())) return { type: "unchanged", path };
    deps.apply(next);
    return { type: "applied", path, sha256: sha256(text), diff };
  }

  let running: Promise<ReloadResult> | undefined;
  let again: Promise<ReloadResult> | undefined;
  /** A change was seen: reload once the file is stable. Resolves with what happened. */
  function changed(): Promise<ReloadResult> {
    if (!running) {
      running = once().finally(() => {
        running = undefined;
      });
      return running;
    }
    const rerun = () => {
      again = undefined;
      return changed();
    };
    again ??= running.then(rerun, rerun);
    return again;
  }
  return { changed };
}
