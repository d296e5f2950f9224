// A TCP front for the local engine's unix socket that a test cuts and restores (real sockets: every open connection
// is reset and new ones are refused while cut), as a restart with --live-restore looks to a client.
import net from "node:net";

export /** A TCP front for the local engine's unix socket that can be cut (connections reset, new ones refused) and restored. */
async function engineProxy() {
  const open = new Map<net.Socket, net.Socket>(); // client (TCP) → its engine socket (unix)
  let cut = false;
  let refused = 0;
  const server = net.createServer((client) => {
    if (cut) {
      refused++;
      return void client.resetAndDestroy();
    }
    const engine = net.connect("/var/run/docker.sock");
    open.set(client, engine);
    const drop = () => {
      client.destroy();
      engine.destroy();
      open.delete(client);
    };
    client.on("error", drop).on("close", drop);
    engine.on("error", drop).on("close", drop);
    client.pipe(engine).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    /** Every open connection reset (RST, as from an engine that went away) and new ones refused the same way. */
    cut(): void {
      cut = true;
      for (const [client, engine] of open) {
        client.resetAndDestroy();
        engine.destroy();
      }
      open.clear();
    },
    restore(): void {
      cut = false;
    },
    /** Connections refused while cut, so far. */
    refused: () => refused,
    close: () =>
      new Promise<void>((resolve) => {
        for (const [client, engine] of open) {
          client.destroy();
          engine.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
