import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { cardText, eventually, findCard, isFinished, startBerth, testImage, threadLines } from "./support/berth-harness.ts";
import { blockAction } from "./support/slack-driver.ts";
import { SEED, SlackFake } from "./support/slack-fake.ts";
import { startTlsDaemon, type TlsDaemon } from "./support/tls-daemon.ts";

// A remote host from Slack: a second real dockerd with mutual TLS on loopback, its PEM given to berth through
// environment variables (`env:NAME` in the hosts manifest), as a secret store would.

let fake: SlackFake;
let daemon: TlsDaemon;
let berth: Awaited<ReturnType<typeof startBerth>>;

before(async () => {
  daemon = await startTlsDaemon();
  fake = await SlackFake.start();
  berth = await startBerth(fake, {
    hosts: `hosts:
  - { name: local, url: "unix:///var/run/docker.sock" }
  - name: remote
    url: "${daemon.url}"
    tls: { ca: "env:REMOTE_CA", cert: "env:REMOTE_CERT", key: "env:REMOTE_KEY" }
default: local
`,
    env: { REMOTE_CA: daemon.ca, REMOTE_CERT: daemon.cert, REMOTE_KEY: daemon.key },
  });
});

after(async () => {
  await berth?.stop();
  await fake?.stop();
  await daemon?.stop();
});

const finished = (summary: string) =>
  eventually(`the finished card of "${summary}"`, () => {
    const c = findCard(fake, SEED.incidentChannel, summary);
    return c && isFinished(c) ? c : undefined;
  });

test("run on the TLS host streams its output into the thread and ends with the exit code", async () => {
  await berth.command(`run -H remote ${testImage} sh -c 'echo from-remote; hostname; exit 2'`);
  const card = await finished("echo from-remote");
  assert.match(cardText(card), /host remote/);
  assert.match(cardText(card), /Exited with code 2/);
  assert.equal(threadLines(fake, SEED.incidentChannel, card.ts)[0], "from-remote");
});

test("logs -f on the TLS host follows a container until Stop", async () => {
  await berth.command(
    `run -d -H remote --name remote-ticker ${testImage} sh -c 'trap "exit 0" TERM; i=0; while true; do i=$((i+1)); echo rtick-$i; sleep 0.2; done'`,
  );
  await finished("remote-ticker");
  await berth.command("logs -f -H remote remote-ticker");
  const card = await eventually("the following card with a Stop button", () => {
    const c = findCard(fake, SEED.incidentChannel, "logs -f remote-ticker on remote");
    return c && cardText(c).includes("berth_stop") && threadLines(fake, SEED.incidentChannel, c.ts).length >= 3 ? c : undefined;
  });
  await blockAction(fake, {
    url: berth.url,
    messageTs: card.ts,
    actionId: "berth_stop",
    user: SEED.operator,
    channel: SEED.incidentChannel,
  });
  const done = await finished("logs -f remote-ticker on remote");
  assert.match(cardText(done), /Stopped following after [\d,]+ lines \(by <@U0OPER>\)/);
  const lines = threadLines(fake, SEED.incidentChannel, done.ts);
  assert.deepEqual(
    lines.slice(0, 3).map((l) => /^rtick-\d+$/.test(l)),
    [true, true, true],
  );
});
