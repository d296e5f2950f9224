import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { registry } from "../../commands/index.ts";
import type { Actor } from "../../src/core/action.ts";
import { type DispatchDeps, dispatch, type Outcome } from "../../src/core/dispatch.ts";
import { BerthError } from "../../src/core/errors.ts";
import type { Hosts } from "../../src/core/hosts.ts";
import { createJobRegistry } from "../../src/core/jobs.ts";
import type { Message } from "../../src/core/message.ts";
import { parse } from "../../src/core/parse.ts";
import { PolicySchema } from "../../src/core/policy.ts";
import { parseYaml } from "../../src/core/yaml-file.ts";
import { toMrkdwn } from "../../src/slack/render.ts";
import { openSqliteStore } from "../../src/store/sqlite-store.ts";
import { details, FakeEngine } from "../fakes.ts";
import { mrkdwn } from "../support/text.ts";

/**
 * The pipeline's safety property, over random conversations: the engine is only ever touched for a request whose
 * audit log already holds an `allow` decision, and never for a request that was denied, did not parse, or is still
 * waiting at a gate (apart from the preview's host probe, see PREVIEW_PROBE).
 */

const policyText = `version: 1
roles:
  viewer: { actions: [container.list, container.logs, container.inspect] }
  operator: { inherits: [viewer], actions: [container.run, "container.st*", container.restart] }
  lead: { inherits: [operator], actions: [container.remove, container.exec, audit.query] }
  admin: { actions: ["*"] }
bindings:
  - { role: operator, usergroups: [S0ONCALL], channels: [C0INCIDENT, C0INCDB, C0PRODALR], hosts: ["staging-*", "prod-*"] }
  - { role: operator, users: [U0OPER], hosts: [local, "staging-*"] }
  - { role: lead, users: [U0LEAD], usergroups: [S0LEADS], channels: [C0OPSDEP, C0INCIDENT, C0PRODALR] }
  - { role: viewer, users: ["*"], channels: [C0OPSDEP, C0PRODALR] }
  - { role: admin, users: [U0ADMIN] }
images: ["busybox:*", "alpine:latest", "registry.example.com/**"]
rules:
  - { id: incident-confirm, actions: [container.run, "container.st*", container.restart], channels: [C0INCDB], require: confirm }
  - { id: prod-run, actions: [container.run], hosts: ["prod-*"], require: approval, approvers: [lead] }
  - { id: experimental, actions: [container.run], images: ["registry.example.com/experimental/**"], require: approval }
  - { id: prod-danger, actions: [container.exec, container.remove], hosts: ["prod-*"], require: approval, approvers: [admin] }
approvals: { ttl: 10m }
grants:
  - { role: admin, requesters: { users: [U0LEAD], usergroups: [S0ONCALL] }, approvers: [lead, admin], maxDuration: 2h }
  - { role: operator, requesters: { users: ["*"] }, approvers: [lead], maxDuration: 30m }
containers: { maxMemory: 1g, maxCpus: 2, maxTimeout: 4h, networks: [bridge], mounts: { data: { path: /srv/data }, scratch: { path: /tmp/berth-scratch, readOnly: false } } }
`;
const policy = parseYaml(policyText, PolicySchema, "property policy");
/** The policy after a reload that took rights away: no on-call binding, no registry images, no exec for leads, U0OPER only on local. */
const stricter = parseYaml(
  policyText
    .replace(/^ {2}- \{ role: operator, usergroups: \[S0ONCALL\].*\n/m, "")
    .replace(', "registry.example.com/**"]', "]")
    .replace("actions: [container.remove, container.exec, audit.query]", "actions: [container.remove, audit.query]")
    .replace('users: [U0OPER], hosts: [local, "staging-*"]', "users: [U0OPER], hosts: [local]"),
  PolicySchema,
  "stricter property policy",
);

const hostNames = ["local", "staging-1", "prod-1"] as const;
const hosts: Hosts = {
  connections: hostNames.map((name) => ({ name, url: `unix:///${name}`, timeoutMs: 1000 })),
  channels: { "#prod-*": "prod-1", "#incident-*": "prod-1", C0STAGE: "staging-1" },
  default: "local",
};

/** Bound by ID, bound through a user group, in an unrelated group, and not bound at all. */
const groupsOf: Record<string, string[]> = {
  U0OPER: [],
  U0ONCALL1: ["S0ONCALL"],
  U0ONCALL2: ["S0OTHER", "S0ONCALL"],
  U0LEAD: [],
  U0LEADX: ["S0LEADS"],
  U0ADMIN: [],
  U0NOBODY: [],
  U0STRANGER: ["S0OTHER"],
};
const channels: { channelId: string; channelName?: string }[] = [
  { channelId: "C0INCIDENT", channelName: "major-incident" },
  { channelId: "C0INCDB", channelName: "incident-db" },
  { channelId: "C0OPSDEP", channelName: "ops-deploy" },
  { channelId: "C0PRODALR", channelName: "prod-alerts" },
  { channelId: "C0STAGE", channelName: "staging" },
  { channelId: "C0RANDOM", channelName: "random" },
  { channelId: "D0DIRECT" },
];

/**
 * The engine touches a gated request makes before anyone decided, all reads: dispatch's preview resolves the host and
 * asks its engine for OS and version to show on the card; a name that matches nothing exactly is answered with the
 * close ones (a list of berth's containers or services); a run whose image is there is checked against the host's
 * platform (nobody confirms the impossible). Everything else must wait.
 */
const PREVIEW_PROBE: ReadonlySet<string> = new Set(["engine()", "info", "list", "services", "hasImage", "imagePlatform"]);

/** The reads a command that left out its container may lead to: the picker's listing, a `ps` of its own. */
const PICKER_READS: ReadonlySet<string> = new Set(["engine()", "list", "services"]);

type Touch = { host: string; what: string; auditLength: number };

/** A FakeEngine that reports every call it records (FakeEngine records each one in `calls`) the moment it happens. */
class WatchedEngine extends FakeEngine {
  constructor(name: string, onCall: (method: string) => void) {
    super(name);
    const calls = this.calls;
    calls.push = (...items) => {
      for (const item of items) onCall(item.method);
      return Array.prototype.push.apply(calls, items);
    };
  }
}

const T0 = Date.UTC(2025, 0, 15, 9, 0, 0);

async function world() {
  let clock = T0;
  let current = policy;
  const store = await openSqliteStore({ dataDir: ":memory:", clock: () => clock });
  const touches: Touch[] = [];
  // An engine call is checked against the audit log as it was at that moment, which an engine call cannot await:
  // the records written so far are counted as each append completes (seq is the log's length, one writer here).
  let audited = 0;
  const append = store.audit.append.bind(store.audit);
  store.audit.append = async (entry) => {
    const record = await append(entry);
    audited = Math.max(audited, record.seq);
    return record;
  };
  const auditLength = () => audited;
  const engines = new Map(
    hostNames.map((h) => {
      const engine = new WatchedEngine(h, (method) => touches.push({ host: h, what: method, auditLength: auditLength() }));
      engine.containers.push(
        details({ id: "aaa111aaa111", name: "api" }),
        details({ id: "bbb222bbb222", name: "worker-1", envNames: ["TOKEN"] }),
      );
      engine.lines = [{ stream: "stdout", text: "hello" }];
      return [h as string, engine] as const;
    }),
  );
  const deps: DispatchDeps = {
    registry,
    policy: () => current,
    hosts,
    engine: (host) => {
      touches.push({ host, what: "engine()", auditLength: auditLength() });
      const engine = engines.get(host);
      if (!engine) throw new Error(`dispatch asked for an engine for unknown host ${host}`);
      return engine;
    },
    store,
    jobs: createJobRegistry(store, { owner: "test" }),
    pendingActions: new Map(),
    groupsOf: async (u) => new Set(groupsOf[u] ?? []),
    clock: () => clock,
  };
  // Jobs already running, started by others, for `cancel` to find.
  await deps.jobs.start({
    id: "j-000001",
    kind: "container.logs",
    userId: "U0OPER",
    channelId: "C0INCIDENT",
    host: "prod-1",
    summary: "logs -f api",
  });
  await deps.jobs.start({
    id: "j-000002",
    kind: "container.exec",
    userId: "U0NOBODY",
    channelId: "C0RANDOM",
    host: "local",
    summary: "exec api sh",
  });
  return {
    deps,
    store,
    touches,
    advance: (ms: number) => {
      clock += ms;
    },
    reload: (strict: boolean) => {
      current = strict ? stricter : policy;
    },
    close: async () => {
      deps.jobs.close();
      await store.close();
    },
  };
}

// ---- Generators of command text -------------------------------------------------------------------------------

const join = (...parts: fc.Arbitrary<string>[]) => fc.tuple(...parts).map((ps) => ps.filter((p) => p !== "").join(" "));
const maybe = (a: fc.Arbitrary<string>) => fc.option(a, { nil: "", freq: 2 });
/** Options in random order, sometimes repeated (which the parser must refuse or take the last of). */
const options = (...choices: fc.Arbitrary<string>[]) => fc.array(fc.oneof(...choices), { maxLength: 3 }).map((os) => os.join(" "));
/** Mostly valid values, sometimes a bad one. */
const mostly = (good: string[], bad: string[]) =>
  fc.oneof({ arbitrary: fc.constantFrom(...good), weight: 5 }, { arbitrary: fc.constantFrom(...bad), weight: 1 });
const one = <T extends string>(...values: T[]) => fc.constantFrom(...values);

const hostOpt = mostly(["local", "staging-1", "prod-1"], ["prod-9", "LOCAL"]).chain((h) => one(`-H ${h}`, `--host ${h}`, `--host=${h}`));
const container = mostly(["api", "worker-1", "aaa111"], ["ghost", "bad/name", "API"]);
const image = mostly(
  ["busybox:1", "busybox", "alpine", "registry.example.com/team/app:2", "registry.example.com/experimental/x:1"],
  ["alpine:3", "evil.io/busybox:1", "-bad-image"],
);
const cmdWords = (min: number) =>
  fc
    .array(one("echo", "hi", "sh", "-c", "'env | grep X'", "ls", "/", "sleep", "1", '"two words"', "--rm"), {
      minLength: min,
      maxLength: 4,
    })
    .map((ws) => ws.join(" "));

const runCmd = join(
  one("run"),
  options(
    hostOpt,
    mostly(["--name worker-2"], ["--name bad/name"]),
    mostly(["-e LEVEL=debug", "-e TOKEN=s3cr3t", "--env A=b=c"], ["-e =oops"]),
    mostly(["--memory 128m", "-m 1g"], ["--memory 2g", "--memory lots"]),
    mostly(["--cpus 0.5", "--cpus 2"], ["--cpus 3", "--cpus many"]),
    mostly(["--timeout 10m", "--timeout=1h"], ["--timeout 5h", "--timeout soon"]),
    one("--rm", "-d", "--detach", "--privileged"),
    mostly(["--network bridge", "--network none"], ["--network host"]),
    mostly(["-v data:/d", "-v scratch:/t:ro", "-v scratch:/t"], ["-v /etc:/etc", "-v data:/d:rw", "-v nope:/d", "-v data:/proc"]),
    mostly(["--isolation process", "--platform linux/amd64"], ["--isolation weird"]),
  ),
  image,
  cmdWords(0),
);
const psCmd = join(one("ps"), options(one("-a", "--all"), hostOpt), maybe(one("extra")));
const logsCmd = fc
  .tuple(
    options(mostly(["-f", "--follow", "--tail 5", "--tail=all", "-n 3", "--since 10m"], ["--tail x", "--since forever"]), hostOpt),
    container,
  )
  .chain(([o, c]) => one(`logs ${o} ${c}`, `logs ${c} ${o}`));
const lifecycle = join(one("stop", "start", "restart", "inspect"), options(hostOpt), container);
const rmCmd = join(one("rm"), options(one("-f", "--force"), hostOpt), container);
const execCmd = join(one("exec"), options(hostOpt), container, cmdWords(0));
const simple = one("jobs", "jobs now", "whoami", "help", "help run", "help nope", "help run ps", "cancel", "stop", "exec api");
const cancelCmd = one("j-000001", "j-000002", "J-000001", "j-ffffff", "not a job").map((j) => `cancel ${j}`);
const auditCmd = join(
  one("audit"),
  options(one("--since 1h", "--since whenever"), one("--user @U0OPER", "--user <@U0LEAD>", "--user alice"), hostOpt),
);
const grantCmd = join(
  one("grant"),
  mostly(["admin", "operator", "Admin"], ["lead", "nope"]),
  mostly(["--for 10m", "--for 30m", "--for 2h"], ["--for 31m", "--for 3h", "--for soon", ""]),
  mostly(['--reason "INC-42 db failover"', "--reason 'restart stuck workers'"], ["--reason x", ""]),
);
const inner = fc.oneof(runCmd, psCmd, logsCmd, lifecycle, rmCmd, execCmd, grantCmd, one("", "whoami", "approve r-000000"));
const canICmd = inner.map((c) => `can-i ${c}`.trim());

/** What phones and Slack do to typed text: long dashes, curly quotes, capitals, odd spaces, link and mention markup. */
function mangle(text: string, m: { dashes: boolean; quotes: boolean; capital: boolean; spaces: boolean; markup: boolean }): string {
  let t = text;
  if (m.dashes) t = t.replace(/(^| )--(?=\S)/g, "$1\u2014").replace(/(^| )-(?=[A-Za-z](?: |$))/g, "$1\u2013");
  if (m.quotes) {
    let n = 0;
    t = t.replace(/"/g, () => (n++ % 2 ? "\u201D" : "\u201C"));
    t = t.replace(/'/g, "\u2019");
  }
  if (m.capital) t = t.charAt(0).toUpperCase() + t.slice(1);
  if (m.spaces) t = ` ${t.replace(/ /g, (_space, i: number) => (i % 2 ? "\u00A0" : "  "))} `;
  if (m.markup) {
    t = t
      .replace(/registry\.example\.com(\S*)/g, "<http://registry.example.com$1|registry.example.com$1>")
      .replace(/@(U0[A-Z0-9]+)/g, "<@$1>");
    t = t.replace(/&/g, "&amp;");
  }
  return t;
}
const mangling = fc.record({
  dashes: fc.boolean(),
  quotes: fc.boolean(),
  capital: fc.boolean(),
  spaces: fc.boolean(),
  markup: fc.boolean(),
});

const command = fc.oneof(
  { arbitrary: runCmd, weight: 5 },
  { arbitrary: psCmd, weight: 2 },
  { arbitrary: logsCmd, weight: 2 },
  { arbitrary: lifecycle, weight: 3 },
  { arbitrary: rmCmd, weight: 2 },
  { arbitrary: execCmd, weight: 2 },
  { arbitrary: simple, weight: 1 },
  { arbitrary: cancelCmd, weight: 1 },
  { arbitrary: auditCmd, weight: 1 },
  { arbitrary: grantCmd, weight: 4 },
  { arbitrary: canICmd, weight: 1 },
);
const garbage = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc
    .array(
      one(
        "-",
        "\u2014",
        "\u2013",
        "\u201C",
        "\u201D",
        "\u2018",
        "'",
        '"',
        " ",
        "\u00A0",
        "<",
        ">",
        "&amp;",
        "run",
        "ps",
        "-H",
        "x",
        "\\",
        "|",
        "\u2026",
      ),
      {
        maxLength: 12,
      },
    )
    .map((xs) => xs.join("")),
  fc.constant(`run busybox:1 echo ${"a".repeat(4000)}`),
);

/**
 * A click on Approve/Deny (or typing `approve ID`): by the requester (which is how a confirm gate is passed) or by
 * someone else, weighted towards the leads and the admin who may approve.
 */
type Click = {
  verdict: "approve" | "deny";
  /** `fitting`: the requester for a confirm gate; for an approval, the `nth` person the card names. */
  by: "requester" | "someone" | "fitting";
  nth: number;
  user: string;
  channel: Chan;
  shout: boolean;
  wait: number;
  /** The operator reloaded the policy (the stricter one, or back to normal) while the request waited. */
  reload: boolean | undefined;
};
type Chan = (typeof channels)[number];
const click: fc.Arbitrary<Click> = fc.record({
  verdict: mostly(["approve"], ["deny"]) as fc.Arbitrary<"approve" | "deny">,
  by: fc.oneof({ arbitrary: one("requester", "someone"), weight: 1 }, { arbitrary: fc.constant("fitting"), weight: 2 }),
  nth: fc.nat(5),
  user: fc.oneof({ arbitrary: one(...Object.keys(groupsOf)), weight: 1 }, { arbitrary: one("U0LEAD", "U0LEADX", "U0ADMIN"), weight: 3 }),
  channel: fc.constantFrom(...channels),
  shout: fc.boolean(),
  wait: mostly(["0", "2000", "60000"], [String(11 * 60_000)]).map(Number),
  reload: fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 2 },
    { arbitrary: fc.constant(true), weight: 2 },
    { arbitrary: fc.constant(false), weight: 1 },
  ),
});

/** Something typed, maybe followed at once by a click on its card; or a click on an earlier card (by index). */
type Say = { text: string; followUp: Click | undefined } | { click: Click; pick: number } | { reload: boolean };
const say: fc.Arbitrary<Say> = fc.oneof(
  {
    arbitrary: fc.record({
      text: fc.tuple(command, mangling).map(([c, m]) => mangle(c, m)),
      followUp: fc.option(click, { nil: undefined }),
    }),
    weight: 12,
  },
  { arbitrary: fc.record({ text: command, followUp: fc.option(click, { nil: undefined }) }), weight: 4 },
  { arbitrary: fc.record({ text: garbage, followUp: fc.constant(undefined) }), weight: 2 },
  { arbitrary: fc.record({ click, pick: fc.nat(7) }), weight: 2 },
  // The operator reloads the policy (stricter or back to normal) while requests wait at their gates.
  { arbitrary: fc.record({ reload: fc.boolean() }), weight: 1 },
);
const step = fc.record({
  user: one(...Object.keys(groupsOf)),
  channel: fc.constantFrom(...channels),
  say,
  wait: mostly(["0", "5000", "60000"], [String(11 * 60_000), String(40 * 60_000)]).map(Number),
});

// ---- The property ----------------------------------------------------------------------------------------------

const outcomeRequestId = (o: Outcome) => (o.type === "job" ? o.plan.requestId : o.requestId);

const seen = {
  unparseable: 0,
  denied: 0,
  gated: 0,
  decidedThenRan: 0,
  revokedWhileWaiting: 0,
  jobs: 0,
  ranAtOnce: 0,
  previews: 0,
  grants: 0,
  picked: 0,
};

/** Sends one message through `dispatch`, runs any job to its end, and checks the engine against the audit log. */
async function send(w: Awaited<ReturnType<typeof world>>, actor: Actor, text: string, requestId: string): Promise<Outcome> {
  const { deps, store, touches } = w;
  const auditBefore = (await store.audit.all()).length;
  const mark = touches.length;

  const outcome = await dispatch({ text, actor, requestId }, deps, AbortSignal.timeout(5000));
  await drive(outcome, deps);

  const mine = touches.slice(mark);
  const audit = await store.audit.all();
  const added = audit.slice(auditBefore);
  const log = () =>
    `${JSON.stringify(text)} by ${actor.userId} in ${actor.channelName ?? actor.channelId} → ${outcome.type}` +
    `\n  engine: ${JSON.stringify(mine)}\n  audit added: ${JSON.stringify(added.map(({ prevHash, hash, ...r }) => r))}`;

  // Whose request the engine calls serve: a decided request's own, otherwise this one.
  const owner = outcome.type === "decided" ? outcome.pending.requestId : requestId;
  if (outcome.type !== "decided") assert.equal(outcomeRequestId(outcome), requestId, log());
  if (outcome.type === "decided" && outcome.next?.type === "job") assert.equal(outcome.next.plan.requestId, owner, log());

  // Every touch: the owner's latest decision, already in the log at that moment, is an allow; a gated one was decided.
  for (const t of mine) {
    const before = audit.slice(0, t.auditLength).filter((r) => r.requestId === owner);
    const last = before.filter((r) => r.type === "decision").at(-1);
    assert.ok(last, `engine touched (${t.what} on ${t.host}) with no decision audited for ${owner}\n${log()}`);
    assert.equal(last.decision, "allow", `engine touched (${t.what}) after a deny for ${owner}\n${log()}`);
    if (/; needs (confirm|approval) /.test(last.rule ?? "") && !before.some((r) => r.type === "approval" && r.decision === "allow")) {
      // Answered with close names instead of a card: a reply offering taps, after reads only.
      const offered = outcome.type === "reply" && (outcome.reply.choices?.length ?? 0) > 0;
      assert.ok(outcome.type === "gate" || offered, `engine touched (${t.what}) for an undecided gated request\n${log()}`);
      assert.ok(PREVIEW_PROBE.has(t.what), `a gated request touched the engine with ${t.what} before a decision\n${log()}`);
    }
  }

  const parsed = parse(text, registry);
  if (!parsed.ok) {
    seen.unparseable++;
    assert.equal(outcome.type, "reply", log());
    if (parsed.complete && added.length) {
      // A command that left out its container: the picker lists candidates as a `ps` of this person, audited as one.
      seen.picked++;
      assert.deepEqual(
        added.map((r) => [r.type, (r.action as { kind: string }).kind, r.decision]),
        [["decision", "container.list", "allow"]],
        `a picker's listing must be one audited allow of container.list\n${log()}`,
      );
      for (const t of mine) assert.ok(PICKER_READS.has(t.what), `a picker touched the engine with ${t.what}\n${log()}`);
      return outcome;
    }
    assert.deepEqual(mine, [], `unparseable text reached the engine\n${log()}`);
    assert.deepEqual(added, [], `unparseable text reached the audit log\n${log()}`);
    return outcome;
  }
  if (added.some((r) => r.decision === "deny")) {
    seen.denied++;
    assert.deepEqual(mine, [], `a denied request reached the engine\n${log()}`);
    assert.notEqual(outcome.type, "job", log());
  }
  switch (outcome.type) {
    case "gate":
      seen.gated++;
      if (mine.length) seen.previews++;
      assert.equal((await store.pending.get(outcome.view.pending.id))?.state, "pending", log());
      for (const t of mine) assert.ok(PREVIEW_PROBE.has(t.what), `gated request called ${t.what}\n${log()}`);
      assert.ok(
        added.some((r) => r.requestId === requestId && r.type === "decision" && r.decision === "allow"),
        `a gate without an audited allow\n${log()}`,
      );
      break;
    case "decided":
      if (outcome.pending.state !== "approved" || !outcome.next)
        assert.deepEqual(mine, [], `${outcome.pending.state} request ran\n${log()}`);
      else if (mine.length) seen.decidedThenRan++;
      if (outcome.next?.type === "reply" && mrkdwn(outcome.next.reply.text).includes("Break-glass")) seen.grants++;
      if (outcome.pending.state === "approved" && added.some((r) => r.type === "decision" && r.decision === "deny"))
        seen.revokedWhileWaiting++;
      break;
    case "job":
      seen.jobs++;
      break;
    case "reply":
      if (mine.length) seen.ranAtOnce++;
      break;
  }
  return outcome;
}

test("the engine is touched only after an audited allow, and never for denied, unparseable or undecided requests", async (t) => {
  assert.equal(stricter.bindings.length, policy.bindings.length - 1, "the stricter policy drops the on-call binding");
  assert.deepEqual(stricter.images, ["busybox:*", "alpine:latest"]);
  assert.deepEqual(stricter.roles.lead?.actions, ["container.remove", "audit.query"]);
  let runNo = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), async (steps) => {
      runNo++;
      const w = await world();
      try {
        const cards: { id: string; actor: Actor; gate: "confirm" | "approval"; approvers: string[] }[] = [];
        let n = 0;
        const decide = (c: Click, card: (typeof cards)[number] | undefined) => {
          w.advance(c.wait);
          if (c.reload !== undefined) w.reload(c.reload);
          const id = card?.id ?? "r-000000";
          const byRequester = c.by === "requester" || (c.by === "fitting" && card?.gate === "confirm");
          const named = c.by === "fitting" && card?.approvers.length ? card.approvers[c.nth % card.approvers.length] : undefined;
          const actor = card && byRequester ? card.actor : { userId: named ?? c.user, ...c.channel, homeTeam: true };
          const text = c.shout ? `${c.verdict[0]?.toUpperCase()}${c.verdict.slice(1)} ${id.toUpperCase()}` : `${c.verdict} ${id}`;
          return send(w, actor, text, `q-${runNo}-${n++}`);
        };
        for (const s of steps) {
          w.advance(s.wait);
          if ("reload" in s.say) {
            w.reload(s.say.reload);
            continue;
          }
          if ("click" in s.say) {
            await decide(s.say.click, cards[s.say.pick % Math.max(cards.length, 1)]);
            continue;
          }
          const actor: Actor = { userId: s.user, ...s.channel, homeTeam: true };
          const outcome = await send(w, actor, s.say.text, `q-${runNo}-${n++}`);
          if (outcome.type !== "gate") continue;
          const card = { id: outcome.view.pending.id, actor, gate: outcome.view.pending.gate, approvers: people(outcome.view.approvers) };
          cards.push(card);
          if (s.say.followUp) await decide(s.say.followUp, card);
        }
      } finally {
        await w.close();
      }
    }),
    { numRuns: 1000 },
  );
  // The generators must reach every branch the property talks about, or it would pass vacuously.
  t.diagnostic(`coverage: ${JSON.stringify(seen)}`);
  for (const [what, n] of Object.entries(seen)) assert.ok(n > 0, `no run exercised "${what}": ${JSON.stringify(seen)}`);
});

/** The people an approval card mentions (users, and a member of each user group), as someone would who clicks. */
function people(approvers: readonly Message[]): string[] {
  return approvers
    .map((a) => toMrkdwn(a))
    .flatMap((m) => {
      const user = /^<@(\w+)>$/.exec(m)?.[1];
      if (user) return [user];
      const group = /^<!subteam\^(\w+)>$/.exec(m)?.[1];
      return Object.keys(groupsOf).filter((u) => group !== undefined && groupsOf[u]?.includes(group));
    });
}

/** Does what the Slack transport does with a job: registers it, runs it to the end, records how it ended. */
async function drive(o: Outcome, deps: DispatchDeps): Promise<void> {
  if (o.type === "decided" && o.next) return drive(o.next, deps);
  if (o.type !== "job") return;
  const { plan } = o;
  const job = await deps.jobs.start({
    id: plan.id,
    kind: plan.action.kind,
    userId: plan.actor.userId,
    channelId: plan.actor.channelId,
    host: plan.host,
    summary: plan.summary,
  });
  assert.ok(job, `job ${plan.id} could not take its lease`);
  try {
    for await (const _event of plan.run(job.controller.signal)) {
      // the events themselves are another test's business
    }
    await deps.jobs.finish(plan.id, "succeeded", 0, null);
  } catch (error) {
    assert.ok(error instanceof BerthError, `a job failed with an unexpected error: ${String(error)}`);
    await deps.jobs.finish(plan.id, "failed", null, error.message);
  }
}
