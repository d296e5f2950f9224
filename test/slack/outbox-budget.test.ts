import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { after, before, beforeEach, test } from "node:test";
import { WebClient } from "@slack/web-api";
import { BerthError } from "../../src/core/errors.ts";
import { createOutbox, type Outbox, type OutboxOptions } from "../../src/slack/outbox.ts";
import { type RateBudget, reserveSlot } from "../../src/store/port.ts";
import { type ApiCall, SEED, SlackFake } from "../support/slack-fake.ts";
import { slackSpacing } from "../support/slack-spacing.ts";

// Two outboxes (two replicas of berth) sharing one rate budget, against the Slack emulator through the real
// WebClient. Time is virtual: the outboxes, the budget and the emulator read one clock, which moves only when every
// HTTP call has been answered and every task is asleep, so a call is recorded at the time it took its tokens and the
// tests count the calls in each window from the emulator's record, without waiting seconds of real time.

/** A clock for the outbox's `now`/`sleep`: it jumps to the next sleeper's time once nothing else is going on. */
class VirtualClock {
  private t = 1_000_000;
  private sleepers: { at: number; wake: () => void }[] = [];
  private readonly inFlight = new Set<unknown>();
  private quietTicks = 0;
  private handle: NodeJS.Timeout | undefined;
  // The WebClient calls Slack through fetch (undici): a request is in flight from its creation to its last byte.
  private readonly channels: [string, (message: unknown) => void][] = [
    ["undici:request:create", (m) => this.inFlight.add((m as { request: unknown }).request)],
    ["undici:request:trailers", (m) => this.inFlight.delete((m as { request: unknown }).request)],
    ["undici:request:error", (m) => this.inFlight.delete((m as { request: unknown }).request)],
  ];

  readonly now = () => this.t;
  readonly sleep = (ms: number) => new Promise<void>((wake) => this.sleepers.push({ at: this.t + ms, wake }));

  start(): void {
    for (const [name, listener] of this.channels) subscribe(name, listener);
    this.tick();
  }

  stop(): void {
    clearTimeout(this.handle);
    for (const [name, listener] of this.channels) unsubscribe(name, listener);
  }

  private tick(): void {
    this.handle = setTimeout(() => {
      // Two quiet ticks in a row: what follows an answer (the next reply of a thread, a budget take) has started.
      this.quietTicks = this.inFlight.size === 0 && this.sleepers.length > 0 ? this.quietTicks + 1 : 0;
      if (this.quietTicks >= 2) {
        this.quietTicks = 0;
        this.t = Math.max(this.t, Math.min(...this.sleepers.map((s) => s.at)));
        const due = this.sleepers.filter((s) => s.at <= this.t);
        this.sleepers = this.sleepers.filter((s) => s.at > this.t);
        for (const s of due) s.wake();
      }
      this.tick();
    }, 1);
  }
}

/** The port's rate budget in memory: each lane's next free time on the injected clock, the rule the stores apply. */
function memoryBudget(now: () => number) {
  const next = new Map<string, number>();
  let asked = 0;
  const budget: RateBudget = {
    async reserve(lanes, mode) {
      asked++;
      const { reservation, write } = reserveSlot(
        lanes.map((l) => next.get(l.key) ?? 0),
        lanes,
        mode,
        now(),
      );
      if (write) for (const [i, l] of lanes.entries()) next.set(l.key, write[i] as number);
      return reservation;
    },
  };
  return { budget, asked: () => asked };
}

/** The shortest time between two consecutive calls (Infinity for fewer than two). */
function closest(calls: ApiCall[]): number {
  const at = calls.map((c) => c.at).sort((x, y) => x - y);
  return Math.min(...at.slice(1).map((t, i) => t - (at[i] as number)));
}

/** 429s the emulator answered on its own (Slack's limits), not injected faults. */
const limited = () => fake.rateLimited.filter((e) => !e.injected).length;

let clock: VirtualClock;
let fake: SlackFake;
let client: WebClient;

before(async () => {
  clock = new VirtualClock();
  clock.start();
  fake = await SlackFake.start({ now: clock.now });
  client = new WebClient(fake.botToken, { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true });
});
after(async () => {
  await fake.stop();
  clock.stop();
});
beforeEach(() => fake.reset());

const replica = (o: Partial<OutboxOptions> = {}) =>
  createOutbox({ client, spacing: slackSpacing, now: clock.now, sleep: clock.sleep, ...o });

const posts = (channel: string, replies: boolean) =>
  fake.calls("chat.postMessage").filter((c) => c.args.channel === channel && (c.args.thread_ts !== undefined) === replies);

/** Two replicas post `perReplica` cards each into one channel, all asked at once; returns the closest two posts. */
async function twoReplicasPostCards(budget: RateBudget | undefined, perReplica: number) {
  const replicas = [replica(budget ? { budget } : {}), replica(budget ? { budget } : {})];
  await Promise.all(
    replicas.flatMap((outbox, r) =>
      Array.from({ length: perReplica }, (_, i) => outbox.post(SEED.incidentChannel, { text: `r${r} card ${i}` })),
    ),
  );
  assert.equal(fake.messages(SEED.incidentChannel).length, 2 * perReplica, "every card landed");
  return closest(posts(SEED.incidentChannel, false));
}

test("two replicas sharing the budget post to one channel at one replica's rate, never closer, and Slack never refuses", async () => {
  assert.ok((await twoReplicasPostCards(memoryBudget(clock.now).budget, 6)) >= slackSpacing.postPerChannelMs);
  assert.equal(limited(), 0, "no 429: the emulator allows 3 posts in any 3 s per channel");
  fake.reset();
  // Without it, the same two replicas each keep their own spacing and together send twice the rate.
  assert.equal(await twoReplicasPostCards(undefined, 6), 0, "both replicas' first cards at once");
});

/** Two replicas stream replies into three threads each (six channels), all asked at once. */
async function twoReplicasStream(budget: RateBudget | undefined) {
  const channels = Array.from({ length: 6 }, (_, i) => `C0B${i}`);
  for (const id of channels) fake.addChannel({ id, name: `budget-${id}`, members: [fake.botUserId] });
  const replicas = [replica(budget ? { budget } : {}), replica(budget ? { budget } : {})];
  const owner = (i: number) => replicas[i % 2] as Outbox; // each thread is streamed by one replica, as a job's is
  const parents = await Promise.all(channels.map((c, i) => owner(i).post(c, { text: "card" })));
  const lines = Array.from({ length: 6 }, (_, n) => `line ${n + 1}`);
  await Promise.all(channels.flatMap((c, i) => lines.map((text) => owner(i).post(c, { text, thread_ts: parents[i] as string }))));
  for (const [i, c] of channels.entries()) {
    assert.deepEqual(
      fake.thread(c, parents[i] as string).map((m) => m.text),
      lines,
      `thread in ${c} in order`,
    );
  }
  return {
    replies: closest(channels.flatMap((c) => posts(c, true))),
    perChannel: Math.min(...channels.map((c) => closest(fake.calls("chat.postMessage").filter((p) => p.args.channel === c)))),
  };
}

test("two replicas' thread replies together stay within one replica's reply rate, and every thread reads in order", async () => {
  const shared = await twoReplicasStream(memoryBudget(clock.now).budget);
  assert.ok(shared.replies >= slackSpacing.postRepliesMs, `two replies ${shared.replies} ms apart`);
  assert.ok(shared.perChannel >= slackSpacing.postPerChannelMs, `two posts in one channel ${shared.perChannel} ms apart`);
  assert.equal(limited(), 0);
  fake.reset();
  const alone = await twoReplicasStream(undefined);
  assert.ok(alone.replies < slackSpacing.postRepliesMs, `without the budget: two replies ${alone.replies} ms apart`);
});

test("a new card is not held back by two replicas' streams in other channels, though they wait for the budget", async () => {
  const { budget } = memoryBudget(clock.now);
  const replicas = [replica({ budget }), replica({ budget })];
  const carding = replica({ budget }); // a third replica: its only call is the card
  const owner = (i: number) => replicas[i % 2] as Outbox;
  const channels = Array.from({ length: 8 }, (_, i) => `C0H${i}`);
  for (const id of channels) fake.addChannel({ id, name: `hol-${id}`, members: [fake.botUserId] });
  const parents = await Promise.all(channels.map((c, i) => owner(i).post(c, { text: "card" })));
  await clock.sleep(2000); // those cards were posted a while ago
  const refusedBefore = replicas.map((r) => r.stats.budgetRefused ?? 0);
  const streams = channels.flatMap((c, i) =>
    Array.from({ length: 5 }, (_, n) => owner(i).post(c, { text: `line ${n}`, thread_ts: parents[i] as string })),
  );
  await clock.sleep(1500); // the streams are under way, the shared reply budget used up window after window
  const asked = clock.now();
  const card = carding.post(SEED.incidentChannel, { text: "new card" });
  await Promise.all([...streams, card]);
  const refused = replicas.reduce((sum, r, i) => sum + (r.stats.budgetRefused ?? 0) - (refusedBefore[i] ?? 0), 0);
  assert.ok(refused > 0, "the streams had to wait for the shared reply budget");
  assert.equal(carding.stats.budgetRefused, 0, "the card's buckets had room");
  const cardAt = posts(SEED.incidentChannel, false).find((c) => c.args.text === "new card")?.at;
  assert.equal(cardAt, asked, "the card went out when it was asked for");
});

/** Ten streams each have a reply waiting in one channel when a new card for that channel is asked for. */
async function cardAmongReplies(streaming: Outbox, carding: Outbox) {
  const parents: string[] = [];
  for (let i = 0; i < 10; i++) parents.push(await streaming.post(SEED.incidentChannel, { text: `job ${i}` }));
  await clock.sleep(3000); // those cards were posted a while ago
  const asked = clock.now();
  const replies = parents.map((p) => streaming.post(SEED.incidentChannel, { text: "reply", thread_ts: p }));
  await new Promise((r) => setImmediate(r)); // the replies were asked for first
  await Promise.all([...replies, carding.post(SEED.incidentChannel, { text: "new card" })]);
  const sent = fake.calls("chat.postMessage").filter((c) => c.at >= asked && c.status === 200);
  assert.equal(sent.length, 11);
  return sent.findIndex((c) => c.args.text === "new card");
}

test("a new card goes before the replies waiting in its own channel", async () => {
  const outbox = replica();
  assert.ok((await cardAmongReplies(outbox, outbox)) <= 1, "at most the reply already under way went first");
});

test("a new card goes before another replica's replies waiting in its channel, with the shared budget", async () => {
  const { budget } = memoryBudget(clock.now);
  const position = await cardAmongReplies(replica({ budget, random: () => 0.5 }), replica({ budget, random: () => 0.5 }));
  assert.ok(position <= 1, `the card went out after ${position} replies`);
});

test("a budget that cannot be reached does not stop posting: local spacing alone, counted, asked again later", async () => {
  const memory = memoryBudget(clock.now);
  let down = true;
  let asked = 0;
  const budget: RateBudget = {
    reserve(lanes, mode) {
      asked++;
      if (down) return Promise.reject(new BerthError("UNAVAILABLE", "The database cannot be reached."));
      return memory.budget.reserve(lanes, mode);
    },
  };
  const outbox = replica({ budget });
  await Promise.all([1, 2, 3].map((n) => outbox.post(SEED.incidentChannel, { text: `m${n}` })));
  assert.deepEqual(
    fake.messages(SEED.incidentChannel).map((m) => m.text),
    ["m1", "m2", "m3"],
  );
  assert.equal(outbox.stats.budgetUnavailable, 3);
  assert.equal(asked, 1, "the down database was asked once, not once per call");
  assert.ok(closest(posts(SEED.incidentChannel, false)) >= slackSpacing.postPerChannelMs, "local spacing kept");
  down = false;
  await clock.sleep(10_000);
  await outbox.post(SEED.incidentChannel, { text: "m4" });
  assert.equal(outbox.stats.budgetUnavailable, 3, "the budget is used again once the database is back");
  assert.equal(memory.asked(), 1, "m4 booked its channel and top-level lanes in one reservation");
});
