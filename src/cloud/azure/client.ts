/**
 * The three ARM clients berth's Azure adapter uses, built once from the operator's options: one credential, one
 * endpoint, one retry policy, and an optional per-response hook for metrics and the benchmark.
 */
import tls from "node:tls";
import { ComputeManagementClient, type ComputeManagementClientOptionalParams } from "@azure/arm-compute";
import { NetworkManagementClient } from "@azure/arm-network";
import { ResourceManagementClient } from "@azure/arm-resources";
import { DefaultAzureCredential, type TokenCredential } from "@azure/identity";
import { type HostPlan, resourceNames } from "../ports.ts";

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

/** The clients and the resource group every call of the adapter works in. */
export type AzureClients = {
  readonly rg: string;
  readonly resources: ResourceManagementClient;
  readonly network: NetworkManagementClient;
  readonly compute: ComputeManagementClient;
  /** Options for starting or restoring a long-running operation. */
  lro(signal: AbortSignal): { abortSignal: AbortSignal; updateIntervalInMs: number | undefined };
  /** ARM IDs of the resources a host's other resources refer to. */
  ids(plan: HostPlan): { subnet: string; nsg: string; ip: string; nic: string };
};

export function createAzureClients(options: AzureCloudOptions): AzureClients {
  const { subscriptionId, resourceGroup: rg } = options;
  const credential = (options.credential ?? new DefaultAzureCredential()) as TokenCredential;
  const clientOptions: ComputeManagementClientOptionalParams = {
    endpoint: options.endpoint,
    credentials: { scopes: [options.audience ?? "https://management.azure.com/.default"] },
    ...(options.ca ? { tlsOptions: { ca: [...tls.rootCertificates, options.ca] } } : {}),
    ...(options.retry ? { retryOptions: options.retry } : {}),
    ...(options.onResponse ? { additionalPolicies: [{ policy: responsePolicy(options.onResponse), position: "perRetry" }] } : {}),
  };
  const interval = options.pollIntervalMs;
  const base = `/subscriptions/${subscriptionId}/resourceGroups/${rg}/providers`;
  return {
    rg,
    resources: new ResourceManagementClient(credential, subscriptionId, clientOptions),
    network: new NetworkManagementClient(credential, subscriptionId, clientOptions),
    compute: new ComputeManagementClient(credential, subscriptionId, clientOptions),
    lro: (signal) => ({ abortSignal: signal, updateIntervalInMs: interval }),
    ids(plan) {
      const names = resourceNames(plan.name);
      return {
        subnet: `${base}/Microsoft.Network/virtualNetworks/${plan.network.vnet}/subnets/${plan.network.subnet}`,
        nsg: `${base}/Microsoft.Network/networkSecurityGroups/${names.nsg}`,
        ip: `${base}/Microsoft.Network/publicIPAddresses/${names.ip}`,
        nic: `${base}/Microsoft.Network/networkInterfaces/${names.nic}`,
      };
    },
  };
}

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
