/**
 * A stateful fake of Azure Resource Manager over HTTPS, for tests and the benchmark: resource groups, the network
 * resources of a Docker host (vnet + subnets, NSG, public IP, NIC) and compute (VMs, VM extensions, OS disks, the
 * resource SKU list). Built from docs/reference/azure.md (cited as §n): the ARM RPC long-running
 * operation protocol of §3.1, the routes and referential rules of §7.1, the state machine of §7.2 and the error texts
 * of §5.3. The unmodified Azure SDK clients reach it through their `endpoint` option with `tlsOptions.ca` (§4.4 B).
 *
 * Operations advance lazily: every request first settles the operations whose time has come, so a test sees
 * exactly the states a poller would. Nothing leaves loopback.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";

export type ArmFailure = {
  method?: "PUT" | "GET" | "DELETE" | "POST";
  /** Tested against the lower-cased request path (no query). */
  path: RegExp;
  /** How many matching requests fail (default 1; Infinity allowed). */
  times?: number;
  /** A synchronous answer (409 SkuNotAvailable, 429 + Retry-After, 500…). */
  respond?: { status: number; body?: unknown; headers?: Record<string, string> };
  /** The request is accepted, then its async operation ends "Failed" with this error. */
  fail?: { code: string; message: string };
};
export type ArmRequest = {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  status: number;
  at: number;
  kind: "request" | "poll";
};
export type ArmResource = {
  id: string;
  type: string;
  name: string;
  location: string;
  tags: Record<string, string>;
  properties: Record<string, unknown>;
};
export type CreatedVm = {
  name: string;
  /** As received: base64. */
  customData: string | undefined;
  osType: "Linux" | "Windows";
  tags: Record<string, string>;
  body: unknown;
};
export type ArmFakeOptions = {
  subscriptionId?: string;
  /** How long each async operation stays InProgress (default 0 = done on the first poll). */
  opDurationMs?: number;
  /** Retry-After on 201/202 answers and InProgress polls (default omitted, so a small poll interval wins). */
  retryAfterSeconds?: number;
  /** VM size -> regions where the subscription may not use it. */
  skuRestrictions?: Record<string, string[]>;
  /** When set, any other action gets 403 AuthorizationFailed; globs like "Microsoft.Compute/virtualMachines/*". */
  authorizedActions?: string[];
  /** Added to every ARM response. */
  latencyMs?: number;
};
export type ArmFake = {
  /** https://127.0.0.1:PORT, stable for the fake's lifetime. */
  url: string;
  /** PEM of the CA that issued the server certificate (SAN 127.0.0.1 and localhost). */
  ca: string;
  subscriptionId: string;
  /** App Service managed identity endpoint (plain HTTP on loopback): IDENTITY_ENDPOINT. */
  identityEndpoint: string;
  /** IDENTITY_HEADER. */
  identityHeader: string;
  /** Every ARM request in arrival order, polls too. */
  requests: ArmRequest[];
  /** Resource groups and resources that exist now (including ones whose delete is still running). */
  resources(): ArmResource[];
  /** Queues an injected failure; the first matching queued failure wins. */
  fail(f: ArmFailure): void;
  /** Operations on resources whose lower-cased path matches stay InProgress until release(). */
  hold(path: RegExp): void;
  release(path?: RegExp): void;
  /** Called (not awaited) when a VM's create operation succeeds, as cloud-init would run after ARM says Succeeded. */
  onVmCreated?: (vm: CreatedVm) => void | Promise<void>;
  /** The public IP address allocated on create; default () => "127.0.0.1". */
  addressFor: (ipName: string) => string;
  setOptions(o: Partial<ArmFakeOptions>): void;
  close(): Promise<void>;
};

type Json = Record<string, unknown>;
type Reply = { status: number; body?: unknown; headers?: Record<string, string> };
type Namespace = "Compute" | "Network" | "Resources";
type Kind = "group" | "vnet" | "subnet" | "nsg" | "ip" | "nic" | "vm" | "extension" | "disk";

/** One stored resource. Keyed by its lower-cased id: ARM is case-insensitive on names and types. */
type Stored = {
  key: string;
  id: string;
  kind: Kind;
  type: string;
  name: string;
  group: string;
  parent: string | undefined;
  location: string;
  tags: Record<string, string>;
  /** Top-level fields other than the envelope: sku, zones, managedBy… */
  extra: Json;
  properties: Json;
  etag: string;
  deleting: boolean;
  /** The operation whose end decides the provisioning state; older ones no longer touch it. */
  op: string | undefined;
  created: boolean;
  customData: string | undefined;
  body: unknown;
};

type Operation = {
  id: string;
  ns: Namespace;
  location: string;
  /** Lower-cased path of the resource, for hold(). */
  path: string;
  isDelete: boolean;
  startTime: string;
  readyAt: number;
  released: boolean;
  status: "InProgress" | "Succeeded" | "Failed";
  endTime?: string;
  error?: { code: string; message: string };
  failWith: { code: string; message: string } | undefined;
  finish: (ok: boolean) => void;
};

const types: Record<string, { kind: Kind; type: string; ns: Namespace }> = {
  "microsoft.network/virtualnetworks": { kind: "vnet", type: "Microsoft.Network/virtualNetworks", ns: "Network" },
  "microsoft.network/virtualnetworks/subnets": { kind: "subnet", type: "Microsoft.Network/virtualNetworks/subnets", ns: "Network" },
  "microsoft.network/networksecuritygroups": { kind: "nsg", type: "Microsoft.Network/networkSecurityGroups", ns: "Network" },
  "microsoft.network/publicipaddresses": { kind: "ip", type: "Microsoft.Network/publicIPAddresses", ns: "Network" },
  "microsoft.network/networkinterfaces": { kind: "nic", type: "Microsoft.Network/networkInterfaces", ns: "Network" },
  "microsoft.compute/virtualmachines": { kind: "vm", type: "Microsoft.Compute/virtualMachines", ns: "Compute" },
  "microsoft.compute/virtualmachines/extensions": {
    kind: "extension",
    type: "Microsoft.Compute/virtualMachines/extensions",
    ns: "Compute",
  },
  "microsoft.compute/disks": { kind: "disk", type: "Microsoft.Compute/disks", ns: "Compute" },
};

const sizes: Record<string, { vcpus: number; memoryGb: number; family: string }> = {
  Standard_B2s: { vcpus: 2, memoryGb: 4, family: "standardBSFamily" },
  Standard_B4ms: { vcpus: 4, memoryGb: 16, family: "standardBSFamily" },
  Standard_D2s_v3: { vcpus: 2, memoryGb: 8, family: "standardDSv3Family" },
  Standard_D2s_v5: { vcpus: 2, memoryGb: 8, family: "standardDSv5Family" },
  Standard_D4s_v5: { vcpus: 4, memoryGb: 16, family: "standardDSv5Family" },
  Standard_E4s_v5: { vcpus: 4, memoryGb: 32, family: "standardESv5Family" },
};
const regions = ["eastus", "eastus2", "westus2", "westeurope", "northeurope", "uksouth", "swedencentral", "southeastasia"];

// The identity a real 403 names; the fake has no tenant, so any constant will do.
const clientId = "11111111-2222-3333-4444-555555555555";

const rec = (v: unknown): Json => (typeof v === "object" && v !== null && !Array.isArray(v) ? { ...(v as Json) } : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const strings = (v: unknown): Record<string, string> =>
  Object.fromEntries(Object.entries(rec(v)).filter((e): e is [string, string] => typeof e[1] === "string"));
const clone = <T>(v: T): T => structuredClone(v);
const normLocation = (l: string) => l.toLowerCase().replace(/\s+/g, "");
const etag = () => `W/"${randomUUID()}"`;
const err = (status: number, code: string, message: string, headers?: Record<string, string>): Reply => ({
  status,
  body: { error: { code, message } },
  ...(headers ? { headers } : {}),
});
const refId = (v: unknown) => str(rec(v).id);
const globToRegExp = (glob: string) => new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`, "i");

export async function startArmFake(options: ArmFakeOptions = {}): Promise<ArmFake> {
  let opts: ArmFakeOptions = { ...options };
  const subscriptionId = opts.subscriptionId ?? "00000000-0000-0000-0000-000000000000";
  const store = new Map<string, Stored>();
  const ops = new Map<string, Operation>();
  const pending = new Set<Operation>();
  const failures: ArmFailure[] = [];
  let holds: RegExp[] = [];
  const pems = await makeCertificates();
  const identityHeader = randomBytes(16).toString("hex");

  const keyOf = (id: string) => id.toLowerCase();
  const groupKey = (name: string) => keyOf(`/subscriptions/${subscriptionId}/resourceGroups/${name}`);
  const live = (id: string | undefined, kind: Kind) => {
    const r = id === undefined ? undefined : store.get(keyOf(id));
    return r && r.kind === kind && !r.deleting ? r : undefined;
  };
  const all = (kind: Kind) => [...store.values()].filter((r) => r.kind === kind);
  const nicConfigs = (nic: Stored) => list(nic.properties.ipConfigurations).map(rec);

  // ---- operations (§3.1, §7.2)
  const isHeld = (op: Operation) =>
    !op.released &&
    holds.some((h) => {
      h.lastIndex = 0;
      return h.test(op.path);
    });
  function tick(): void {
    const now = Date.now();
    // Only running operations are scanned: the benchmark leaves thousands of finished ones behind.
    for (const op of pending) {
      if (now < op.readyAt || isHeld(op)) continue;
      pending.delete(op);
      op.status = op.failWith ? "Failed" : "Succeeded";
      op.endTime = new Date().toISOString();
      if (op.failWith) op.error = op.failWith;
      op.finish(!op.failWith);
    }
  }
  function takeFailure(method: string, path: string, want: "respond" | "fail"): ArmFailure | undefined {
    const i = failures.findIndex((f) => f[want] !== undefined && (f.method === undefined || f.method === method) && testPath(f.path, path));
    const f = failures[i];
    if (!f) return undefined;
    const times = (f.times ?? 1) - 1;
    if (times <= 0) failures.splice(i, 1);
    else f.times = times;
    return f;
  }
  function startOp(
    o: { ns: Namespace; location: string; path: string; method: string; isDelete: boolean; id?: string },
    finish: Operation["finish"],
  ) {
    const op: Operation = {
      id: o.id ?? randomUUID(),
      ns: o.ns,
      location: normLocation(o.location),
      path: o.path.toLowerCase(),
      isDelete: o.isDelete,
      startTime: new Date().toISOString(),
      readyAt: Date.now() + (opts.opDurationMs ?? 0),
      released: false,
      status: "InProgress",
      failWith: takeFailure(o.method, o.path.toLowerCase(), "fail")?.fail,
      finish,
    };
    ops.set(op.id, op);
    pending.add(op);
    return op;
  }
  const retryAfter = (): Record<string, string> =>
    opts.retryAfterSeconds === undefined ? {} : { "Retry-After": String(opts.retryAfterSeconds) };
  function asyncHeaders(op: Operation, origin: string, apiVersion: string): Record<string, string> {
    const base = `${origin}/subscriptions/${subscriptionId}/providers/Microsoft.${op.ns}/locations/${op.location}`;
    const v = encodeURIComponent(apiVersion);
    const status =
      op.ns === "Compute"
        ? `${base}/operations/${op.id}?p=${randomUUID()}&api-version=${v}`
        : `${base}/operations/${op.id}?api-version=${v}`;
    const headers: Record<string, string> = { "Azure-AsyncOperation": status, ...retryAfter() };
    if (op.isDelete) {
      headers.Location =
        op.ns === "Compute"
          ? `${base}/operations/${op.id}?p=${randomUUID()}&monitor=true&api-version=${v}`
          : `${base}/operationResults/${op.id}?api-version=${v}`;
    }
    return headers;
  }

  // ---- views: what GET returns; references are computed from the store, as ARM derives them
  function view(r: Stored): Json {
    const properties = clone(r.properties);
    const state = r.properties.provisioningState;
    const childState = (items: unknown) =>
      list(items).map((i) => ({ ...rec(i), properties: { ...rec(rec(i).properties), provisioningState: state } }));
    const users = (pred: (c: Json) => boolean) =>
      all("nic").flatMap((n) =>
        nicConfigs(n)
          .filter(pred)
          .map((c) => ({ id: str(c.id) ?? "" })),
      );
    switch (r.kind) {
      case "vnet":
        properties.subnets = [...store.values()].filter((s) => s.parent === r.key).map(view);
        break;
      case "subnet": {
        const used = users((c) => refId(rec(c.properties).subnet)?.toLowerCase() === r.key);
        if (used.length) properties.ipConfigurations = used;
        break;
      }
      case "nsg": {
        properties.securityRules = childState(properties.securityRules);
        const nics = all("nic").filter((n) => refId(n.properties.networkSecurityGroup)?.toLowerCase() === r.key);
        if (nics.length) properties.networkInterfaces = nics.map((n) => ({ id: n.id }));
        break;
      }
      case "ip": {
        const used = users((c) => refId(rec(c.properties).publicIPAddress)?.toLowerCase() === r.key);
        if (used[0]) properties.ipConfiguration = used[0];
        break;
      }
      case "nic": {
        properties.ipConfigurations = childState(properties.ipConfigurations);
        const vm = vmUsing(r);
        if (vm) properties.virtualMachine = { id: vm.id };
        break;
      }
      default:
    }
    const located = r.kind !== "subnet";
    return {
      id: r.id,
      name: r.name,
      type: r.type,
      ...(r.kind === "group" ? {} : { etag: r.etag }),
      ...(located ? { location: r.location, tags: clone(r.tags) } : {}),
      ...clone(r.extra),
      properties,
    };
  }
  const vmUsing = (nic: Stored) =>
    all("vm").find((vm) => list(rec(vm.properties.networkProfile).networkInterfaces).some((n) => refId(n)?.toLowerCase() === nic.key));

  function remove(r: Stored): void {
    store.delete(r.key);
    for (const child of [...store.values()]) if (child.parent === r.key || (r.kind === "group" && child.group === r.group)) remove(child);
  }

  // ---- handlers
  type Ctx = { method: string; path: string; query: Record<string, string>; body: unknown; origin: string; apiVersion: string };

  function putGroup(ctx: Ctx, name: string): Reply {
    const body = rec(ctx.body);
    const location = str(body.location);
    if (!location) return err(400, "LocationRequired", "The location property is required for this definition.");
    const key = groupKey(name);
    const existing = store.get(key);
    if (existing?.deleting) return groupBeingDeleted(existing.name);
    if (existing && existing.location !== normLocation(location)) {
      return err(
        409,
        "InvalidResourceGroupLocation",
        `Invalid resource group location '${location}'. The Resource group already exists in location '${existing.location}'.`,
      );
    }
    const r: Stored = existing ?? {
      ...blank(key, "group", name, name),
      id: `/subscriptions/${subscriptionId}/resourceGroups/${name}`,
      type: "Microsoft.Resources/resourceGroups",
      location: normLocation(location),
      properties: { provisioningState: "Succeeded" },
    };
    r.tags = strings(body.tags);
    if (body.managedBy !== undefined) r.extra.managedBy = body.managedBy;
    store.set(key, r);
    return { status: existing ? 200 : 201, body: view(r) };
  }
  function getGroup(ctx: Ctx, name: string): Reply {
    const r = store.get(groupKey(name));
    if (!r) return groupNotFound(name);
    return ctx.method === "HEAD" ? { status: 204 } : { status: 200, body: view(r) };
  }
  function deleteGroup(ctx: Ctx, name: string): Reply {
    const r = store.get(groupKey(name));
    if (!r) return groupNotFound(name);
    r.deleting = true;
    r.properties.provisioningState = "Deleting";
    const token = Buffer.from(
      JSON.stringify({ jobId: `ResourceGroupDeletionJob-${randomBytes(6).toString("hex").toUpperCase()}`, jobLocation: r.location }),
    ).toString("base64url");
    const op = startOp({ ns: "Resources", location: r.location, path: ctx.path, method: "DELETE", isDelete: true, id: token }, (ok) => {
      if (ok) remove(r);
      else Object.assign(r, { deleting: false, properties: { provisioningState: "Failed" } });
    });
    const location = `${ctx.origin}/subscriptions/${subscriptionId}/operationresults/${op.id}?api-version=${encodeURIComponent(ctx.apiVersion)}`;
    return { status: 202, headers: { Location: location, ...retryAfter() } };
  }

  function getResource(ctx: Ctx, m: ResourceMatch): Reply {
    if (!store.get(groupKey(m.group))) return groupNotFound(m.group);
    const r = store.get(keyOf(m.id));
    if (!r) return resourceNotFound(m);
    if (r.kind === "vm" && ctx.query.$expand?.toLowerCase() === "instanceview") {
      const running = r.properties.provisioningState === "Succeeded";
      const body = view(r);
      body.properties = {
        ...rec(body.properties),
        instanceView: {
          statuses: [
            {
              code: `ProvisioningState/${String(r.properties.provisioningState).toLowerCase()}`,
              level: "Info",
              displayStatus: `Provisioning ${String(r.properties.provisioningState).toLowerCase()}`,
            },
            ...(running ? [{ code: "PowerState/running", level: "Info", displayStatus: "VM running" }] : []),
          ],
        },
      };
      return { status: 200, body };
    }
    return { status: 200, body: view(r) };
  }
  function listResources(ctx: Ctx, groupName: string, typeKey: string): Reply {
    if (!store.get(groupKey(groupName))) return groupNotFound(groupName);
    const spec = types[typeKey];
    if (!spec)
      return err(404, "InvalidResourceType", `The resource type '${typeKey}' could not be found for api version '${ctx.apiVersion}'.`);
    return {
      status: 200,
      body: {
        value: all(spec.kind)
          .filter((r) => r.group === groupName.toLowerCase())
          .map(view),
      },
    };
  }

  function putResource(ctx: Ctx, m: ResourceMatch): Reply {
    const group = store.get(groupKey(m.group));
    if (!group) return groupNotFound(m.group);
    if (group.deleting) return groupBeingDeleted(group.name);
    if (m.spec.kind === "disk") return err(405, "MethodNotAllowed", "The fake creates OS disks only with their VM.");
    const parent = m.parentId ? store.get(keyOf(m.parentId)) : undefined;
    if (m.parentId && (!parent || parent.deleting)) {
      return err(
        404,
        "ParentResourceNotFound",
        `Can not perform requested operation on nested resource. Parent resource '${m.parentName}' not found.`,
      );
    }
    if (typeof ctx.body !== "object" || ctx.body === null || Array.isArray(ctx.body)) {
      return err(
        400,
        "InvalidRequestContent",
        "The request content was invalid and could not be deserialized: 'Request body is empty or not an object'.",
      );
    }
    const body = rec(ctx.body);
    const given = str(body.location);
    if (!parent && !given) return err(400, "LocationRequired", "The location property is required for this definition.");
    const location = parent?.location ?? normLocation(given ?? "");
    const key = keyOf(m.id);
    const existing = store.get(key);
    if (existing?.deleting) {
      return err(
        409,
        "AnotherOperationInProgress",
        `Operation 'PUT' on resource '${existing.id}' is not allowed because the resource is being deleted. Wait for the delete to finish and try again.`,
      );
    }
    if (existing && !parent && existing.location !== location) {
      return err(
        400,
        "InvalidResourceLocation",
        `The resource '${m.name}' already exists in location '${existing.location}' in resource group '${m.group}'. A resource with the same name cannot be created in location '${location}'. Please select a new resource name.`,
      );
    }
    // ARM keeps the spelling a resource was created with.
    const r: Stored = {
      ...blank(key, m.spec.kind, existing?.name ?? m.name, m.group),
      id: existing?.id ?? m.id,
      type: m.spec.type,
      parent: parent?.key,
      location,
      etag: etag(),
      body: ctx.body,
    };
    r.tags = strings(body.tags);
    for (const [k, v] of Object.entries(body))
      if (!["id", "name", "type", "location", "tags", "properties", "etag"].includes(k)) r.extra[k] = v;
    r.properties = rec(body.properties);
    r.created = existing?.created ?? false;
    const built = build[m.spec.kind](r, existing);
    if (built) return built;
    r.properties.provisioningState = m.spec.ns === "Network" ? "Updating" : existing ? "Updating" : "Creating";
    store.set(key, r);
    const op = startOp({ ns: m.spec.ns, location, path: ctx.path, method: "PUT", isDelete: false }, (ok) => {
      for (const s of store.values()) {
        if (s.op !== op.id) continue;
        s.properties.provisioningState = ok ? "Succeeded" : "Failed";
        if (ok) succeeded(s);
      }
    });
    r.op = op.id;
    for (const s of store.values())
      if (s.parent === r.key && r.kind === "vnet" && s.properties.provisioningState === "Updating") s.op = op.id;
    return { status: existing ? 200 : 201, body: view(r), headers: asyncHeaders(op, ctx.origin, ctx.apiVersion) };
  }

  /** Server-side effects of a successful create or update. */
  function succeeded(r: Stored): void {
    if (r.kind === "ip") {
      r.properties.ipAddress ??= fake.addressFor(r.name);
      const label = str(rec(r.properties.dnsSettings).domainNameLabel);
      if (label) r.properties.dnsSettings = { ...rec(r.properties.dnsSettings), fqdn: `${label}.${r.location}.cloudapp.azure.com` };
    }
    if (r.kind === "vm" && !r.created) {
      r.created = true;
      const vm: CreatedVm = {
        name: r.name,
        customData: r.customData,
        osType: str(rec(rec(r.properties.storageProfile).osDisk).osType) === "Windows" ? "Windows" : "Linux",
        tags: clone(r.tags),
        body: clone(r.body),
      };
      const hook = fake.onVmCreated;
      if (hook) {
        Promise.resolve()
          .then(() => hook(vm))
          .catch((e: unknown) => console.error(`arm-fake: onVmCreated(${vm.name}) failed:`, e));
      }
    }
    if (r.kind !== "group") r.created = true;
  }

  const invalidReference = (ref: string, from: string) =>
    err(
      400,
      "InvalidResourceReference",
      `Resource ${ref} referenced by resource ${from} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.`,
    );

  /** Per kind: validates references and fills server fields; returns an error reply to refuse the PUT. */
  const build: Record<Kind, (r: Stored, existing: Stored | undefined) => Reply | undefined> = {
    group: () => undefined,
    disk: () => undefined,
    vnet(r, existing) {
      const wanted = list(r.properties.subnets).map(rec);
      delete r.properties.subnets;
      // A vnet PUT replaces the subnet list: subnets it leaves out are deleted, which fails while they are in use.
      const names = new Set(wanted.map((s) => str(s.name)?.toLowerCase()));
      const dropped = existing ? [...store.values()].filter((s) => s.parent === r.key && !names.has(s.name.toLowerCase())) : [];
      for (const s of dropped) {
        const inUse = subnetInUse(s);
        if (inUse) return inUse;
      }
      for (const s of dropped) remove(s);
      for (const s of wanted) {
        const name = str(s.name);
        if (!name) return err(400, "InvalidRequestFormat", "Cannot parse the request: every subnet needs a name.");
        const kept = store.get(keyOf(`${r.id}/subnets/${name}`));
        const id = kept?.id ?? `${r.id}/subnets/${name}`;
        const props = rec(s.properties);
        const nsg = refId(props.networkSecurityGroup);
        if (nsg && !live(nsg, "nsg")) return invalidReference(nsg, id);
        store.set(keyOf(id), {
          ...blank(keyOf(id), "subnet", kept?.name ?? name, r.group),
          id,
          type: "Microsoft.Network/virtualNetworks/subnets",
          parent: r.key,
          location: r.location,
          etag: etag(),
          properties: { ...props, provisioningState: "Updating" },
        });
      }
      return undefined;
    },
    subnet(r) {
      const nsg = refId(r.properties.networkSecurityGroup);
      if (nsg && !live(nsg, "nsg")) return invalidReference(nsg, r.id);
      return undefined;
    },
    nsg(r) {
      r.properties.securityRules = list(r.properties.securityRules).map((rule) => {
        const x = rec(rule);
        return {
          ...x,
          id: `${r.id}/securityRules/${str(x.name) ?? ""}`,
          etag: r.etag,
          type: "Microsoft.Network/networkSecurityGroups/securityRules",
        };
      });
      r.properties.defaultSecurityRules = defaultRules(r.id);
      r.properties.resourceGuid = randomUUID();
      return undefined;
    },
    ip(r, existing) {
      // The address is allocated when the operation succeeds (see succeeded), and kept across updates.
      const address = existing?.properties.ipAddress;
      if (address !== undefined) r.properties.ipAddress = address;
      r.properties.publicIPAddressVersion ??= "IPv4";
      r.properties.idleTimeoutInMinutes ??= 4;
      return undefined;
    },
    nic(r, existing) {
      const configs = list(r.properties.ipConfigurations).map(rec);
      const nsg = refId(r.properties.networkSecurityGroup);
      if (nsg && !live(nsg, "nsg")) return invalidReference(nsg, r.id);
      const out: Json[] = [];
      for (const [i, c] of configs.entries()) {
        const name = str(c.name) ?? `ipconfig${i + 1}`;
        const props = rec(c.properties);
        const subnetId = refId(props.subnet);
        const subnet = live(subnetId, "subnet");
        if (!subnetId || !subnet || subnet.location !== r.location) return invalidReference(subnetId ?? "(no subnet)", r.id);
        const ipId = refId(props.publicIPAddress);
        const ip = live(ipId, "ip");
        if (ipId && (!ip || ip.location !== r.location)) return invalidReference(ipId, r.id);
        const before = existing ? nicConfigs(existing).find((x) => str(x.name) === name) : undefined;
        const kept =
          before && refId(rec(before.properties).subnet)?.toLowerCase() === subnet.key
            ? str(rec(before.properties).privateIPAddress)
            : undefined;
        const privateIPAddress = str(props.privateIPAddress) ?? kept ?? allocate(subnet, r.key);
        if (!privateIPAddress) return err(400, "SubnetIsFull", `Subnet ${subnet.name} has no free addresses left for ${r.id}.`);
        out.push({
          name,
          id: `${r.id}/ipConfigurations/${name}`,
          etag: r.etag,
          type: "Microsoft.Network/networkInterfaces/ipConfigurations",
          properties: {
            privateIPAllocationMethod: "Dynamic",
            ...props,
            privateIPAddress,
            privateIPAddressVersion: "IPv4",
            primary: i === 0,
          },
        });
      }
      r.properties.ipConfigurations = out;
      r.properties.resourceGuid = existing?.properties.resourceGuid ?? randomUUID();
      return undefined;
    },
    vm(r, existing) {
      const size = str(rec(r.properties.hardwareProfile).vmSize) ?? "";
      if (restricted(size, r.location)) {
        return err(
          409,
          "SkuNotAvailable",
          `The requested VM size for resource 'Following SKUs have failed for Capacity Restrictions: ${size}' is currently not available in location '${r.location}'. Please try another size or deploy to a different location or different zone. See https://aka.ms/azureskunotavailable for details.`,
        );
      }
      for (const ref of list(rec(r.properties.networkProfile).networkInterfaces)) {
        const id = refId(ref) ?? "(no id)";
        const nic = live(id, "nic");
        if (!nic || nic.location !== r.location) return invalidReference(id, r.id);
        const other = vmUsing(nic);
        if (other && other.key !== r.key) {
          return err(
            400,
            "NicInUse",
            `Network Interface ${nic.id} is used by existing resource ${other.id}. A network interface can be attached to one virtual machine only.`,
          );
        }
      }
      // Write-only in Azure: stored for the guest, never echoed.
      const osProfile = rec(r.properties.osProfile);
      r.customData = str(osProfile.customData) ?? existing?.customData;
      delete osProfile.customData;
      delete osProfile.adminPassword;
      if (r.properties.osProfile !== undefined) r.properties.osProfile = { secrets: [], ...osProfile };
      const storage = rec(r.properties.storageProfile);
      const image = rec(storage.imageReference);
      const osType = str(image.publisher)?.toLowerCase() === "microsoftwindowsserver" ? "Windows" : "Linux";
      const osDisk = rec(storage.osDisk);
      const diskName = str(osDisk.name) ?? `${r.name}_OsDisk_1_${randomBytes(16).toString("hex")}`;
      const diskId = `/subscriptions/${subscriptionId}/resourceGroups/${r.group}/providers/Microsoft.Compute/disks/${diskName}`;
      const diskSizeGB = osType === "Windows" ? 127 : 30;
      r.properties.storageProfile = {
        ...storage,
        ...(storage.imageReference ? { imageReference: { ...image, exactVersion: "1.0.20260101" } } : {}),
        osDisk: { osType, ...osDisk, name: diskName, diskSizeGB, managedDisk: { ...rec(osDisk.managedDisk), id: diskId } },
        dataDisks: list(storage.dataDisks),
      };
      r.properties.vmId = existing?.properties.vmId ?? randomUUID();
      r.properties.timeCreated = existing?.properties.timeCreated ?? new Date().toISOString();
      if (!store.has(keyOf(diskId))) {
        store.set(keyOf(diskId), {
          ...blank(keyOf(diskId), "disk", diskName, r.group),
          id: diskId,
          type: "Microsoft.Compute/disks",
          location: r.location,
          etag: etag(),
          tags: strings(r.tags),
          extra: { managedBy: r.id },
          properties: { osType, diskSizeGB, diskState: "Attached", provisioningState: "Succeeded", timeCreated: new Date().toISOString() },
        });
      }
      return undefined;
    },
    extension(r) {
      delete r.properties.protectedSettings;
      return undefined;
    },
  };

  function allocate(subnet: Stored, nicKey: string): string | undefined {
    const prefix = str(subnet.properties.addressPrefix) ?? str(list(subnet.properties.addressPrefixes)[0]) ?? "10.0.0.0/24";
    const [base = "10.0.0.0", bits = "24"] = prefix.split("/");
    const start = base.split(".").reduce((n, o) => n * 256 + Number(o), 0);
    const size = 2 ** (32 - Number(bits));
    const taken = new Set(
      all("nic")
        .filter((n) => n.key !== nicKey)
        .flatMap((n) => nicConfigs(n).map((c) => str(rec(c.properties).privateIPAddress))),
    );
    // Azure keeps the first four addresses and the last one of every subnet.
    for (let i = 4; i < size - 1; i++) {
      const n = start + i;
      const ip = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
      if (!taken.has(ip)) return ip;
    }
    return undefined;
  }
  function restricted(size: string, location: string): boolean {
    const entry = Object.entries(opts.skuRestrictions ?? {}).find(([s]) => s.toLowerCase() === size.toLowerCase());
    return (entry?.[1] ?? []).some((l) => normLocation(l) === location);
  }

  function subnetInUse(s: Stored): Reply | undefined {
    const users = all("nic").flatMap((n) => nicConfigs(n).filter((c) => refId(rec(c.properties).subnet)?.toLowerCase() === s.key));
    if (!users.length) return undefined;
    return err(
      400,
      "InUseSubnetCannotBeDeleted",
      `Subnet ${s.name} is in use by ${users.map((c) => str(c.id)).join(", ")} and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.`,
    );
  }
  function inUse(r: Stored): Reply | undefined {
    switch (r.kind) {
      case "nic": {
        const vm = vmUsing(r);
        if (!vm) return undefined;
        return err(
          400,
          "NicInUse",
          `Network Interface ${r.id} is used by existing resource ${vm.id}. In order to delete the network interface, it must be dissociated from the resource. To learn more, see aka.ms/deletenic.`,
        );
      }
      case "ip": {
        const user = all("nic")
          .flatMap(nicConfigs)
          .find((c) => refId(rec(c.properties).publicIPAddress)?.toLowerCase() === r.key);
        if (!user) return undefined;
        return err(
          400,
          "PublicIPAddressInUse",
          `Public IP address ${r.id} can not be deleted since it is still allocated to resource ${str(user.id)}. In order to delete the public IP, disassociate/detach the Public IP address from the resource.  To learn how to do this, see aka.ms/deletepublicip.`,
        );
      }
      case "nsg": {
        const users = [
          ...all("nic").filter((n) => refId(n.properties.networkSecurityGroup)?.toLowerCase() === r.key),
          ...all("subnet").filter((s) => refId(s.properties.networkSecurityGroup)?.toLowerCase() === r.key),
        ];
        if (!users.length) return undefined;
        return err(
          400,
          "InUseNetworkSecurityGroupCannotBeDeleted",
          `Network security group ${r.id} cannot be deleted because it is in use by the following resources: ${users.map((u) => u.id).join(", ")}. In order to delete the Network security group, remove the association with the resource(s). To learn how to do this, see aka.ms/deletensg.`,
        );
      }
      case "subnet":
        return subnetInUse(r);
      case "vnet":
        for (const s of store.values()) if (s.parent === r.key && subnetInUse(s)) return subnetInUse(s);
        return undefined;
      default:
        return undefined;
    }
  }

  function deleteResource(ctx: Ctx, m: ResourceMatch): Reply {
    if (!store.get(groupKey(m.group))) return groupNotFound(m.group);
    const r = store.get(keyOf(m.id));
    if (!r) return { status: 204 };
    const refused = inUse(r);
    if (refused) return refused;
    r.deleting = true;
    r.properties.provisioningState = "Deleting";
    const op = startOp({ ns: m.spec.ns, location: r.location, path: ctx.path, method: "DELETE", isDelete: true }, (ok) => {
      if (!ok) {
        r.deleting = false;
        r.properties.provisioningState = "Failed";
        return;
      }
      if (r.kind === "vm") deleteVmAttachments(r);
      remove(r);
    });
    r.op = op.id;
    return { status: 202, headers: asyncHeaders(op, ctx.origin, ctx.apiVersion) };
  }
  /** deleteOption "Delete" on a NIC reference or the OS disk deletes it with the VM; "Detach" (the default) keeps it. */
  function deleteVmAttachments(vm: Stored): void {
    for (const ref of list(rec(vm.properties.networkProfile).networkInterfaces)) {
      const nic = store.get(refId(ref)?.toLowerCase() ?? "");
      if (nic && str(rec(rec(ref).properties).deleteOption) === "Delete") remove(nic);
    }
    const osDisk = rec(rec(vm.properties.storageProfile).osDisk);
    const disk = store.get(str(rec(osDisk.managedDisk).id)?.toLowerCase() ?? "");
    if (!disk) return;
    if (str(osDisk.deleteOption) === "Delete") remove(disk);
    else {
      delete disk.extra.managedBy;
      disk.properties.diskState = "Unattached";
    }
  }

  function getOperation(ctx: Ctx, ns: string, id: string, locationStyle: boolean): Reply {
    const op = ops.get(id);
    if (!op || op.ns.toLowerCase() !== ns.toLowerCase()) return err(404, "NotFound", "The entity was not found in this Azure location.");
    if (locationStyle) {
      if (op.status === "InProgress") return { status: 202, headers: retryAfter() };
      if (op.status === "Failed") return err(400, op.error?.code ?? "Failed", op.error?.message ?? "The operation failed.");
      // A resource group's delete ends 200 (§7.5); resource deletes end 204.
      return { status: op.isDelete && op.ns !== "Resources" ? 204 : 200 };
    }
    const body: Json = { id: ctx.path, name: op.id, status: op.status, startTime: op.startTime };
    if (op.endTime) body.endTime = op.endTime;
    if (op.error) body.error = op.error;
    return { status: 200, body, headers: op.status === "InProgress" ? retryAfter() : {} };
  }

  function listSkus(ctx: Ctx): Reply {
    const only = /location\s+eq\s+'([^']+)'/i.exec(ctx.query.$filter ?? "")?.[1];
    const extra = Object.values(opts.skuRestrictions ?? {})
      .flat()
      .map(normLocation);
    const where = only ? [normLocation(only)] : [...new Set([...regions, ...extra])];
    const value = Object.entries(sizes).flatMap(([name, s]) =>
      where.map((location) => ({
        resourceType: "virtualMachines",
        name,
        tier: "Standard",
        size: name.replace(/^Standard_/, ""),
        family: s.family,
        locations: [location],
        locationInfo: [{ location, zones: ["1", "2", "3"], zoneDetails: [] }],
        capabilities: [
          { name: "vCPUs", value: String(s.vcpus) },
          { name: "MemoryGB", value: String(s.memoryGb) },
          { name: "HyperVGenerations", value: "V1,V2" },
          { name: "PremiumIO", value: "True" },
          { name: "CpuArchitectureType", value: "x64" },
          { name: "NestedVirtualizationSupported", value: s.family === "standardBSFamily" ? "False" : "True" },
        ],
        restrictions: restricted(name, location)
          ? [
              {
                type: "Location",
                values: [location],
                restrictionInfo: { locations: [location] },
                reasonCode: "NotAvailableForSubscription",
              },
            ]
          : [],
      })),
    );
    return { status: 200, body: { value } };
  }

  // ---- the route table (patterns are case-insensitive; captures keep the caller's spelling of names)
  type Route = {
    pattern: RegExp;
    methods: string[];
    poll?: true;
    action: (m: RegExpExecArray, verb: string) => string;
    handle: (ctx: Ctx, m: RegExpExecArray) => Reply;
  };
  const sub = "/subscriptions/([^/]+)";
  const provider = "/providers/([^/]+)/([^/]+)/([^/]+)(?:/([^/]+)/([^/]+))?";
  const routes: Route[] = [
    {
      pattern: new RegExp(`^${sub}/providers/microsoft\\.(compute|network)/locations/([^/]+)/(operations|operationresults)/([^/]+)$`, "i"),
      methods: ["GET"],
      poll: true,
      action: (m) => `Microsoft.${m[2]}/locations/operations/read`,
      handle: (ctx, m) =>
        getOperation(ctx, m[2] ?? "", m[5] ?? "", m[4]?.toLowerCase() === "operationresults" || ctx.query.monitor === "true"),
    },
    {
      pattern: new RegExp(`^${sub}/operationresults/([^/]+)$`, "i"),
      methods: ["GET"],
      poll: true,
      action: () => "Microsoft.Resources/subscriptions/operationresults/read",
      handle: (ctx, m) => getOperation(ctx, "Resources", m[2] ?? "", true),
    },
    {
      pattern: new RegExp(`^${sub}/providers/microsoft\\.compute/skus$`, "i"),
      methods: ["GET"],
      action: () => "Microsoft.Compute/skus/read",
      handle: (ctx) => listSkus(ctx),
    },
    {
      pattern: new RegExp(`^${sub}/resourcegroups/([^/]+)$`, "i"),
      methods: ["PUT", "GET", "HEAD", "DELETE"],
      action: (_m, verb) => `Microsoft.Resources/subscriptions/resourceGroups/${verb}`,
      handle: (ctx, m) => {
        const name = m[2] ?? "";
        if (ctx.method === "PUT") return putGroup(ctx, name);
        if (ctx.method === "DELETE") return deleteGroup(ctx, name);
        return getGroup(ctx, name);
      },
    },
    {
      pattern: new RegExp(`^${sub}/resourcegroups/([^/]+)/providers/([^/]+)/([^/]+)$`, "i"),
      methods: ["GET"],
      action: (m, verb) => `${types[`${m[3]}/${m[4]}`.toLowerCase()]?.type ?? `${m[3]}/${m[4]}`}/${verb}`,
      handle: (ctx, m) => listResources(ctx, m[2] ?? "", `${m[3]}/${m[4]}`.toLowerCase()),
    },
    {
      pattern: new RegExp(`^${sub}/resourcegroups/([^/]+)${provider}$`, "i"),
      methods: ["PUT", "GET", "DELETE"],
      action: (m, verb) => `${matchResource(m)?.spec.type ?? "unknown"}/${verb}`,
      handle: (ctx, m) => {
        const r = matchResource(m);
        if (!r) {
          return err(
            404,
            "InvalidResourceType",
            `The resource type '${[m[4], m[6]].filter(Boolean).join("/")}' could not be found in the namespace '${m[3]}' for api version '${ctx.apiVersion}'.`,
          );
        }
        if (ctx.method === "PUT") return putResource(ctx, r);
        if (ctx.method === "DELETE") return deleteResource(ctx, r);
        return getResource(ctx, r);
      },
    },
  ];
  type ResourceMatch = {
    spec: { kind: Kind; type: string; ns: Namespace };
    group: string;
    name: string;
    id: string;
    parentId?: string;
    parentName?: string;
  };
  function matchResource(m: RegExpExecArray): ResourceMatch | undefined {
    const [, , group = "", ns = "", type = "", name = "", childType, childName] = m;
    const spec = types[[ns, type, childType].filter(Boolean).join("/").toLowerCase()];
    if (!spec) return undefined;
    const [canonNs, canonType, canonChild] = spec.type.split("/");
    const parentId = `/subscriptions/${subscriptionId}/resourceGroups/${group}/providers/${canonNs}/${canonType}/${name}`;
    if (!childName) return { spec, group, name, id: parentId };
    return { spec, group, name: childName, id: `${parentId}/${canonChild}/${childName}`, parentId, parentName: name };
  }
  const groupNotFound = (name: string) => err(404, "ResourceGroupNotFound", `Resource group '${name}' could not be found.`);
  const groupBeingDeleted = (name: string) =>
    err(409, "ResourceGroupBeingDeleted", `The resource group '${name}' is in deprovisioning state and cannot perform this operation.`);
  const resourceNotFound = (m: ResourceMatch) =>
    err(
      404,
      "ResourceNotFound",
      `The Resource '${m.spec.type}/${m.parentName ? `${m.parentName}/${m.name}` : m.name}' under resource group '${m.group}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    );
  function blank(key: string, kind: Kind, name: string, group: string): Stored {
    return {
      key,
      id: "",
      kind,
      type: "",
      name,
      group: group.toLowerCase(),
      parent: undefined,
      location: "",
      tags: {},
      extra: {},
      properties: {},
      etag: "",
      deleting: false,
      op: undefined,
      created: false,
      customData: undefined,
      body: undefined,
    };
  }

  // ---- HTTP
  function dispatch(ctx: Ctx, record: ArmRequest, headers: IncomingMessage["headers"]): Reply {
    const auth = headers.authorization;
    if (!auth)
      return err(
        401,
        "AuthenticationFailed",
        "Authentication failed. The 'Authorization' header is missing.",
        wwwAuthenticate("missing 'Authorization' header"),
      );
    if (!/^Bearer \S+/.test(auth)) {
      return err(
        401,
        "AuthenticationFailed",
        "Authentication failed. The 'Authorization' header is provided in an invalid format.",
        wwwAuthenticate("invalid 'Authorization' header"),
      );
    }
    if (!ctx.apiVersion)
      return err(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.");
    if (ctx.body instanceof SyntaxError) {
      return err(400, "InvalidRequestContent", `The request content was invalid and could not be deserialized: '${ctx.body.message}'.`);
    }
    tick();
    const injected = takeFailure(ctx.method, ctx.path.toLowerCase(), "respond")?.respond;
    if (injected) return { status: injected.status, body: injected.body ?? defaultBody(injected.status), headers: injected.headers ?? {} };
    for (const route of routes) {
      const m = route.pattern.exec(ctx.path);
      if (!m) continue;
      if (route.poll) record.kind = "poll";
      if (!route.methods.includes(ctx.method))
        return err(405, "MethodNotAllowed", `The requested resource does not support http method '${ctx.method}'.`);
      if (m[1]?.toLowerCase() !== subscriptionId.toLowerCase())
        return err(404, "SubscriptionNotFound", `The subscription '${m[1]}' could not be found.`);
      const verb = ctx.method === "PUT" ? "write" : ctx.method === "DELETE" ? "delete" : ctx.method === "POST" ? "action" : "read";
      const action = route.action(m, verb);
      // Operation status is readable by whoever started the operation; RBAC is checked on the resource itself.
      if (!route.poll && opts.authorizedActions && !opts.authorizedActions.some((a) => globToRegExp(a).test(action))) {
        const scope = ctx.path.replace(/\/providers\/microsoft\.compute\/skus$/i, "");
        return err(
          403,
          "AuthorizationFailed",
          `The client '${clientId}' with object id '${clientId}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
        );
      }
      return route.handle(ctx, m);
    }
    return err(404, "NotFound", `No route for ${ctx.method} ${ctx.path} in the ARM fake.`);
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(Buffer.from(c));
    const text = Buffer.concat(chunks).toString("utf8");
    const u = new URL(req.url ?? "/", "https://127.0.0.1");
    const query = Object.fromEntries(u.searchParams);
    let body: unknown;
    try {
      body = text.trim() ? JSON.parse(text) : undefined;
    } catch (e) {
      body = e instanceof SyntaxError ? e : new SyntaxError(String(e));
    }
    const method = req.method ?? "GET";
    const record: ArmRequest = {
      method,
      path: u.pathname,
      query,
      body: body instanceof SyntaxError ? text : body,
      status: 0,
      at: Date.now(),
      kind: "request",
    };
    fake.requests.push(record);
    const ctx: Ctx = { method, path: u.pathname, query, body, origin: fake.url, apiVersion: query["api-version"] ?? "" };
    let reply: Reply;
    try {
      reply = dispatch(ctx, record, req.headers);
    } catch (e) {
      console.error("arm-fake: handler failed:", e);
      reply = err(500, "InternalServerError", `The ARM fake failed: ${(e as Error).message}`);
    }
    record.status = reply.status;
    if (opts.latencyMs) await new Promise((r) => setTimeout(r, opts.latencyMs));
    const requestId = randomUUID();
    const headers: Record<string, string> = {
      "Cache-Control": "no-cache",
      Pragma: "no-cache",
      Expires: "-1",
      "x-ms-request-id": requestId,
      "x-ms-correlation-request-id": requestId,
      ...(method === "GET" || method === "HEAD"
        ? { "x-ms-ratelimit-remaining-subscription-reads": "249" }
        : { "x-ms-ratelimit-remaining-subscription-writes": "199" }),
      ...(method === "DELETE" ? { "x-ms-ratelimit-remaining-subscription-deletes": "199" } : {}),
    };
    const clientRequestId = req.headers["x-ms-client-request-id"];
    if (typeof clientRequestId === "string") headers["x-ms-client-request-id"] = clientRequestId;
    if (reply.body !== undefined) headers["Content-Type"] = "application/json; charset=utf-8";
    res.writeHead(reply.status, { ...headers, ...reply.headers });
    res.end(reply.body === undefined ? undefined : JSON.stringify(reply.body));
  }

  const server = createHttpsServer({ key: pems.key, cert: pems.cert }, (req, res) => void onRequest(req, res));
  const identity = createHttpServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://127.0.0.1");
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (u.pathname !== "/msi/token") return send(404, { error: "not_found", error_description: `No ${u.pathname} here; use /msi/token.` });
    if (req.headers["x-identity-header"] !== identityHeader)
      return send(400, { statusCode: 400, message: "X-IDENTITY-HEADER is missing or wrong." });
    if (!u.searchParams.get("api-version")) return send(400, { statusCode: 400, message: "api-version is required." });
    const resource = u.searchParams.get("resource") ?? "https://management.azure.com";
    send(200, {
      access_token: `fake.${randomBytes(24).toString("base64url")}.token`,
      expires_on: String(Math.floor(Date.now() / 1000) + 3600),
      resource,
      token_type: "Bearer",
      client_id: clientId,
    });
  });
  const port = await listen(server);
  const identityPort = await listen(identity);

  const fake: ArmFake = {
    url: `https://127.0.0.1:${port}`,
    ca: pems.ca,
    subscriptionId,
    identityEndpoint: `http://127.0.0.1:${identityPort}/msi/token`,
    identityHeader,
    requests: [],
    resources() {
      tick();
      return [...store.values()].map((r) => {
        const v = view(r);
        return { id: r.id, type: r.type, name: r.name, location: r.location, tags: clone(r.tags), properties: rec(v.properties) };
      });
    },
    fail(f) {
      if ((f.respond === undefined) === (f.fail === undefined)) throw new Error("arm-fake: a failure needs exactly one of respond or fail");
      failures.push({ ...f });
    },
    hold(path) {
      holds.push(path);
    },
    release(path) {
      if (!path) {
        holds = [];
        return;
      }
      holds = holds.filter((h) => h.source !== path.source || h.flags !== path.flags);
      for (const op of ops.values()) if (op.status === "InProgress" && testPath(path, op.path)) op.released = true;
    },
    addressFor: () => "127.0.0.1",
    setOptions(o) {
      opts = { ...opts, ...o };
    },
    async close() {
      server.closeAllConnections();
      identity.closeAllConnections();
      await Promise.all([new Promise((r) => server.close(r)), new Promise((r) => identity.close(r))]);
    },
  };
  return fake;
}

function testPath(re: RegExp, path: string): boolean {
  re.lastIndex = 0;
  return re.test(path);
}

function wwwAuthenticate(why: string): Record<string, string> {
  return {
    "WWW-Authenticate": `Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", error_description="The authentication failed because of ${why}."`,
  };
}

function defaultBody(status: number): unknown {
  if (status === 429) return { error: { code: "TooManyRequests", message: "The request is being throttled." } };
  if (status === 503)
    return { error: { code: "ServiceUnavailable", message: "The service is temporarily unavailable. Please try again later." } };
  if (status >= 500) {
    return {
      error: {
        code: "InternalServerError",
        message: `Encountered internal server error. Diagnostic information: timestamp '${new Date().toISOString()}'.`,
      },
    };
  }
  return { error: { code: "InjectedFailure", message: `The ARM fake answered ${status} as the test asked.` } };
}

function defaultRules(nsgId: string): Json[] {
  const rule = (name: string, priority: number, direction: string, access: string, source: string, destination: string) => ({
    name,
    id: `${nsgId}/defaultSecurityRules/${name}`,
    type: "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
    properties: {
      description: `${access} ${direction.toLowerCase()} traffic`,
      protocol: "*",
      sourcePortRange: "*",
      destinationPortRange: "*",
      sourceAddressPrefix: source,
      destinationAddressPrefix: destination,
      access,
      priority,
      direction,
      provisioningState: "Succeeded",
    },
  });
  return [
    rule("AllowVnetInBound", 65000, "Inbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
    rule("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", "AzureLoadBalancer", "*"),
    rule("DenyAllInBound", 65500, "Inbound", "Deny", "*", "*"),
    rule("AllowVnetOutBound", 65000, "Outbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
    rule("AllowInternetOutBound", 65001, "Outbound", "Allow", "*", "Internet"),
    rule("DenyAllOutBound", 65500, "Outbound", "Deny", "*", "*"),
  ];
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

/** A throwaway CA and a server certificate for 127.0.0.1 and localhost, ECDSA P-256. */
async function makeCertificates(): Promise<{ ca: string; cert: string; key: string }> {
  // @peculiar/x509 wires its algorithms with tsyringe, which needs the Reflect metadata API loaded first.
  await import("reflect-metadata");
  const x509 = await import("@peculiar/x509");
  const crypto = globalThis.crypto;
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const notBefore = new Date(Date.now() - 60 * 60 * 1000);
  const notAfter = new Date(Date.now() + 7 * 24 * 60 * 60 * 1000);
  const caKeys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const caCert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomBytes(8).toString("hex"),
      name: "CN=berth test ARM CA",
      notBefore,
      notAfter,
      keys: caKeys,
      signingAlgorithm: alg,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomBytes(8).toString("hex"),
      subject: "CN=127.0.0.1",
      issuer: caCert.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: alg,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([
          { type: "ip", value: "127.0.0.1" },
          { type: "dns", value: "localhost" },
        ]),
        await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { ca: caCert.toString("pem"), cert: cert.toString("pem"), key: x509.PemConverter.encode(pkcs8, "PRIVATE KEY") };
}
