/**
 * berth's Azure adapter, what the rest of berth may use of it. Only the files of this folder import the Azure SDK
 * (`@azure/*`); everything else sees the HostCloud port of src/cloud/ports.ts.
 */

export { type AcrTokenOptions, createAcrTokens } from "./acr.ts";
export type { AzureCloudOptions } from "./client.ts";
export { createAzureCloud } from "./cloud.ts";
export { type AzureHostPlan, defaultWindowsSku, windowsServerSkus } from "./vm.ts";
