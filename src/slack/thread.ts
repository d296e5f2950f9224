import { mkdir, open, readFile, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import type { LogLine } from "../engines/ports.ts";
import { codeBlock, escapeMrkdwn, slackLimits } from "./limits.ts";
import { neutralizeMrkdwn } from "./mrkdwn-escape.ts";
import type { Outbox } from "./outbox.ts";

export type ThreadOptions = {
  outbox: Outbox;
  channel: string;
  threadTs: string;
  /** Where every line is kept for the full-log upload; removed after the upload. */
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
};

export type ThreadResult = {
  lines: number;
  messages: number;
  capped: boolean;
  failedPosts: number;
  uploaded: boolean;
  uploadError?: string | undefined;
  /** Lines that went only to the full log after `drain`. */
  drained: number;
};

const chunkChars = slackLimits.textChars - 100;
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
 * A job's thread: lines are coalesced into preformatted replies of up to ~4,000 characters, posted through the
 * outbox (so at Slack's pace), while every line also goes to a spool file. When the thread reaches its cap, or
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
  let spoolWrite: Promise<void> = mkdir(dirname(options.spoolPath), { recursive: true, mode: 0o700 }).then(() =>
    resume ? cutSpool(options.spoolPath, resume.lines) : undefined,
  );
  const tail: string[] = [];
  const result: ThreadResult = {
    lines: resume?.lines ?? 0,
    messages: resume?.messages ?? 0,
    capped: false,
    failedPosts: 0,
    uploaded: false,
    drained: 0,
  };
  let drainNote: string | undefined;
  let sinceTurn = 0;

  const flushSpool = () => {
    if (!spool.length) return spoolWrite;
    const data = `${spool.join("\n")}\n`;
    spool = [];
    spoolChars = 0;
    spoolWrite = spoolWrite.then(async () => {
      // A job's output may hold what the redactor did not know to mask: berth's alone, like the database.
      const file = await open(options.spoolPath, "a", 0o600);
      try {
        await file.write(data);
      } finally {
        await file.close();
      }
    });
    return spoolWrite;
  };

  const postText = (text: string) =>
    options.outbox.post(options.channel, { text, thread_ts: options.threadTs }).then(
      () => {
        result.messages++;
      },
      () => {
        result.failedPosts++;
      },
    );

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
      inFlight = postText(
        `:scissors: This thread has reached berth's limit of ${maxMessages} messages. The rest of the output goes to the full log, uploaded here when the job ends; the card shows the latest lines.`,
      );
    } else {
      inFlight = postText(codeBlock(lines, chunkChars + 8));
    }
    await inFlight;
    inFlight = undefined;
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
    /** A note from berth in the thread (not part of the container's output). */
    async notice(text: string): Promise<void> {
      await flush();
      if (!result.capped) {
        // Notices quote engines and Azure (errors, warnings): their markup is shown, never acted on.
        inFlight = postText(neutralizeMrkdwn(text));
        await inFlight;
        inFlight = undefined;
      }
    },
    /** Posts what is left, uploads the full log when the thread does not hold all of it, removes the spool. */
    async close(summary: string): Promise<ThreadResult> {
      await flush();
      await flushSpool();
      if (drainNote !== undefined && result.drained > 0 && !result.capped) {
        inFlight = postText(neutralizeMrkdwn(`${drainNote} (${result.drained.toLocaleString("en")} more lines)`));
        await inFlight;
        inFlight = undefined;
      }
      // Notices alone (a host being made, a stream with no output) are all in the thread already: no empty file.
      if (result.lines > 0 && (result.capped || result.failedPosts > 0 || result.messages > 1 || result.drained > 0 || resume)) {
        try {
          const content = await readFile(options.spoolPath).catch(() => Buffer.alloc(0));
          await options.outbox.upload(options.channel, options.threadTs, {
            filename: options.filename,
            title: `Full log: ${summary}`,
            content: content.length ? content : Buffer.from("(no output)\n"),
            comment: `Full log, ${result.lines.toLocaleString("en")} lines.`,
          });
          result.uploaded = true;
        } catch (error) {
          result.uploadError = (error as { data?: { error?: string } }).data?.error ?? (error as Error).message;
        }
      }
      await rm(options.spoolPath, { force: true });
      return result;
    },
  };
}

export type Thread = ReturnType<typeof createThread>;

/** Cuts a spool file back to its first `lines` lines (a file with fewer is left as it is). */
async function cutSpool(path: string, lines: number): Promise<void> {
  const file = await open(path, "r+").catch(() => undefined);
  if (!file) return;
  try {
    const chunk = Buffer.alloc(64 * 1024);
    let seen = 0;
    let offset = 0;
    for (;;) {
      if (seen === lines) return void (await file.truncate(offset));
      const { bytesRead } = await file.read(chunk, 0, chunk.length, offset);
      if (bytesRead === 0) return;
      for (let i = 0; i < bytesRead; i++) {
        if (chunk[i] === 0x0a && ++seen === lines) {
          await file.truncate(offset + i + 1);
          return;
        }
      }
      offset += bytesRead;
    }
  } finally {
    await file.close();
  }
}
