import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { cardText, eventually, findCard, isFinished, startBerth } from "./support/berth-harness.ts";
import { SEED, SlackFake } from "./support/slack-fake.ts";
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

test("a process-isolated 1809 image on a 2022 host is refused before anything is created, with both fixes", async () => {
  const before = win.requests.filter((r) => r.method === "POST" && r.path.includes("/containers/create")).length;
  await berth.command("run -H win mcr.microsoft.com/windows/nanoserver:1809 cmd /c echo hi");
  const card = await finished("nanoserver:1809 cmd /c echo hi on win");
  assert.match(cardText(card), /Windows Server 2019 \(17763\).*Windows Server 2022 \(20348\)/);
  assert.match(cardText(card), /--isolation hyperv/);
  assert.match(cardText(card), /ltsc2022/);
  const after = win.requests.filter((r) => r.method === "POST" && r.path.includes("/containers/create")).length;
  assert.equal(after, before, "no container was created on the Windows host");
});

test("the same image with --isolation hyperv runs, and the engine is asked for Hyper-V isolation", async () => {
  await berth.command("run -H win --isolation hyperv mcr.microsoft.com/windows/nanoserver:1809 cmd /c echo isolated");
  const card = await finished("nanoserver:1809 cmd /c echo isolated on win");
  assert.match(cardText(card), /Exited with code 0/);
  const create = win.requests.filter((r) => r.method === "POST" && r.path.includes("/containers/create")).at(-1);
  assert.ok(create, "a create request reached the Windows engine");
  assert.equal((create.body as { HostConfig?: { Isolation?: string } }).HostConfig?.Isolation, "hyperv");
});

test("a Linux image on the Windows host is refused with what to do instead", async () => {
  await berth.command("run -H win busybox:1 echo hi");
  const card = await finished("run busybox:1 echo hi on win");
  assert.match(cardText(card), /Linux image and host win runs Windows containers; pick a Linux host with -H or a Windows image/);
});
