import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { SEED } from "@berth/slack-emulator";
import { loadConfig } from "../../src/config.ts";
import { type Playground, playgroundConfig, startPlayground } from "../../src/playground/playground.ts";
import { buildPorts } from "../../src/ports.ts";
import { eventually, removeOwnContainers, testImage } from "../support/berth-harness.ts";

// The playground's HTTP routes, without a browser: the real berth behind the Slack emulator, and the real engine.
let pg: Playground;
let base: string;
const metricsToken = "playground-metrics-token-0123";
const logs: string[] = [];

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-playground-"));
  // A thread of two messages at most: longer output goes to an uploaded file, which the page offers for download.
  const config = loadConfig({
    PORT: "0",
    BERTH_DATA_DIR: join(dir, "data"),
    BERTH_THREAD_MAX_MESSAGES: "2",
    BERTH_METRICS_TOKEN: metricsToken,
  });
  assert.equal(config.mode, "none");
  pg = await startPlayground(await buildPorts(playgroundConfig(config), { write: (l) => logs.push(l) }));
  base = `http://127.0.0.1:${pg.port}`;
});

after(async () => {
  if (pg) await removeOwnContainers(pg.berth.store);
  await pg?.stop();
});

type Sse = { events: { event: string; data: unknown }[]; close(): void };

/** Reads /events as a browser's EventSource would, collecting every event. */
async function openEvents(): Promise<Sse> {
  const controller = new AbortController();
  const res = await fetch(`${base}/events`, { signal: controller.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
  const events: Sse["events"] = [];
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  void (async () => {
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        for (let i = buffer.indexOf("\n\n"); i >= 0; i = buffer.indexOf("\n\n")) {
          const frame = buffer.slice(0, i);
          buffer = buffer.slice(i + 2);
          const event = /^event: (.+)$/m.exec(frame)?.[1];
          const data = /^data: (.+)$/m.exec(frame)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
        }
      }
    } catch {
      // aborted by close()
    }
  })();
  return { events, close: () => controller.abort() };
}

type Item = { kind: string; ts?: string; user?: string; text?: string; id?: string; blocks?: unknown };
const itemsOf = (sse: Sse): Item[] => sse.events.flatMap((e) => (e.event === "items" ? (e.data as Item[]) : []));

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

test("GET / serves the page: one HTML document with its script and styles inline", async () => {
  const res = await fetch(`${base}/`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
  assert.match(res.headers.get("content-security-policy") ?? "", /default-src 'none'/);
  const html = await res.text();
  assert.match(html, /<script>/);
  assert.match(html, /<style>/);
  assert.doesNotMatch(html, /<script src|<link /, "no other files to fetch");
  assert.match(html, /Only visible to you/);
});

test("/events sends the full state on connect, then the reply to a command posted to /command", async () => {
  const sse = await openEvents();
  try {
    const state = await eventually("the state event", () => sse.events.find((e) => e.event === "state"), 10_000);
    const s = state.data as { channel: string; people: { id: string }[]; users: Record<string, string>; items: unknown[] };
    assert.equal(s.channel, "incident-db");
    assert.deepEqual(
      s.people.map((p) => p.id),
      [SEED.operator, SEED.approver],
    );
    assert.equal(s.users[SEED.operator], "Olive Operator");
    assert.ok(Array.isArray(s.items));

    const res = await post("/command", { text: "/berth help", user: SEED.operator });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true, status: 200 });
    const help = await eventually("the help ephemeral", () =>
      itemsOf(sse).find((i) => i.kind === "ephemeral" && i.user === SEED.operator && i.text?.includes("help COMMAND")),
    );
    assert.ok(help.ts);

    // A second connection gets everything so far in its first event.
    const late = await openEvents();
    try {
      const first = await eventually("the late state", () => late.events[0]);
      assert.equal(first.event, "state");
      assert.ok((first.data as { items: Item[] }).items.some((i) => i.ts === help.ts));
    } finally {
      late.close();
    }

    // Plain text is a message from the person, stored as Slack stores it.
    assert.equal((await post("/command", { text: "hi <all>", user: SEED.approver })).status, 200);
    const said = await eventually("the typed message", () => itemsOf(sse).find((i) => i.kind === "message" && i.user === SEED.approver));
    assert.equal(said.text, "hi &lt;all&gt;");
  } finally {
    sse.close();
  }
});

test("@berth stop typed in a job's thread stops that job, as the person who typed it", async () => {
  const loop = `run ${testImage} sh -c 'while true; do echo tick; sleep 1; done'`;
  assert.equal((await post("/command", { text: `/berth ${loop}`, user: SEED.operator })).status, 200);
  const card = await eventually("the loop's card", () =>
    pg.emulator
      .messages(SEED.incidentChannel)
      .find((m) => m.user === SEED.botUserId && JSON.stringify(m.blocks ?? []).includes("echo tick")),
  );
  await eventually("its container stored with the job", async () => {
    const job = await pg.berth.store.jobs.byCard(SEED.incidentChannel, card.ts);
    return (job?.resume as { point?: unknown } | null)?.point;
  });
  const res = await post("/command", { text: "@berth stop", user: SEED.operator, threadTs: card.ts });
  assert.deepEqual(await res.json(), { ok: true, status: 200 });
  const reply = pg.emulator.thread(SEED.incidentChannel, card.ts).find((m) => m.user === SEED.operator);
  assert.equal(reply?.text, `<@${SEED.botUserId}> stop`, "the reply is in the thread, with the mention as Slack writes it");
  await eventually("the job cancelled", async () =>
    (await pg.berth.store.jobs.byCard(SEED.incidentChannel, card.ts))?.status === "cancelled" ? true : undefined,
  );

  const gone = await post("/command", { text: "@berth stop", user: SEED.operator, threadTs: "1.000001" });
  assert.equal(gone.status, 404);
  const slash = await post("/command", { text: "/berth stop", user: SEED.operator, threadTs: card.ts });
  assert.equal(slash.status, 400);
  assert.match(((await slash.json()) as { error: string }).error, /mention berth instead: @berth stop/);
});

test("/command and /action refuse what they cannot deliver, saying what to do", async () => {
  const other = await post("/command", { text: "/deploy now", user: SEED.operator });
  assert.equal(other.status, 400);
  assert.match(((await other.json()) as { error: string }).error, /\/deploy is not a command here\. Type \/berth/);

  const stranger = await post("/command", { text: "/berth help", user: SEED.nobody });
  assert.equal(stranger.status, 400, "only the playground's two people");

  const form = await fetch(`${base}/command`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "text=x",
  });
  assert.equal(form.status, 415);

  const crossSite = await post("/command", { text: "/berth ps", user: SEED.operator }, { origin: "https://evil.example" });
  assert.equal(crossSite.status, 403);

  const gone = await post("/action", { messageTs: "1.000001", actionId: "berth_stop", value: "j-000000", user: SEED.operator });
  assert.equal(gone.status, 404);
  assert.match(((await gone.json()) as { error: string }).error, /Reload the page/);

  const rebound = await new Promise<number>((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: pg.port, path: "/", headers: { host: `attacker.example:${pg.port}` } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
  assert.equal(rebound, 421, "a DNS name other than localhost is refused");
});

test("a log too long for the thread is uploaded and downloadable from /files/ID", async () => {
  const sse = await openEvents();
  try {
    const res = await post("/command", {
      text: `/berth run ${testImage} sh -c 'for i in $(seq 1 3000); do echo line-$i; done'`,
      user: SEED.operator,
    });
    assert.equal(res.status, 200);
    const file = await eventually(
      "the uploaded full log",
      () => itemsOf(sse).find((i) => i.kind === "file" && (i as { ready?: boolean }).ready),
      120_000,
    );
    const download = await fetch(`${base}/files/${encodeURIComponent(file.id ?? "")}`);
    assert.equal(download.status, 200);
    assert.match(download.headers.get("content-disposition") ?? "", /^attachment; filename="/);
    const content = await download.text();
    assert.match(content, /^line-1$/m);
    assert.match(content, /^line-3000$/m);
    // The message that carries it names the file, so the page can link it.
    await eventually("the message with the file", () =>
      itemsOf(sse).find((i) => i.kind === "message" && JSON.stringify(i).includes(file.id ?? "-")),
    );
    assert.equal((await fetch(`${base}/files/F0NOSUCH`)).status, 404);
  } finally {
    sse.close();
  }
});

test("/healthz and /metrics are berth's own, passed through with berth's rules (details and metrics need the token)", async () => {
  const health = await fetch(`${base}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { ok: true });
  const bearer = { authorization: `Bearer ${metricsToken}` };
  assert.equal((await fetch(`${base}/healthz?details`)).status, 401);
  const details = await fetch(`${base}/healthz?details`, { headers: bearer });
  assert.equal(details.status, 200);
  const body = (await details.json()) as { ok: boolean; engines: Record<string, { reachable: boolean }> };
  assert.equal(body.ok, true);
  assert.equal(body.engines.local?.reachable, true);
  const unauthorized = await fetch(`${base}/metrics`);
  assert.equal(unauthorized.status, 401);
  assert.match(unauthorized.headers.get("www-authenticate") ?? "", /^Bearer/);
  const direct = await fetch(`http://127.0.0.1:${pg.berthPort}/metrics`, { headers: bearer });
  const proxied = await fetch(`${base}/metrics`, { headers: bearer });
  assert.equal(proxied.status, 200);
  assert.equal(proxied.status, direct.status, "whatever berth answers");
  assert.match(await proxied.text(), /^# TYPE berth_commands_total counter$/m);
});
