import { mkdir, open, rm, stat, truncate } from "node:fs/promises";
import { dirname } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import type { LogLine } from "../engines/ports.ts";
import { escapeMrkdwn, slackLimits } from "./limits.ts";
import { neutralizeMrkdwn } from "./mrkdwn-escape.ts";
import type { Outbox } from "./outbox.ts";
import { type OutputReply, renderOutput } from "./render-output.ts";
import type { ReadPattern } from "./upload-stream.ts";

export type ThreadOptions = {
  outbox: Outbox;
  channel: string;
  threadTs: string;
  /** Where every line is kept for the full-log upload; removed once the upload landed, kept until then. */
  spoolPath: string;
  filename: string;
  /** Most thread replies one job may post before the rest goes to the full log only. */
  maxMessages?: number;
  /** How long a line may wait for company before it is posted. */
  flushMs?: number;
  /** Lines kept for the card's live tail once the thread is full. */
  tailLines?: number;
  /**
   * Carry on the thread of a job a previous berth began: its spool is cut back to the `lines` lines the job's cursor
   * covers (the rest is read from the engine again), counting goes on from there, and the full log is uploaded at
   * the end (lines that were spooled but never posted are only in it).
   */
  resume?: { lines: number; messages: number } | undefined;
  /** Told how the full log's bytes were read for the upload (tests check it streams). */
  observeUpload?: (pattern: ReadPattern) => void;
};

export type ThreadResult = {
  lines: number;
  messages: number;
  capped: boolean;
  failedPosts: number;
  uploaded: boolean;
  uploadError?: string | undefined;
  /**
   * Set when the full log's first upload failed and berth keeps trying (with backoff, from the spool it keeps until
   * then): settles once it landed (`uploaded`) or berth gave up (`uploadError`), with `result` updated.
   */
  uploadPending?: Promise<void> | undefined;
  /** Lines that went only to the full log after `drain`. */
  drained: number;
  /** Lines that could not be written to the spool (a full or failing disk): they are missing from the full log. */
  unspooled: number;
  /** Why the spool stopped taking lines, with its path: `ENOSPC … /data/spool/…log`. */
  spoolError?: string | undefined;
};

const chunkChars = slackLimits.outputReplyChars;
const pieceChars = Math.floor(chunkChars / 5);
/** Replies a job's thread gets before a drain sends the rest of its output to the full log only. */
const drainAfter = 3;
/**
 * Characters of output a thread takes (each line redacted just before) between two turns of the event loop. Lines
 * that arrive in one chunk are handed over without the loop turning, so without this a burst of long lines would hold
 * up everything else berth does, acks included (Slack gives an ack 3 s).
 */
const charsPerTurn = 64 * 1024;

/**
 * A job's thread: lines are coalesced into preformatted replies of up to ~4,000 characters (render-output.ts), posted
 * through the outbox (so at Slack's pace), while every line also goes to a spool file. When the thread reaches its cap, or
 * anything could not be posted, the full log is uploaded into the thread at the end: no line is silently lost.
 * `write` resolves when the line is accepted; it waits while a full chunk is still being posted (backpressure).
 */
export function createThread(options: ThreadOptions) {
  const maxMessages = options.maxMessages ?? 100;
  const flushMs = options.flushMs ?? 1000;
  const tailSize = options.tailLines ?? 12;
  let buffer: string[] = [];
  let bufferChars = 0;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  let spool: string[] = [];
  let spoolChars = 0;
  const resume = options.resume;
  /** Bytes the spool file holds in whole lines: a write the disk cut short is truncated back to this. */
  let spooledBytes = 0;
  /** A storage fault not yet told in the thread. */
  let untoldFault: string | undefined;
  const spoolFailed = (error: unknown, lines: number) => {
    result.unspooled += lines;
    if (result.spoolError !== undefined) return;
    const e = error as NodeJS.ErrnoException;
    result.spoolError = `${e.code ?? "error"} on ${options.spoolPath}`;
    untoldFault = storageFaultNotice(e, options.spoolPath);
  };
  // A resumed job's spool is cut back to the lines its cursor covers; what follows is read from the engine again.
  let spoolWrite: Promise<void> = mkdir(dirname(options.spoolPath), { recursive: true, mode: 0o700 })
    .then(async () => {
      if (resume) spooledBytes = await cutSpool(options.spoolPath, resume.lines);
    })
    .then(
      () => undefined,
      (error: unknown) => spoolFailed(error, 0),
    );
  const tail: string[] = [];
  const result: ThreadResult = {
    lines: resume?.lines ?? 0,
    messages: resume?.messages ?? 0,
    capped: false,
    failedPosts: 0,
    uploaded: false,
    drained: 0,
    unspooled: 0,
  };
  let drainNote: string | undefined;
  let sinceTurn = 0;
  /** Replies posted by `preface`: in `result.messages`, but not output. */
  let prefaced = 0;

  /**
   * Appends what is buffered to the spool. A full or failing disk (ENOSPC, EIO, EROFS…) must not end berth and every
   * job with it: the spool stops there (cut back to its last whole line), the lines it could not take are counted, and
   * the thread says why once; the job goes on posting to Slack.
   */
  const flushSpool = () => {
    if (!spool.length) return spoolWrite;
    const batch = spool;
    spool = [];
    spoolChars = 0;
    spoolWrite = spoolWrite.then(async () => {
      if (result.spoolError !== undefined) {
        result.unspooled += batch.length;
        return;
      }
      const data = Buffer.from(`${batch.join("\n")}\n`);
      try {
        // A job's output may hold what the redactor did not know to mask: berth's alone, like the database.
        const file = await open(options.spoolPath, "a", 0o600);
        try {
          // writeFile, not write: one write() may take only part of the bytes on a nearly full disk without failing.
          await file.writeFile(data);
        } finally {
          await file.close();
        }
        spooledBytes += data.length;
      } catch (error) {
        spoolFailed(error, batch.length);
        await truncate(options.spoolPath, spooledBytes).catch(() => undefined);
      }
    });
    return spoolWrite;
  };

  const postText = (reply: string | OutputReply) =>
    options.outbox.post(options.channel, { ...(typeof reply === "string" ? { text: reply } : reply), thread_ts: options.threadTs }).then(
      () => {
        result.messages++;
      },
      () => {
        result.failedPosts++;
      },
    );

  /** Posts one reply as the thread's only call in flight (replies land in order). */
  const say = async (reply: string | OutputReply): Promise<void> => {
    inFlight = postText(reply);
    await inFlight;
    inFlight = undefined;
  };

  /** Sends the buffered lines as one reply; only one reply is in flight at a time. */
  const flush = async (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    while (inFlight) await inFlight;
    if (!buffer.length) return;
    const lines = buffer;
    buffer = [];
    bufferChars = 0;
    if (result.messages + result.failedPosts >= maxMessages - 1) {
      result.capped = true;
      await say(
        `:scissors: This thread has reached berth's limit of ${maxMessages} messages. The rest of the output goes to the full log, uploaded here when the job ends; the card shows the latest lines.`,
      );
    } else {
      await say(renderOutput(lines, chunkChars));
    }
  };

  /** Says once in the thread (even a full one) that the spool failed: the operator's fix is in it. */
  const tellFault = async (): Promise<void> => {
    const text = untoldFault;
    if (text === undefined) return;
    untoldFault = undefined;
    await flush();
    await say(text);
  };

  /** Returns a promise only when the spool is flushed, so the per-line path allocates none otherwise. */
  const keep = (text: string): Promise<void> | undefined => {
    spool.push(text);
    spoolChars += text.length;
    if (tail.push(text) > tailSize) tail.shift();
    // Waiting for the disk here keeps memory flat when output arrives faster than it can be written.
    return spoolChars > 256 * 1024 ? flushSpool() : undefined;
  };

  return {
    result,
    /** The newest lines, for the card once the thread is full. */
    tail: (): readonly string[] => tail,
    async write(line: LogLine): Promise<void> {
      sinceTurn += line.text.length + 1;
      if (sinceTurn >= charsPerTurn) {
        sinceTurn = 0;
        await nextTurn();
      }
      result.lines++;
      const spooling = keep(line.text);
      if (spooling) await spooling;
      if (untoldFault !== undefined) await tellFault();
      // After a drain request the thread still gets its first few replies (short output stays readable in Slack).
      if (drainNote !== undefined && result.messages + result.failedPosts >= drainAfter) {
        result.drained++;
        return;
      }
      if (result.capped) return;
      // Long lines are split so that each piece fits one reply even after escaping (`&` becomes 5 characters).
      for (let rest = line.text; ; rest = rest.slice(pieceChars)) {
        const piece = rest.slice(0, pieceChars);
        const size = escapeMrkdwn(piece).length + 1;
        if (bufferChars + size > chunkChars) await flush();
        if (result.capped) return;
        buffer.push(piece);
        bufferChars += size;
        if (rest.length <= pieceChars) break;
      }
      if (!timer) timer = setTimeout(() => void flush(), flushMs);
    },
    /** Writes the spooled lines to disk: every line written so far is then in the spool file. */
    sync: (): Promise<void> => flushSpool(),
    /** berth is shutting down: posts what is buffered and writes the spool, which stays for the next berth. */
    async pause(): Promise<void> {
      await flush();
      await flushSpool();
    },
    /** Once the thread has its first few replies, further lines go only to the full log; `close` says how many. */
    drain(note: string): void {
      drainNote = note;
    },
    /**
     * berth's own first replies, before any output: the full command of a card whose title was shortened. They count
     * toward the thread's limit, not as output (a short output posted once still needs no full log).
     */
    async preface(texts: readonly string[]): Promise<void> {
      await flush();
      for (const text of texts) {
        await say(text);
        prefaced++;
      }
    },
    /** A note from berth in the thread (not part of the container's output). */
    async notice(text: string): Promise<void> {
      await flush();
      if (!result.capped) {
        // Notices quote engines and Azure (errors, warnings): their markup is shown, never acted on.
        await say(neutralizeMrkdwn(text));
      }
    },
    /**
     * Posts what is left and uploads the full log when the thread does not hold all of it, streamed from the spool.
     * The spool is removed once the upload landed, and kept while it has not: when the first try fails, `close`
     * returns with `uploadPending` (the card can say so) and the outbox keeps trying with backoff.
     */
    async close(summary: string): Promise<ThreadResult> {
      await flush();
      await flushSpool();
      await tellFault();
      if (drainNote !== undefined && result.drained > 0 && !result.capped) {
        await say(neutralizeMrkdwn(`${drainNote} (${result.drained.toLocaleString("en")} more lines)`));
      }
      if (result.unspooled > 0) {
        await say(
          `:warning: ${result.unspooled.toLocaleString("en")} of ${result.lines.toLocaleString("en")} lines could not be written to berth's disk (${result.spoolError}): they are missing from the full log.`,
        );
      }
      // Notices alone (a host being made, a stream with no output) are all in the thread already: no empty file.
      const wanted =
        result.lines > 0 &&
        (result.capped ||
          result.failedPosts > 0 ||
          result.messages - prefaced > 1 ||
          result.drained > 0 ||
          result.unspooled > 0 ||
          resume !== undefined);
      if (!wanted) {
        await rm(options.spoolPath, { force: true });
        return result;
      }
      const size = await stat(options.spoolPath).then(
        (s) => s.size,
        () => 0,
      );
      if (size === 0) {
        result.uploadError = "no line could be written to berth's disk";
        return result;
      }
      const missing = result.unspooled ? ` (${result.unspooled.toLocaleString("en")} lines could not be kept on berth's disk)` : "";
      let retrying = (_reason: string) => {};
      const firstRetry = new Promise<"retrying">((resolve) => {
        retrying = () => resolve("retrying");
      });
      const upload = options.outbox
        .upload(
          options.channel,
          options.threadTs,
          {
            filename: options.filename,
            title: `Full log: ${summary}`,
            path: options.spoolPath,
            comment: `Full log, ${(result.lines - result.unspooled).toLocaleString("en")} lines${missing}.`,
          },
          { onRetry: (reason) => retrying(reason), ...(options.observeUpload && { observe: options.observeUpload }) },
        )
        .then(
          async () => {
            result.uploaded = true;
            result.uploadError = undefined;
            await rm(options.spoolPath, { force: true });
          },
          (error: unknown) => {
            // The spool stays: the log is not lost, and a later try (or an operator) can still send it.
            result.uploadError = (error as { data?: { error?: string } }).data?.error ?? (error as Error).message;
          },
        );
      if ((await Promise.race([upload.then(() => "settled" as const), firstRetry])) === "retrying") result.uploadPending = upload;
      return result;
    },
  };
}

/** What berth says in a job's thread when its spool cannot be written: what failed, where, and what fixes it. */
function storageFaultNotice(error: NodeJS.ErrnoException, path: string): string {
  const what =
    error.code === "ENOSPC" || error.code === "EDQUOT"
      ? "the disk is full"
      : error.code === "EROFS" || error.code === "EACCES" || error.code === "EPERM"
        ? "berth may not write there"
        : "the disk failed";
  const fix =
    error.code === "ENOSPC" || error.code === "EDQUOT"
      ? "free space on the volume that holds berth's data directory (`BERTH_DATA_DIR`), or give it a bigger one"
      : "make berth's data directory (`BERTH_DATA_DIR`) writable by berth, on a healthy volume";
  return `:warning: berth cannot keep this job's full log: ${what} (${escapeMrkdwn(error.code ?? "error")} writing \`${escapeMrkdwn(path)}\`). The output still comes to this thread; the full log will miss what could not be written. To fix: ${fix}.`;
}

export type Thread = ReturnType<typeof createThread>;

/** Cuts a spool file back to its first `lines` lines (a file with fewer is left as it is); resolves to its size. */
async function cutSpool(path: string, lines: number): Promise<number> {
  const file = await open(path, "r+").catch(() => undefined);
  if (!file) return 0;
  try {
    const chunk = Buffer.alloc(64 * 1024);
    let seen = 0;
    let offset = 0;
    for (;;) {
      if (seen === lines) {
        await file.truncate(offset);
        return offset;
      }
      const { bytesRead } = await file.read(chunk, 0, chunk.length, offset);
      if (bytesRead === 0) return offset;
      for (let i = 0; i < bytesRead; i++) {
        if (chunk[i] === 0x0a && ++seen === lines) {
          await file.truncate(offset + i + 1);
          return offset + i + 1;
        }
      }
      offset += bytesRead;
    }
  } finally {
    await file.close();
  }
}
