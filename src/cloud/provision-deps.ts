import type { Policy } from "../core/policy.ts";
import type { ContainerEngine, DockerConnection } from "../engines/ports.ts";
import type { StorePort } from "../store/port.ts";
import type { HostCloud, HostPlan } from "./ports.ts";

/** Where and how berth makes hosts: from the operator's configuration (AZURE_* and BERTH_AZURE_* variables). */
export type CloudSettings = {
  resourceGroup: string;
  /** AZURE_LOCATION: the region when --region is not given. */
  region: string;
  dockerPort: number;
  /** Who may reach the Docker port: berth's own address. Required for hosts with a public IP. */
  allowCidr?: string | undefined;
  adminCidr?: string | undefined;
  adminUsername: string;
  sshPublicKey?: string | undefined;
  network: HostPlan["network"];
  /** Between two probes of a new host's Docker port. */
  probeIntervalMs: number;
};

/** What the host jobs (create, remove) work with. */
export type ProvisionDeps = {
  cloud: HostCloud;
  store: StorePort;
  settings: CloudSettings;
  policy: () => Policy;
  /** A Docker client for a host made here (TLS with berth's client certificate). */
  connect: (conn: DockerConnection) => ContainerEngine;
  clock: () => number;
  /** A host became usable, or went away: `hosts` and `-H` must see it now. */
  changed: () => void;
  /** true while berth shuts down: an interrupted job is left to resume, not cleaned up. */
  suspended: () => boolean;
};
