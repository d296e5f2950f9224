import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { registry } from "../../commands/index.ts";
import type { Actor } from "../../src/core/action.ts";
import { type DispatchDeps, dispatch, type Outcome } from "../../src/core/dispatch.ts";
import type { JobEvent } from "../../src/core/events.ts";
import { plainText } from "../../src/core/message.ts";
import { PolicySchema } from "../../src/core/policy.ts";
import { decimal, processLines, statsTable } from "../../src/core/stats-report.ts";
import { parseYaml } from "../../src/core/yaml-file.ts";
import type { ContainerStats } from "../../src/engines/ports.ts";
import { details, FakeEngine } from "../fakes.ts";
import { closeOpened, memoryStore, testJobs } from "../support/memory-store.ts";
import { mrkdwn } from "../support/text.ts";

// `stats` and `top` through the pipeline, with a hand-written engine: sorting, ten on the card and the rest in the
// thread, figures the engine did not give, names that match nothing, and the policy's read permission.

const policy = parseYaml(
  `version: 1
roles:
  viewer: { actions: [container.list, container.stats, container.top] }
bindings:
  - { role: viewer, users: [U0VIEW] }
`,
  PolicySchema,
  "stats policy",
);

async function setup() {
  const engine = new FakeEngine();
  const store = await memoryStore();
  const deps: DispatchDeps = {
    registry,
    policy: () => policy,
    hosts: { connections: [{ name: "local", url: "unix:///x", timeoutMs: 1000 }], channels: {}, default: "local" },
    engine: () => engine,
    store,
    jobs: testJobs(store),
    pendingActions: new Map(),
    groupsOf: async () => new Set(),
    clock: () => Date.parse("2026-12-06T03:30:00Z"),
  };
  return { engine, store, deps };
}

afterEach(closeOpened);

const signal = () => AbortSignal.timeout(5000);
const viewer: Actor = { userId: "U0VIEW", channelId: "C0OPS", homeTeam: true };
const stranger: Actor = { userId: "U0NOBODY", channelId: "C0OPS", homeTeam: true };
const text = (o: Outcome) => (o.type === "reply" ? mrkdwn(o.reply.text) : o.type);

async function events(o: Outcome): Promise<JobEvent[]> {
  assert.equal(o.type, "job", JSON.stringify(o));
  const out: JobEvent[] = [];
  if (o.type === "job") for await (const e of o.plan.run(signal())) out.push(e);
  return out;
}
const endOf = (es: JobEvent[]) => {
  const end = es.at(-1);
  assert.ok(end?.type === "end");
  return end;
};
const threadLines = (es: JobEvent[]) => es.flatMap((e) => (e.type === "line" ? [e.line.text] : []));

const full = (over: Partial<ContainerStats>): Partial<ContainerStats> => ({
  cpuPercent: 1,
  memoryBytes: 12.5 * 1024 ** 2,
  memoryLimitBytes: 256 * 1024 ** 2,
  memoryPercent: (12.5 / 256) * 100,
  netRxBytes: 1234,
  netTxBytes: 0,
  blockReadBytes: 4_096_000,
  blockWriteBytes: 0,
  pids: 3,
  ...over,
});

test("stats: every running container, busiest first; the card shows ten, the thread the rest, and the busiest is one tap from top", async () => {
  const { deps, engine } = await setup();
  for (let i = 1; i <= 12; i++) {
    engine.containers.push(details({ id: `${i}`.padStart(12, "0"), name: `c${i}` }));
    engine.statsByName.set(`c${i}`, full({ cpuPercent: i * 7.5 }));
  }
  engine.containers.push(details({ id: "ffffffffffff", name: "stopped", state: "exited", status: "Exited (0)" }));
  const outcome = await dispatch({ text: "stats", actor: viewer }, deps, signal());
  assert.equal(outcome.type === "job" && outcome.plan.summary, "stats on local");
  const es = await events(outcome);
  assert.deepEqual(engine.calls.at(-1), { method: "stats", args: [[]] });
  const end = endOf(es);
  assert.equal(end.outcome, "succeeded");
  const card = plainText(end.text);
  const order = [...card.matchAll(/^(c\d+) /gm)].map((m) => m[1]);
  assert.deepEqual(order, ["c12", "c11", "c10", "c9", "c8", "c7", "c6", "c5", "c4", "c3"]);
  assert.match(card, /^12 containers on local, busiest first, at 03:30:00 UTC:/);
  assert.match(card, /…and 2 more in the thread\.$/);
  assert.match(card, /^c12 +90\.00% +12\.5MiB \/ 256MiB +4\.88% +1\.23kB \/ 0B +4\.1MB \/ 0B +3$/m);
  assert.match(
    mrkdwn(end.text),
    /```\nNAME +CPU % +MEM USAGE \/ LIMIT +MEM % +NET I\/O +BLOCK I\/O +PIDS\nc12 /,
    "a code block on the card",
  );
  const thread = threadLines(es);
  assert.equal(thread.length, 3, thread.join("\n"));
  assert.match(thread[0] ?? "", /^NAME +CPU %/);
  assert.match(thread[1] ?? "", /^c2 +15\.00%/);
  assert.match(thread[2] ?? "", /^c1 +7\.50%/);
  assert.deepEqual(
    end.choices?.map((c) => [c.label, c.action]),
    [["Top c12", { kind: "container.top", container: "c12", host: "local" }]],
  );
});

test("stats: ten or fewer fill the card and leave the thread empty; nothing running says so", async () => {
  const { deps, engine } = await setup();
  const none = endOf(await events(await dispatch({ text: "stats", actor: viewer }, deps, signal())));
  assert.match(mrkdwn(none.text), /No berth containers are running on local\. `\/berth ps -a` lists the stopped ones\./);
  engine.containers.push(details({ id: "aaaaaaaaaaaa", name: "api" }));
  engine.statsByName.set("api", full({}));
  const es = await events(await dispatch({ text: "stats", actor: viewer }, deps, signal()));
  assert.deepEqual(threadLines(es), []);
  assert.doesNotMatch(plainText(endOf(es).text), /more in the thread/);
});

test("stats NAME…: a name that is no berth container and a stopped one get a line each; the others are still shown", async () => {
  const { deps, engine } = await setup();
  engine.containers.push(
    details({ id: "aaaaaaaaaaaa", name: "api" }),
    details({ id: "bbbbbbbbbbbb", name: "old", state: "exited", status: "Exited (1) 3 minutes ago" }),
  );
  engine.statsByName.set("api", full({ cpuPercent: 42 }));
  const outcome = await dispatch({ text: "stats api nope old api", actor: viewer }, deps, signal());
  assert.equal(outcome.type === "job" && outcome.plan.summary, "stats api nope old on local");
  const end = endOf(await events(outcome));
  assert.deepEqual(engine.calls.at(-1), { method: "stats", args: [["api", "nope", "old"]] });
  const said = mrkdwn(end.text);
  assert.match(said, /\napi +42\.00%/);
  assert.match(said, /• `nope` — no such berth container \(`\/berth ps -a` lists them\)/);
  assert.match(said, /• `old` — not running \(exited: Exited \(1\) 3 minutes ago\)/);
  assert.equal(end.outcome, "succeeded");

  const nothing = endOf(await events(await dispatch({ text: "stats nope", actor: viewer }, deps, signal())));
  assert.equal(nothing.outcome, "failed", "nothing could be read");

  // The card is one Slack section: five such lines at most, then how many more.
  const seven = endOf(await events(await dispatch({ text: "stats api n1 n2 n3 n4 n5 n6 n7", actor: viewer }, deps, signal())));
  const card = plainText(seven.text);
  assert.equal(card.match(/no such berth container/g)?.length, 5);
  assert.match(card, /…and 2 more named containers without stats\.$/);
});

test("stats: figures the engine did not give (a Windows host, no network) are shown as —, never as 0", async () => {
  const lines = statsTable([
    {
      id: "aaaaaaaaaaaa",
      name: "win",
      cpuPercent: 3.14149,
      memoryBytes: 80 * 1024 ** 2,
      memoryLimitBytes: undefined,
      memoryPercent: undefined,
      netRxBytes: undefined,
      netTxBytes: undefined,
      blockReadBytes: 0,
      blockWriteBytes: 2_500_000_000,
      pids: undefined,
    },
  ]);
  assert.match(lines[1] ?? "", /^win +3\.14% +80MiB \/ — +— +— +0B \/ 2\.5GB +—$/);
  assert.deepEqual([0, 999, 1000, 1234567, 1e12].map(decimal), ["0B", "999B", "1kB", "1.23MB", "1TB"]);
  assert.match(statsTable([{ ...({} as ContainerStats), id: "x", name: "n".repeat(40) }])[1] ?? "", /^n{27}… /, "a long name is cut");
});

test("stats: bad input gets a clear answer and nothing runs", async () => {
  const { deps, engine } = await setup();
  const many = Array.from({ length: 21 }, (_, i) => `c${i}`).join(" ");
  assert.match(text(await dispatch({ text: `stats ${many}`, actor: viewer }, deps, signal())), /at most 20 containers in one command/);
  assert.match(text(await dispatch({ text: "stats 'bad name!'", actor: viewer }, deps, signal())), /a container name or id/);
  assert.match(
    text(await dispatch({ text: "stats --all", actor: viewer }, deps, signal())),
    /`--all` is a `docker stats` option that berth does not take/,
  );
  assert.ok(!engine.calls.some((c) => c.method === "stats"));
});

test("stats and top are read permissions: without them, denied and not run", async () => {
  const { deps, engine } = await setup();
  engine.containers.push(details({ id: "aaaaaaaaaaaa", name: "api" }));
  for (const line of ["stats", "top api"]) {
    const o = await dispatch({ text: line, actor: stranger }, deps, signal());
    assert.equal(o.type === "reply" && o.result, "denied", `${line}: ${text(o)}`);
  }
  assert.ok(!engine.calls.some((c) => c.method === "stats" || c.method === "top"));
});

test("top CONTAINER: the engine's columns, lined up, in a code block shown to the requester", async () => {
  const { deps, engine } = await setup();
  engine.containers.push(details({ id: "aaaaaaaaaaaa", name: "api" }));
  engine.processes = {
    titles: ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
    processes: [
      ["root", "4242", "4221", "0", "03:29", "?", "00:00:00", "sleep 300"],
      ["root", "4300", "4242", "99", "03:29", "?", "00:01:02", "sh -c while :; do :; done"],
    ],
  };
  const o = await dispatch({ text: "top api", actor: viewer }, deps, signal());
  assert.equal(o.type === "reply" && o.reply.visibility, "ephemeral");
  assert.equal(
    text(o),
    [
      "*Processes of api on local* (2)",
      "```",
      "UID   PID   PPID  C   STIME  TTY  TIME      CMD",
      "root  4242  4221  0   03:29  ?    00:00:00  sleep 300",
      "root  4300  4242  99  03:29  ?    00:01:02  sh -c while :; do :; done",
      "```",
    ].join("\n"),
  );
});

test("top: secrets in command lines are masked like output: the container's environment values, password= pairs", async () => {
  const { deps, engine } = await setup();
  engine.containers.push(details({ id: "aaaaaaaaaaaa", name: "db", envNames: ["DB_PASS"] }));
  engine.processes = { titles: ["PID", "CMD"], processes: [["1", "dbd --auth value-of-DB_PASS --password=hunter2hunter2"]] };
  const shown = text(await dispatch({ text: "top db", actor: viewer }, deps, signal()));
  assert.doesNotMatch(shown, /value-of-DB_PASS|hunter2/);
  assert.match(shown, /1 +dbd --auth \S+ --password=\S+/);
});

test("top: a stopped container, an unknown one, and a missing name each get a clear answer", async () => {
  const { deps, engine } = await setup();
  engine.containers.push(details({ id: "aaaaaaaaaaaa", name: "api" }), details({ id: "bbbbbbbbbbbb", name: "old", state: "exited" }));
  assert.match(text(await dispatch({ text: "top old", actor: viewer }, deps, signal())), /is not running/);
  assert.match(text(await dispatch({ text: "top nope", actor: viewer }, deps, signal())), /No berth container "nope"/);
  assert.match(text(await dispatch({ text: "top api extra", actor: viewer }, deps, signal())), /unexpected extra argument `extra`/);
  assert.match(
    text(await dispatch({ text: "top api -o pid", actor: viewer }, deps, signal())),
    /`-o`: berth's `top` takes no `ps` options/,
  );
  // Left out: the running containers this person may look into, as taps.
  const picked = await dispatch({ text: "top", actor: viewer }, deps, signal());
  assert.deepEqual(picked.type === "reply" && picked.reply.choices?.map((c) => c.action), [
    { kind: "container.top", container: "api", host: "local" },
  ]);
});

test("top: a long process list is cut to what one answer holds, saying how many were left out", () => {
  const processes = Array.from({ length: 500 }, (_, i) => [String(i + 1), "root", "0:00", `worker --id ${i} ${"x".repeat(300)}`]);
  const { lines, left } = processLines({ titles: ["PID", "USER", "TIME", "COMMAND"], processes });
  assert.ok(lines.join("\n").length <= 2800);
  assert.equal(lines.length + left, 501);
  assert.ok(
    lines.every((l) => l.length < 130),
    "a long command is cut",
  );
});
