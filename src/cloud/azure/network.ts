/**
 * A host's network resources in ARM's shapes: the shared virtual network and subnet (made or extended, never
 * replaced), the host's network security group, public IP and network interface.
 */
import type { NetworkInterface, NetworkSecurityGroup, PublicIPAddress, SecurityRule, Subnet, VirtualNetwork } from "@azure/arm-network";
import { type CloudOperation, type HostPlan, resourceNames } from "../ports.ts";
import type { AzureClients } from "./client.ts";
import { getOrUndefined } from "./errors.ts";
import { doneAtOnce, type Poller, started } from "./operations.ts";
import { createdBy, sameName, vnetResource } from "./resources.ts";

/**
 * Makes sure the vnet has the plan's subnet, and waits until it has: the operation it returns is already done. Run it
 * under the vnet's lock (networkLock).
 */
export async function createNetwork(clients: AzureClients, plan: HostPlan, signal: AbortSignal): Promise<CloudOperation> {
  const { rg, network } = clients;
  const { vnet: vnetName, subnet: subnetName, addressPrefix, subnetPrefix } = plan.network;
  const existing = await getOrUndefined(() => network.virtualNetworks.get(rg, vnetName, { abortSignal: signal }));
  const subnets: Subnet[] = existing?.subnets ?? [];
  if (existing && subnets.some((s) => sameName(s.name, subnetName))) return doneAtOnce(async () => vnetResource(existing));
  const prefixes = existing?.addressSpace?.addressPrefixes ?? [];
  let poller: Poller<VirtualNetwork | Subnet>;
  if (existing && prefixes.includes(addressPrefix)) {
    poller = network.subnets.createOrUpdate(rg, vnetName, subnetName, { addressPrefix: subnetPrefix }, clients.lro(signal));
  } else {
    // A PUT replaces the whole vnet: keep what others put there (prefixes, subnets with their links).
    const body: VirtualNetwork = {
      location: existing?.location ?? plan.region,
      tags: existing?.tags ?? createdBy,
      addressSpace: { addressPrefixes: [...prefixes, addressPrefix] },
      subnets: [...subnets, { name: subnetName, addressPrefix: subnetPrefix }],
    };
    poller = network.virtualNetworks.createOrUpdate(rg, vnetName, body, clients.lro(signal));
  }
  const op = await started("network", plan, "create", poller, () => undefined, signal);
  // Held under the vnet lock until done: the next host must see the finished subnet, not PUT the vnet again.
  await op.done(signal);
  const vnet = await getOrUndefined(() => network.virtualNetworks.get(rg, vnetName, { abortSignal: signal }));
  return doneAtOnce(async () => (vnet ? vnetResource(vnet) : undefined));
}

/** One network change at a time per vnet in this process: concurrent hosts would each PUT the same vnet. */
export function networkLock(): <T>(vnet: string, run: () => Promise<T>) => Promise<T> {
  const locks = new Map<string, Promise<unknown>>();
  return <T>(vnet: string, run: () => Promise<T>): Promise<T> => {
    const key = vnet.toLowerCase();
    const previous = locks.get(key) ?? Promise.resolve();
    const next = previous.then(run, run);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    locks.set(key, settled);
    void settled.then(() => {
      if (locks.get(key) === settled) locks.delete(key);
    });
    return next;
  };
}

/** Docker's TLS port open to berth only; SSH or RDP from the admin CIDR when the operator gave one. */
export function nsgBody(plan: HostPlan): NetworkSecurityGroup {
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

export function publicIpBody(plan: HostPlan): PublicIPAddress {
  return {
    location: plan.region,
    tags: plan.tags,
    sku: { name: "Standard", tier: "Regional" },
    publicIPAllocationMethod: "Static",
    publicIPAddressVersion: "IPv4",
    dnsSettings: { domainNameLabel: resourceNames(plan.name).dnsLabel },
  };
}

export function nicBody(plan: HostPlan, id: ReturnType<AzureClients["ids"]>): NetworkInterface {
  return {
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
}
