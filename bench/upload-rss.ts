/**
 * Peak memory of one full-log upload of a 100 MB spool: the way berth uploads it now (streamed from the file by the
 * outbox) against the way it did before (the file read whole, then `filesUploadV2`). Each upload runs in a child
 * process of its own, so that its peak RSS is its own; the Slack emulator (which keeps what it receives) runs here.
 *
 *   node bench/upload-rss.ts [MB]
 */
import { spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SEED, SlackFake } from "@berth/slack-emulator";
// biome-ignore lint/style/noRestrictedImports: the bench measures the SDK's own upload (berth's old way) against the outbox.
import { WebClient } from "@slack/web-api";
import { slackLimits } from "../src/slack/limits.ts";
import { createOutbox } from "../src/slack/outbox.ts";

const [, self, role, ...rest] = process.argv;

if (role === "child") {
  const [apiUrl, token, mode, path] = rest as [string, string, "streamed" | "buffered", string];
  const client = new WebClient(token, { slackApiUrl: apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true });
  const outbox = createOutbox({
    client,
    spacing: {
      postPerChannelMs: slackLimits.postSpacingPerChannelMs,
      postRepliesMs: slackLimits.postSpacingRepliesMs,
      postTopLevelMs: slackLimits.postSpacingTopLevelMs,
      updateMs: slackLimits.updateSpacingMs,
      uploadMs: slackLimits.uploadSpacingMs,
    },
  });
  const parent = await outbox.post(SEED.incidentChannel, { text: `card (${mode})` });
  const before = process.memoryUsage().rss;
  if (mode === "streamed") {
    await outbox.upload(SEED.incidentChannel, parent, { filename: "j.log", title: mode, path });
  } else {
    const content = await readFile(path);
    await client.filesUploadV2({ channel_id: SEED.incidentChannel, thread_ts: parent, file: content, filename: "j.log", title: mode });
  }
  // maxRSS is in KiB: the peak of this process's whole life, the upload included.
  process.stdout.write(JSON.stringify({ mode, rssBeforeMB: before / 1e6, peakRssMB: (process.resourceUsage().maxRSS * 1024) / 1e6 }));
} else {
  const mb = Number(role ?? 100);
  const dir = mkdtempSync(join(tmpdir(), "berth-upload-rss-"));
  const path = join(dir, "spool.log");
  const out = createWriteStream(path);
  const line = `${"x".repeat(99)}\n`;
  for (let i = 0; i < mb * 10_000; i++) if (!out.write(line)) await new Promise<void>((r) => out.once("drain", () => r()));
  await new Promise<void>((r) => out.end(() => r()));
  const fake = await SlackFake.start({ limits: "off" });
  try {
    for (const mode of ["streamed", "buffered"] as const) {
      const child = spawn(process.execPath, [self as string, "child", fake.apiUrl, fake.botToken, mode, path], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      let text = "";
      child.stdout.on("data", (d) => {
        text += d;
      });
      await new Promise((r) => child.once("close", r));
      const result = JSON.parse(text) as { mode: string; rssBeforeMB: number; peakRssMB: number };
      const received = fake.files().find((f) => f.title === mode)?.content.length ?? 0;
      console.log(
        `${mode}: ${mb} MB spool, peak RSS ${result.peakRssMB.toFixed(1)} MB (${result.rssBeforeMB.toFixed(1)} MB before the upload); Slack received ${(received / 1e6).toFixed(1)} MB`,
      );
    }
  } finally {
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
