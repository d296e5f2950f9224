import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { cardText, eventually, findCard, isFinished, startBerth } from "./support/berth-harness.ts";
import { blockAction, SEED, SlackFake } from "./support/slack-fake.ts";
import { startWindowsEngine, type WindowsEngine } from "./support/windows-engine-fake.ts";

// Windows hosts from Slack. No Windows engine can run here, so `win` is the recorded-response fake of a Windows
// Server 2022 engine (test/support/windows-engine-fake.ts, built from docs/reference/windows-engine.md); berth's Docker
// adapter, Bolt and the Slack fake are the real ones.

let fake: SlackFake;
let win: WindowsEngine;
let berth: Awaited<ReturnType<typeof startBerth>>;

const policy = `version: 1
roles:
  ops: { actions: [container.*, host.list] }
bindings:
  - { role: ops, users: [${SEED.operator}] }
images: ["mcr.microsoft.com/windows/**", "busybox:*", "berth-test/**"]
`;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-win-"));
  win = await startWindowsEngine({ listen: { socketPath: join(dir, "win.sock") }, host: "ws2022", runMs: 200 });
  fake = await SlackFake.start();
  berth = await startBerth(fake, {
    policy,
    hosts: `hosts:\n  - { name: local, url: "unix:///var/run/docker.sock" }\n  - { name: win, url: "${win.url}" }\ndefault: local\n`,
  });
});

after(async () => {
  await berth?.stop();
  await fake?.stop();
  await win?.close();
});

type Button = { action_id: string; value: string; text: { text: string } };
const buttonsOf = (e: { blocks?: unknown[] }): Button[] =>
  (e.blocks ?? []).flatMap((b) => ((b as { type?: string }).type === "actions" ? (b as { elements: Button[] }).elements : []));
const textOf = (r: { body: unknown }) => String((r.body as { text?: unknown }).text ?? "");
const finished = (summary: string) =>
  eventually(`the finished card of "${summary}"`, () => {
    const c = findCard(fake, SEED.incidentChannel, summary);
    return c && isFinished(c) ? c : undefined;
  });

test("hosts shows the Windows host's build and isolation modes next to the Linux one", async () => {
  await berth.command("hosts");
  const reply = await eventually("the hosts list", () =>
    fake.responses().find((r) => r.user === SEED.operator && textOf(r).includes("Docker hosts")),
  );
  assert.match(textOf(reply), /\*win\* \(unix:\/\/\S+\) — windows 10\.0\.20348/);
  assert.match(textOf(reply), /isolation process by default \(supports process, hyperv\)/);
  assert.match(textOf(reply), /\*local\* .* — linux /);
});

test("a process-isolated 1809 image on a 2022 host is refused before any card, with both fixes as taps", async () => {
  const before = win.requests.filter((r) => r.method === "POST" && r.path.includes("/containers/create")).length;
  const seen = fake.ephemerals(SEED.operator).length;
  await berth.command("run -H win mcr.microsoft.com/windows/nanoserver:1809 cmd /c echo hi");
  const refusal = await eventually("the refusal", () =>
    fake
      .ephemerals(SEED.operator)
      .slice(seen)
      .find((e) => e.text.includes("Nothing was run")),
  );
  assert.match(refusal.text, /Windows Server 2019 \(17763\).*Windows Server 2022 \(20348\)/);
  assert.match(refusal.text, /--isolation hyperv/);
  assert.match(refusal.text, /ltsc2022/);
  const buttons = buttonsOf(refusal);
  assert.deepEqual(
    buttons.map((b) => b.text.text),
    ["Retry with Hyper-V isolation", "Use mcr.microsoft.com/windows/nanoserver:ltsc2022"],
  );
  // One ephemeral answer: no card in the channel, nothing created on the host.
  assert.equal(findCard(fake, SEED.incidentChannel, "nanoserver:1809 cmd /c echo hi on win"), undefined);
  const after = win.requests.filter((r) => r.method === "POST" && r.path.includes("/containers/create")).length;
  assert.equal(after, before, "no container was created on the Windows host");

  // The Hyper-V fix, tapped: it runs through the pipeline as the tapper, now with Hyper-V isolation.
  const hyperv = buttons[0] as (typeof buttons)[number];
  await blockAction(fake, { url: berth.url, messageTs: refusal.ts, actionId: hyperv.action_id, value: hyperv.value });
  const card = await finished("nanoserver:1809 cmd /c echo hi on win");
  assert.match(cardText(card), /Exited with code 0/);
  const create = win.requests.filter((r) => r.method === "POST" && r.path.includes("/containers/create")).at(-1);
  assert.ok(create, "a create request reached the Windows engine");
  assert.equal((create.body as { HostConfig?: { Isolation?: string } }).HostConfig?.Isolation, "hyperv");
});

test("the same image with --isolation hyperv runs, and the engine is asked for Hyper-V isolation", async () => {
  await berth.command("run -H win --isolation hyperv mcr.microsoft.com/windows/nanoserver:1809 cmd /c echo isolated");
  const card = await finished("nanoserver:1809 cmd /c echo isolated on win");
  assert.match(cardText(card), /Exited with code 0/);
  const create = win.requests.filter((r) => r.method === "POST" && r.path.includes("/containers/create")).at(-1);
  assert.ok(create, "a create request reached the Windows engine");
  assert.equal((create.body as { HostConfig?: { Isolation?: string } }).HostConfig?.Isolation, "hyperv");
});

test("a Linux image on the Windows host is refused with what to do instead, before any card", async () => {
  const seen = fake.ephemerals(SEED.operator).length;
  await berth.command("run -H win busybox:1 echo hi");
  const refusal = await eventually("the refusal", () =>
    fake
      .ephemerals(SEED.operator)
      .slice(seen)
      .find((e) => e.text.includes("Nothing was run")),
  );
  assert.match(refusal.text, /Linux image and host win runs Windows containers; pick a Linux host with -H or a Windows image/);
  assert.equal(findCard(fake, SEED.incidentChannel, "run busybox:1 echo hi on win"), undefined);
});
