/**
 * The Azure implementation of the HostCloud port: each resource is one ARM long-running operation whose poller state
 * berth persists, so another process can resume it instead of sending the PUT again (docs/reference/azure.md §3.5). Failures leave
 * here as BerthError only.
 */
import type { HostCloud } from "../ports.ts";
import { resourceNames } from "../ports.ts";
import { type AzureCloudOptions, createAzureClients } from "./client.ts";
import { getOrUndefined, statusOf, toBerthError } from "./errors.ts";
import { createNetwork, networkLock, nicBody, nsgBody, publicIpBody } from "./network.ts";
import { doneAtOnce, type Poller, resume, started } from "./operations.ts";
import { createdBy, findResource, ipResource, nicResource, toResource } from "./resources.ts";
import { type AzureHostPlan, extensionBody, sizeProblem, vmBody } from "./vm.ts";

export function createAzureCloud(options: AzureCloudOptions): HostCloud {
  const clients = createAzureClients(options);
  const { rg, resources, network, compute } = clients;
  const withNetworkLock = networkLock();

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
      if (resumeFrom) return resume(clients, kind, "create", plan, resumeFrom, signal);
      const names = resourceNames(plan.name);
      const o = clients.lro(signal);
      const id = clients.ids(plan);
      switch (kind) {
        case "network":
          return withNetworkLock(plan.network.vnet, async () => {
            try {
              return await createNetwork(clients, plan, signal);
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
        case "ip":
          if (plan.private) return doneAtOnce(async () => undefined);
          return started(
            kind,
            plan,
            "create",
            network.publicIPAddresses.createOrUpdate(rg, names.ip, publicIpBody(plan), o),
            ipResource,
            signal,
          );
        case "nic":
          return started(
            kind,
            plan,
            "create",
            network.networkInterfaces.createOrUpdate(rg, names.nic, nicBody(plan, id), o),
            nicResource,
            signal,
          );
        case "vm":
          return started(
            kind,
            plan,
            "create",
            compute.virtualMachines.createOrUpdate(rg, names.vm, vmBody(plan, id.nic), o),
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
      if (resumeFrom) return resume(clients, kind, "delete", plan, resumeFrom, signal);
      const names = resourceNames(plan.name);
      const o = clients.lro(signal);
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

    find: (kind, plan, signal) => findResource(clients, kind, plan, signal),

    sizeProblem: (size, region, signal) => sizeProblem(clients, size, region, signal),
  };
}
