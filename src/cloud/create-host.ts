import { formatDuration } from "../core/duration.ts";
import { BerthError, publicMessage } from "../core/errors.ts";
import type { JobEvent } from "../core/events.ts";
import { code, command, type Message, msg, plainText, tone, user } from "../core/message.ts";
import type { Policy } from "../core/policy.ts";
import type { CloudHostRecord } from "../store/records.ts";
import { berthPki } from "./berth-pki.ts";
import { createOrder, progress, skipped, stepDone, stepLabel } from "./checklist.ts";
import { planFor } from "./host-record.ts";
import { bootstrapFor } from "./host-secrets.ts";
import type { CloudOperation, CloudResource, ResourceKind } from "./ports.ts";
import type { ProvisionDeps } from "./provision-deps.ts";
import { removeResources } from "./remove-host.ts";
import { waitForDocker } from "./wait-for-docker.ts";

const cancelledBy = (signal: AbortSignal) => (signal.reason as { by?: string } | undefined)?.by;
const minuteUtc = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace("T", " ");

/**
 * Makes (or, after a restart, finishes making) one host: each resource in order, its poller stored before it is
 * awaited, then waits for Docker over TLS and registers the host. A failure or a Cancel removes what was made; berth
 * shutting down leaves everything to resume.
 */
export async function* provisionHost(name: string, deps: ProvisionDeps, signal: AbortSignal): AsyncGenerator<JobEvent> {
  const { cloud, store, settings } = deps;
  let record = (await store.cloudHosts.get(name)) as CloudHostRecord;
  const save = async (patch: Partial<CloudHostRecord>) => {
    record = { ...record, ...patch };
    await store.cloudHosts.put(record);
  };
  const started = deps.clock();
  const cardTs = (await store.jobs.get(record.jobId))?.messageTs;
  if (cardTs && record.threadTs !== cardTs && !record.threadTs) await save({ threadTs: cardTs });
  const header = msg`${code(name)}: ${record.os}${record.hyperv ? " with Hyper-V" : ""}, ${record.size}, ${record.region}, until ${minuteUtc(record.expiresAt)} UTC`;
  const resumed = Object.keys(record.steps).length > 0;
  if (resumed) yield { type: "notice", text: msg`Picking up where berth left off: ${progress(record, undefined)}` };
  let current: string | undefined;
  const status = (): JobEvent => ({ type: "status", text: msg`Creating ${header}\n${progress(record, current)}` });
  try {
    const pki = await berthPki(store, new Date(deps.clock()));
    if (!resumed) {
      // Asked before anything is made: a size Azure will not give here fails in a second, with nothing to clean up.
      const problem = await cloud.sizeProblem(record.size, record.region, signal);
      if (problem) throw new BerthError("CAPACITY", problem);
    }
    await cloud.prepare(record.region, signal);
    for (const kind of createOrder) {
      if (record.steps[kind]?.state === "done") continue;
      if (skipped(kind, record)) {
        await save({ steps: { ...record.steps, [kind]: { state: "done" } } });
        continue;
      }
      if (kind === "vm" && !record.bootstrap) await save({ bootstrap: await bootstrapFor(record, pki, settings) });
      current = kind;
      yield status();
      const stepStart = deps.clock();
      const resource = await runStep(kind, record, deps, signal, (poller) =>
        save({ steps: { ...record.steps, [kind]: { state: "running", poller } } }),
      );
      const learned: Partial<CloudHostRecord> = {};
      if (kind === "ip" && resource) {
        learned.address = resource.address ?? null;
        learned.fqdn = resource.fqdn ?? null;
      }
      if (kind === "nic" && record.private && resource?.address) learned.address = resource.address;
      // Once the VM exists its customData can never change, and nothing else needs the secrets in it.
      if (kind === "vm")
        learned.bootstrap = record.os === "windows" ? { customData: "", setupCommand: record.bootstrap?.setupCommand } : null;
      await save({ ...learned, steps: { ...record.steps, [kind]: { state: "done", id: resource?.id } } });
      yield { type: "notice", text: msg`${tone("success")} ${stepDone(kind, record)} (${formatDuration(deps.clock() - stepStart)})` };
    }
    if (!record.address) throw new BerthError("INTERNAL", `host ${name}: no address after the network steps`);
    const url = `tcp://${record.address}:${settings.dockerPort}`;
    await save({ dockerUrl: url });
    current = "docker";
    yield status();
    const seen = yield* waitForDocker(record, pki, deps, signal);
    if (seen.ok) {
      await save({ status: "ready", detail: null, bootstrap: null });
      deps.changed();
      yield {
        type: "end",
        outcome: "succeeded",
        text: msg`${tone("success")} ${code(name)} is ready after ${formatDuration(deps.clock() - started)}: ${seen.what} at ${url}${record.fqdn ? ` (${record.fqdn})` : ""}. Use it with ${code(`-H ${name}`)}; it is removed at ${minuteUtc(record.expiresAt)} UTC unless extended.`,
      };
      return;
    }
    const why = msg`Docker did not answer on ${url} within ${deps.policy().azure.readyTimeout}. Last seen: ${seen.what}.`;
    if (deps.policy().azure.keepUnreachable) {
      await save({ status: "unreachable", detail: plainText(why), bootstrap: null });
      deps.changed();
      yield {
        type: "end",
        outcome: "failed",
        text: msg`${why} The VM is kept for inspection (policy ${code("keepUnreachable")}) until it expires; ${command(`host rm ${name}`)} removes it now.`,
      };
      return;
    }
    yield { type: "notice", text: msg`${why} Removing what was created…` };
    const left = yield* removeResources(record, deps, (r) => (record = r), signal);
    yield { type: "end", outcome: "failed", text: msg`${why} ${left}` };
  } catch (error) {
    if (signal.aborted && deps.suspended()) {
      yield {
        type: "end",
        outcome: "cancelled",
        text: msg`berth is restarting; creating ${code(name)} goes on when it is back, in this thread. (${progress(record, current)})`,
      };
      return;
    }
    const cancelled = signal.aborted;
    const why: Message = cancelled
      ? msg`Cancelled by ${user(cancelledBy(signal) ?? "unknown")}.`
      : failureText(error, record, deps.policy());
    if (Object.keys(record.steps).length === 0) {
      await save({ status: "removed", detail: plainText(why), bootstrap: null });
      yield { type: "end", outcome: cancelled ? "cancelled" : "failed", text: msg`${why} Nothing was created in Azure.` };
      return;
    }
    yield { type: "notice", text: msg`${why} Removing what was created…` };
    const left = yield* removeResources(record, deps, (r) => (record = r), signal);
    yield { type: "end", outcome: cancelled ? "cancelled" : "failed", text: msg`${why} ${left}` };
  }
}

/** One resource: resume its stored poller, reuse it if it already exists (a retry after a crash), or create it. */
async function runStep(
  kind: ResourceKind,
  record: CloudHostRecord,
  deps: ProvisionDeps,
  signal: AbortSignal,
  persist: (poller: string) => Promise<void>,
): Promise<CloudResource | undefined> {
  const plan = planFor(record, deps.settings);
  const stored = record.steps[kind]?.poller;
  let op: CloudOperation | undefined;
  if (stored) {
    op = await deps.cloud.begin(kind, plan, stored, signal);
  } else {
    const existing = await deps.cloud.find(kind, plan, signal);
    if (existing && kind !== "network") {
      if (existing.tags["berth-host"] !== record.name) {
        throw new BerthError(
          "CONFLICT",
          `A ${stepLabel[kind]} named ${existing.name} already exists in resource group ${deps.settings.resourceGroup} and berth did not make it for \`${record.name}\`. Pick another host name.`,
        );
      }
      if (/succeeded/i.test(existing.provisioningState) && (kind !== "ip" || existing.address)) return existing;
    }
    op = await deps.cloud.begin(kind, plan, undefined, signal);
  }
  await persist(op.state);
  return op.done(signal);
}

/** A failure in the words of someone who can act on it: Azure's reason, then the next thing to try. */
function failureText(error: unknown, record: CloudHostRecord, policy: Policy): Message {
  const base = publicMessage(error);
  const code = error instanceof BerthError ? error.code : "INTERNAL";
  const sizes = policy.azure.sizes.filter((s) => s !== record.size);
  const regions = policy.azure.regions.filter((r) => r !== record.region);
  switch (code) {
    case "CAPACITY":
      return msg`${base}${sizes.length ? ` Sizes the policy allows: ${sizes.join(", ")}.` : ""}${regions.length ? ` Regions: ${regions.join(", ")}.` : ""}`;
    case "QUOTA":
      return msg`${base} Ask your Azure admin for more quota in ${record.region} (Azure portal → Quotas), or pick a smaller size.`;
    default:
      return base;
  }
}
