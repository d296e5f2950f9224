import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import net from "node:net";
import { after, test } from "node:test";
import { startTlsDaemon, type TlsDaemon } from "./tls-daemon.ts";

// The second daemon's port: dockerd binds port 0 (the kernel picks a free one, nobody can take it first), and a
// restart, which must keep the port its callers hold, retries a bounded number of times while another process has it.

let daemon: TlsDaemon | undefined;
after(() => daemon?.stop());

const hold = async (port: number) => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
};
const bindFailures = async (d: TlsDaemon) =>
  ((await readFile(`${d.dir}/dockerd.log`, "utf8")).match(/address already in use/g) ?? []).length;

test("the daemon listens on the port dockerd bound; a restart waits, bounded, for that port to be free again", async () => {
  daemon = await startTlsDaemon();
  const d = daemon;
  const port = Number(/^tcp:\/\/127\.0\.0\.1:(\d+)$/.exec(d.url)?.[1]);
  assert.ok(port > 0, d.url);
  await d.kill();

  // Held throughout: restart gives up after its attempts, saying why.
  const release = await hold(port);
  await assert.rejects(d.restart(), /dockerd exited .*address already in use/s);
  assert.equal(await bindFailures(d), 5, "five attempts, then it gives up");

  // Held a few seconds more: the same restart comes back on the same port once it is free.
  setTimeout(() => void release(), 3000);
  await d.restart();
  assert.equal(d.url, `tcp://127.0.0.1:${port}`);
  assert.ok((await bindFailures(d)) > 5, "the restart met the held port at least once");
});
