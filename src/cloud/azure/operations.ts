/**
 * One ARM long-running operation as the port's CloudOperation: started (or restored from its stored poller state with
 * `restorePoller`, so another process picks it up without a second PUT, docs/reference/azure.md §3.5) and awaited to its end.
 */
import { restorePoller as restoreComputePoller } from "@azure/arm-compute";
import { restorePoller as restoreNetworkPoller } from "@azure/arm-network";
import { type CloudOperation, type CloudResource, type HostPlan, type ResourceKind, resourceNames } from "../ports.ts";
import type { AzureClients } from "./client.ts";
import { toBerthError, type Verb } from "./errors.ts";
import { findResource, ipResource, nicResource, toResource } from "./resources.ts";

/** The part of the SDK's PollerLike berth uses. */
export type Poller<T> = {
  submitted(): Promise<void>;
  serialize(): Promise<string>;
  pollUntilDone(options?: { abortSignal?: AbortSignal }): Promise<T>;
};

/** Marks an operation that needed no ARM call (reuse, nothing to delete): resuming it only looks again. */
const doneState = JSON.stringify({ berth: "done" });

export const doneAtOnce = (resource: () => Promise<CloudResource | undefined>): CloudOperation => ({
  state: doneState,
  done: resource,
});

/** Starts (or resumes) a poller and waits for its initial response, so a refused PUT fails here (docs/reference/azure.md §3.4). */
export async function started<T>(
  kind: ResourceKind,
  plan: HostPlan,
  verb: Verb,
  poller: Poller<T>,
  toResult: (result: T) => CloudResource | undefined,
  signal: AbortSignal,
): Promise<CloudOperation> {
  try {
    await poller.submitted();
    const state = await poller.serialize();
    return {
      state,
      async done(doneSignal) {
        try {
          return toResult(await poller.pollUntilDone({ abortSignal: doneSignal }));
        } catch (error) {
          throw toBerthError(error, verb, kind, plan.name, doneSignal);
        }
      },
    };
  } catch (error) {
    throw toBerthError(error, verb, kind, plan.name, signal);
  }
}

/** Picks up a stored operation; a "done" marker (or the network, always finished before it is stored) only looks again. */
export function resume(
  clients: AzureClients,
  kind: ResourceKind,
  verb: Verb,
  plan: HostPlan,
  state: string,
  signal: AbortSignal,
): Promise<CloudOperation> {
  const { network, compute } = clients;
  if (state === doneState || kind === "network") {
    return Promise.resolve(doneAtOnce(() => (verb === "create" ? findResource(clients, kind, plan, signal) : Promise.resolve(undefined))));
  }
  const o = clients.lro(signal);
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
