import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { WebClient } from "@slack/web-api";
import { createOutbox } from "../../src/slack/outbox.ts";
import { createThread } from "../../src/slack/thread.ts";
import { SEED, SlackFake } from "../support/slack-fake.ts";
import { slackSpacing } from "../support/slack-spacing.ts";

// A full disk while jobs stream, on a real 1 MiB tmpfs. Mounting it needs root, as .ci/run (which starts dockerd) does:
// without it the test fails and says why, rather than skip and count as passed.
let fake: SlackFake;
let client: WebClient;
let small: string | undefined;
let whyNot = "";

before(async () => {
  fake = await SlackFake.start();
  client = new WebClient(fake.botToken, { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true });
  const dir = mkdtempSync(join(tmpdir(), "berth-full-disk-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir], { stdio: "pipe" });
    small = dir;
  } catch (error) {
    whyNot = `mounting a 1 MiB tmpfs needs root: ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`;
    rmSync(dir, { recursive: true, force: true });
  }
});
after(async () => {
  await fake.stop();
  if (small) {
    execFileSync("umount", [small]);
    rmSync(small, { recursive: true, force: true });
  }
});

test("a full disk under one job's spool is told in its thread with the path and the fix; that job and the others go on", async () => {
  assert.ok(small, whyNot);
  const outbox = createOutbox({ client, spacing: slackSpacing });
  const [full, healthy] = await Promise.all([
    outbox.post(SEED.incidentChannel, { text: "job on the full disk" }),
    outbox.post(SEED.incidentChannel, { text: "other job" }),
  ]);
  const fullPath = join(small, "spool", "full.log");
  const onFullDisk = createThread({
    outbox,
    channel: SEED.incidentChannel,
    threadTs: full,
    spoolPath: fullPath,
    filename: "full.log",
    maxMessages: 4,
    flushMs: 50,
  });
  const elsewhere = createThread({
    outbox,
    channel: SEED.incidentChannel,
    threadTs: healthy,
    spoolPath: join(mkdtempSync(join(tmpdir(), "berth-spool-")), "ok.log"),
    filename: "ok.log",
    maxMessages: 4,
    flushMs: 50,
  });
  // 3 MiB of output into a 1 MiB filesystem, while another job streams to a healthy disk.
  const lines = Array.from({ length: 30_000 }, (_, i) => `${String(i + 1).padStart(6, "0")} ${"y".repeat(94)}`);
  const stream = async (thread: typeof onFullDisk) => {
    for (const text of lines) await thread.write({ stream: "stdout", text });
    return thread.close(thread === onFullDisk ? "full disk" : "healthy");
  };
  const [hit, spared] = await Promise.all([stream(onFullDisk), stream(elsewhere)]);

  assert.equal(hit.lines, 30_000);
  assert.ok(hit.unspooled > 0 && hit.unspooled < 30_000, `${hit.unspooled} lines could not be spooled`);
  assert.match(hit.spoolError ?? "", /^ENOSPC on .*full\.log$/);
  const said = fake.thread(SEED.incidentChannel, full).map((m) => m.text);
  const notice = said.find((text) => text.includes("cannot keep this job's full log"));
  assert.ok(notice, "the thread says the disk is full");
  assert.match(notice, /the disk is full \(ENOSPC writing `.*full\.log`\)/);
  assert.match(notice, /free space on the volume that holds berth's data directory \(`BERTH_DATA_DIR`\)/);
  assert.ok(
    said.some((text) => text.includes(`${hit.unspooled.toLocaleString("en")} of 30,000 lines could not be written to berth's disk`)),
    "the count of lines missing from the full log is said, not dropped silently",
  );
  // The full log holds exactly the whole lines the disk took, in order, and says how many are missing.
  const file = fake.files().find((f) => f.title === "Full log: full disk");
  const kept = file?.content ?? "";
  assert.ok(kept === `${lines.slice(0, 30_000 - hit.unspooled).join("\n")}\n`, "the full log is the lines the disk took, whole");
  assert.match(
    fake
      .calls("files.completeUploadExternal")
      .map((c) => String(c.args.initial_comment))
      .join("\n"),
    /lines could not be kept on berth's disk/,
  );

  assert.equal(spared.unspooled, 0);
  assert.ok(
    fake.files().find((f) => f.title === "Full log: healthy")?.content === `${lines.join("\n")}\n`,
    "the other job's full log is whole",
  );
});
