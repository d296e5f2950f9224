import { type FakeMessage, SEED, SlackFake, slashCommand } from "@berth/slack-emulator";
import { image, procStats, round, run, sampleRss, sleep, spawnBerth, threadLines } from "./support.ts";

const cardText = (m: FakeMessage) => JSON.stringify(m.blocks ?? []);
const finished = (m: FakeMessage) =>
  !cardText(m).includes("berth_stop") && /:(white_check_mark|x|black_square_for_stop):/.test(cardText(m));

export async function waitForCard(
  fake: SlackFake,
  channel: string,
  needle: string,
  timeoutMs: number,
  done = finished,
): Promise<FakeMessage> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const card = fake.messages(channel).find((m) => cardText(m).includes(needle) && cardText(m).includes("job `j-"));
    if (card) {
      const now = fake.message(channel, card.ts);
      if (now && done(now)) return now;
    }
    if (Date.now() > deadline) throw new Error(`no finished card for ${needle} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

export type StreamResult = {
  lines: number;
  recovered: number;
  inThread: number;
  inFile: number;
  callsByMethod: Record<string, number>;
  rateLimited: number;
  exitToFinalCardMs: number;
  peakRssMB: number;
  cpuMs: number;
  wallMs: number;
};

/** A container printing 100,000 numbered lines as fast as it can, through berth (a child process) into the fake. */
export async function streamBenchmark(lines = 100_000): Promise<StreamResult> {
  const fake = await SlackFake.start();
  const berth = await spawnBerth(fake);
  const rss = sampleRss(berth.pid);
  const cpu0 = procStats(berth.pid).cpuMs;
  const t0 = Date.now();
  const marker = `seq 1 ${lines}`;
  await slashCommand(fake, {
    url: berth.url,
    command: "/berth",
    text: `run ${image} ${marker}`,
    user: SEED.operator,
    channel: SEED.incidentChannel,
  });
  const card = await waitForCard(fake, SEED.incidentChannel, marker, 15 * 60_000);
  const wallMs = Date.now() - t0;
  const cpuMs = procStats(berth.pid).cpuMs - cpu0;
  const peakRssMB = Math.max(rss.stop(), procStats(berth.pid).peakRssMB);
  const job = /job `(j-[0-9a-f]{6})`/.exec(cardText(card))?.[1] ?? "";
  if (process.env.BENCH_DEBUG) process.stderr.write(`${cardText(card)}\n${berth.output.join("").slice(-3000)}\n`);
  const { stdout } = await run("docker", ["ps", "-aq", "--filter", `label=io.berth.job=${job}`]);
  const id = stdout.trim().split("\n")[0] ?? "";
  const finishedAt = Date.parse((await run("docker", ["inspect", "-f", "{{.State.FinishedAt}}", id])).stdout.trim());
  const finalUpdate = fake
    .calls("chat.update")
    .filter((c) => c.args.ts === card.ts && c.status === 200)
    .at(-1);
  const thread = threadLines(fake, SEED.incidentChannel, card.ts);
  const file = fake.files().find((f) => f.title?.includes(marker));
  const fileLines = file ? file.content.split("\n").filter(Boolean) : [];
  const seen = new Set([...thread, ...fileLines]);
  let recovered = 0;
  for (let i = 1; i <= lines; i++) if (seen.has(String(i))) recovered++;
  const callsByMethod: Record<string, number> = {};
  for (const c of fake.calls()) callsByMethod[c.method] = (callsByMethod[c.method] ?? 0) + 1;
  await run("docker", ["rm", "-f", id]).catch(() => undefined);
  await berth.stop();
  await fake.stop();
  return {
    lines,
    recovered,
    inThread: thread.length,
    inFile: fileLines.length,
    callsByMethod,
    rateLimited: fake.rateLimited.length,
    exitToFinalCardMs: round((finalUpdate?.at ?? Number.NaN) - finishedAt, 0),
    peakRssMB: round(peakRssMB),
    cpuMs: round(cpuMs, 0),
    wallMs,
  };
}
