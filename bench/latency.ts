import { SEED, SlackFake, slashCommand } from "@berth/slack-emulator";
import { waitForCard } from "./stream.ts";
import { image, percentile, round, run, spawnBerth } from "./support.ts";

export type LatencyResult = {
  lines: number;
  delivered: number;
  p50: number;
  p95: number;
  max: number;
  series: { n: number; delayMs: number }[];
};

/**
 * A container printing one line a second for `seconds`; each line's delay is from the moment the engine stamped it
 * (Docker's log timestamp, the host's clock) to the moment the fake received the Slack call that showed it.
 */
export async function latencyBenchmark(seconds = 60): Promise<LatencyResult> {
  const fake = await SlackFake.start();
  const berth = await spawnBerth(fake);
  const marker = `tick-$i; sleep 1; done`;
  await slashCommand(fake, {
    url: berth.url,
    command: "/berth",
    text: `run ${image} sh -c 'for i in $(seq 1 ${seconds}); do echo tick-$i; sleep 1; done'`,
    user: SEED.operator,
    channel: SEED.incidentChannel,
  });
  const card = await waitForCard(fake, SEED.incidentChannel, marker, (seconds + 120) * 1000);
  const job = /job `(j-[0-9a-f]{6})`/.exec(JSON.stringify(card.blocks))?.[1] ?? "";
  const id = (await run("docker", ["ps", "-aq", "--filter", `label=io.berth.job=${job}`])).stdout.trim().split("\n")[0] ?? "";
  const { stdout } = await run("docker", ["logs", "-t", id]);
  const printed = new Map<string, number>();
  for (const line of stdout.split("\n")) {
    const m = /^(\S+) (tick-\d+)$/.exec(line);
    if (m) printed.set(m[2] as string, Date.parse(m[1] as string));
  }
  const shown = new Map<string, number>();
  for (const c of fake.calls()) {
    if (c.status !== 200 || (c.method !== "chat.postMessage" && c.method !== "chat.update")) continue;
    const text = `${String(c.args.text ?? "")}\n${JSON.stringify(c.args.blocks ?? "")}`;
    for (const m of text.matchAll(/tick-\d+/g)) if (!shown.has(m[0])) shown.set(m[0], c.at);
  }
  const series: { n: number; delayMs: number }[] = [];
  for (const [line, at] of printed) {
    const seen = shown.get(line);
    if (seen !== undefined) series.push({ n: Number(line.slice(5)), delayMs: seen - at });
  }
  series.sort((a, b) => a.n - b.n);
  const delays = series.map((s) => s.delayMs);
  await run("docker", ["rm", "-f", id]).catch(() => undefined);
  await berth.stop();
  await fake.stop();
  return {
    lines: printed.size,
    delivered: series.length,
    p50: round(percentile(delays, 50), 0),
    p95: round(percentile(delays, 95), 0),
    max: round(Math.max(...delays), 0),
    series,
  };
}
