/** The steps of a host as its job card shows them: in order, done ones ticked, the current one marked. */
import { join, type Message, msg, type Tone, tone } from "../core/message.ts";
import type { CloudHostRecord } from "../store/records.ts";
import type { ResourceKind } from "./ports.ts";

/** The steps of a host, in order; the card shows them as they complete. */
export const createOrder: readonly ResourceKind[] = ["network", "nsg", "ip", "nic", "vm", "extension"];
/** docker-machine's removal order: what refers to a resource goes before it. The shared network stays. */
export const removeOrder: readonly ResourceKind[] = ["vm", "nic", "ip", "nsg"];

export const stepLabel: Record<ResourceKind, string> = {
  network: "network",
  nsg: "firewall",
  ip: "public IP",
  nic: "NIC",
  vm: "VM",
  extension: "Docker setup",
};

/** A step this host does not have: no public IP when private, no setup extension on Linux (cloud-init does it). */
export const skipped = (kind: ResourceKind, record: CloudHostRecord) =>
  (kind === "ip" && record.private) || (kind === "extension" && record.os === "linux");

/** The checklist on the card: each step ticked, waiting (the current one) or still to come, then Docker. */
export function progress(record: CloudHostRecord, current: string | undefined): Message {
  const mark = (done: boolean, step: string): Tone => (done ? "success" : step === current ? "waiting" : "idle");
  const marks = createOrder
    .filter((k) => !skipped(k, record))
    .map((k) => {
      const label = k === "ip" && record.address && !record.private ? `public IP ${record.address}` : stepLabel[k];
      return msg`${tone(mark(record.steps[k]?.state === "done", k))} ${label}`;
    });
  return join([...marks, msg`${tone(mark(false, "docker"))} Docker reachable`], "  ");
}

/** What a finished step made, for the thread. */
export function stepDone(kind: ResourceKind, record: CloudHostRecord): string {
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
