import { generateKeyPairSync, randomInt } from "node:crypto";
import type { Actor } from "../core/action.ts";
import { formatDuration, parseDuration } from "../core/duration.ts";
import { BerthError, publicMessage } from "../core/errors.ts";
import type { JobEvent } from "../core/events.ts";
import type { Policy } from "../core/policy.ts";
import type { ContainerEngine, DockerConnection } from "../engines/ports.ts";
import type { CloudHostRecord, Store } from "../store/store.ts";
import { createCa, issueClientCert, issueServerCert, type Pem } from "./certificates.ts";
import { linuxCloudInit, windowsSetup } from "./host-bootstrap.ts";
import type { CloudOperation, CloudResource, HostCloud, HostPlan, ResourceKind } from "./ports.ts";

/** Where and how berth makes hosts: from the operator's configuration (AZURE_* and BERTH_AZURE_* variables). */
export type CloudSettings = {
  resourceGroup: string;
  /** AZURE_LOCATION: the region when --region is not given. */
  region: string;
  dockerPort: number;
  /** Who may reach the Docker port: berth's own address. Required for hosts with a public IP. */
  allowCidr?: string | undefined;
  adminCidr?: string | undefined;
  adminUsername: string;
  sshPublicKey?: string | undefined;
  network: HostPlan["network"];
  /** Between two probes of a new host's Docker port. */
  probeIntervalMs: number;
};

export type ProvisionDeps = {
  cloud: HostCloud;
  store: Store;
  settings: CloudSettings;
  policy: () => Policy;
  /** A Docker client for a host made here (TLS with berth's client certificate). */
  connect: (conn: DockerConnection) => ContainerEngine;
  clock: () => number;
  /** A host became usable, or went away: `hosts` and `-H` must see it now. */
  changed: () => void;
  /** true while berth shuts down: an interrupted job is left to resume, not cleaned up. */
  suspended: () => boolean;
};

/** The steps of a host, in order; the card shows them as they complete. */
const createOrder: readonly ResourceKind[] = ["network", "nsg", "ip", "nic", "vm", "extension"];
/** docker-machine's removal order: what refers to a resource goes before it. The shared network stays. */
const removeOrder: readonly ResourceKind[] = ["vm", "nic", "ip", "nsg"];
const stepLabel: Record<ResourceKind, string> = {
  network: "network",
  nsg: "firewall",
  ip: "public IP",
  nic: "NIC",
  vm: "VM",
  extension: "Docker setup",
};

/** berth's CA and its client certificate, made once and kept in the store, encrypted (the CA key never leaves it). */
export async function berthPki(store: Store, now: Date): Promise<{ ca: Pem; client: Pem }> {
  const stored = store.secrets.get("pki");
  if (stored) return JSON.parse(stored) as { ca: Pem; client: Pem };
  const ca = await createCa("berth CA", now);
  const client = await issueClientCert(ca, "berth", now);
  return JSON.parse(store.secrets.putOnce("pki", JSON.stringify({ ca, client }))) as { ca: Pem; client: Pem };
}

/** How berth reaches a host it made: Docker over TLS with its own client certificate. */
export function cloudConnection(record: CloudHostRecord, pki: { ca: Pem; client: Pem }): DockerConnection | undefined {
  if (!record.dockerUrl) return undefined;
  return {
    name: record.name,
    url: record.dockerUrl,
    tls: { ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key },
    timeoutMs: 15_000,
  };
}

export function planFor(record: CloudHostRecord, settings: CloudSettings): HostPlan {
  return {
    name: record.name,
    os: record.os,
    size: record.size,
    region: record.region,
    hyperv: record.hyperv,
    private: record.private,
    tags: {
      "created-by": "berth",
      "berth-host": record.name,
      requester: record.requester,
      channel: record.channelId,
      job: record.jobId,
      expires: new Date(record.expiresAt).toISOString(),
    },
    dockerPort: settings.dockerPort,
    allowCidr: settings.allowCidr ?? "",
    adminCidr: settings.adminCidr,
    adminUsername: settings.adminUsername,
    sshPublicKey: record.os === "linux" ? (settings.sshPublicKey ?? record.bootstrap?.sshPublicKey) : undefined,
    adminPassword: record.bootstrap?.adminPassword,
    customData: record.bootstrap?.customData,
    setupCommand: record.bootstrap?.setupCommand,
    network: settings.network,
  };
}

/**
 * Azure insists on a log-in for a Linux VM. Without an operator key, berth gives it a key whose private half it never
 * keeps: the host is only ever reached through Docker's TLS port.
 */
function throwawaySshKey(): string {
  const { publicKey } = generateKeyPairSync("ed25519");
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x as string, "base64url");
  const field = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([field(Buffer.from("ssh-ed25519")), field(raw)]).toString("base64")} berth-unused`;
}

/** A password Azure accepts (12–123 chars, 3 of 4 classes); berth does not keep it once the VM exists. */
function windowsPassword(): string {
  const sets = ["ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnopqrstuvwxyz", "23456789", "!#%+-.:=?@_"];
  const chars = sets.map((s) => s[randomInt(s.length)]);
  const all = sets.join("");
  while (chars.length < 28) chars.push(all[randomInt(all.length)]);
  return chars.join("");
}

export type CreateRequest = {
  name: string;
  os: "linux" | "windows";
  size: string;
  region: string;
  ttlSeconds: number;
  hyperv: boolean;
  private: boolean;
};

/** A new host's record, before anything exists in Azure. */
export function newHostRecord(req: CreateRequest, actor: Actor, jobId: string, now: number): CloudHostRecord {
  return {
    ...req,
    requester: actor.userId,
    channelId: actor.channelId,
    threadTs: null,
    jobId,
    createdAt: now,
    expiresAt: now + req.ttlSeconds * 1000,
    remindedAt: null,
    status: "provisioning",
    steps: {},
    removal: {},
    address: null,
    fqdn: null,
    dockerUrl: null,
    bootstrap: null,
    detail: null,
  };
}

const cancelledBy = (signal: AbortSignal) => (signal.reason as { by?: string } | undefined)?.by;

/** What the card says about the steps: done ones ticked, the current one marked. */
function progress(record: CloudHostRecord, current: string | undefined): string {
  const kinds = createOrder.filter((k) => !(k === "ip" && record.private) && !(k === "extension" && record.os === "linux"));
  const marks = kinds.map((k) => {
    const s = record.steps[k];
    const label = k === "ip" && record.address && !record.private ? `public IP ${record.address}` : stepLabel[k];
    return s?.state === "done"
      ? `:white_check_mark: ${label}`
      : k === current
        ? `:hourglass_flowing_sand: ${label}`
        : `:white_circle: ${label}`;
  });
  const docker = current === "docker" ? ":hourglass_flowing_sand: Docker reachable" : ":white_circle: Docker reachable";
  return [...marks, docker].join("  ");
}

/**
 * Makes (or, after a restart, finishes making) one host: each resource in order, its poller stored before it is
 * awaited, then waits for Docker over TLS and registers the host. A failure or a Cancel removes what was made; berth
 * shutting down leaves everything to resume.
 */
export async function* provisionHost(name: string, deps: ProvisionDeps, signal: AbortSignal): AsyncGenerator<JobEvent> {
  const { cloud, store, settings } = deps;
  let record = store.cloudHosts.get(name) as CloudHostRecord;
  const save = (patch: Partial<CloudHostRecord>) => {
    record = { ...record, ...patch };
    store.cloudHosts.put(record);
  };
  const started = deps.clock();
  const cardTs = store.jobs.get(record.jobId)?.messageTs;
  if (cardTs && record.threadTs !== cardTs && !record.threadTs) save({ threadTs: cardTs });
  const header = `\`${name}\`: ${record.os}${record.hyperv ? " with Hyper-V" : ""}, ${record.size}, ${record.region}, until ${new Date(record.expiresAt).toISOString().slice(0, 16).replace("T", " ")} UTC`;
  const resumed = Object.keys(record.steps).length > 0;
  if (resumed) yield { type: "notice", text: `Picking up where berth left off: ${progress(record, undefined)}` };
  let current: string | undefined;
  const status = (): JobEvent => ({ type: "status", text: `Creating ${header}\n${progress(record, current)}` });
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
      if ((kind === "ip" && record.private) || (kind === "extension" && record.os === "linux")) {
        save({ steps: { ...record.steps, [kind]: { state: "done" } } });
        continue;
      }
      if (kind === "vm" && !record.bootstrap) save({ bootstrap: await bootstrapFor(record, pki, settings) });
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
      save({ ...learned, steps: { ...record.steps, [kind]: { state: "done", id: resource?.id } } });
      yield { type: "notice", text: `:white_check_mark: ${stepDone(kind, record)} (${formatDuration(deps.clock() - stepStart)})` };
    }
    if (!record.address) throw new BerthError("INTERNAL", `host ${name}: no address after the network steps`);
    const url = `tcp://${record.address}:${settings.dockerPort}`;
    save({ dockerUrl: url });
    current = "docker";
    yield status();
    const seen = yield* waitForDocker(record, pki, deps, signal);
    if (seen.ok) {
      save({ status: "ready", detail: null, bootstrap: null });
      deps.changed();
      yield {
        type: "end",
        outcome: "succeeded",
        text: `:white_check_mark: \`${name}\` is ready after ${formatDuration(deps.clock() - started)}: ${seen.what} at ${url}${record.fqdn ? ` (${record.fqdn})` : ""}. Use it with \`-H ${name}\`; it is removed at ${new Date(record.expiresAt).toISOString().slice(0, 16).replace("T", " ")} UTC unless extended.`,
      };
      return;
    }
    const why = `Docker did not answer on ${url} within ${deps.policy().azure.readyTimeout}. Last seen: ${seen.what}.`;
    if (deps.policy().azure.keepUnreachable) {
      save({ status: "unreachable", detail: why, bootstrap: null });
      deps.changed();
      yield {
        type: "end",
        outcome: "failed",
        text: `${why} The VM is kept for inspection (policy \`keepUnreachable\`) until it expires; \`/berth host rm ${name}\` removes it now.`,
      };
      return;
    }
    yield { type: "notice", text: `${why} Removing what was created…` };
    const left = yield* removeResources(record, deps, (r) => (record = r), signal);
    yield { type: "end", outcome: "failed", text: `${why} ${left}` };
  } catch (error) {
    if (signal.aborted && deps.suspended()) {
      yield {
        type: "end",
        outcome: "cancelled",
        text: `berth is restarting; creating \`${name}\` goes on when it is back, in this thread. (${progress(record, current)})`,
      };
      return;
    }
    const cancelled = signal.aborted;
    const why = cancelled ? `Cancelled by <@${cancelledBy(signal) ?? "unknown"}>.` : failureText(error, record, deps.policy());
    if (Object.keys(record.steps).length === 0) {
      save({ status: "removed", detail: why, bootstrap: null });
      yield { type: "end", outcome: cancelled ? "cancelled" : "failed", text: `${why} Nothing was created in Azure.` };
      return;
    }
    yield { type: "notice", text: `${why} Removing what was created…` };
    const left = yield* removeResources(record, deps, (r) => (record = r), signal);
    yield { type: "end", outcome: cancelled ? "cancelled" : "failed", text: `${why} ${left}` };
  }
}

/** Removes a host (`host rm`, expiry, or a failed create): everything berth made for it, in order, resumable. */
export async function* removeHost(name: string, reason: string, deps: ProvisionDeps, signal: AbortSignal): AsyncGenerator<JobEvent> {
  let record = deps.store.cloudHosts.get(name) as CloudHostRecord;
  yield { type: "status", text: `Removing \`${name}\` (${reason})…` };
  const left = yield* removeResources(record, deps, (r) => (record = r), signal);
  const outcome = record.status === "removed" ? "succeeded" : signal.aborted && deps.suspended() ? "cancelled" : "failed";
  yield { type: "end", outcome, text: left };
}

/**
 * Deletes vm → nic → ip → nsg, each poller stored as it goes; a resource that is already gone counts as removed. A
 * person cannot stop it half-way (that would leave resources nobody tracks); berth shutting down can, and the next
 * berth resumes it from the stored pollers. Returns the sentence that ends the story.
 */
async function* removeResources(
  start: CloudHostRecord,
  deps: ProvisionDeps,
  update: (r: CloudHostRecord) => void,
  jobSignal: AbortSignal,
): AsyncGenerator<JobEvent, string> {
  let record: CloudHostRecord = { ...start, status: "removing" };
  const save = (patch: Partial<CloudHostRecord>) => {
    record = { ...record, ...patch };
    deps.store.cloudHosts.put(record);
    update(record);
  };
  save({});
  // The host stops being offered for -H at once: nothing new should land on a VM that is going away.
  deps.changed();
  const shutdown = new AbortController();
  const onAbort = () => deps.suspended() && shutdown.abort(jobSignal.reason);
  if (jobSignal.aborted) onAbort();
  jobSignal.addEventListener("abort", onAbort);
  const signal = AbortSignal.any([shutdown.signal, AbortSignal.timeout(30 * 60_000)]);
  const plan = planFor(record, deps.settings);
  try {
    for (const kind of removeOrder) {
      const step = record.removal[kind];
      if (step?.state === "done") continue;
      yield { type: "status", text: `Removing \`${record.name}\`: ${stepLabel[kind]}…` };
      const op = await deps.cloud.beginDelete(kind, plan, step?.poller, signal);
      save({ removal: { ...record.removal, [kind]: { state: "running", poller: op.state } } });
      await op.done(signal);
      save({ removal: { ...record.removal, [kind]: { state: "done" } } });
      yield { type: "notice", text: `:wastebasket: ${stepLabel[kind]} removed` };
    }
    save({ status: "removed", detail: null, bootstrap: null });
    deps.changed();
    return `Removed \`${record.name}\` and everything berth created for it (the shared network ${deps.settings.network.vnet} stays).`;
  } catch (error) {
    if (shutdown.signal.aborted) {
      return `berth is restarting; removing \`${record.name}\` goes on when it is back (${Object.keys(record.removal).length} of ${removeOrder.length} steps started).`;
    }
    save({ detail: `removal failed: ${publicMessage(error)}` });
    return `:warning: Removing \`${record.name}\` did not finish: ${publicMessage(error)} berth retries when it restarts; \`/berth host rm ${record.name}\` retries now.`;
  } finally {
    jobSignal.removeEventListener("abort", onAbort);
  }
}

/** One resource: resume its stored poller, reuse it if it already exists (a retry after a crash), or create it. */
async function runStep(
  kind: ResourceKind,
  record: CloudHostRecord,
  deps: ProvisionDeps,
  signal: AbortSignal,
  persist: (poller: string) => void,
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
  persist(op.state);
  return op.done(signal);
}

/** The customData (and for Windows the setup command and password): made once, kept until the VM exists. */
async function bootstrapFor(record: CloudHostRecord, pki: { ca: Pem }, settings: CloudSettings): Promise<CloudHostRecord["bootstrap"]> {
  const ips = record.address ? [record.address] : [];
  const server = await issueServerCert(pki.ca, { commonName: record.name, ips, dnsNames: record.fqdn ? [record.fqdn] : [] });
  if (record.os === "linux") {
    return {
      customData: linuxCloudInit({ ca: pki.ca.cert, server, dockerPort: settings.dockerPort }),
      // Made once and kept with the customData: a VM's SSH keys, like its customData, cannot change on a retried PUT.
      sshPublicKey: settings.sshPublicKey ? undefined : throwawaySshKey(),
    };
  }
  const w = windowsSetup({ ca: pki.ca.cert, server, dockerPort: settings.dockerPort, hyperv: record.hyperv });
  return { customData: w.customData, setupCommand: w.command, adminPassword: windowsPassword() };
}

function stepDone(kind: ResourceKind, record: CloudHostRecord): string {
  switch (kind) {
    case "network":
      return `network ready (${record.private ? "private" : "shared"} subnet)`;
    case "nsg":
      return "firewall: Docker TLS port open to berth only";
    case "ip":
      return `public IP ${record.address ?? "?"}${record.fqdn ? ` (${record.fqdn})` : ""}`;
    case "nic":
      return "network interface";
    case "vm":
      return `VM created (${record.size})`;
    case "extension":
      return "Docker setup script ran";
  }
}

/** Probes Docker over TLS until it answers or the policy's readyTimeout passes; says what it saw either way. */
async function* waitForDocker(
  record: CloudHostRecord,
  pki: { ca: Pem; client: Pem },
  deps: ProvisionDeps,
  signal: AbortSignal,
): AsyncGenerator<JobEvent, { ok: boolean; what: string }> {
  const conn = cloudConnection(record, pki) as DockerConnection;
  const engine = deps.connect({ ...conn, timeoutMs: 10_000 });
  const deadline = deps.clock() + (parseDuration(deps.policy().azure.readyTimeout) as number) * 1000;
  let last = "no answer yet";
  let said = "";
  try {
    for (;;) {
      try {
        const info = await engine.info(AbortSignal.any([signal, AbortSignal.timeout(10_000)]));
        // The certificate proves the engine is berth's; the OS proves it is this host's (an address reused too soon).
        if (info.osType === record.os) return { ok: true, what: `${info.osType} ${info.osBuild}, Docker ${info.engineVersion}` };
        last = `a ${info.osType} Docker engine answers there, not the ${record.os} host berth made`;
      } catch (error) {
        if (signal.aborted) throw error;
        last = publicMessage(error);
      }
      if (last !== said) {
        said = last;
        yield { type: "notice", text: `Docker on ${conn.url} is not answering yet (cloud-init is installing it): ${last}` };
      }
      if (deps.clock() >= deadline) return { ok: false, what: last };
      await new Promise((resolve) => setTimeout(resolve, deps.settings.probeIntervalMs));
      if (signal.aborted) throw signal.reason;
    }
  } finally {
    engine.close();
  }
}

/** A failure in the words of someone who can act on it: Azure's reason, then the next thing to try. */
function failureText(error: unknown, record: CloudHostRecord, policy: Policy): string {
  const base = publicMessage(error);
  const code = error instanceof BerthError ? error.code : "INTERNAL";
  const sizes = policy.azure.sizes.filter((s) => s !== record.size);
  const regions = policy.azure.regions.filter((r) => r !== record.region);
  switch (code) {
    case "CAPACITY":
      return `${base}${sizes.length ? ` Sizes the policy allows: ${sizes.join(", ")}.` : ""}${regions.length ? ` Regions: ${regions.join(", ")}.` : ""}`;
    case "QUOTA":
      return `${base} Ask your Azure admin for more quota in ${record.region} (Azure portal → Quotas), or pick a smaller size.`;
    default:
      return base;
  }
}
