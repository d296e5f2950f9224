import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type AuditAnchor, appendAnchor, createAnchorer, readAnchors } from "../../src/store/audit-anchor.ts";
import type { ChainReport } from "../../src/store/audit-log.ts";

const hash = (c: string) => c.repeat(64);
const head = (seq: number, h = hash("a")) => ({ seq, hash: h, keyId: "k1", at: 1000 });
const file = () => join(mkdtempSync(join(tmpdir(), "berth-anchor-")), "anchors.jsonl");

test("the anchor file is appended one JSON line at a time (0600); a torn last line is skipped, not fatal", () => {
  const path = file();
  appendAnchor(path, { ...head(3), at: Date.parse("2026-12-05T08:00:00Z") });
  appendAnchor(path, { ...head(5, hash("b")), at: Date.parse("2026-12-05T08:15:00Z") });
  appendFileSync(path, '{"seq":6,"hash":"cc');
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const { anchors, skipped } = readAnchors(path);
  assert.deepEqual(
    anchors.map((a) => [a.seq, a.hash, a.keyId, new Date(a.at).toISOString()]),
    [
      [3, hash("a"), "k1", "2026-12-05T08:00:00.000Z"],
      [5, hash("b"), "k1", "2026-12-05T08:15:00.000Z"],
    ],
  );
  assert.equal(skipped, 1);
  assert.throws(() => readAnchors(join(path, "..", "missing.jsonl")), /Cannot read the audit anchor file .*missing\.jsonl/);
});

test("the anchorer writes to every sink, skips an unmoved head, retries after a failed sink, and refuses a broken chain", async () => {
  let report: ChainReport = { records: 3, legacy: 0, keyIds: ["k1"], head: head(3) };
  const checkedFrom: unknown[] = [];
  const written: string[] = [];
  let channelUp = true;
  const anchorer = createAnchorer({
    check: (from) => {
      checkedFrom.push(from);
      return report;
    },
    clock: () => 42,
    sinks: [
      { name: "file", write: (a: AuditAnchor) => written.push(`file ${a.seq}`) },
      {
        name: "channel",
        write: async (a: AuditAnchor) => {
          if (!channelUp) throw new Error("not_in_channel");
          written.push(`channel ${a.seq}`);
        },
      },
    ],
  });
  assert.deepEqual(await anchorer.anchor(), { type: "anchored", anchor: { ...head(3), at: 42 }, failed: [] });
  assert.equal((await anchorer.anchor()).type, "unchanged");
  assert.deepEqual(checkedFrom, [undefined, { seq: 3, hash: hash("a") }], "the whole chain first, then from the anchor");

  report = { ...report, head: head(4, hash("d")) };
  channelUp = false;
  const partial = await anchorer.anchor();
  assert.equal(partial.type === "anchored" && partial.failed[0]?.sink, "channel");
  channelUp = true;
  assert.equal((await anchorer.anchor()).type, "anchored", "a head a sink missed is anchored again");
  assert.deepEqual(written, ["file 3", "channel 3", "file 4", "file 4", "channel 4"]);

  report = { ...report, problem: { seq: 4, problem: "was edited", kind: "tampered" } };
  assert.deepEqual(await anchorer.anchor(), { type: "refused", problem: { seq: 4, problem: "was edited", kind: "tampered" } });
  assert.equal(written.length, 5);
});
