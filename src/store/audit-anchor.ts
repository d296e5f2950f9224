import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from "node:fs";
import { z } from "zod";
import { BerthError } from "../core/errors.ts";
import type { AuditHead, ChainProblem, ChainReport } from "./audit-log.ts";

/**
 * The head of the audit chain written down outside the database, where whoever can write berth.db cannot reach:
 * a later log shorter than an anchor, or with another hash at an anchored record, was tampered with.
 */
export type AuditAnchor = { seq: number; hash: string; keyId: string | null; at: number };

const AnchorLine = z.object({
  seq: z.number().int().positive(),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  keyId: z.string().nullable(),
  at: z.iso.datetime(),
});

export const anchorLine = (a: AuditAnchor) =>
  `${JSON.stringify({ seq: a.seq, hash: a.hash, keyId: a.keyId, at: new Date(a.at).toISOString() })}\n`;

/** Appends one anchor as a JSON line. O_APPEND: every write lands at the end, even with another writer; mode 0600. */
export function appendAnchor(path: string, anchor: AuditAnchor): void {
  const fd = openSync(path, "a", 0o600);
  try {
    writeSync(fd, anchorLine(anchor));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Every anchor in a file, oldest first. Lines that are not anchors (a write cut short by a crash) are counted, not fatal. */
export function readAnchors(path: string): { anchors: AuditAnchor[]; skipped: number } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (cause) {
    throw new BerthError("NOT_FOUND", `Cannot read the audit anchor file ${path}: ${(cause as Error).message}.`, { cause });
  }
  const anchors: AuditAnchor[] = [];
  let skipped = 0;
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    let parsed: ReturnType<typeof AnchorLine.safeParse>;
    try {
      parsed = AnchorLine.safeParse(JSON.parse(line));
    } catch {
      skipped++;
      continue;
    }
    if (parsed.success) anchors.push({ ...parsed.data, at: Date.parse(parsed.data.at) });
    else skipped++;
  }
  return { anchors, skipped };
}

/** How a log compares with its anchors: the first anchor it no longer agrees with, if any. */
export function compareWithAnchors(
  head: AuditHead | undefined,
  at: (seq: number) => AuditHead | undefined,
  anchors: readonly AuditAnchor[],
): { anchor: AuditAnchor; problem: string } | undefined {
  for (const anchor of anchors) {
    const when = new Date(anchor.at).toISOString();
    if (!head || head.seq < anchor.seq) {
      return {
        anchor,
        problem: `the log ends at record ${head?.seq ?? 0}, but record ${anchor.seq} was anchored at ${when}: records were cut off its end`,
      };
    }
    if (at(anchor.seq)?.hash !== anchor.hash) {
      return { anchor, problem: `record ${anchor.seq} no longer has the hash anchored at ${when}: the log was rewritten` };
    }
  }
  return undefined;
}

/** Somewhere an anchor is written: the anchor file, the operators' audit channel. */
export type AnchorSink = { name: string; write(anchor: AuditAnchor): Promise<unknown> | unknown };

export type AnchorOutcome =
  | { type: "anchored"; anchor: AuditAnchor; failed: { sink: string; error: unknown }[] }
  | { type: "unchanged"; head: AuditHead | undefined }
  /** The chain does not hold since the last anchor (or cannot be checked): nothing was anchored. */
  | { type: "refused"; problem: ChainProblem };

/**
 * Anchors the audit head: on a timer, at shutdown and on demand. It first checks the chain from the last anchor (the
 * whole chain the first time), so a head is never anchored over records that were tampered with; and it skips a head
 * that has not moved. Calls run one at a time.
 */
export function createAnchorer(deps: {
  check: (from?: { seq: number; hash: string }) => ChainReport | Promise<ChainReport>;
  sinks: readonly AnchorSink[];
  clock: () => number;
  /** The last anchor written before this process started (the anchor file's last line). */
  last?: AuditAnchor | undefined;
}) {
  let last: { seq: number; hash: string } | undefined = deps.last;
  let queue: Promise<unknown> = Promise.resolve();

  async function once(): Promise<AnchorOutcome> {
    const report = await deps.check(last);
    if (report.problem) return { type: "refused", problem: report.problem };
    const head = report.head;
    if (!head || (last && head.seq === last.seq && head.hash === last.hash)) return { type: "unchanged", head };
    const anchor: AuditAnchor = { seq: head.seq, hash: head.hash, keyId: head.keyId, at: deps.clock() };
    const failed: { sink: string; error: unknown }[] = [];
    for (const sink of deps.sinks) {
      try {
        await sink.write(anchor);
      } catch (error) {
        failed.push({ sink: sink.name, error });
      }
    }
    // A sink that failed gets this head again next time; the others then hold it twice, which is harmless.
    if (!failed.length) last = { seq: anchor.seq, hash: anchor.hash };
    return { type: "anchored", anchor, failed };
  }

  return {
    anchor(): Promise<AnchorOutcome> {
      const run = queue.then(once, once);
      queue = run.catch(() => undefined);
      return run;
    },
  };
}
