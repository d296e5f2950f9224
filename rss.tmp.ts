import { slashCommand } from "./test/support/slack-driver.ts";
import { SEED, SlackFake } from "./test/support/slack-fake.ts";
import { procStats, sampleRss, sleep, spawnWithPort, benchPolicy } from "./bench/support.ts";
import { mkdtempSync, writeFileSync } from "node:fs"; import { tmpdir } from "node:os"; import { join } from "node:path";
import { waitForCard } from "./bench/stream.ts";
for (const flags of [[], ["--max-semi-space-size=1"], ["--max-old-space-size=64", "--max-semi-space-size=1"]]) {
  const fake = await SlackFake.start();
  const dir = mkdtempSync(join(tmpdir(), "rss-")); writeFileSync(join(dir, "p.yaml"), benchPolicy);
  const b = await spawnWithPort([...flags, "src/main.ts"], { SLACK_BOT_TOKEN: fake.botToken, SLACK_SIGNING_SECRET: fake.signingSecret, SLACK_API_URL: fake.apiUrl, PORT: "0", HOST: "127.0.0.1", BERTH_POLICY: join(dir, "p.yaml"), BERTH_DATA_DIR: join(dir, "d"), LOG_LEVEL: "info" }, /"msg":"berth started".*"port":(\d+)/);
  await sleep(1000); const idle = procStats(b.pid).rssMB;
  const s = sampleRss(b.pid);
  await slashCommand(fake, { url: b.url, command: "/berth", text: "run berth-test/busybox:1 seq 1 30000", user: SEED.operator, channel: SEED.incidentChannel });
  await waitForCard(fake, SEED.incidentChannel, "seq 1 30000", 300000);
  console.log(flags.join(" ") || "(none)", "idle", Math.round(idle), "peak", Math.round(Math.max(s.stop(), procStats(b.pid).peakRssMB)), "cpu", Math.round(procStats(b.pid).cpuMs));
  await b.stop(); await fake.stop();
}
