import { berthPki, cloudConnection } from "./cloud/provision.ts";
import type { Hosts } from "./core/hosts.ts";
import type { ContainerEngine, DockerConnection } from "./engines/ports.ts";
import type { CloudHostRecord, StorePort } from "./store/port.ts";

export type HostView = {
  /** The manifest's hosts, then the Azure hosts berth made once Docker answers on them. */
  hosts: Hosts;
  /** The engine of a host, built once and kept until the host leaves. Throws for a host berth does not know. */
  engine(name: string): ContainerEngine;
  /** The cloud hosts changed (one became ready, one was removed): list them again and close engines of hosts gone. */
  changed(): void;
  close(): void;
};

/**
 * Every host berth can reach, one engine each. Every client is built now: a host whose connection cannot work (bad
 * PEM, ssh:// without hostKey) stops berth at start-up with the reason, not on someone's command at 3 a.m.
 */
export function createHostView(o: {
  manifest: Hosts;
  connect: (connection: DockerConnection) => ContainerEngine;
  /** The cloud hosts' connections as they are now (none before their certificates are loaded). */
  cloudConnections: () => DockerConnection[];
}): HostView {
  let cloudList: DockerConnection[] = [];
  const { manifest } = o;
  const hosts: Hosts = {
    get connections() {
      return [...manifest.connections, ...cloudList];
    },
    channels: manifest.channels,
    default: manifest.default,
    settings: manifest.settings,
    notifications: manifest.notifications,
  };
  const engines = new Map<string, ContainerEngine>();
  const engine = (name: string): ContainerEngine => {
    const known = engines.get(name);
    if (known) return known;
    const conn = hosts.connections.find((c) => c.name === name);
    if (!conn) throw new Error(`no host ${name}`);
    const created = o.connect(conn);
    engines.set(name, created);
    return created;
  };
  for (const c of hosts.connections) engine(c.name);
  return {
    hosts,
    engine,
    changed() {
      cloudList = o.cloudConnections();
      const names = new Set(hosts.connections.map((c) => c.name));
      for (const [name, e] of engines) {
        if (names.has(name)) continue;
        e.close();
        engines.delete(name);
      }
    },
    close() {
      for (const e of engines.values()) e.close();
    },
  };
}

/** The Azure hosts berth made that Docker answers on, reached with berth's client certificate once it is loaded. */
export function createCloudConnections(store: StorePort) {
  let pki: Awaited<ReturnType<typeof berthPki>> | undefined;
  let known: CloudHostRecord[] = [];
  return {
    list: (): DockerConnection[] => {
      const loaded = pki;
      if (!loaded) return [];
      return known.filter((r) => r.status === "ready" || r.status === "unreachable").flatMap((r) => cloudConnection(r, loaded) ?? []);
    },
    /** Loads (or makes, on the first start) berth's CA and client certificate, and the hosts berth made. */
    async load(now: Date): Promise<void> {
      pki = await berthPki(store, now);
      known = await store.cloudHosts.live();
    },
    /**
     * Reads the hosts berth made again. The host view asks `list` synchronously at every request, so the list is kept
     * here and refreshed when it changes on this replica and, for the others' changes, on the scheduler's beat.
     */
    async refresh(): Promise<boolean> {
      const before = JSON.stringify(known.map((r) => [r.name, r.status, r.dockerUrl]));
      known = await store.cloudHosts.live();
      return JSON.stringify(known.map((r) => [r.name, r.status, r.dockerUrl])) !== before;
    },
  };
}
