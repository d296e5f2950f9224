/**
 * Making and removing Docker hosts in a cloud, as berth's jobs see it: what the rest of berth imports. The create
 * job is in create-host.ts, the remove job in remove-host.ts, the card's checklist in checklist.ts.
 */
export { berthPki, cloudConnection } from "./berth-pki.ts";
export { provisionHost } from "./create-host.ts";
export { type CreateRequest, newHostRecord, planFor } from "./host-record.ts";
export type { CloudSettings, ProvisionDeps } from "./provision-deps.ts";
export { removeHost } from "./remove-host.ts";
