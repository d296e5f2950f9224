import { mkdir, open } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * Brings a resumed job's spool up to `lines` lines from `source` (the output from its start): a spool this replica
 * wrote already is kept and only what it lacks is appended, so a restart on the same disk reads nothing again.
 */
export async function backfillSpool(path: string, lines: number, source: AsyncIterable<string>): Promise<void> {
  const have = await countLines(path);
  if (have >= lines) return;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const out = await open(path, "a", 0o600);
  try {
    let n = 0;
    let batch: string[] = [];
    for await (const text of source) {
      if (++n <= have) continue;
      batch.push(text);
      if (batch.length >= 1000) {
        await out.write(`${batch.join("\n")}\n`);
        batch = [];
      }
      if (n >= lines) break;
    }
    if (batch.length) await out.write(`${batch.join("\n")}\n`);
  } finally {
    await out.close();
  }
}

async function countLines(path: string): Promise<number> {
  const file = await open(path, "r").catch(() => undefined);
  if (!file) return 0;
  try {
    let n = 0;
    for await (const chunk of file.createReadStream()) for (const byte of chunk as Buffer) if (byte === 0x0a) n++;
    return n;
  } finally {
    await file.close().catch(() => undefined);
  }
}
