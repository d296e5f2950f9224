/**
 * Byte-level helpers for Docker's log, exec and pull streams: frame demultiplexing and line splitting. Incremental,
 * so a stream is processed chunk by chunk without holding more than one partial line per stream.
 */
import { StringDecoder } from "node:string_decoder";
import type { LogLine } from "../ports.ts";

export type StreamName = LogLine["stream"];
export type Piece = { stream: StreamName; data: Buffer };

/**
 * Parses Docker's multiplexed stream (8-byte header: stream type, 3 zero bytes, big-endian payload length).
 * Payload is handed out as it arrives rather than once a frame is complete, so a huge frame never sits in memory.
 */
export function createDemuxer(): (chunk: Buffer) => Piece[] {
  const header = Buffer.alloc(8);
  let headerFill = 0;
  let remaining = 0;
  let stream: StreamName = "stdout";
  let raw = false;
  return (chunk) => {
    if (raw) return [{ stream: "stdout", data: chunk }];
    const out: Piece[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (remaining === 0) {
        const n = Math.min(8 - headerFill, chunk.length - pos);
        chunk.copy(header, headerFill, pos, pos + n);
        headerFill += n;
        pos += n;
        if (headerFill < 8) break;
        headerFill = 0;
        const type = header.readUInt8(0);
        if (type > 2 || header.readUIntBE(1, 3) !== 0) {
          // Not a frame header: the stream is raw (TTY). Same fallback as docker-modem: pass the rest through.
          raw = true;
          out.push({ stream: "stdout", data: Buffer.concat([header, chunk.subarray(pos)]) });
          return out;
        }
        stream = type === 2 ? "stderr" : "stdout"; // 0 (stdin) is not sent for logs or exec; treat it as stdout
        remaining = header.readUInt32BE(4);
        continue;
      }
      const n = Math.min(remaining, chunk.length - pos);
      out.push({ stream, data: chunk.subarray(pos, pos + n) });
      remaining -= n;
      pos += n;
    }
    return out;
  };
}

/**
 * Longest line emitted; a longer line is emitted in pieces, so a writer that never ends a line cannot exhaust memory.
 * Every piece but the last is marked `continued`: a secret may straddle the cut, and the redactor holds back the end of
 * such a piece until it has seen the start of the next (see createRedactor).
 */
export const maxLineChars = 16 * 1024;

export type LineSplitter = {
  push(stream: StreamName, data: Buffer): LogLine[];
  /** The last partial line of each stream (end of stream). */
  end(): LogLine[];
};

/** Splits bytes into lines per stream; a UTF-8 character or a line split across chunks is reassembled. */
export function createLineSplitter(maxLine: number = maxLineChars): LineSplitter {
  const state = {
    stdout: { decoder: new StringDecoder("utf8"), pending: "" },
    stderr: { decoder: new StringDecoder("utf8"), pending: "" },
  };
  const cut = (text: string) => {
    const code = text.charCodeAt(maxLine - 1);
    return code >= 0xd800 && code <= 0xdbff ? maxLine - 1 : maxLine; // never split a surrogate pair
  };
  const emit = (out: LogLine[], stream: StreamName, text: string) => {
    let rest = text;
    for (let at = cut(rest); rest.length > maxLine; at = cut(rest)) {
      out.push({ stream, text: rest.slice(0, at), continued: true });
      rest = rest.slice(at);
    }
    out.push({ stream, text: rest });
  };
  return {
    push(stream, data) {
      const s = state[stream];
      const parts = (s.pending + s.decoder.write(data)).split("\n");
      s.pending = parts.pop() ?? "";
      const out: LogLine[] = [];
      for (const part of parts) emit(out, stream, stripCr(part));
      for (let at = cut(s.pending); s.pending.length >= maxLine; at = cut(s.pending)) {
        out.push({ stream, text: s.pending.slice(0, at), continued: true });
        s.pending = s.pending.slice(at);
      }
      return out;
    },
    end() {
      const out: LogLine[] = [];
      for (const stream of ["stdout", "stderr"] as const) {
        const s = state[stream];
        const rest = s.pending + s.decoder.end();
        s.pending = "";
        if (rest.length > 0) emit(out, stream, stripCr(rest));
      }
      return out;
    },
  };
}

function stripCr(text: string): string {
  return text.endsWith("\r") ? text.slice(0, -1) : text;
}

/**
 * Reads a raw or multiplexed Docker stream as lines. It pulls one chunk at a time through the stream's async iterator,
 * so a slow consumer holds the socket back instead of growing a buffer; it stops at the next line once `signal` aborts.
 */
export async function* readLines(source: AsyncIterable<Buffer>, multiplexed: boolean, signal?: AbortSignal): AsyncGenerator<LogLine> {
  const demux = multiplexed ? createDemuxer() : undefined;
  const split = createLineSplitter();
  for await (const chunk of source) {
    for (const piece of demux ? demux(chunk) : [{ stream: "stdout" as const, data: chunk }]) {
      for (const line of split.push(piece.stream, piece.data)) {
        yield line;
        if (signal?.aborted) return;
      }
    }
  }
  yield* split.end();
}

/** Reads newline-delimited JSON (the image pull progress stream) as objects; a line that is not an object is skipped. */
export async function* readJsonLines(source: AsyncIterable<Buffer>): AsyncGenerator<Record<string, unknown>> {
  for await (const { text } of readLines(source, false)) {
    try {
      const value: unknown = JSON.parse(text);
      if (value && typeof value === "object") yield value as Record<string, unknown>;
    } catch {
      // not JSON: skip it
    }
  }
}
