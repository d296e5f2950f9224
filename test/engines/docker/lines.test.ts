import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRedactor } from "../../../src/core/redact.ts";
import {
  createDemuxer,
  createLineSplitter,
  maxLineChars,
  type Piece,
  readJsonLines,
  readLines,
} from "../../../src/engines/docker/lines.ts";
import type { LogLine } from "../../../src/engines/ports.ts";

function frame(stream: 1 | 2, text: string | Buffer): Buffer {
  const payload = typeof text === "string" ? Buffer.from(text) : text;
  const header = Buffer.alloc(8);
  header.writeUInt8(stream, 0);
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

/** Feeds `bytes` in chunks of `size` through a demuxer and a splitter, as the adapter does. */
function lines(bytes: Buffer, size: number, multiplexed = true): LogLine[] {
  const demux = createDemuxer();
  const split = createLineSplitter();
  const out: LogLine[] = [];
  for (let i = 0; i < bytes.length; i += size) {
    const chunk = bytes.subarray(i, i + size);
    const pieces: Piece[] = multiplexed ? demux(chunk) : [{ stream: "stdout", data: chunk }];
    for (const p of pieces) out.push(...split.push(p.stream, p.data));
  }
  out.push(...split.end());
  return out;
}

const out = (text: string): LogLine => ({ stream: "stdout", text });
const err = (text: string): LogLine => ({ stream: "stderr", text });
/** A piece of a line cut for length: the line goes on in the next piece. */
const cont = (text: string): LogLine => ({ stream: "stdout", text, continued: true });

describe("createDemuxer", () => {
  it("separates stdout and stderr frames that arrive in one chunk", () => {
    const pieces = createDemuxer()(Buffer.concat([frame(1, "a\n"), frame(2, "b\n"), frame(1, "c\n")]));
    assert.deepEqual(
      pieces.map((p) => [p.stream, p.data.toString()]),
      [
        ["stdout", "a\n"],
        ["stderr", "b\n"],
        ["stdout", "c\n"],
      ],
    );
  });

  it("handles headers and payloads split at every byte", () => {
    const bytes = Buffer.concat([frame(1, "hello\n"), frame(2, ""), frame(2, "oops\n"), frame(1, "bye\n")]);
    assert.deepEqual(lines(bytes, 1), [out("hello"), err("oops"), out("bye")]);
  });

  it("falls back to raw output when the stream is not multiplexed", () => {
    assert.deepEqual(lines(Buffer.from("plain text\nmore\n"), 3), [out("plain text"), out("more")]);
  });
});

describe("createLineSplitter", () => {
  it("joins a line that spans frames and emits the last partial line at the end", () => {
    const bytes = Buffer.concat([frame(1, "ab"), frame(1, "c"), frame(1, "def\nx"), frame(1, "yz")]);
    assert.deepEqual(lines(bytes, 1024), [out("abcdef"), out("xyz")]);
  });

  it("keeps each stream's partial line apart", () => {
    const bytes = Buffer.concat([frame(1, "std"), frame(2, "err\n"), frame(1, "out\n")]);
    assert.deepEqual(lines(bytes, 1024), [err("err"), out("stdout")]);
  });

  it("strips a trailing carriage return (TTY output) but keeps inner ones", () => {
    assert.deepEqual(lines(Buffer.from("one\r\ntwo\rthree\r\nlast\r"), 4, false), [out("one"), out("two\rthree"), out("last")]);
  });

  it("reassembles a UTF-8 character split across frames", () => {
    const text = Buffer.from("héllo ✓ 🚢\n");
    const bytes = Buffer.concat([frame(1, text.subarray(0, 2)), frame(1, text.subarray(2, 9)), frame(1, text.subarray(9))]);
    assert.deepEqual(lines(bytes, 1), [out("héllo ✓ 🚢")]);
  });

  it("emits an overlong line in pieces instead of buffering it", () => {
    const split = createLineSplitter(10);
    const first = split.push("stdout", Buffer.from("0123456789abcdefghij12"));
    assert.deepEqual(first, [cont("0123456789"), cont("abcdefghij")]);
    assert.deepEqual(split.push("stdout", Buffer.from("3\n")), [out("123")]);
    assert.deepEqual(split.end(), []);
  });

  it("does not split a surrogate pair at the length cap", () => {
    const split = createLineSplitter(4);
    const pieces = split.push("stdout", Buffer.from("abc🚢def\n"));
    assert.deepEqual(pieces, [cont("abc"), cont("🚢de"), out("f")]);
  });

  it("a secret straddling the 16 KiB cut is masked: the redactor sees both sides of the cut", () => {
    // Each secret, and the part of it that must not be shown.
    const secrets = [
      ["xoxb-1234567890-abcdefghijklmnop", "xoxb-1234567890-abcdefghijklmnop"],
      ["eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ", "c2lnbmF0dXJlLXNpZ25hdHVyZQ"],
      ["password=correct-horse-battery-staple", "battery-staple"],
      ["postgres://app:s3cr3t-pa55word@db.internal:5432/app", "s3cr3t-pa55word"],
    ];
    for (const [secret = "", hidden = ""] of secrets) {
      // The cut falls at every position inside the secret, on both streams, their pieces interleaved.
      for (let offset = 1; offset < secret.length; offset++) {
        const line = `${" ".repeat(maxLineChars - offset)}${secret} tail`;
        const split = createLineSplitter();
        const redact = createRedactor();
        const pieces = [
          ...split.push("stdout", Buffer.from(line.slice(0, 20_000))),
          ...split.push("stderr", Buffer.from(`${line}\n`)),
          ...split.push("stdout", Buffer.from(`${line.slice(20_000)}\n`)),
        ];
        assert.equal(pieces.filter((p) => p.continued).length, 2, "both lines were cut");
        const shown = { stdout: "", stderr: "" };
        for (const piece of pieces) shown[piece.stream] += redact.line(piece);
        for (const text of Object.values(shown)) {
          const near = text.slice(maxLineChars - 80);
          assert.ok(!text.includes(hidden.slice(0, 4)) && !text.includes(hidden.slice(-4)), `cut at ${offset} leaked: ${near}`);
          assert.ok(text.endsWith(" tail") && text.includes("••••"), `cut at ${offset}: ${near}`);
        }
      }
    }
  });

  it("emits an empty line for a blank line and nothing for an empty stream", () => {
    assert.deepEqual(lines(frame(1, "a\n\nb\n"), 2), [out("a"), out(""), out("b")]);
    assert.deepEqual(lines(Buffer.alloc(0), 1), []);
  });
});

async function* chunks(...parts: Buffer[]): AsyncGenerator<Buffer> {
  for (const part of parts) yield part;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe("readLines", () => {
  it("demultiplexes and splits a chunked stream", async () => {
    const bytes = Buffer.concat([frame(1, "one\ntw"), frame(2, "err\n"), frame(1, "o\nlast")]);
    const got = await collect(readLines(chunks(bytes.subarray(0, 5), bytes.subarray(5, 17), bytes.subarray(17)), true));
    assert.deepEqual(got, [out("one"), err("err"), out("two"), out("last")]);
  });

  it("stops at the next line once the signal is aborted, and closes its source", async () => {
    const ctl = new AbortController();
    let closed = false;
    async function* source(): AsyncGenerator<Buffer> {
      try {
        yield Buffer.from("a\nb\nc\n");
        yield Buffer.from("d\n");
      } finally {
        closed = true;
      }
    }
    const seen: string[] = [];
    for await (const line of readLines(source(), false, ctl.signal)) {
      seen.push(line.text);
      ctl.abort();
    }
    assert.deepEqual(seen, ["a"]);
    assert.equal(closed, true);
  });
});

describe("readJsonLines", () => {
  it("parses one object per line and skips what is not an object", async () => {
    const got = await collect(
      readJsonLines(chunks(Buffer.from('{"status":"Pulling"}\r\n\nnot json\n4\n{"err'), Buffer.from('or":"boom"}'))),
    );
    assert.deepEqual(got, [{ status: "Pulling" }, { error: "boom" }]);
  });
});
