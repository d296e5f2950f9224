// Replicas (issue 13, item 12): several berth processes (run as `npm start` runs them) sharing one PostgreSQL database,
// the Slack fake with Slack's limits on, and the real engine. Three measurements: how long a run waits when the replica
// carrying it is killed (-9) with the default lease, how fairly two replicas share many streams (and what a replica
// costs an ack), and how soon a new card appears while many streams run.
// The fleet is started here rather than with test/support/replicas.ts because that harness sets a short lease
// (BERTH_LEASE_TTL=3s) and the take-over must be measured with the default one. One file past 400 lines: the three
// measurements share the fleet and stream helpers above them.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { type FakeMessage, SEED, SlackFake, slashCommand } from "@berth/slack-emulator";
import { Client } from "pg";
import { startPostgres, type TestPostgres } from "../test/support/postgres.ts";
import {
  benchPolicy,
  type Child,
  image,
  median,
  percentile,
  pinSelf,
  removeByName,
  removeLabelled,
  round,
  run,
  sleep,
  spawnWithPort,
  startArgs,
  threadLines,
} from "./support.ts";

const label = "berth-bench=replicas";
const prefix = "berth-bench-rep-";
const cardText = (m: FakeMessage) => JSON.stringify(m.blocks ?? []);
const jobOf = (m: FakeMessage) => /job `(j-[0-9a-f]{6})`/.exec(cardText(m))?.[1];
const stats = (xs: number[], digits = 1) => ({
  min: round(Math.min(...xs), digits),
  median: round(median(xs), digits),
  max: round(Math.max(...xs), digits),
});

type Replica = Child & { name: string; exited: Promise<void> };
type Fleet = {
  fake: SlackFake;
  replicas: Replica[];
  /** The fleet's installation id (in its database): the label that makes a container berth's. */
  installation(): Promise<string>;
  owner(job: string): Replica | undefined;
  close(): Promise<void>;
};

/** `n` replicas on a fresh database of `pg`, each with its own data directory, the same audit key, no lease setting. */
async function startFleet(pg: TestPostgres, n: number, cpus?: string): Promise<Fleet> {
  const fake = await SlackFake.start();
  const databaseUrl = await pg.createDatabase();
  const dir = mkdtempSync(join(tmpdir(), "berth-bench-replicas-"));
  writeFileSync(join(dir, "policy.yaml"), benchPolicy);
  const auditKey = `bench:${randomBytes(32).toString("base64")}`;
  const replicas: Replica[] = [];
  const close = async () => {
    for (const r of replicas) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill("SIGKILL");
    await Promise.all(replicas.map((r) => r.exited));
    await fake.stop();
  };
  try {
    for (let i = 1; i <= n; i++) {
      const name = `r${i}`;
      mkdirSync(join(dir, name), { mode: 0o700 });
      const child = await spawnWithPort(
        startArgs(),
        {
          SLACK_BOT_TOKEN: fake.botToken,
          SLACK_SIGNING_SECRET: fake.signingSecret,
          SLACK_API_URL: fake.apiUrl,
          PORT: "0",
          HOST: "127.0.0.1",
          BERTH_POLICY: join(dir, "policy.yaml"),
          BERTH_DATA_DIR: join(dir, name),
          BERTH_DATABASE_URL: databaseUrl,
          BERTH_AUDIT_KEY: auditKey,
          BERTH_THREAD_MAX_MESSAGES: "100",
          LOG_LEVEL: "info",
        },
        /"msg":"berth started".*"port":(\d+)/,
        cpus,
      );
      const exited = new Promise<void>((resolve) =>
        child.child.exitCode !== null || child.child.signalCode !== null ? resolve() : child.child.once("exit", () => resolve()),
      );
      replicas.push({ ...child, name, exited });
    }
  } catch (error) {
    await close();
    throw error;
  }
  return {
    fake,
    replicas,
    owner(job) {
      // The replica that logged starting or resuming the job last, among those still alive.
      let best: { r: Replica; at: number } | undefined;
      for (const r of replicas) {
        if (r.child.exitCode !== null || r.child.signalCode !== null) continue;
        for (const m of r.output.join("").matchAll(/^.*"msg":"job (?:started|resumed)".*$/gm)) {
          if (!m[0].includes(`"job":"${job}"`)) continue;
          const at = Date.parse(/"time":"([^"]+)"/.exec(m[0])?.[1] ?? "") || Number(/"time":(\d+)/.exec(m[0])?.[1] ?? 0);
          if (!best || at >= best.at) best = { r, at };
        }
      }
      return best?.r;
    },
    async installation() {
      const client = new Client({ connectionString: databaseUrl });
      await client.connect();
      try {
        return String((await client.query("SELECT value FROM secrets WHERE name = 'installation'")).rows[0]?.value ?? "");
      } finally {
        await client.end();
      }
    },
    close,
  };
}

async function until<T>(what: string, check: () => T | undefined, timeoutMs = 60_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

const finished = (m: FakeMessage) =>
  !cardText(m).includes("berth_stop") && /:(white_check_mark|x|black_square_for_stop):/.test(cardText(m));

export type TakeoverRun = { takeoverSeconds: number; lost: number; repeated: number; killedAtLine: number };

/** One 600-line run on a fleet of two; the replica carrying it is killed (-9) at line ~100. */
async function takeoverOnce(pg: TestPostgres, i: number, total: number): Promise<TakeoverRun> {
  const fleet = await startFleet(pg, 2);
  const channel = SEED.incidentChannel;
  try {
    const name = `${prefix}kill-${i}`;
    const script = `for i in $(seq 1 ${total}); do echo line-$i; sleep 0.1; done`;
    const [first] = fleet.replicas as [Replica];
    await slashCommand(fleet.fake, {
      url: first.url,
      command: "/berth",
      text: `run --name ${name} ${image} sh -c '${script}'`,
      user: SEED.operator,
      channel,
    });
    const card = await until("the run's card", () => fleet.fake.messages(channel).find((m) => cardText(m).includes(name) && jobOf(m)));
    const job = jobOf(card) as string;
    const ts = card.ts;
    await until("line 100 in the thread", () => (threadLines(fleet.fake, channel, ts).includes("line-100") ? true : undefined), 120_000);
    const owner = await until("the replica carrying the job", () => fleet.owner(job));
    const killedAt = Date.now();
    owner.child.kill("SIGKILL");
    await owner.exited;
    // Whatever the killed replica had in flight has landed by now: only the survivor adds lines from here on.
    const shown = threadLines(fleet.fake, channel, ts);
    const killedAtLine = Number(shown.at(-1)?.replace("line-", "") ?? 0);
    const threadMessages = () =>
      fleet.fake
        .calls("chat.postMessage")
        .filter((c) => c.args.thread_ts === ts && c.status === 200 && String(c.args.text ?? "").startsWith("```"));
    const before = threadMessages().length;
    const already = new Set(shown);
    // A line the thread did not have at the kill: a message that only repeats earlier lines is not progress.
    const isNew = (text: unknown) =>
      String(text)
        .split("\n")
        .some((l) => /^line-\d+$/.test(l) && !already.has(l));
    const next = await until(
      "a new line in the same thread",
      () =>
        threadMessages()
          .slice(before)
          .find((c) => isNew(c.args.text)),
      120_000,
    );
    const takeoverSeconds = (next.at - killedAt) / 1000;
    await until(
      "the final card",
      () => {
        const m = fleet.fake.message(channel, ts);
        return m && finished(m) ? m : undefined;
      },
      240_000,
      200,
    );
    const file = await until("the uploaded full log", () => fleet.fake.files().find((f) => f.thread_ts === ts), 30_000).catch(
      () => undefined,
    );
    const thread = threadLines(fleet.fake, channel, ts);
    const fileLines = new Set(file ? file.content.split("\n") : []);
    const seen = new Set<string>();
    let repeated = 0;
    for (const l of thread)
      if (seen.has(l)) repeated++;
      else seen.add(l);
    let lost = 0;
    for (let n = 1; n <= total; n++) if (!seen.has(`line-${n}`) && !fileLines.has(`line-${n}`)) lost++;
    return { takeoverSeconds: round(takeoverSeconds, 2), lost, repeated, killedAtLine };
  } finally {
    await fleet.close();
  }
}

/** Containers labelled as berth's, printing a numbered line every 0.2 s, one channel each. */
async function streamContainers(fleet: Fleet, tag: string, n: number) {
  const fake = fleet.fake;
  const installation = await fleet.installation();
  const names = Array.from({ length: n }, (_, i) => `${prefix}${tag}-${i}`);
  for (const name of names) {
    await run("docker", [
      "run",
      "-d",
      "--network",
      "none",
      "--label",
      "io.berth.managed=true",
      "--label",
      `io.berth.installation=${installation}`,
      "--label",
      `io.berth.job=bench-${name}`,
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
  const channels = names.map((_, i) => `C0R${tag.toUpperCase()}${String(i).padStart(3, "0")}`);
  for (const [i, id] of channels.entries()) fake.addChannel({ id, name: `bench-${tag}-${i}`, members: [fake.botUserId, SEED.operator] });
  return { names, channels };
}

/** `logs -f` on every container, commands alternating between the replicas; resolves when every card is posted. */
async function startStreams(fleet: Fleet, names: string[], channels: string[]): Promise<number[]> {
  const t0 = Date.now();
  await Promise.all(
    names.map((name, i) =>
      slashCommand(fleet.fake, {
        url: (fleet.replicas[i % fleet.replicas.length] as Replica).url,
        command: "/berth",
        text: `logs -f --tail 0 ${name}`,
        user: SEED.operator,
        channel: channels[i] as string,
      }),
    ),
  );
  const cardCall = (ch: string) =>
    fleet.fake.calls("chat.postMessage").find((c) => c.args.channel === ch && !c.args.thread_ts && c.status === 200 && c.at >= t0);
  await until("every stream's card", () => (channels.every((ch) => cardCall(ch)) ? true : undefined), 180_000, 200);
  return channels.map((ch) => cardCall(ch)?.at ?? t0);
}

/** 50 concurrent `/berth jobs` (ack time each), alternating over `to` (default: every replica), then waits for every answer. */
async function ackBurst(fleet: Fleet, n: number, to: Replica[] = fleet.replicas): Promise<{ ms: number[]; failures: number }> {
  const answers = () => fleet.fake.responses().filter((r) => r.via === "response_url").length;
  const answered = answers();
  let failures = 0;
  const ms = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const r = await slashCommand(fleet.fake, {
        url: (to[i % to.length] as Replica).url,
        command: "/berth",
        text: "jobs",
        user: SEED.operator,
        channel: SEED.incidentChannel,
      });
      if (r.status !== 200) failures++;
      return r.ms;
    }),
  );
  // The answers go through response_url after the ack: let them finish so that the next burst does not pay for them.
  await until("every answer", () => (answers() >= answered + n - failures ? true : undefined), 15_000).catch(() => undefined);
  return { ms, failures };
}

export type FairnessResult = {
  streams: number;
  seconds: number;
  printedPerStreamPerMinute: number;
  perStreamPerMinute: { min: number; median: number; max: number };
  perReplicaStreams: number[];
  rateLimited: number;
};

async function fairness(pg: TestPostgres, streams: number, seconds: number): Promise<FairnessResult> {
  const fleet = await startFleet(pg, 2);
  try {
    const { names, channels } = await streamContainers(fleet, "f", streams);
    const cardAt = await startStreams(fleet, names, channels);
    await sleep(seconds * 1000);
    const measuredAt = Date.now();
    const rates = names.map((name, i) => {
      const ch = channels[i] as string;
      const card = fleet.fake.messages(ch).find((m) => cardText(m).includes(`logs -f ${name}`));
      const lines = card ? threadLines(fleet.fake, ch, card.ts).filter((l) => l.startsWith(`${name}-`)).length : 0;
      return lines / ((measuredAt - (cardAt[i] as number)) / 60_000);
    });
    if (process.env.BENCH_DEBUG) {
      const ch = channels[0] as string;
      process.stderr.write(`${JSON.stringify(fleet.fake.messages(ch)).slice(0, 3000)}\n`);
      process.stderr.write(`${JSON.stringify(fleet.fake.calls().filter((c) => c.args.channel === ch)).slice(0, 3000)}\n`);
    }
    const perReplicaStreams = fleet.replicas.map((r) => (r.output.join("").match(/"msg":"job (?:started|resumed)"/g) ?? []).length);
    return {
      streams,
      seconds,
      printedPerStreamPerMinute: 300,
      perStreamPerMinute: stats(rates, 0),
      perReplicaStreams,
      rateLimited: fleet.fake.rateLimited.filter((e) => !e.injected).length,
    };
  } finally {
    await fleet.close();
    await removeLabelled(label);
  }
}

export type AckSide = { replicas: number; sentTo: number; n: number; p50: number; p99: number; max: number; failures: number };

/**
 * The same bursts against a fleet of two and a fleet of one (each its own database on the same PostgreSQL),
 * interleaved; and against the fleet of two with every command sent to one of its replicas. Every berth process runs
 * on core 0 and the client (with the fake) on core 1, so that each fleet gets the same CPU and the client never waits
 * for the replicas' core: what differs is what being two replicas costs (the shared database, leases, budget, a
 * second process), not how this machine's two cores are shared out. PostgreSQL runs on both.
 */
async function ackSideBySide(pg: TestPostgres, burst: number, rounds: number): Promise<AckSide[]> {
  await pinSelf("1");
  const two = await startFleet(pg, 2, "0");
  let one: Fleet | undefined;
  try {
    one = await startFleet(pg, 1, "0");
    // Warm-up: no replica pays for JIT compilation or first connections in the measured rounds. Each replica gets the
    // same warm-up of its own (a burst sent over two replicas warmed each of them with half as many commands, and the
    // first measured round of a replica of two then paid for the rest: 145 ms against 33–60 in the rounds after it).
    for (const replica of [...two.replicas, ...one.replicas]) {
      for (let i = 0; i < 2; i++) await ackBurst(replica === one.replicas[0] ? one : two, burst, [replica]);
    }
    const sides = [
      { fleet: two, to: two.replicas },
      { fleet: one, to: one.replicas },
      { fleet: two, to: two.replicas.slice(0, 1) },
    ];
    const ms: number[][] = sides.map(() => []);
    const failures = sides.map(() => 0);
    for (let r = 0; r < rounds; r++) {
      // Each round in another order: a burst pays for what the one before it left running (the machine is shared).
      for (let j = 0; j < sides.length; j++) {
        const k = (j + r) % sides.length;
        const side = sides[k] as (typeof sides)[number];
        const b = await ackBurst(side.fleet, burst, side.to);
        ms[k]?.push(...b.ms);
        failures[k] = (failures[k] as number) + b.failures;
      }
    }
    return ms.map((xs, k) => ({
      replicas: (sides[k] as (typeof sides)[number]).fleet.replicas.length,
      sentTo: (sides[k] as (typeof sides)[number]).to.length,
      n: xs.length,
      p50: round(percentile(xs, 50)),
      p99: round(percentile(xs, 99)),
      max: round(Math.max(...xs)),
      failures: failures[k] as number,
    }));
  } finally {
    await two.close();
    await one?.close();
    await pinSelf(`0-${cpus().length - 1}`); // every core again
  }
}

export type CardResult = { streams: number; cards: number; p50Ms: number; p95Ms: number; maxMs: number; rateLimited: number };

/**
 * While `streams` streams run on two replicas (one of them in the channel the cards go to), `cards` runs one at a
 * time, each 1.5 s after the previous card (a person reads a card before typing the next command; commands sent
 * back to back would measure Slack's one post per second per channel, not berth): command → its card in the fake.
 */
async function newCards(pg: TestPostgres, streams: number, cards: number): Promise<CardResult> {
  const fleet = await startFleet(pg, 2);
  const channel = SEED.incidentChannel;
  try {
    const { names, channels } = await streamContainers(fleet, "n", streams);
    await startStreams(fleet, names, [channel, ...channels.slice(1)]);
    const delays: number[] = [];
    for (let i = 0; i <= cards; i++) {
      const marker = `${prefix}card-${i}`;
      const t0 = Date.now();
      await slashCommand(fleet.fake, {
        url: (fleet.replicas[i % 2] as Replica).url,
        command: "/berth",
        text: `run --name ${marker} ${image} echo ${marker}`,
        user: SEED.operator,
        channel,
      });
      const call = await fleet.fake.waitFor(
        "chat.postMessage",
        (c) => c.args.channel === channel && !c.args.thread_ts && c.status === 200 && c.at >= t0 && JSON.stringify(c.args).includes(marker),
        60_000,
      );
      if (i > 0) delays.push(call.at - t0); // the first is a warm-up
      await sleep(1500);
    }
    if (process.env.BENCH_DEBUG) process.stderr.write(`${JSON.stringify(delays)}\n`);
    return {
      streams,
      cards,
      p50Ms: round(percentile(delays, 50), 0),
      p95Ms: round(percentile(delays, 95), 0),
      maxMs: round(Math.max(...delays), 0),
      rateLimited: fleet.fake.rateLimited.filter((e) => !e.injected).length,
    };
  } finally {
    await fleet.close();
    await removeLabelled(label);
  }
}

export type ReplicasResult = {
  takeover: {
    leaseSeconds: number;
    lines: number;
    runs: TakeoverRun[];
    takeoverSeconds: { min: number; median: number; max: number };
    lost: number;
    repeated: number;
  };
  fairness: FairnessResult;
  ack: AckSide[];
  newCard: CardResult;
};

export async function replicasBenchmark(
  options: { takeovers?: number; streams?: number; seconds?: number; cardStreams?: number; cards?: number; ackRounds?: number } = {},
): Promise<ReplicasResult> {
  const lines = 600;
  await removeLabelled(label);
  await removeByName(prefix);
  const pg = await startPostgres();
  try {
    const runs: TakeoverRun[] = [];
    for (let i = 0; i < (options.takeovers ?? 3); i++) runs.push(await takeoverOnce(pg, i, lines));
    const fair = await fairness(pg, options.streams ?? 100, options.seconds ?? 90);
    const ack = await ackSideBySide(pg, 50, options.ackRounds ?? 30);
    const newCard = await newCards(pg, options.cardStreams ?? 50, options.cards ?? 20);
    const result: ReplicasResult = {
      takeover: {
        leaseSeconds: 10,
        lines,
        runs,
        takeoverSeconds: stats(runs.map((r) => r.takeoverSeconds)),
        lost: runs.reduce((a, r) => a + r.lost, 0),
        repeated: runs.reduce((a, r) => a + r.repeated, 0),
      },
      fairness: fair,
      ack,
      newCard,
    };
    process.stdout.write(`${JSON.stringify({ replicas: result }, null, 2)}\n`);
    return result;
  } finally {
    await pg.stop();
    await removeLabelled(label);
    await removeByName(prefix);
  }
}
