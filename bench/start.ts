import { spawn } from "node:child_process";
import { SEED, SlackFake, slashCommand } from "@berth/slack-emulator";
import { image, median, removeByName, removeLabelled, round, run, sleep, spawnBerth } from "./support.ts";

export type StartResult = { runs: number; berthMedianMs: number; cliMedianMs: number; ratio: number; berth: number[]; cli: number[] };

/**
 * `run -d IMAGE true` through berth (signed command → the engine's start event) against `docker run -d IMAGE true`
 * with the Docker CLI (spawn → start event), interleaved, `runs` of each.
 */
export async function startBenchmark(runs = 30): Promise<StartResult> {
  const fake = await SlackFake.start();
  const berth = await spawnBerth(fake);
  const starts = new Map<string, number>();
  const events = spawn("docker", [
    "events",
    "--filter",
    "type=container",
    "--filter",
    "event=start",
    "--format",
    "{{.Actor.Attributes.name}} {{.TimeNano}}",
  ]);
  let buffered = "";
  events.stdout.on("data", (d: Buffer) => {
    buffered += d;
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    for (const l of lines) {
      const [name, nano] = l.split(" ");
      if (name && nano) starts.set(name, Number(BigInt(nano) / 1000n) / 1000);
    }
  });
  await sleep(500);
  const waitStart = async (name: string) => {
    for (let i = 0; i < 200 && !starts.has(name); i++) await sleep(25);
    return starts.get(name) ?? Number.NaN;
  };
  const b: number[] = [];
  const c: number[] = [];
  for (let i = 0; i < runs; i++) {
    const bName = `bench-sb-${process.pid}-${i}`;
    const t0 = performance.timeOrigin + performance.now();
    await slashCommand(fake, {
      url: berth.url,
      command: "/berth",
      text: `run -d --name ${bName} ${image} true`,
      user: SEED.operator,
      channel: SEED.incidentChannel,
    });
    b.push((await waitStart(bName)) - t0);
    const cName = `bench-sc-${process.pid}-${i}`;
    const t1 = performance.timeOrigin + performance.now();
    await run("docker", ["run", "-d", "--network", "none", "--label", "berth-bench=start", "--name", cName, image, "true"]);
    c.push((await waitStart(cName)) - t1);
    // berth paces its own posts to Slack's ~1/s per channel; leave room so each run starts with a free slot.
    await sleep(1100);
  }
  events.kill();
  await berth.stop();
  await fake.stop();
  await removeByName(`bench-sb-${process.pid}-`);
  await removeLabelled("berth-bench=start");
  const bm = median(b);
  const cm = median(c);
  return {
    runs,
    berthMedianMs: round(bm, 0),
    cliMedianMs: round(cm, 0),
    ratio: round(bm / cm, 2),
    berth: b.map((x) => round(x, 0)),
    cli: c.map((x) => round(x, 0)),
  };
}
