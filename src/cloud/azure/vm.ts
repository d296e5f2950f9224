/**
 * A host's virtual machine in ARM's shape (image, disk, log-in, NIC, security type), the Windows setup extension, and
 * the check that Azure offers a size in a region before anything is made.
 */
import type { VirtualMachine, VirtualMachineExtension } from "@azure/arm-compute";
import { BerthError } from "../../core/errors.ts";
import { type HostPlan, resourceNames } from "../ports.ts";
import type { AzureClients } from "./client.ts";
import { toBerthError } from "./errors.ts";

/** Windows Server Core images berth knows (publisher MicrosoftWindowsServer, offer WindowsServer). */
export const windowsServerSkus = {
  "2022": "2022-datacenter-azure-edition-core",
  "2025": "2025-datacenter-azure-edition-core",
} as const;
export const defaultWindowsSku = windowsServerSkus["2022"];

/** A HostPlan may carry the Windows image sku (not in the port: only Azure has it); default defaultWindowsSku. */
export type AzureHostPlan = HostPlan & { windowsSku?: string | undefined };

const linuxImage = { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" };

export function vmBody(plan: AzureHostPlan, nicId: string): VirtualMachine {
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
    networkProfile: { networkInterfaces: [{ id: nicId, primary: true, deleteOption: "Delete" }] },
    // Trusted Launch (Azure's default) blocks nested virtualization on some sizes (docs/reference/azure.md §2.3).
    ...(plan.hyperv ? { securityProfile: { securityType: "Standard" } } : {}),
  };
}

/** Windows: the Custom Script Extension that runs the setup script Azure wrote from customData. */
export function extensionBody(plan: HostPlan): VirtualMachineExtension {
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

/** Why this size cannot be had in this region (from the resource SKUs), or undefined when it can. */
export async function sizeProblem(clients: AzureClients, size: string, region: string, signal: AbortSignal): Promise<string | undefined> {
  const wanted = size.toLowerCase();
  const where = region.toLowerCase();
  try {
    for await (const sku of clients.compute.resourceSkus.list({ filter: `location eq '${region}'`, abortSignal: signal })) {
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
}
