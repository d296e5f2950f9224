/** What berth learns from ARM about a host's resources: the CloudResource of the port, read from a response or a GET. */
import type { NetworkInterface, PublicIPAddress, VirtualNetwork } from "@azure/arm-network";
import { type CloudResource, type HostPlan, type ResourceKind, resourceNames } from "../ports.ts";
import type { AzureClients } from "./client.ts";
import { getOrUndefined, toBerthError } from "./errors.ts";

type ArmResource = {
  id?: string;
  name?: string;
  location?: string;
  tags?: Record<string, string>;
  provisioningState?: string;
};

/** The tag on what berth makes that belongs to no one host (its resource group, a virtual network it had to make). */
export const createdBy = { "created-by": "berth" };

export const sameName = (a: string | undefined, b: string) => a?.toLowerCase() === b.toLowerCase();

export function toResource(kind: ResourceKind, r: ArmResource | undefined, name?: string): CloudResource | undefined {
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

export function vnetResource(vnet: VirtualNetwork): CloudResource | undefined {
  return toResource("network", vnet);
}

export function ipResource(ip: PublicIPAddress | undefined): CloudResource | undefined {
  const resource = toResource("ip", ip);
  return resource && { ...resource, address: ip?.ipAddress, fqdn: ip?.dnsSettings?.fqdn };
}

export function nicResource(nic: NetworkInterface | undefined): CloudResource | undefined {
  const resource = toResource("nic", nic);
  return resource && { ...resource, address: nic?.ipConfigurations?.[0]?.privateIPAddress };
}

/** The resource as it is now; the network counts only once it has the host's subnet. */
export async function findResource(
  clients: AzureClients,
  kind: ResourceKind,
  plan: HostPlan,
  signal: AbortSignal,
): Promise<CloudResource | undefined> {
  const { rg, network, compute } = clients;
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
