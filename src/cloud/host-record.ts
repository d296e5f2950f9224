import type { Actor } from "../core/action.ts";
import type { CloudHostRecord } from "../store/records.ts";
import type { HostPlan } from "./ports.ts";
import type { CloudSettings } from "./provision-deps.ts";

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

/** What the cloud is asked to build for a host: its record (which is what survives a restart) and the settings. */
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
