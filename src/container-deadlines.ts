/**
 * Every container berth runs carries its deadline (`io.berth.deadline`, epoch ms). An attached run is stopped by its
 * job; a detached one, or one whose job was lost when berth restarted, is stopped by this sweep. Stopped, not
 * removed: its logs and exit code stay for `logs` and `inspect`.
 */

import { BerthError } from "./core/errors.ts";
import { code, command, type Message, msg, tone } from "./core/message.ts";
import { type ContainerEngine, type ContainerSummary, labels } from "./engines/ports.ts";

export type Overdue = { container: ContainerSummary; deadline: number };

export type DeadlineSweep = { stopped: Overdue[]; failed: { container: ContainerSummary; error: unknown }[] };

/** The deadline a container carries, or undefined when it has none (or an unreadable one). */
export function deadlineOf(container: Pick<ContainerSummary, "labels">): number | undefined {
  const text = container.labels[labels.deadline];
  const at = text === undefined || !/^\d{1,16}$/.test(text) ? Number.NaN : Number(text);
  return Number.isSafeInteger(at) ? at : undefined;
}

/**
 * Stops this engine's live berth containers whose deadline is at or before `now`, except those `skip` names (a job
 * in this process that stops its container itself). A container that stopped in the meantime is not an error.
 */
export async function stopOverdue(
  engine: Pick<ContainerEngine, "list" | "stop">,
  now: number,
  signal: AbortSignal,
  skip: (c: ContainerSummary) => boolean = () => false,
): Promise<DeadlineSweep> {
  const result: DeadlineSweep = { stopped: [], failed: [] };
  for (const container of await engine.list({ all: false }, signal)) {
    const deadline = deadlineOf(container);
    // Every container the engine lists without `all`: running, and paused or restarting ones, which are not done either.
    if (deadline === undefined || deadline > now || skip(container)) continue;
    try {
      await engine.stop(container.id, signal);
      result.stopped.push({ container, deadline });
    } catch (error) {
      const gone = error instanceof BerthError && (error.code === "CONFLICT" || error.code === "NOT_FOUND");
      if (!gone) result.failed.push({ container, error });
    }
  }
  return result;
}

/** Told in the container's job thread once the sweep stopped it: when its time ended, and what is left to do. */
export function deadlineReached(c: { host: string; name: string; id: string; at: string }): Message {
  return msg`${tone("expired")} Stopped ${code(c.name)} (${c.id}) on ${c.host}: its run-time limit ended at ${c.at}. Its logs stay: ${command(`logs ${c.name}`)}; remove it with ${command(`rm ${c.name}`)}.`;
}
