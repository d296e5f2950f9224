import { publicMessage } from "../core/errors.ts";
import type { JobEvent } from "../core/events.ts";
import { code, command, type Message, msg, plainText, tone } from "../core/message.ts";
import type { CloudHostRecord } from "../store/records.ts";
import { removeOrder, stepLabel } from "./checklist.ts";
import { planFor } from "./host-record.ts";
import type { ProvisionDeps } from "./provision-deps.ts";

/**
 * Removes a host (`host rm`, expiry, or a failed create): everything berth made for it, in order, resumable.
 */
export async function* removeHost(name: string, reason: Message, deps: ProvisionDeps, signal: AbortSignal): AsyncGenerator<JobEvent> {
  let record = (await deps.store.cloudHosts.get(name)) as CloudHostRecord;
  yield {
    type: "status",
    text: msg`Removing ${code(name)} (${reason})…`,
  };
  const left = yield* removeResources(record, deps, (r) => (record = r), signal);
  const outcome = record.status === "removed" ? "succeeded" : signal.aborted && deps.suspended() ? "cancelled" : "failed";
  yield { type: "end", outcome, text: left };
}

/**
 * Deletes vm → nic → ip → nsg, each poller stored as it goes; a resource that is already gone counts as removed. A
 * person cannot stop it half-way (that would leave resources nobody tracks); berth shutting down can, and the next
 * berth resumes it from the stored pollers. Returns the sentence that ends the story.
 */
export async function* removeResources(
  start: CloudHostRecord,
  deps: ProvisionDeps,
  update: (r: CloudHostRecord) => void,
  jobSignal: AbortSignal,
): AsyncGenerator<JobEvent, Message> {
  let record: CloudHostRecord = { ...start, status: "removing" };
  const save = async (patch: Partial<CloudHostRecord>) => {
    record = { ...record, ...patch };
    await deps.store.cloudHosts.put(record);
    update(record);
  };
  await save({});
  // The host stops being offered for -H at once: nothing new should land on a VM that is going away.
  deps.changed();
  const shutdown = new AbortController();
  const onAbort = () => deps.suspended() && shutdown.abort(jobSignal.reason);
  if (jobSignal.aborted) onAbort();
  jobSignal.addEventListener("abort", onAbort);
  const signal = AbortSignal.any([shutdown.signal, AbortSignal.timeout(30 * 60_000)]);
  const plan = planFor(record, deps.settings);
  const name = code(record.name);
  try {
    for (const kind of removeOrder) {
      const step = record.removal[kind];
      if (step?.state === "done") continue;
      yield { type: "status", text: msg`Removing ${name}: ${stepLabel[kind]}…` };
      const op = await deps.cloud.beginDelete(kind, plan, step?.poller, signal);
      await save({ removal: { ...record.removal, [kind]: { state: "running", poller: op.state } } });
      await op.done(signal);
      await save({ removal: { ...record.removal, [kind]: { state: "done" } } });
      yield { type: "notice", text: msg`${tone("removed")} ${stepLabel[kind]} removed` };
    }
    await save({ status: "removed", detail: null, bootstrap: null });
    deps.changed();
    return msg`Removed ${name} and everything berth created for it (the shared network ${deps.settings.network.vnet} stays).`;
  } catch (error) {
    if (shutdown.signal.aborted) {
      const started = Object.keys(record.removal).length;
      return msg`berth is restarting; removing ${name} goes on when it is back (${started} of ${removeOrder.length} steps started).`;
    }
    await save({ detail: `removal failed: ${plainText(publicMessage(error))}` });
    return msg`${tone("warning")} Removing ${name} did not finish: ${publicMessage(error)} berth retries when it restarts; ${command(`host rm ${record.name}`)} retries now.`;
  } finally {
    jobSignal.removeEventListener("abort", onAbort);
  }
}
