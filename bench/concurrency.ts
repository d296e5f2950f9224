import { blockAction, SEED, SlackFake, slashCommand } from "@berth/slack-emulator";
import { waitForCard } from "./stream.ts";
import { image, median, ownedLabels, procStats, removeLabelled, round, run, sampleRss, sleep, spawnBerth, threadLines } from "./support.ts";

export type ConcurrencyResult = {
  streams: number;
  seconds: number;
  perStreamPerMinute: { min: number; median: number; max: number };
  /** From the burst of commands to each stream's card appearing. */
  cardDelaySeconds: { median: number; max: number };
  printedPerStreamPerMinute: number;
  callsPerMinute: Record<string, number>;
  rateLimited: number;
  peakRssMB: number;
};

/** `streams` concurrent `logs -f` on as many containers, each in its own channel, for `seconds`; then Stop on all. */
export async function concurrencyBenchmark(streams = 50, seconds = 90): Promise<ConcurrencyResult> {
  const fake = await SlackFake.start();
  const label = "berth-bench=concurrency";
  const names = Array.from({ length: streams }, (_, i) => `bench-c${i}`);
  await removeLabelled(label);
  const berth = await spawnBerth(fake);
  for (const name of names) {
    // Containers labelled as this berth's, started directly so that only the streams are measured.
    await run("docker", [
      "run",
      "-d",
      "--network",
      "none",
      ...ownedLabels(berth.dataDir, `bench-${name}`),
      "--label",
      label,
      "--name",
      name,
      image,
      "sh",
      "-c",
      `i=0; while true; do i=$((i+1)); echo ${name}-$i; sleep 0.2; done`,
    ]);
  }
  const channels = names.map((_, i) => `C0BENCH${String(i).padStart(3, "0")}`);
  for (const [i, id] of channels.entries()) fake.addChannel({ id, name: `bench-${i}`, members: [fake.botUserId, SEED.operator] });
  const rss = sampleRss(berth.pid);
  const t0 = Date.now();
  await Promise.all(
    names.map((name, i) =>
      slashCommand(fake, {
        url: berth.url,
        command: "/berth",
        text: `logs -f --tail 0 ${name}`,
        user: SEED.operator,
        channel: channels[i] as string,
      }),
    ),
  );
  await sleep(seconds * 1000);
  const elapsedMin = (Date.now() - t0) / 60_000;
  // Count what reached Slack while the streams ran, before stopping them.
  const cards = names.map((name, i) =>
    fake.messages(channels[i] as string).find((m) => JSON.stringify(m.blocks ?? []).includes(`logs -f ${name}`)),
  );
  const delivered = cards.map((c, i) =>
    c ? threadLines(fake, channels[i] as string, c.ts).filter((l) => l.startsWith(names[i] as string)).length : 0,
  );
  // Each stream is measured from the moment its card was posted: that is when it could start showing lines.
  const measuredAt = Date.now();
  const cardAt = channels.map(
    (ch) =>
      fake.calls("chat.postMessage").find((call) => call.args.channel === ch && !call.args.thread_ts && call.status === 200)?.at ?? t0,
  );
  const startDelays = cardAt.map((at) => (at - t0) / 1000);
  const callsDuring = fake.calls().filter((c) => c.at <= measuredAt);
  await Promise.all(
    cards.map((c, i) => {
      const job = c ? /job `(j-[0-9a-f]{6})`/.exec(JSON.stringify(c.blocks))?.[1] : undefined;
      return c && job
        ? blockAction(fake, {
            url: berth.url,
            messageTs: c.ts,
            actionId: "berth_stop",
            value: job,
            user: SEED.operator,
            channel: channels[i] as string,
          })
        : undefined;
    }),
  );
  await Promise.all(names.map((name, i) => waitForCard(fake, channels[i] as string, `logs -f ${name}`, 120_000).catch(() => undefined)));
  const peakRssMB = Math.max(rss.stop(), procStats(berth.pid).peakRssMB);
  const callsPerMinute: Record<string, number> = {};
  for (const c of callsDuring) callsPerMinute[c.method] = (callsPerMinute[c.method] ?? 0) + 1;
  for (const k of Object.keys(callsPerMinute)) callsPerMinute[k] = round((callsPerMinute[k] as number) / elapsedMin, 0);
  const rates = delivered.map((d, i) => d / ((measuredAt - (cardAt[i] ?? t0)) / 60_000));
  await berth.stop();
  await fake.stop();
  await removeLabelled(label);
  return {
    streams,
    seconds,
    perStreamPerMinute: { min: round(Math.min(...rates), 0), median: round(median(rates), 0), max: round(Math.max(...rates), 0) },
    cardDelaySeconds: { median: round(median(startDelays), 1), max: round(Math.max(...startDelays), 1) },
    printedPerStreamPerMinute: 300,
    callsPerMinute,
    rateLimited: fake.rateLimited.length,
    peakRssMB: round(peakRssMB),
  };
}
