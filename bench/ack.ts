import { SEED, SlackFake, slashCommand } from "@berth/slack-emulator";
import { type Child, percentile, pool, round, spawnBerth, spawnWithPort } from "./support.ts";

export type AckResult = {
  transport: "http" | "socket";
  target: "berth" | "bare bolt";
  n: number;
  concurrency: number;
  p50: number;
  p99: number;
  max: number;
  failures: number;
};

function summarize(
  transport: AckResult["transport"],
  target: AckResult["target"],
  ms: number[],
  concurrency: number,
  failures: number,
): AckResult {
  return {
    transport,
    target,
    n: ms.length,
    concurrency,
    p50: round(percentile(ms, 50)),
    p99: round(percentile(ms, 99)),
    max: round(Math.max(...ms)),
    failures,
  };
}

async function fire(
  fake: SlackFake,
  target: Child | undefined,
  socket: boolean,
  n: number,
  concurrency: number,
): Promise<{ ms: number[]; failures: number }> {
  let failures = 0;
  const ms = await pool(
    Array.from({ length: n }, (_, i) => i),
    concurrency,
    async () => {
      if (socket) {
        const d = await fake.socket
          .slashCommand({ command: "/berth", text: "ps", user: SEED.operator, channel: SEED.incidentChannel })
          .catch(() => undefined);
        if (!d) failures++;
        return d?.ms ?? 3000;
      }
      const r = await slashCommand(fake, {
        url: target?.url ?? "",
        command: "/berth",
        text: "ps",
        user: SEED.operator,
        channel: SEED.incidentChannel,
      });
      if (r.status !== 200) failures++;
      return r.ms;
    },
  );
  return { ms, failures };
}

/**
 * 1,000 signed slash commands at concurrency 50 against berth (which then lists containers and answers through
 * response_url) and against a bare Bolt app that only acks, interleaved in rounds in the same run; then berth at 10×.
 */
export async function ackBenchmark(
  options: { n?: number; concurrency?: number; rounds?: number } = {},
): Promise<{ results: AckResult[]; samples: Record<string, number[]> }> {
  const n = options.n ?? 1000;
  const concurrency = options.concurrency ?? 50;
  const rounds = options.rounds ?? 5;
  const results: AckResult[] = [];
  const samples: Record<string, number[]> = {};
  for (const socket of [false, true]) {
    const transport = socket ? "socket" : "http";
    const berthFake = await SlackFake.start();
    const bareFake = await SlackFake.start();
    const berth = await spawnBerth(berthFake, { socketMode: socket });
    const bare = await spawnWithPort(
      ["bench/bare-bolt.ts"],
      {
        SLACK_BOT_TOKEN: bareFake.botToken,
        ...(socket ? { SLACK_APP_TOKEN: bareFake.appToken } : { SLACK_SIGNING_SECRET: bareFake.signingSecret }),
        SLACK_API_URL: bareFake.apiUrl,
      },
      /port:(\d+)/,
    );
    if (socket) await Promise.all([berthFake.socket.waitForConnections(1), bareFake.socket.waitForConnections(1)]);
    // Warm both up so that neither pays for JIT compilation in the measured rounds.
    await fire(berthFake, berth, socket, 100, concurrency);
    await fire(bareFake, bare, socket, 100, concurrency);
    const b: number[] = [];
    const f: number[] = [];
    let bFail = 0;
    let fFail = 0;
    // berth answers every `ps` after its ack; let that work finish before the bare app's round, so neither round pays
    // for the other's load.
    const drained = async (sent: number) => {
      for (let i = 0; i < 600 && berthFake.responses().length < sent; i++) await new Promise((r) => setTimeout(r, 50));
    };
    let sent = 100;
    await drained(sent);
    for (let r = 0; r < rounds; r++) {
      const one = await fire(berthFake, berth, socket, n / rounds, concurrency);
      sent += n / rounds;
      await drained(sent);
      const two = await fire(bareFake, bare, socket, n / rounds, concurrency);
      b.push(...one.ms);
      f.push(...two.ms);
      bFail += one.failures;
      fFail += two.failures;
    }
    results.push(summarize(transport, "berth", b, concurrency, bFail), summarize(transport, "bare bolt", f, concurrency, fFail));
    samples[`${transport} berth`] = b;
    samples[`${transport} bare bolt`] = f;
    if (!socket) {
      const heavy = await fire(berthFake, berth, socket, n, concurrency * 10);
      results.push(summarize(transport, "berth", heavy.ms, concurrency * 10, heavy.failures));
    }
    await berth.stop();
    await bare.stop();
    await berthFake.stop();
    await bareFake.stop();
  }
  return { results, samples };
}
