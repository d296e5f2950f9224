/** A command run in a container: its output as lines, then its exit code. Aborting the stream just ends it. */
import { setTimeout as sleep } from "node:timers/promises";
import type Docker from "dockerode";
import { BerthError } from "../../core/errors.ts";
import { command } from "../../core/message.ts";
import type { ContainerEngine, ExecHandle } from "../ports.ts";
import { type Client, fail } from "./client.ts";
import { readLines } from "./lines.ts";
import type { Lookup } from "./lookup.ts";

export function createExec(client: Client, lookup: Lookup): ContainerEngine["exec"] {
  const { call, calls, conn, hold, lost, on, streams, translate } = client;

  return async function exec(ref: string, cmd: readonly string[], signal: AbortSignal): Promise<ExecHandle> {
    const { Id } = await lookup.resolve(ref, signal);
    const doing = `running a command in "${ref}"`;
    const status = lookup.about(ref, (code) =>
      code === 409 ? [`Container "${ref}" is not running ${on}. Start it first with `, command(`start ${ref}`), "."] : undefined,
    );
    const create = { Cmd: [...cmd], AttachStdin: false, AttachStdout: true, AttachStderr: true, Tty: false };
    const ex = await call(signal, doing, (s) => calls.getContainer(Id).exec({ ...create, abortSignal: s }), { status });
    const start = { hijack: true, stdin: false, Detach: false, Tty: false };
    const sock = await call(signal, doing, (s) => streams.getExec(ex.id).start({ ...start, abortSignal: s }), { status });
    const release = hold(sock, signal);
    const ended = Promise.withResolvers<void>();
    let reading = false;
    const inspectExec = () => call(signal, doing, (s) => calls.getExec(ex.id).inspect({ abortSignal: s }));
    let first: Docker.ExecInspectInfo | undefined; // taken when the output ended; saves exitCode() a round trip
    const lines = (async function* () {
      reading = true;
      try {
        yield* readLines(sock, true, signal);
        // A hijacked stream just ends when the engine goes away: ask the engine, which has to answer exitCode() anyway.
        if (!signal.aborted) first = await inspectExec();
      } catch (e) {
        if (signal.aborted) return;
        throw e instanceof BerthError && e.code !== "UNAVAILABLE" ? e : lost(doing, e);
      } finally {
        release();
        ended.resolve();
      }
    })();
    async function exitCode(): Promise<number> {
      if (!reading) for await (const _line of lines); // nobody reads the output: drain it so the command can finish
      await ended.promise;
      // The output can end a moment before the engine records the exit code.
      const deadline = Date.now() + conn.timeoutMs;
      for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
        const info = first ?? (await inspectExec());
        first = undefined;
        if (!info.Running && info.ExitCode !== null) return info.ExitCode;
        if (Date.now() > deadline)
          throw fail("TIMEOUT", `The command in "${ref}" ${on} is still running after its output ended; its exit code is not known yet.`);
        await sleep(delay, undefined, { signal }).catch((e: unknown) => Promise.reject(translate(e, doing, signal)));
      }
    }
    return { lines, exitCode };
  };
}
