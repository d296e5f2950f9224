import { createReadStream } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { pipeline } from "node:stream/promises";

/** A failed POST of a file's bytes: retried by the outbox like a 5xx (`slack-faults.ts`). */
export class UploadError extends Error {
  readonly code = "berth_upload_error";
}

/** What the bytes of one upload were read in: the reads the spool gave, and the largest of them. */
export type ReadPattern = { reads: number; largestRead: number };

/** Bytes read from the file between two writes to the socket: memory stays at about this, whatever the file's size. */
export const uploadChunkBytes = 64 * 1024;

/**
 * POSTs a file's bytes to the `upload_url` files.getUploadURLExternal gave, as raw bytes (docs/reference/slack-platform.md
 * §4: "raw bytes or … multipart"), streamed from disk: the file is never held in memory, which for a 100 MB log would
 * be more than berth's container may use. The deadline is for progress, not for the whole upload: it is abandoned when
 * nothing was read or answered for `idleMs`, so a big file on a slow link is not cut, and a hung one is.
 */
export async function postFile(url: string, path: string, size: number, idleMs: number, observe?: (p: ReadPattern) => void): Promise<void> {
  const target = new URL(url);
  const request = target.protocol === "https:" ? httpsRequest : httpRequest;
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const alive = () => {
    clearTimeout(timer);
    timer = setTimeout(() => abort.abort(new UploadError(`no progress for ${Math.round(idleMs / 1000)} s`)), idleMs);
  };
  const pattern: ReadPattern = { reads: 0, largestRead: 0 };
  alive();
  try {
    const answered = new Promise<number>((resolve, reject) => {
      const req = request(target, {
        method: "POST",
        headers: { "content-type": "application/octet-stream", "content-length": String(size) },
        signal: abort.signal,
      });
      req.once("response", (res) => {
        res.resume();
        res.once("end", () => resolve(res.statusCode ?? 0));
        res.once("error", reject);
      });
      req.once("error", reject);
      const source = createReadStream(path, { highWaterMark: uploadChunkBytes, start: 0, end: Math.max(0, size - 1) });
      source.on("data", (chunk) => {
        pattern.reads++;
        pattern.largestRead = Math.max(pattern.largestRead, chunk.length);
        alive();
      });
      pipeline(source, req).catch(reject);
    });
    const status = await answered.catch((error: unknown) => {
      throw abort.signal.aborted ? abort.signal.reason : new UploadError((error as Error).message);
    });
    if (status !== 200) throw new UploadError(`the upload URL answered HTTP ${status}`);
  } finally {
    clearTimeout(timer);
    observe?.(pattern);
  }
}
