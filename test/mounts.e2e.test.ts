import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  cardText,
  containersWithLabel,
  eventually,
  findCard,
  isFinished,
  removeOwnContainers,
  startBerth,
  testImage,
  testPolicy,
  threadLines,
} from "./support/berth-harness.ts";
import { SEED, SlackFake } from "./support/slack-fake.ts";

// The mount escape, end to end against the real engine: a writable mount lets one run leave a symlink to / in a shared
// host directory. Mounting that symlink's host path would hand the next container the host's / read-write as uid 0;
// berth must refuse the path before any container exists, and the named mount must only ever show the symlink as
// the container itself resolves it.

let fake: SlackFake;
let berth: Awaited<ReturnType<typeof startBerth>>;
const host = mkdtempSync(join(tmpdir(), "berth-mounts-"));
const scratch = join(host, "scratch");
const secret = `host-secret-${randomBytes(8).toString("hex")}`;
const secretFile = join(host, "secret.txt"); // on the host, outside the mount

before(async () => {
  mkdirSync(scratch);
  writeFileSync(secretFile, `${secret}\n`);
  fake = await SlackFake.start();
  const policy = `${testPolicy}containers:\n  mounts:\n    scratch: { path: ${scratch}, readOnly: false }\n`;
  berth = await startBerth(fake, { policy });
});

after(async () => {
  if (berth) await removeOwnContainers(berth.berth.store);
  await berth?.stop();
  await fake?.stop();
  rmSync(host, { recursive: true, force: true });
});

const finishedCard = (summary: string) =>
  eventually(`the finished card of "${summary}"`, () => {
    const c = findCard(fake, SEED.incidentChannel, summary);
    return c && isFinished(c) ? c : undefined;
  });

test("a symlink left in a writable mount reaches neither the host's / by path nor through the named mount", async () => {
  // Run 1: plant the symlink. The container is uid 0 and the mount is writable, so it lands on the host.
  await berth.command(`run -v scratch:/x ${testImage} sh -c 'ln -s / /x/root && echo planted'`);
  const planted = await finishedCard("planted");
  assert.match(cardText(planted), /Exited with code 0/);
  assert.equal(readlinkSync(join(scratch, "root")), "/", "the symlink is on the host, pointing at its /");

  // (a) Mounting the symlink by its host path is refused by the policy, before any container is created.
  const ours = `io.berth.installation=${await berth.berth.store.installationId()}`;
  const before = await containersWithLabel(ours);
  const attack = `run -v ${join(scratch, "root")}:/y ${testImage} cat /y${secretFile}`;
  await berth.command(attack);
  const refusal = await eventually("the refusal", () =>
    fake
      .responses()
      .map((r) => String((r.body as { text?: unknown }).text ?? ""))
      .find((t) => t.includes(join(scratch, "root"))),
  );
  assert.match(refusal, /is a host path: berth does not take host paths with -v, because .*symlink/);
  assert.match(refusal, /Mounts the policy defines: `scratch` \(writable\)/);
  const denied = (await berth.berth.store.audit.all()).find(
    (a) => a.decision === "deny" && JSON.stringify(a.action).includes(join(scratch, "root")),
  );
  assert.equal(denied?.rule, "policy:containers", "the attempt is in the audit log as a policy denial");
  assert.deepEqual(await containersWithLabel(ours), before, "no container was created for it");
  assert.equal(findCard(fake, SEED.incidentChannel, "cat /y"), undefined, "no job was started for it");

  // (b) Through the named mount the symlink is resolved inside the container: its own /, never the host's.
  await berth.command(
    `run -v scratch:/x ${testImage} sh -c 'readlink /x/root; cat /x/root${secretFile} || echo no-host-file; echo probed'`,
  );
  const probed = await finishedCard("probed");
  const lines = threadLines(fake, SEED.incidentChannel, probed.ts);
  assert.ok(lines.includes("/"), `readlink shows the symlink itself: ${JSON.stringify(lines)}`);
  assert.ok(lines.includes("no-host-file"), `the host file is not reachable: ${JSON.stringify(lines)}`);
  assert.ok(!lines.some((l) => l.includes(secret)), "the host's secret never reaches the thread");
});

test("rw on a read-only mount and a mount over /proc are refused with what to do", async () => {
  const reloaded = `${testPolicy}containers:\n  mounts:\n    scratch: { path: ${scratch} }\n`;
  writeFileSync(berth.policyPath, reloaded);
  await eventually("the reloaded policy", () => (berth.berth.policy().containers.mounts.scratch?.readOnly ? true : undefined));
  await berth.command(`run -v scratch:/x:rw ${testImage} touch /x/f`);
  await eventually("the read-only refusal", () =>
    fake.responses().find((r) => /`scratch` is read-only in the policy; drop `:rw`/.test(String((r.body as { text?: unknown }).text))),
  );
  await berth.command(`run -v scratch:/proc ${testImage} true`);
  await eventually("the /proc refusal", () =>
    fake.responses().find((r) => /may not cover `\/proc`/.test(String((r.body as { text?: unknown }).text))),
  );
});
