/**
 * The Azure implementation of HostCloud, and the only file in src/ that imports the Azure SDK. Each resource is one
 * ARM long-running operation; its poller state is what berth persists, so another process can resume it with
 * `restorePoller` instead of sending the PUT again (docs/reference/azure.md §3.5). Failures leave here as BerthError only.
 */
import tls from "node:tls";
import type { VirtualMachine, VirtualMachineExtension } from "@azure/arm-compute";
import {
  ComputeManagementClient,
  type ComputeManagementClientOptionalParams,
  restorePoller as restoreComputePoller,
} from "@azure/arm-compute";
import type { NetworkInterface, NetworkSecurityGroup, PublicIPAddress, SecurityRule, Subnet, VirtualNetwork } from "@azure/arm-network";
import { NetworkManagementClient, restorePoller as restoreNetworkPoller } from "@azure/arm-network";
import { ResourceManagementClient } from "@azure/arm-resources";
import { DefaultAzureCredential, type TokenCredential } from "@azure/identity";
import { BerthError, type ErrorCode } from "../core/errors.ts";
import { type CloudOperation, type CloudResource, type HostCloud, type HostPlan, type ResourceKind, resourceNames } from "./ports.ts";

export type AzureCloudOptions = {
  subscriptionId: string;
  resourceGroup: string;
  /** AZURE_RESOURCE_MANAGER_URL (sovereign clouds, tests); default public cloud. */
  endpoint?: string | undefined;
  /** Token scope; default "https://management.azure.com/.default". */
  audience?: string | undefined;
  /** Default: new DefaultAzureCredential(). */
  credential?:
    | {
        getToken(scopes: string | string[], options?: unknown): Promise<{ token: string; expiresOnTimestamp: number } | null>;
      }
    | undefined;
  /** Extra CA PEM trusted for the ARM endpoint, in addition to Node's root CAs. */
  ca?: string | undefined;
  /** LRO poll interval (SDK default 2000); a Retry-After on a poll still overrides it (the SDK's behaviour). */
  pollIntervalMs?: number | undefined;
  retry?: { maxRetries?: number; retryDelayInMs?: number; maxRetryDelayInMs?: number } | undefined;
  /** Called after every HTTP response the clients get (for metrics/benchmark: method, url, status, ms). */
  onResponse?: ((r: { method: string; url: string; status: number; ms: number }) => void) | undefined;
};

/** Windows Server Core images berth knows (publisher MicrosoftWindowsServer, offer WindowsServer). */
export const windowsServerSkus = {
  "2022": "2022-datacenter-azure-edition-core",
  "2025": "2025-datacenter-azure-edition-core",
} as const;
export const defaultWindowsSku = windowsServerSkus["2022"];

/** A HostPlan may carry the Windows image sku (not in the port: only Azure has it); default defaultWindowsSku. */
export type AzureHostPlan = HostPlan & { windowsSku?: string | undefined };

const linuxImage = { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" };
const createdBy = { "created-by": "berth" };
/** Marks an operation that needed no ARM call (reuse, nothing to delete): resuming it only looks again. */
const doneState = JSON.stringify({ berth: "done" });

const kindLabels: Record<ResourceKind, string> = {
  network: "virtual network",
  nsg: "network security group",
  ip: "public IP",
  nic: "network interface",
  vm: "virtual machine",
  extension: "setup extension",
};

type Poller<T> = {
  submitted(): Promise<void>;
  serialize(): Promise<string>;
  pollUntilDone(options?: { abortSignal?: AbortSignalLike }): Promise<T>;
};
type AbortSignalLike = AbortSignal;

export function createAzureCloud(options: AzureCloudOptions): HostCloud {
  const { subscriptionId, resourceGroup: rg } = options;
  const credential = (options.credential ?? new DefaultAzureCredential()) as TokenCredential;
  const clientOptions: ComputeManagementClientOptionalParams = {
    endpoint: options.endpoint,
    credentials: { scopes: [options.audience ?? "https://management.azure.com/.default"] },
    ...(options.ca ? { tlsOptions: { ca: [...tls.rootCertificates, options.ca] } } : {}),
    ...(options.retry ? { retryOptions: options.retry } : {}),
    ...(options.onResponse ? { additionalPolicies: [{ policy: responsePolicy(options.onResponse), position: "perRetry" }] } : {}),
  };
  const resources = new ResourceManagementClient(credential, subscriptionId, clientOptions);
  const network = new NetworkManagementClient(credential, subscriptionId, clientOptions);
  const compute = new ComputeManagementClient(credential, subscriptionId, clientOptions);
  const interval = options.pollIntervalMs;
  const lro = (signal: AbortSignal) => ({ abortSignal: signal, updateIntervalInMs: interval });
  const networkLocks = new Map<string, Promise<unknown>>();

  const base = `/subscriptions/${subscriptionId}/resourceGroups/${rg}/providers`;
  const ids = (plan: HostPlan) => {
    const names = resourceNames(plan.name);
    return {
      subnet: `${base}/Microsoft.Network/virtualNetworks/${plan.network.vnet}/subnets/${plan.network.subnet}`,
      nsg: `${base}/Microsoft.Network/networkSecurityGroups/${names.nsg}`,
      ip: `${base}/Microsoft.Network/publicIPAddresses/${names.ip}`,
      nic: `${base}/Microsoft.Network/networkInterfaces/${names.nic}`,
    };
  };

  /** Starts (or resumes) a poller and waits for its initial response, so a refused PUT fails here (docs/reference/azure.md §3.4). */
  async function started<T>(
    kind: ResourceKind,
    plan: HostPlan,
    verb: Verb,
    poller: Poller<T>,
    toResource: (result: T) => CloudResource | undefined,
    signal: AbortSignal,
  ): Promise<CloudOperation> {
    try {
      await poller.submitted();
      const state = await poller.serialize();
      return {
        state,
        async done(doneSignal) {
          try {
            return toResource(await poller.pollUntilDone({ abortSignal: doneSignal }));
          } catch (error) {
            throw toBerthError(error, verb, kind, plan.name, doneSignal);
          }
        },
      };
    } catch (error) {
      throw toBerthError(error, verb, kind, plan.name, signal);
    }
  }

  const doneAtOnce = (resource: () => Promise<CloudResource | undefined>): CloudOperation => ({
    state: doneState,
    done: resource,
  });

  async function createNetwork(plan: HostPlan, signal: AbortSignal): Promise<CloudOperation> {
    const { vnet: vnetName, subnet: subnetName, addressPrefix, subnetPrefix } = plan.network;
    const existing = await getOrUndefined(() => network.virtualNetworks.get(rg, vnetName, { abortSignal: signal }));
    const subnets: Subnet[] = existing?.subnets ?? [];
    if (existing && subnets.some((s) => sameName(s.name, subnetName))) return doneAtOnce(async () => vnetResource(existing));
    const prefixes = existing?.addressSpace?.addressPrefixes ?? [];
    let poller: Poller<VirtualNetwork | Subnet>;
    if (existing && prefixes.includes(addressPrefix)) {
      poller = network.subnets.createOrUpdate(rg, vnetName, subnetName, { addressPrefix: subnetPrefix }, lro(signal));
    } else {
      // A PUT replaces the whole vnet: keep what others put there (prefixes, subnets with their links).
      const body: VirtualNetwork = {
        location: existing?.location ?? plan.region,
        tags: existing?.tags ?? createdBy,
        addressSpace: { addressPrefixes: [...prefixes, addressPrefix] },
        subnets: [...subnets, { name: subnetName, addressPrefix: subnetPrefix }],
      };
      poller = network.virtualNetworks.createOrUpdate(rg, vnetName, body, lro(signal));
    }
    const op = await started("network", plan, "create", poller, () => undefined, signal);
    // Held under the vnet lock until done: the next host must see the finished subnet, not PUT the vnet again.
    await op.done(signal);
    const vnet = await getOrUndefined(() => network.virtualNetworks.get(rg, vnetName, { abortSignal: signal }));
    return doneAtOnce(async () => (vnet ? vnetResource(vnet) : undefined));
  }

  /** One network change at a time per vnet in this process: concurrent hosts would each PUT the same vnet. */
  function withNetworkLock<T>(vnet: string, run: () => Promise<T>): Promise<T> {
    const key = vnet.toLowerCase();
    const previous = networkLocks.get(key) ?? Promise.resolve();
    const next = previous.then(run, run);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    networkLocks.set(key, settled);
    void settled.then(() => {
      if (networkLocks.get(key) === settled) networkLocks.delete(key);
    });
    return next;
  }

  function nsgBody(plan: HostPlan): NetworkSecurityGroup {
    const rule = (name: string, priority: number, source: string, port: number): SecurityRule => ({
      name,
      priority,
      direction: "Inbound",
      access: "Allow",
      protocol: "Tcp",
      sourceAddressPrefix: source,
      sourcePortRange: "*",
      destinationAddressPrefix: "*",
      destinationPortRange: String(port),
    });
    const rules = [rule("DockerTls", 300, plan.allowCidr, plan.dockerPort)];
    if (plan.adminCidr) {
      rules.unshift(plan.os === "windows" ? rule("RDP", 100, plan.adminCidr, 3389) : rule("SSH", 100, plan.adminCidr, 22));
    }
    return { location: plan.region, tags: plan.tags, securityRules: rules };
  }

  function vmBody(plan: AzureHostPlan): VirtualMachine {
    const names = resourceNames(plan.name);
    const windows = plan.os === "windows";
    return {
      location: plan.region,
      tags: plan.tags,
      hardwareProfile: { vmSize: plan.size },
      storageProfile: {
        imageReference: windows
          ? { publisher: "MicrosoftWindowsServer", offer: "WindowsServer", sku: plan.windowsSku ?? defaultWindowsSku, version: "latest" }
          : linuxImage,
        osDisk: {
          name: names.osDisk,
          createOption: "FromImage",
          caching: "ReadWrite",
          managedDisk: { storageAccountType: "StandardSSD_LRS" },
          deleteOption: "Delete",
        },
      },
      osProfile: {
        // Windows computer names stop at 15 characters; the Azure resource keeps the full name.
        computerName: windows ? plan.name.slice(0, 15) : plan.name,
        adminUsername: plan.adminUsername,
        ...(plan.customData === undefined ? {} : { customData: Buffer.from(plan.customData).toString("base64") }),
        ...(windows
          ? {
              adminPassword: plan.adminPassword,
              windowsConfiguration: { provisionVMAgent: true, enableAutomaticUpdates: true },
            }
          : {
              linuxConfiguration: {
                disablePasswordAuthentication: true,
                ssh: {
                  publicKeys: [{ path: `/home/${plan.adminUsername}/.ssh/authorized_keys`, keyData: plan.sshPublicKey ?? "" }],
                },
              },
            }),
      },
      networkProfile: { networkInterfaces: [{ id: ids(plan).nic, primary: true, deleteOption: "Delete" }] },
      // Trusted Launch (Azure's default) blocks nested virtualization on some sizes (docs/reference/azure.md §2.3).
      ...(plan.hyperv ? { securityProfile: { securityType: "Standard" } } : {}),
    };
  }

  function extensionBody(plan: HostPlan): VirtualMachineExtension {
    return {
      location: plan.region,
      tags: plan.tags,
      publisher: "Microsoft.Compute",
      typePropertiesType: "CustomScriptExtension",
      typeHandlerVersion: "1.10",
      autoUpgradeMinorVersion: true,
      protectedSettings: { commandToExecute: plan.setupCommand },
    };
  }

  function resume(kind: ResourceKind, verb: Verb, plan: HostPlan, state: string, signal: AbortSignal): Promise<CloudOperation> {
    if (state === doneState || kind === "network") {
      return Promise.resolve(doneAtOnce(() => (verb === "create" ? findResource(kind, plan, signal) : Promise.resolve(undefined))));
    }
    const o = lro(signal);
    const start = <T>(restore: () => Poller<T>, toResult: (result: T) => CloudResource | undefined) => {
      let poller: Poller<T>;
      try {
        poller = restore();
      } catch (error) {
        // A state restorePoller cannot read (not one of berth's, or from another SDK generation).
        return Promise.reject(toBerthError(error, verb, kind, plan.name, signal));
      }
      return started(kind, plan, verb, poller, toResult, signal);
    };
    const none = () => undefined;
    // restorePoller finds the operation from the URL in the state; the method only has to belong to the client.
    if (verb === "delete") {
      switch (kind) {
        case "vm":
        case "extension":
          return start(() => restoreComputePoller(compute, state, compute.virtualMachines.delete, o), none);
        case "nic":
          return start(() => restoreNetworkPoller(network, state, network.networkInterfaces.delete, o), none);
        case "ip":
          return start(() => restoreNetworkPoller(network, state, network.publicIPAddresses.delete, o), none);
        case "nsg":
          return start(() => restoreNetworkPoller(network, state, network.networkSecurityGroups.delete, o), none);
      }
    }
    switch (kind) {
      case "nsg":
        return start(
          () => restoreNetworkPoller(network, state, network.networkSecurityGroups.createOrUpdate, o),
          (r) => toResource(kind, r),
        );
      case "ip":
        return start(() => restoreNetworkPoller(network, state, network.publicIPAddresses.createOrUpdate, o), ipResource);
      case "nic":
        return start(() => restoreNetworkPoller(network, state, network.networkInterfaces.createOrUpdate, o), nicResource);
      case "vm":
        return start(
          () => restoreComputePoller(compute, state, compute.virtualMachines.createOrUpdate, o),
          (r) => toResource(kind, r),
        );
      case "extension":
        return start(
          () => restoreComputePoller(compute, state, compute.virtualMachineExtensions.createOrUpdate, o),
          (r) => toResource(kind, r, resourceNames(plan.name).extension),
        );
    }
  }

  async function findResource(kind: ResourceKind, plan: HostPlan, signal: AbortSignal): Promise<CloudResource | undefined> {
    const names = resourceNames(plan.name);
    const o = { abortSignal: signal };
    try {
      switch (kind) {
        case "network": {
          const vnet = await getOrUndefined(() => network.virtualNetworks.get(rg, plan.network.vnet, o));
          return vnet?.subnets?.some((s) => sameName(s.name, plan.network.subnet)) ? vnetResource(vnet) : undefined;
        }
        case "nsg":
          return toResource(kind, await getOrUndefined(() => network.networkSecurityGroups.get(rg, names.nsg, o)));
        case "ip":
          return ipResource(await getOrUndefined(() => network.publicIPAddresses.get(rg, names.ip, o)));
        case "nic":
          return nicResource(await getOrUndefined(() => network.networkInterfaces.get(rg, names.nic, o)));
        case "vm":
          return toResource(kind, await getOrUndefined(() => compute.virtualMachines.get(rg, names.vm, o)));
        case "extension":
          return toResource(
            kind,
            await getOrUndefined(() => compute.virtualMachineExtensions.get(rg, names.vm, names.extension, o)),
            names.extension,
          );
      }
    } catch (error) {
      throw toBerthError(error, "read", kind, plan.name, signal);
    }
  }

  return {
    async prepare(region, signal) {
      try {
        const existing = await getOrUndefined(() => resources.resourceGroups.get(rg, { abortSignal: signal }));
        if (existing) return;
        await resources.resourceGroups.createOrUpdate(rg, { location: region, tags: createdBy }, { abortSignal: signal });
      } catch (error) {
        throw toBerthError(error, "create", "group", rg, signal);
      }
    },

    async begin(kind, plan: AzureHostPlan, resumeFrom, signal) {
      if (resumeFrom) return resume(kind, "create", plan, resumeFrom, signal);
      const names = resourceNames(plan.name);
      const o = lro(signal);
      const id = ids(plan);
      switch (kind) {
        case "network":
          return withNetworkLock(plan.network.vnet, async () => {
            try {
              return await createNetwork(plan, signal);
            } catch (error) {
              throw toBerthError(error, "create", kind, plan.network.vnet, signal);
            }
          });
        case "nsg":
          return started(
            kind,
            plan,
            "create",
            network.networkSecurityGroups.createOrUpdate(rg, names.nsg, nsgBody(plan), o),
            (r) => toResource(kind, r),
            signal,
          );
        case "ip": {
          if (plan.private) return doneAtOnce(async () => undefined);
          const body: PublicIPAddress = {
            location: plan.region,
            tags: plan.tags,
            sku: { name: "Standard", tier: "Regional" },
            publicIPAllocationMethod: "Static",
            publicIPAddressVersion: "IPv4",
            dnsSettings: { domainNameLabel: names.dnsLabel },
          };
          return started(kind, plan, "create", network.publicIPAddresses.createOrUpdate(rg, names.ip, body, o), ipResource, signal);
        }
        case "nic": {
          const body: NetworkInterface = {
            location: plan.region,
            tags: plan.tags,
            networkSecurityGroup: { id: id.nsg },
            ipConfigurations: [
              {
                name: "ipconfig1",
                primary: true,
                privateIPAllocationMethod: "Dynamic",
                subnet: { id: id.subnet },
                ...(plan.private ? {} : { publicIPAddress: { id: id.ip } }),
              },
            ],
          };
          return started(kind, plan, "create", network.networkInterfaces.createOrUpdate(rg, names.nic, body, o), nicResource, signal);
        }
        case "vm":
          return started(
            kind,
            plan,
            "create",
            compute.virtualMachines.createOrUpdate(rg, names.vm, vmBody(plan), o),
            (r) => toResource(kind, r),
            signal,
          );
        case "extension":
          // Linux needs no extension: cloud-init runs the customData.
          if (plan.os === "linux") return doneAtOnce(async () => undefined);
          return started(
            kind,
            plan,
            "create",
            compute.virtualMachineExtensions.createOrUpdate(rg, names.vm, names.extension, extensionBody(plan), o),
            (r) => toResource(kind, r, names.extension),
            signal,
          );
      }
    },

    async beginDelete(kind, plan, resumeFrom, signal) {
      if (resumeFrom) return resume(kind, "delete", plan, resumeFrom, signal);
      const names = resourceNames(plan.name);
      const o = lro(signal);
      let poller: Poller<void>;
      switch (kind) {
        // The shared network stays for the next host; the VM's delete takes its extension with it.
        case "network":
        case "extension":
          return doneAtOnce(async () => undefined);
        case "vm":
          poller = compute.virtualMachines.delete(rg, names.vm, o);
          break;
        case "nic":
          poller = network.networkInterfaces.delete(rg, names.nic, o);
          break;
        case "ip":
          poller = network.publicIPAddresses.delete(rg, names.ip, o);
          break;
        case "nsg":
          poller = network.networkSecurityGroups.delete(rg, names.nsg, o);
          break;
      }
      try {
        await poller.submitted();
      } catch (error) {
        // ARM answers 204 for a resource that is not there; some providers answer 404: both mean done.
        if (statusOf(error) === 404 && !signal.aborted) return doneAtOnce(async () => undefined);
        throw toBerthError(error, "delete", kind, plan.name, signal);
      }
      return started(kind, plan, "delete", poller, () => undefined, signal);
    },

    find: findResource,

    async sizeProblem(size, region, signal) {
      const wanted = size.toLowerCase();
      const where = region.toLowerCase();
      try {
        for await (const sku of compute.resourceSkus.list({ filter: `location eq '${region}'`, abortSignal: signal })) {
          if (sku.resourceType !== "virtualMachines" || sku.name?.toLowerCase() !== wanted) continue;
          if (!(sku.locations ?? []).some((l) => l.toLowerCase() === where)) continue;
          const restriction = (sku.restrictions ?? []).find(
            (r) => r.type === "Location" && (r.values ?? []).some((v) => v.toLowerCase() === where),
          );
          if (!restriction) return undefined;
          return `Size ${size} is restricted in ${region} for this subscription (${restriction.reasonCode ?? "restricted"}): choose another size or region, or ask Azure support to lift the restriction.`;
        }
      } catch (error) {
        const mapped = toBerthError(error, "read", "sizes", region, signal);
        // A failed page loses ARM's message (and with it the missing action): name it here.
        if (mapped instanceof BerthError && mapped.code === "FORBIDDEN" && !mapped.message.includes("skus/read")) {
          throw new BerthError("FORBIDDEN", `${mapped.message} (Listing VM sizes needs Microsoft.Compute/skus/read.)`, { cause: error });
        }
        throw mapped;
      }
      return `Azure does not offer size ${size} in ${region} to this subscription: choose another size or region.`;
    },
  };
}

type Verb = "create" | "delete" | "read";

function responsePolicy(onResponse: NonNullable<AzureCloudOptions["onResponse"]>) {
  return {
    name: "berthOnResponse",
    async sendRequest<R extends { status: number }>(
      request: { method: string; url: string },
      next: (request: never) => Promise<R>,
    ): Promise<R> {
      const started = performance.now();
      const response = await next(request as never);
      onResponse({ method: request.method, url: request.url, status: response.status, ms: performance.now() - started });
      return response;
    },
  };
}

async function getOrUndefined<T>(get: () => Promise<T>): Promise<T | undefined> {
  try {
    return await get();
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

const sameName = (a: string | undefined, b: string) => a?.toLowerCase() === b.toLowerCase();

type ArmResource = {
  id?: string;
  name?: string;
  location?: string;
  tags?: Record<string, string>;
  provisioningState?: string;
};

function toResource(kind: ResourceKind, r: ArmResource | undefined, name?: string): CloudResource | undefined {
  if (!r) return undefined;
  return {
    kind,
    id: r.id ?? "",
    name: r.name ?? name ?? "",
    // ARM: no provisioningState means Succeeded (docs/reference/azure.md §3.1).
    provisioningState: r.provisioningState ?? "Succeeded",
    tags: r.tags ?? {},
  };
}

function vnetResource(vnet: VirtualNetwork): CloudResource | undefined {
  return toResource("network", vnet);
}

function ipResource(ip: PublicIPAddress | undefined): CloudResource | undefined {
  const resource = toResource("ip", ip);
  return resource && { ...resource, address: ip?.ipAddress, fqdn: ip?.dnsSettings?.fqdn };
}

function nicResource(nic: NetworkInterface | undefined): CloudResource | undefined {
  const resource = toResource("nic", nic);
  return resource && { ...resource, address: nic?.ipConfigurations?.[0]?.privateIPAddress };
}

// ---- errors ------------------------------------------------------------------------------------------------------

type Failure = { status: number | undefined; code: string; message: string; retryAfter: string | undefined };

function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === "number" ? status : undefined;
}

const credentialErrors = new Set([
  "CredentialUnavailableError",
  "AggregateAuthenticationError",
  "AuthenticationError",
  "AuthenticationRequiredError",
]);
const capacityCodes = new Set([
  "SkuNotAvailable",
  "AllocationFailed",
  "ZonalAllocationFailed",
  "OverconstrainedAllocationRequest",
  "OverconstrainedZonalAllocationRequest",
]);
const quotaCodes = new Set([
  "QuotaExceeded",
  "ResourceQuotaExceeded",
  "PublicIPCountLimitReached",
  "ResourceCountExceeded",
  "SubscriptionRequestsThrottled",
]);
const conflictCodes = new Set([
  "Conflict",
  "AnotherOperationInProgress",
  "OperationNotAllowed",
  "NicInUse",
  "PublicIPAddressInUse",
  "InUseNetworkSecurityGroupCannotBeDeleted",
  "InUseSubnetCannotBeDeleted",
  "ResourceGroupBeingDeleted",
  "PropertyChangeNotAllowed",
]);
const configCodes = new Set([
  "MissingSubscriptionRegistration",
  "SubscriptionNotFound",
  "InvalidSubscriptionId",
  "ResourceGroupNotFound",
  "AuthenticationFailed",
  "InvalidAuthenticationToken",
  "InvalidAuthenticationTokenAudience",
  "ExpiredAuthenticationToken",
]);

/** What Azure said, from a RestError (sync) or core-lro's plain Error for a failed operation (async). */
function failureOf(error: Error): Failure | undefined {
  const status = statusOf(error);
  const code = (error as { code?: unknown }).code;
  if (status !== undefined || typeof code === "string") {
    const headers = (error as { response?: { headers?: { get(name: string): string | undefined } } }).response?.headers;
    const retryAfterMs = headers?.get("retry-after-ms") ?? headers?.get("x-ms-retry-after-ms");
    const retryAfter = headers?.get("retry-after") ?? (retryAfterMs ? String(Number(retryAfterMs) / 1000) : undefined);
    return { status, code: typeof code === "string" ? code : `HTTP${status ?? ""}`, message: error.message, retryAfter };
  }
  const failed = /^The long-running operation has failed\. ([^.\s]+)\. ?([\s\S]*)$/.exec(error.message);
  if (failed) return { status: undefined, code: failed[1] ?? "Failed", message: failed[2] ?? "", retryAfter: undefined };
  if (error.message === "Operation was canceled") {
    return { status: undefined, code: "Canceled", message: "Azure canceled the operation", retryAfter: undefined };
  }
  return undefined;
}

function classify(f: Failure): { code: ErrorCode; advice: string } {
  const { status, code, message } = f;
  if (status === 429 || code === "TooManyRequests" || code === "RetryableErrorDueToAnotherOperation") {
    const wait = f.retryAfter ? `Azure asked to wait ${f.retryAfter} s (Retry-After) and` : "Azure asked berth to slow down and";
    return { code: "THROTTLED", advice: `${wait} berth's retries ran out: try again in a few minutes` };
  }
  if (status === 403 || code === "AuthorizationFailed" || code === "LinkedAuthorizationFailed") {
    const action = /perform action '([^']+)'/.exec(message)?.[1];
    return {
      code: "FORBIDDEN",
      advice: `berth's Azure identity lacks ${action ? `the permission '${action}'` : "a permission"}: assign it the role in manifests/azure-role.json on the resource group`,
    };
  }
  if (capacityCodes.has(code)) {
    return { code: "CAPACITY", advice: "Azure has no capacity for this size there now: try another size or region" };
  }
  if (quotaCodes.has(code) || (code === "OperationNotAllowed" && /quota/i.test(message))) {
    return {
      code: "QUOTA",
      advice:
        "the subscription's quota would be exceeded: ask for more quota in the Azure portal (Quotas), use a smaller size, or remove unused hosts",
    };
  }
  if (configCodes.has(code) || status === 401) {
    return { code: "CONFIG", advice: "check berth's Azure configuration (AZURE_SUBSCRIPTION_ID, resource group, credential)" };
  }
  if (conflictCodes.has(code) || status === 409) {
    return { code: "CONFLICT", advice: "the resource is busy or still in use: wait for the other operation to finish, then try again" };
  }
  if (code === "OSProvisioningTimedOut")
    return { code: "TIMEOUT", advice: "the VM did not report ready in time: remove the host and try again" };
  if (status === undefined && code === "Canceled") return { code: "CANCELLED", advice: "try again if it was not meant" };
  if (status !== undefined && status >= 400 && status < 500 && status !== 408) {
    return {
      code: status === 404 ? "NOT_FOUND" : "INVALID",
      advice: "Azure refused the request as berth sent it: check the size, region and image, or report it to berth's operator",
    };
  }
  return { code: "UNAVAILABLE", advice: "Azure failed on its side: try again in a few minutes" };
}

const sentence = (text: string) => text.trim().replace(/[.\s]+$/, "");

function toBerthError(error: unknown, verb: Verb, kind: ResourceKind | "group" | "sizes", name: string, signal: AbortSignal): unknown {
  if (error instanceof BerthError) return error;
  if (error instanceof Error && (error.name === "AbortError" || signal.aborted)) return error;
  if (!(error instanceof Error)) return new BerthError("INTERNAL", `Azure: unexpected failure: ${String(error)}`, { cause: error });
  const what =
    kind === "group"
      ? `Azure could not ${verb} berth's resource group ${name}`
      : kind === "sizes"
        ? `Azure could not list the VM sizes of ${name}`
        : `Azure could not ${verb} the ${kindLabels[kind]} of ${name}`;
  if (credentialErrors.has(error.name)) {
    return new BerthError(
      "CONFIG",
      `${what}: berth has no usable Azure credential (${error.name}: ${sentence(error.message).slice(0, 300)}). Set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH), give berth a managed identity, or run \`az login\` as berth's user.`,
      { cause: error },
    );
  }
  const failure = failureOf(error);
  if (!failure) {
    const network = (error as { code?: unknown }).code;
    return new BerthError(
      "UNAVAILABLE",
      `${what}: ${sentence(error.message)}${typeof network === "string" ? ` (${network})` : ""}. Check that berth can reach Azure Resource Manager, then try again.`,
      { cause: error },
    );
  }
  const { code, advice } = classify(failure);
  return new BerthError(code, `${what}: ${failure.code}: ${sentence(failure.message)}. ${advice[0]?.toUpperCase()}${advice.slice(1)}.`, {
    cause: error,
  });
}
