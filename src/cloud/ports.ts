/**
 * What berth needs from a cloud to make a Docker host: create and delete a handful of resources, each one a
 * long-running operation whose poller state can be stored and resumed by another process. The Azure adapter
 * (src/cloud/azure/) is the only implementation and the only importer of the Azure SDK; the provisioning jobs
 * (src/cloud/provision.ts) only see this.
 */

/** The resources of one host, in creation order. `network` is the shared virtual network and subnet (reused). */
export const resourceKinds = ["network", "nsg", "ip", "nic", "vm", "extension"] as const;
export type ResourceKind = (typeof resourceKinds)[number];

export type HostOs = "linux" | "windows";

/** Everything the cloud needs to build one Docker host; derived from the command, the policy and the config. */
export type HostPlan = {
  /** The berth host name (also the VM name); the other resources are named from it (see resourceNames). */
  name: string;
  os: HostOs;
  size: string;
  region: string;
  /** Windows only: install the Hyper-V role (needs a size with nested virtualization; checked by the caller). */
  hyperv: boolean;
  /** No public IP: berth reaches the host on its private address (berth runs inside the virtual network). */
  private: boolean;
  /** Azure tags on every resource: created-by, requester, channel, job, expires. */
  tags: Record<string, string>;
  /** The Docker TLS port the NSG opens and dockerd listens on (2376). */
  dockerPort: number;
  /** Who may reach the Docker port: one CIDR (berth's own address). */
  allowCidr: string;
  /** Opens SSH (Linux) or RDP (Windows) from this CIDR; no admin port is opened when absent. */
  adminCidr?: string | undefined;
  adminUsername: string;
  /** Linux: the OpenSSH public key line for adminUsername (password log-in is disabled). */
  sshPublicKey?: string | undefined;
  /** Windows: the administrator password Azure requires (berth generates it and does not keep it). */
  adminPassword?: string | undefined;
  /**
   * Linux: the cloud-init document; Windows: the PowerShell setup script (Azure writes it to C:\AzureData\CustomData.bin
   * and the Custom Script Extension's setupCommand runs it).
   * Plain text: the adapter base64-encodes it. Never logged: it carries the server's TLS key.
   */
  customData?: string | undefined;
  /** Windows: the Custom Script Extension command (sent in protectedSettings). */
  setupCommand?: string | undefined;
  /** The shared virtual network and subnet hosts are placed in. */
  network: { vnet: string; addressPrefix: string; subnet: string; subnetPrefix: string };
};

/** What berth learns about a resource; only the fields the provisioning job reads. */
export type CloudResource = {
  kind: ResourceKind;
  id: string;
  name: string;
  provisioningState: string;
  /** ip: the public address once allocated; nic: the private address. */
  address?: string | undefined;
  /** ip: the DNS name (<label>.<region>.cloudapp.azure.com). */
  fqdn?: string | undefined;
  tags: Record<string, string>;
};

/** One long-running operation, started or resumed. */
export interface CloudOperation {
  /** Serialized poller state to persist now; `begin…(…, resumeFrom)` in another process picks the operation up. */
  readonly state: string;
  /** Polls to the end. Rejects with BerthError (codes below) when the operation fails; AbortError when aborted. */
  done(signal: AbortSignal): Promise<CloudResource | undefined>;
}

/**
 * Failures arrive as BerthError:
 * - CAPACITY (SkuNotAvailable, AllocationFailed…: another size or region),
 * - QUOTA (OperationNotAllowed …quota…, QuotaExceeded, PublicIPCountLimitReached: ask for quota),
 * - THROTTLED (429 after the SDK's retries, with the Retry-After it saw),
 * - FORBIDDEN (AuthorizationFailed: the role berth's identity lacks),
 * - CONFLICT (Conflict, AnotherOperationInProgress, in-use on delete),
 * - UNAVAILABLE (5xx after retries, network errors), TIMEOUT,
 * - INVALID (InvalidParameter, ImageNotFound…), CONFIG (no credential, bad subscription).
 * The message says what happened in Azure's words (code and message) and what to do next.
 */
export interface HostCloud {
  /** Makes sure berth's resource group exists in that region (created when missing, tagged created-by berth). */
  prepare(region: string, signal: AbortSignal): Promise<void>;
  /** Creates or updates one resource of the plan; with resumeFrom, resumes that stored poller instead (no new PUT). */
  begin(kind: ResourceKind, plan: HostPlan, resumeFrom: string | undefined, signal: AbortSignal): Promise<CloudOperation>;
  /** Deletes one resource of the host; a resource that is not there is done at once (idempotent). */
  beginDelete(kind: ResourceKind, plan: HostPlan, resumeFrom: string | undefined, signal: AbortSignal): Promise<CloudOperation>;
  /** The resource as it is now, or undefined when it does not exist. */
  find(kind: ResourceKind, plan: HostPlan, signal: AbortSignal): Promise<CloudResource | undefined>;
  /** Why this size cannot be had in this region (resource SKU restrictions), or undefined when it can. */
  sizeProblem(size: string, region: string, signal: AbortSignal): Promise<string | undefined>;
}

/** Azure resource names for a host (docker-machine's scheme, with an NSG per host). */
export function resourceNames(name: string) {
  return {
    vm: name,
    nic: `${name}-nic`,
    ip: `${name}-ip`,
    nsg: `${name}-nsg`,
    osDisk: `${name}-osdisk`,
    extension: "docker-setup",
    /** DNS label of the public IP: unique enough within a region, and stable for a retry. */
    dnsLabel: `berth-${name.toLowerCase().replace(/[^a-z0-9-]/g, "-")}`,
  };
}
