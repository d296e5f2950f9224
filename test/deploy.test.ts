import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix, relative } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { parse, parseAllDocuments } from "yaml";
import { loadConfig } from "../src/config.ts";
import { HostsSchema } from "../src/core/hosts.ts";
import { loadPolicyFile } from "../src/core/policy-file.ts";
import { parseYaml } from "../src/core/yaml-file.ts";

// What can be checked about the Dockerfile, the compose files, the Kubernetes manifests and the Helm chart without a
// registry to pull base images from, a cluster or a helm binary: they parse, name only variables berth reads, copy
// paths that exist, and agree with each other. Past 400 lines because every check reads the same parsed manifests and
// the same list of variables berth reads (envSchema); split, each part would repeat that set-up.

// biome-ignore lint/suspicious/noExplicitAny: walking arbitrary YAML documents
type Doc = Record<string, any>;

/** The YAML files under dir, except Helm templates (Go templates that are YAML only once rendered). */
function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name) && !/(^|\/)helm\/[^/]+\/templates(\/|$)/.test(e.parentPath))
    .map((e) => join(e.parentPath, e.name));
}

function docs(path: string): Doc[] {
  const all = parseAllDocuments(readFileSync(path, "utf8"));
  const list = Array.isArray(all) ? all : [all];
  for (const d of list) assert.deepEqual(d.errors, [], `${path} does not parse`);
  return list.map((d) => d.toJS() as Doc).filter((d) => d !== null);
}

/** The base every variant builds on (manifests/kubernetes/base), and the example Secrets it reads. */
const k8sBase = "manifests/kubernetes/base";
const k8s = [
  ...readdirSync(k8sBase)
    .filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")
    .map((f) => join(k8sBase, f)),
  "manifests/kubernetes/secret.example.yaml",
].flatMap((f) => docs(f).map((doc) => ({ file: f, doc })));
const ofKind = (kind: string) => k8s.filter((x) => x.doc.kind === kind).map((x) => x.doc);
const deployment = ofKind("Deployment")[0] ?? {};
const pod: Doc = deployment.spec?.template?.spec ?? {};
const container: Doc = pod.containers?.[0] ?? {};
const containerEnv: Doc[] = container.env ?? [];
const envValue = (name: string) => containerEnv.find((e) => e.name === name)?.value as string | undefined;

/** The variables berth reads: the keys of the Env schema in src/config.ts (read as text: the schema is private). */
const envSchema = (() => {
  const text = readFileSync("src/config.ts", "utf8");
  const body = text.slice(text.indexOf("const Env = z.object({"), text.indexOf("\n});", text.indexOf("const Env = z.object({")));
  return new Set([...body.matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1] ?? ""));
})();
/** Read by @azure/identity's DefaultAzureCredential, not by berth (docs/deploy.md "Runtime contract"). */
const azureIdentity = new Set([
  "AZURE_CLIENT_ID",
  "AZURE_TENANT_ID",
  "AZURE_CLIENT_SECRET",
  "AZURE_CLIENT_CERTIFICATE_PATH",
  "AZURE_CLIENT_CERTIFICATE_PASSWORD",
  "AZURE_FEDERATED_TOKEN_FILE",
  "AZURE_AUTHORITY_HOST",
  "AZURE_TOKEN_CREDENTIALS",
]);

function assertKnownVariables(where: string, names: Iterable<string>) {
  for (const name of names) {
    const known = envSchema.has(name) || azureIdentity.has(name);
    assert.ok(known, `${where} sets ${name}, which berth does not read (src/config.ts Env)`);
  }
}

type Instruction = { op: string; args: string };
type Stage = { name: string | undefined; from: string; workdir: string; steps: Instruction[] };

/** The Dockerfile as stages of instructions (continuation lines joined, comments dropped). */
function dockerfile(): Stage[] {
  const lines = readFileSync("Dockerfile", "utf8").replace(/\\\n/g, " ").split("\n");
  const stages: Stage[] = [];
  for (const line of lines) {
    const m = /^([A-Z]+)\s+(.*)$/.exec(line.trim());
    if (!m || line.trim().startsWith("#")) continue;
    const [, op = "", args = ""] = m;
    if (op === "FROM") {
      const [, from = "", name] = /^(\S+)(?:\s+AS\s+(\S+))?/i.exec(args) ?? [];
      stages.push({ name, from, workdir: "/", steps: [] });
      continue;
    }
    const stage = stages.at(-1);
    assert.ok(stage, `${op} before FROM`);
    if (op === "WORKDIR") stage.workdir = posix.resolve(stage.workdir, args.trim());
    stage.steps.push({ op, args: args.trim() });
  }
  return stages;
}
const stages = dockerfile();
const runtime = stages.at(-1) as Stage;
const instructions = (stage: Stage, op: string) => stage.steps.filter((s) => s.op === op).map((s) => s.args);
const execForm = (args: string) => JSON.parse(args) as string[];
const outDir = (JSON.parse(readFileSync("tsconfig.build.json", "utf8")) as { compilerOptions: { outDir: string } }).compilerOptions.outDir;
const entrypoint = execForm(instructions(runtime, "ENTRYPOINT")[0] ?? "[]");
const entryFile = entrypoint.find((a) => a.endsWith(".js")) ?? "";
/** The workspace packages that compile (packages/<name>/tsconfig.build.json): `npm run build` builds each into its outDir. */
const packageBuilds = readdirSync("packages")
  .map((name) => join("packages", name))
  .filter((dir) => existsSync(join(dir, "tsconfig.build.json")))
  .map((dir) => {
    const config = JSON.parse(readFileSync(join(dir, "tsconfig.build.json"), "utf8")) as { compilerOptions: { outDir: string } };
    return { dir, outDir: posix.join(dir, config.compilerOptions.outDir) };
  });

test("every YAML file under manifests/ parses", () => {
  const files = yamlFiles("manifests");
  assert.ok(files.length >= 12, `expected the compose, Kubernetes and Helm manifests, found ${files.join(", ")}`);
  for (const file of files) docs(file);
  assert.deepEqual(
    ["Deployment", "ServiceAccount", "PodDisruptionBudget", "PersistentVolumeClaim"].map((k) => ofKind(k).length),
    [1, 1, 1, 0],
    "one Deployment, ServiceAccount and PodDisruptionBudget; no PersistentVolumeClaim (the data dir is scratch with PostgreSQL)",
  );
});

test("the kustomizations list files that exist, and not the example Secret", () => {
  const resources = (dir: string) => (docs(join(dir, "kustomization.yaml"))[0]?.resources ?? []) as string[];
  for (const dir of ["manifests/kubernetes", k8sBase, "manifests/kubernetes/sqlite"]) {
    for (const r of resources(dir)) assert.ok(existsSync(join(dir, r)), `${dir}: ${r} is listed but missing`);
    assert.ok(!resources(dir).some((r) => r.endsWith("secret.example.yaml")), "placeholder secrets must never be applied");
  }
  // The default (kubectl apply -k manifests/kubernetes) is the replicated base; the SQLite variant patches the same one.
  assert.deepEqual(resources("manifests/kubernetes"), ["base"]);
  assert.ok(resources("manifests/kubernetes/sqlite").includes("../base"));
  const listed = new Set(resources(k8sBase));
  for (const f of readdirSync(k8sBase).filter((f) => f !== "kustomization.yaml")) {
    assert.ok(listed.has(f), `${f} is not in base/kustomization.yaml`);
  }
});

/** preStop's pause in seconds: the kubelet's sleep action, or an exec of node's setTimeout. */
function preStopSeconds(c: Doc): number {
  const preStop = c.lifecycle?.preStop as Doc | undefined;
  if (preStop?.sleep) return Number(preStop.sleep.seconds);
  const script = (preStop?.exec?.command as string[] | undefined)?.join(" ") ?? "";
  const ms = /setTimeout\([^,]*,\s*(\d+)\)/.exec(script)?.[1];
  assert.ok(ms, "preStop pauses (sleep action or node -e setTimeout)");
  return Number(ms) / 1000;
}
/** Seconds a pod needs to stop: preStop's pause, then berth's drain as berth parses BERTH_DRAIN_TIMEOUT. */
function stopBudget(c: Doc, drainTimeout: string | undefined) {
  const drain = loadConfig(drainTimeout === undefined ? {} : { BERTH_DRAIN_TIMEOUT: drainTimeout }).drainMs / 1000;
  return { preStop: preStopSeconds(c), drain };
}
/** What the pod's last moments need on top of preStop and the drain: the final card edits, closing the pool. */
const minimumMargin = 5;

test("the Deployment runs two replicas that roll one at a time, each ready on /readyz and alive on /healthz", () => {
  assert.equal(deployment.spec?.replicas, 2);
  assert.deepEqual(deployment.spec?.strategy, { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
  // The reason is written next to the number, for whoever is tempted to change it.
  assert.match(readFileSync(join(k8sBase, "deployment.yaml"), "utf8"), /# Two replicas sharing one PostgreSQL[\s\S]*replicas: 2\n/);
  const ports = (container.ports ?? []) as Doc[];
  const port = ports[0] as Doc;
  assert.equal(port.containerPort, loadConfig({}).port, "the container port is berth's default PORT");
  assert.equal(Number(envValue("PORT") ?? port.containerPort), port.containerPort);
  for (const [probe, path] of [
    ["readinessProbe", "/readyz"],
    ["livenessProbe", "/healthz"],
  ]) {
    const get = container[probe as string]?.httpGet as Doc;
    assert.equal(get?.path, path, probe);
    assert.ok(get.port === port.name || get.port === port.containerPort, `${probe} must use the container port`);
  }
  const [pdb] = ofKind("PodDisruptionBudget");
  assert.equal(pdb?.spec?.minAvailable, 1);
  assert.ok(pdb?.spec?.minAvailable < deployment.spec?.replicas, "a PodDisruptionBudget that allows no eviction blocks node drains");
  const podLabels = deployment.spec?.template?.metadata?.labels as Doc;
  for (const [k, v] of Object.entries(pdb?.spec?.selector?.matchLabels ?? {})) assert.equal(podLabels[k], v, `the PDB selects ${k}`);
  const spread = (pod.topologySpreadConstraints ?? []) as Doc[];
  assert.ok(
    spread.some((t) => t.topologyKey === "kubernetes.io/hostname" && t.labelSelector?.matchLabels?.["app.kubernetes.io/name"] === "berth"),
    "the replicas spread over nodes",
  );
});

test("terminationGracePeriodSeconds covers preStop, BERTH_DRAIN_TIMEOUT and a margin", () => {
  const { preStop, drain } = stopBudget(container, envValue("BERTH_DRAIN_TIMEOUT"));
  assert.ok(preStop > 0 && drain > 0);
  const grace = pod.terminationGracePeriodSeconds as number;
  assert.ok(grace >= preStop + drain + minimumMargin, `grace ${grace}s < preStop ${preStop}s + drain ${drain}s + ${minimumMargin}s`);
  // The comment next to the number states the same sum.
  assert.match(
    readFileSync(join(k8sBase, "deployment.yaml"), "utf8"),
    new RegExp(`preStop pause \\(${preStop} s\\)[\\s\\S]*BERTH_DRAIN_TIMEOUT, ${drain} s[\\s\\S]*${grace - preStop - drain} s margin`),
  );
});

test("the replicas share PostgreSQL from a Secret; the data dir is per-pod scratch", () => {
  const url = containerEnv.find((e) => e.name === "BERTH_DATABASE_URL");
  assert.ok(url?.valueFrom?.secretKeyRef && url.valueFrom.secretKeyRef.optional !== true, "BERTH_DATABASE_URL from a required Secret key");
  const example = docs("manifests/kubernetes/secret.example.yaml").find((d) => d.metadata?.name === url.valueFrom.secretKeyRef.name);
  assert.match(example?.stringData?.[url.valueFrom.secretKeyRef.key] ?? "", /^postgres:\/\//);
  const mount = (container.volumeMounts as Doc[]).find((m) => m.mountPath === envValue("BERTH_DATA_DIR"));
  const volume = (pod.volumes as Doc[]).find((v) => v.name === mount?.name);
  assert.ok(volume?.emptyDir, "BERTH_DATA_DIR is an emptyDir: the state is in the database");
});

type JsonPatchOp = { op: string; path: string; value?: unknown };

/** RFC 6902 on a parsed document: the operations the SQLite overlay uses (add, replace, remove, test). */
function applyJsonPatch(target: Doc, ops: JsonPatchOp[]): void {
  for (const { op, path, value } of ops) {
    const keys = path
      .split("/")
      .slice(1)
      .map((k) => k.replaceAll("~1", "/").replaceAll("~0", "~"));
    const last = keys.pop() as string;
    // biome-ignore lint/suspicious/noExplicitAny: walking a parsed document
    const parent = keys.reduce<any>((node, k) => node?.[Array.isArray(node) ? Number(k) : k], target);
    assert.ok(parent !== undefined && parent !== null, `${op} ${path}: no such parent`);
    const key = Array.isArray(parent) ? Number(last) : last;
    if (op === "test") assert.deepEqual(parent[key], value, `test ${path}`);
    else if (op === "replace") {
      assert.ok(key in parent, `replace ${path}: nothing there`);
      parent[key] = value;
    } else if (op === "remove") {
      assert.ok(key in parent, `remove ${path}: nothing there`);
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
    } else if (op === "add") {
      if (Array.isArray(parent)) parent.splice(last === "-" ? parent.length : (key as number), 0, value);
      else parent[key] = value;
    } else assert.fail(`${op}: not an operation this test applies`);
  }
}

test("the SQLite variant (sqlite/) is one replica, recreated, on a ReadWriteOnce claim, without the database or a PDB", () => {
  const [overlay] = docs("manifests/kubernetes/sqlite/kustomization.yaml");
  const base = k8s.filter((x) => x.file.startsWith(k8sBase)).map((x) => x.doc);
  const objects = structuredClone(base).concat(docs("manifests/kubernetes/sqlite/pvc.yaml"));
  const sameObject = (a: Doc, b: Doc) => a.kind === b.kind && a.metadata?.name === b.metadata?.name;
  for (const { patch, target } of (overlay?.patches ?? []) as Doc[]) {
    const parsed = parse(patch as string) as Doc | JsonPatchOp[];
    if (Array.isArray(parsed)) {
      const doc = objects.find(
        (o) =>
          sameObject(o, { kind: target.kind, metadata: { name: target.name } }) && o.apiVersion === `${target.group}/${target.version}`,
      );
      assert.ok(doc, `patch target ${target.kind}/${target.name} is not in the base`);
      applyJsonPatch(doc, parsed);
    } else {
      assert.equal(parsed.$patch, "delete", "the overlay's strategic-merge patches only delete");
      const i = objects.findIndex((o) => sameObject(o, parsed));
      assert.ok(i >= 0, `$patch: delete of ${parsed.kind}/${parsed.metadata?.name}: not in the base`);
      objects.splice(i, 1);
    }
  }
  const single = objects.find((o) => o.kind === "Deployment") as Doc;
  assert.equal(single.spec.replicas, 1);
  assert.deepEqual(single.spec.strategy, { type: "Recreate" }, "the old pod lets go of the volume before the new one opens it");
  const singlePod = single.spec.template.spec as Doc;
  const env = singlePod.containers[0].env as Doc[];
  assert.ok(!env.some((e) => e.name === "BERTH_DATABASE_URL"), "without BERTH_DATABASE_URL berth uses SQLite");
  const dataDir = env.find((e) => e.name === "BERTH_DATA_DIR")?.value;
  const mount = (singlePod.containers[0].volumeMounts as Doc[]).find((m) => m.mountPath === dataDir);
  const claim = (singlePod.volumes as Doc[]).find((v) => v.name === mount?.name)?.persistentVolumeClaim?.claimName;
  const pvc = objects.find((o) => o.kind === "PersistentVolumeClaim");
  assert.ok(claim && claim === pvc?.metadata?.name, "BERTH_DATA_DIR on the overlay's claim");
  assert.deepEqual(pvc?.spec?.accessModes, ["ReadWriteOnce"]);
  assert.ok(!objects.some((o) => o.kind === "PodDisruptionBudget"), "minAvailable 1 of 1 would block every node drain");
});

test("the pod runs as the image's non-root user with a read-only root and a writable data dir", () => {
  const user = instructions(runtime, "USER").at(-1) ?? "";
  const uid = Number(user.split(":")[0]);
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.securityContext.runAsUser, uid);
  assert.equal(pod.securityContext.fsGroup, uid, "fsGroup makes the mounted volumes berth's");
  assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
  assert.equal(container.securityContext?.allowPrivilegeEscalation, false);
  assert.equal(pod.automountServiceAccountToken, false);
  const [serviceAccount] = ofKind("ServiceAccount");
  assert.equal(pod.serviceAccountName, serviceAccount?.metadata?.name);
  assert.equal(serviceAccount?.automountServiceAccountToken, false);
  assert.match(readFileSync(join(k8sBase, "serviceaccount.yaml"), "utf8"), /azure\.workload\.identity\/client-id/);

  const dataMount = (container.volumeMounts as Doc[]).find((m) => m.mountPath === envValue("BERTH_DATA_DIR"));
  assert.ok(dataMount && !dataMount.readOnly, "BERTH_DATA_DIR is a writable mount");
  assert.ok(container.resources?.requests && container.resources?.limits, "resource requests and limits");
});

test("the ConfigMap's policy and hosts are valid for berth and mounted where berth reads them", () => {
  const [configMap] = ofKind("ConfigMap");
  const data = configMap?.data as Record<string, string>;
  const dir = mkdtempSync(join(tmpdir(), "berth-deploy-"));
  writeFileSync(join(dir, "policy.yaml"), data["policy.yaml"] ?? "");
  loadPolicyFile(join(dir, "policy.yaml"));
  const hosts = parseYaml(data["hosts.yaml"] ?? "", HostsSchema, "hosts (ConfigMap)");

  const env = Object.fromEntries(containerEnv.map((e) => [e.name, e.value]));
  const mounts = container.volumeMounts as Doc[];
  const volumes = pod.volumes as Doc[];
  const mountOf = (path: string) => mounts.find((m) => path.startsWith(`${m.mountPath}/`));
  for (const key of ["BERTH_POLICY", "BERTH_HOSTS"]) {
    const mount = mountOf(env[key]);
    assert.ok(mount, `${key}=${env[key]} is not under a mounted volume`);
    assert.equal(mount.subPath, undefined, "a subPath mount never sees ConfigMap updates (policy reload)");
    assert.equal(volumes.find((v) => v.name === mount.name)?.configMap?.name, configMap?.metadata?.name);
    assert.ok(data[posix.basename(env[key])], `the ConfigMap has no ${posix.basename(env[key])}`);
  }
  // The hosts' TLS files come from a mounted Secret that the example provides.
  const secrets = ofKind("Secret");
  for (const host of hosts.hosts) {
    for (const file of Object.values(host.tls ?? {})) {
      const mount = mountOf(file);
      assert.ok(mount, `${host.name}: ${file} is not under a mounted volume`);
      const secretName = volumes.find((v) => v.name === mount.name)?.secret?.secretName;
      const secret = secrets.find((s) => s.metadata?.name === secretName);
      assert.ok(secret?.stringData?.[posix.basename(file)], `${file}: no key ${posix.basename(file)} in Secret ${secretName}`);
    }
  }
});

test("every Secret reference names a Secret and key in secret.example.yaml; only the Slack token, audit key and database are required", () => {
  const secrets = docs("manifests/kubernetes/secret.example.yaml");
  const refs = containerEnv.filter((e) => e.valueFrom);
  assert.ok(refs.some((e) => e.name.startsWith("SLACK_")) && refs.some((e) => e.name.startsWith("AZURE_")));
  for (const e of refs) {
    const ref = e.valueFrom.secretKeyRef as Doc;
    assert.ok(ref, `${e.name} comes from a Secret`);
    const secret = secrets.find((s) => s.metadata?.name === ref.name);
    assert.ok(secret && ref.key in (secret.stringData ?? {}), `${e.name}: no key ${ref.key} in Secret ${ref.name}`);
    // The audit key is required: without it berth would keep its key next to the database (docs/security.md).
    assert.equal(
      ref.optional === true,
      !["SLACK_BOT_TOKEN", "BERTH_AUDIT_KEY", "BERTH_DATABASE_URL"].includes(e.name),
      `${e.name}: optional`,
    );
  }
  for (const s of secrets) assert.equal(s.metadata?.namespace, deployment.metadata?.namespace);
});

test("the Dockerfile, compose file, env example and Kubernetes manifests set only variables berth reads", () => {
  assert.ok(envSchema.has("SLACK_BOT_TOKEN") && envSchema.has("BERTH_DATA_DIR") && envSchema.size > 20, "read the Env schema");
  const dockerEnv = instructions(runtime, "ENV").map((a) => a.split(/[=\s]/)[0] ?? "");
  assertKnownVariables("Dockerfile", dockerEnv);
  const [compose] = docs("manifests/compose.yaml");
  const service = compose?.services?.berth as Doc;
  assertKnownVariables("manifests/compose.yaml", Object.keys(service.environment));
  const [composeHa] = docs("manifests/compose.ha.yaml");
  assertKnownVariables("manifests/compose.ha.yaml", Object.keys(composeHa?.services?.berth?.environment ?? {}));
  const example = readFileSync("manifests/berth.env.example", "utf8");
  assertKnownVariables(
    "manifests/berth.env.example",
    [...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1] ?? ""),
  );
  assertKnownVariables(
    "manifests/kubernetes/base/deployment.yaml",
    containerEnv.map((e) => e.name as string),
  );
  for (const s of docs("manifests/kubernetes/secret.example.yaml").filter((s) => /slack|azure|audit|database/.test(s.metadata?.name))) {
    assertKnownVariables(`Secret ${s.metadata?.name}`, Object.keys(s.stringData));
  }
});

test("docs/deploy.md's runtime contract names every variable berth reads, and only those", () => {
  const text = readFileSync("docs/deploy.md", "utf8");
  const table = text.slice(text.indexOf("## Runtime contract"), text.indexOf("\n## ", text.indexOf("## Runtime contract") + 1));
  const named = new Set(
    [...table.matchAll(/^\| (.*?) \|/gm)].flatMap((m) => [...(m[1] ?? "").matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((n) => n[1] ?? "")),
  );
  assertKnownVariables("docs/deploy.md's runtime contract", named);
  for (const name of envSchema) assert.ok(named.has(name), `berth reads ${name}: describe it in docs/deploy.md "Runtime contract"`);
});

test("compose: env file, the Docker socket, a named volume for the data directory, and a health check", () => {
  const [compose] = docs("manifests/compose.yaml");
  const service = compose?.services?.berth as Doc;
  const envFiles = (service.env_file as Doc[]).map((f) => f.path as string);
  for (const f of envFiles) assert.ok(existsSync(join("manifests", `${f}.example`)), `${f}: ship ${f}.example`);
  assert.equal(service.build.context, "..");
  assert.ok(existsSync(join("manifests", service.build.context, service.build.dockerfile)));
  const volumes = service.volumes as string[];
  assert.ok(volumes.includes("/var/run/docker.sock:/var/run/docker.sock"));
  const data = volumes.find((v) => v.endsWith(`:${service.environment.BERTH_DATA_DIR}`)) ?? "";
  assert.ok(data && Object.keys(compose?.volumes ?? {}).includes(data.split(":")[0] ?? ""), "BERTH_DATA_DIR on a named volume");
  assert.match((service.healthcheck.test as string[]).join(" "), /\/healthz/);
  assert.equal(service.read_only, true);
});

test("compose.ha.yaml: two replicas on a healthy PostgreSQL, each with its own scratch data dir", () => {
  const [compose] = docs("manifests/compose.ha.yaml");
  const berth = compose?.services?.berth as Doc;
  const postgres = compose?.services?.postgres as Doc;
  assert.equal(berth.deploy?.replicas, 2);
  assert.equal(berth.depends_on?.postgres?.condition, "service_healthy", "berth starts once the database answers");
  assert.match(((postgres.healthcheck?.test ?? []) as string[]).join(" "), /pg_isready/);
  const [pgVolume = ""] = ((postgres.volumes ?? []) as string[]).map((v) => v.split(":")[0] ?? "");
  assert.ok(Object.keys(compose?.volumes ?? {}).includes(pgVolume), "the database on a named volume");
  const url = new URL(berth.environment.BERTH_DATABASE_URL);
  assert.equal(url.protocol, "postgres:");
  assert.equal(url.hostname, "postgres", "the URL names the compose service");
  assert.equal(url.username, postgres.environment.POSTGRES_USER);
  assert.equal(url.pathname, `/${postgres.environment.POSTGRES_DB}`);
  // biome-ignore lint/suspicious/noTemplateCurlyInString: compose's interpolation, not JavaScript's
  assert.equal(decodeURIComponent(url.password), "${BERTH_DB_PASSWORD}", "the same password variable as the server's");
  assert.match(postgres.environment.POSTGRES_PASSWORD, /^\$\{BERTH_DB_PASSWORD:\?/, "compose refuses to start without a password");
  // The data dir is per replica: two berths on one named volume would be two SQLite holders, or share a spool.
  const dataDir = berth.environment.BERTH_DATA_DIR;
  const dataVolume = (berth.volumes as string[]).find((v) => v === dataDir || v.endsWith(`:${dataDir}`));
  assert.equal(dataVolume, dataDir, "an anonymous volume per replica for BERTH_DATA_DIR");
  // One host port per replica; a single port could be bound by one replica only.
  assert.match((berth.ports as string[])[0] ?? "", /:(\d+)-(\d+):/);
  const [, from, to] = /:(\d+)-(\d+):/.exec((berth.ports as string[])[0] ?? "") ?? [];
  assert.equal(Number(to) - Number(from) + 1, berth.deploy.replicas);
  const graceSeconds = Number(/^(\d+)s$/.exec(berth.stop_grace_period)?.[1]);
  const drain = loadConfig({ BERTH_DRAIN_TIMEOUT: berth.environment.BERTH_DRAIN_TIMEOUT }).drainMs / 1000;
  assert.ok(graceSeconds >= drain + minimumMargin, `stop_grace_period ${graceSeconds}s < drain ${drain}s + ${minimumMargin}s`);
  assert.equal(berth.read_only, true);
});

// The Helm chart. No helm binary here, so its templates are not rendered: what is checked is the structure a render
// depends on (every value a template reads is in values.yaml, every block is closed, every included template is
// defined) and that it agrees with the raw manifests checked above. An operator runs `helm lint` and `helm template`.
const chartDir = "manifests/helm/berth";
const chartValues = parse(readFileSync(join(chartDir, "values.yaml"), "utf8")) as Doc;
const templates = Object.fromEntries(
  readdirSync(join(chartDir, "templates")).map((f) => [f, readFileSync(join(chartDir, "templates", f), "utf8")]),
) as Record<string, string>;
const templateText = Object.values(templates).join("\n");
const chartDeployment = templates["deployment.yaml"] ?? "";

test("the chart: Chart.yaml, and a template for each object", () => {
  const chart = parse(readFileSync(join(chartDir, "Chart.yaml"), "utf8")) as Doc;
  assert.equal(chart.apiVersion, "v2");
  assert.equal(chart.name, "berth");
  assert.match(chart.version, /^\d+\.\d+\.\d+$/);
  assert.match(chart.kubeVersion, /1\.30/, "the preStop sleep action needs Kubernetes 1.30");
  for (const f of [
    "_helpers.tpl",
    "NOTES.txt",
    "deployment.yaml",
    "service.yaml",
    "pdb.yaml",
    "configmap.yaml",
    "secret.yaml",
    "serviceaccount.yaml",
    "servicemonitor.yaml",
  ]) {
    assert.ok(templates[f], `templates/${f}`);
  }
  for (const [kind, file] of [
    ["Deployment", "deployment.yaml"],
    ["Service", "service.yaml"],
    ["PodDisruptionBudget", "pdb.yaml"],
    ["ConfigMap", "configmap.yaml"],
    ["Secret", "secret.yaml"],
    ["ServiceAccount", "serviceaccount.yaml"],
    ["ServiceMonitor", "servicemonitor.yaml"],
  ]) {
    assert.match(templates[file as string] ?? "", new RegExp(`^kind: ${kind}$`, "m"), file);
  }
});

test("the chart's templates read only values that values.yaml has, and close every block they open", () => {
  const paths = new Set<string>();
  for (const [, path = ""] of templateText.matchAll(/\$?\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) paths.add(path.slice(1));
  assert.ok(paths.size > 20, `found ${paths.size} value references`);
  for (const path of paths) {
    let node: unknown = chartValues;
    for (const key of path.split(".")) {
      assert.ok(node !== null && typeof node === "object" && key in node, `a template reads .Values.${path}: not in values.yaml`);
      node = (node as Doc)[key];
    }
  }
  const defined = new Set([...templateText.matchAll(/\{\{-?\s*define "([^"]+)"/g)].map((m) => m[1]));
  for (const [, name] of templateText.matchAll(/\b(?:include|template) "([^"]+)"/g)) assert.ok(defined.has(name), `${name} is not defined`);
  for (const [file, text] of Object.entries(templates)) {
    const actions = [...text.matchAll(/\{\{-?\s*(\w+)/g)].map((m) => m[1]);
    const opened = actions.filter((a) => a === "if" || a === "with" || a === "range" || a === "define").length;
    assert.equal(opened, actions.filter((a) => a === "end").length, `${file}: every if/with/range/define has its end`);
    assert.equal(text.split("{{").length, text.split("}}").length, `${file}: {{ and }} pair up`);
  }
});

test("the chart sets only variables berth reads, from keys its Secret or the operator's holds", () => {
  const envNames = [...chartDeployment.matchAll(/^\s*- name: ([A-Z][A-Z0-9_]*)$/gm)].map((m) => m[1] ?? "");
  assert.ok(envNames.includes("BERTH_DATABASE_URL") && envNames.includes("SLACK_BOT_TOKEN"));
  assertKnownVariables("the chart's deployment.yaml", envNames);
  const helpers = templates["_helpers.tpl"] ?? "";
  const inline = helpers.slice(helpers.indexOf('define "berth.inlineSecrets"'), helpers.indexOf('define "berth.validate"'));
  const secretKeys = [...inline.matchAll(/^([A-Z][A-Z0-9_]*): /gm)].map((m) => m[1] ?? "");
  assert.ok(secretKeys.length >= 5);
  assertKnownVariables("the chart's Secret", [...secretKeys, chartValues.database.secretKey]);
  // Each key the pod reads from a chart-or-operator Secret is one the chart's Secret can hold.
  for (const [, key] of chartDeployment.matchAll(/name: \{\{ include "berth\.\w+Secret" \. \}\}, key: ([A-Z_]+)/g)) {
    assert.ok(secretKeys.includes(key ?? ""), `the pod reads ${key}, which the chart's Secret never holds`);
  }
});

test("the chart's pod matches the raw manifests: probes, preStop, drain and grace, security, scratch data dir", () => {
  const probePath = (kind: string) => new RegExp(`${kind}:\\s*\\n\\s*httpGet: \\{ path: (\\S+), port: http \\}`).exec(chartDeployment)?.[1];
  assert.equal(probePath("readinessProbe"), container.readinessProbe.httpGet.path);
  assert.equal(probePath("livenessProbe"), container.livenessProbe.httpGet.path);
  // Grace is computed from the same three values the raw Deployment's comment adds up, so it cannot drift from them.
  assert.match(
    chartDeployment,
    /terminationGracePeriodSeconds: \{\{ add \.Values\.preStopSeconds \.Values\.drainTimeoutSeconds \.Values\.terminationMarginSeconds \}\}/,
  );
  assert.match(chartDeployment, /value: "\{\{ \.Values\.drainTimeoutSeconds \}\}s"/, "BERTH_DRAIN_TIMEOUT from drainTimeoutSeconds");
  assert.match(chartDeployment, /sleep: \{ seconds: \{\{ \.Values\.preStopSeconds \}\} \}/);
  const { preStop, drain } = stopBudget(container, envValue("BERTH_DRAIN_TIMEOUT"));
  assert.equal(chartValues.preStopSeconds, preStop);
  assert.equal(loadConfig({ BERTH_DRAIN_TIMEOUT: `${chartValues.drainTimeoutSeconds}s` }).drainMs / 1000, drain);
  assert.ok(chartValues.terminationMarginSeconds >= minimumMargin);
  assert.equal(preStop + drain + chartValues.terminationMarginSeconds, pod.terminationGracePeriodSeconds);
  assert.equal(chartValues.replicaCount, deployment.spec.replicas);
  assert.equal(chartValues.podDisruptionBudget.minAvailable, ofKind("PodDisruptionBudget")[0]?.spec?.minAvailable);
  assert.match(chartDeployment, /maxUnavailable: 0\n\s*maxSurge: 1/);
  for (const line of ["runAsNonRoot: true", `runAsUser: ${pod.securityContext.runAsUser}`, "readOnlyRootFilesystem: true"]) {
    assert.ok(chartDeployment.includes(line), line);
  }
  assert.match(chartDeployment, /automountServiceAccountToken: false/);
  assert.match(chartDeployment, /- name: data\n\s*emptyDir:/);
  assert.match(chartDeployment, /containerPort: 3000/);
  assert.equal(loadConfig({}).port, 3000);
});

test("the chart's values: a policy and hosts berth accepts, both Slack modes, and a gated ServiceMonitor", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-chart-"));
  writeFileSync(join(dir, "policy.yaml"), chartValues.policy);
  loadPolicyFile(join(dir, "policy.yaml"));
  parseYaml(chartValues.hosts, HostsSchema, "hosts (values.yaml)");
  assert.equal(chartValues.slack.mode, "socket");
  assert.match(chartDeployment, /eq \.Values\.slack\.mode "socket"/);
  assert.match(templates["_helpers.tpl"] ?? "", /has \.Values\.slack\.mode \(list "socket" "http"\)/, "other modes fail the render");
  assert.match(
    templates["servicemonitor.yaml"] ?? "",
    /^\{\{- if and \.Values\.serviceMonitor\.enabled \(\.Capabilities\.APIVersions\.Has "monitoring\.coreos\.com\/v1\/ServiceMonitor"\) \}\}/,
  );
  assert.equal(chartValues.serviceMonitor.enabled, false);
  assert.match(templates["pdb.yaml"] ?? "", /^\{\{- if \.Values\.podDisruptionBudget\.enabled \}\}/);
  assert.match(templates["secret.yaml"] ?? "", /^\{\{- \$data := include "berth\.inlineSecrets"/);
});

test("the Dockerfile: multi-stage, production dependencies only, non-root, health check, port", () => {
  assert.ok(stages.length >= 2, "multi-stage");
  const build = stages.find((s) => instructions(s, "RUN").some((r) => r.includes("npm run build")));
  assert.ok(build && instructions(build, "RUN").some((r) => /\bnpm ci\b(?!.*--omit=dev)/.test(r)), "the build stage has dev deps");
  const modules = instructions(runtime, "COPY").find((c) => c.includes("node_modules")) ?? "";
  const from = stages.find((s) => s.name === /--from=(\S+)/.exec(modules)?.[1]);
  assert.ok(from && instructions(from, "RUN").some((r) => r.includes("npm ci --omit=dev")), "node_modules without dev deps");
  assert.ok(!instructions(runtime, "RUN").some((r) => /npm (ci|install)/.test(r)), "nothing installed in the runtime stage");
  assert.match(runtime.from, /^node:24/);

  const user = instructions(runtime, "USER").at(-1) ?? "";
  assert.ok(user && !/^(root|0)(:|$)/.test(user), `USER ${user} is not root`);
  assert.ok(Number(user.split(":")[0]) >= 10000);
  const dataDir =
    instructions(runtime, "ENV")
      .find((e) => e.startsWith("BERTH_DATA_DIR="))
      ?.split("=")[1] ?? "";
  assert.equal(dataDir, "/data");
  assert.ok(instructions(runtime, "VOLUME").some((v) => v.includes(`"${dataDir}"`)));
  assert.ok(
    instructions(runtime, "RUN").some((r) => r.includes(`chown 10001:10001 ${dataDir}`)),
    "the volume belongs to berth",
  );
  assert.deepEqual(instructions(runtime, "EXPOSE"), [String(loadConfig({}).port)]);
  assert.match(instructions(runtime, "HEALTHCHECK")[0] ?? "", /CMD \["node", "-e", ".*127\.0\.0\.1.*\/healthz/);
  assert.equal(entrypoint[0], "node");
  assert.equal(entryFile, `${outDir}/src/main.js`);
});

test("every path the Dockerfile copies exists in the build context or is made by an earlier stage", () => {
  const ignored = readFileSync(".dockerignore", "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const build = stages.find((s) => instructions(s, "RUN").some((r) => r.includes("npm run build"))) as Stage;
  for (const stage of stages) {
    for (const copy of instructions(stage, "COPY")) {
      const words = copy.split(/\s+/);
      const fromStage = /^--from=(\S+)$/.exec(words[0] ?? "")?.[1];
      const sources = words.filter((w) => !w.startsWith("--")).slice(0, -1);
      for (const source of sources) {
        if (!fromStage) {
          assert.ok(existsSync(source), `COPY ${source}: not in the repository`);
          assert.ok(!ignored.includes(source), `COPY ${source}: excluded by .dockerignore`);
          continue;
        }
        const producer = stages.find((s) => s.name === fromStage);
        assert.ok(producer, `COPY --from=${fromStage}: no such stage`);
        const made =
          source === posix.join(producer.workdir, "node_modules")
            ? instructions(producer, "RUN").some((r) => r.includes("npm ci"))
            : producer === build &&
              [outDir, ...packageBuilds.map((p) => p.outDir)].some((out) => source === posix.join(producer.workdir, out));
        assert.ok(made, `COPY --from=${fromStage} ${source}: that stage does not make it (tsconfig.build.json outDir is ${outDir})`);
      }
    }
  }
  // The build stage has everything tsconfig.build.json compiles.
  const buildCopies = instructions(build, "COPY").join(" ");
  for (const path of ["tsconfig.json", "tsconfig.build.json", "src", "commands", "packages", "package-lock.json"]) {
    assert.match(buildCopies, new RegExp(`(^|\\s)${path}(\\s|$)`), `the build stage does not copy ${path}`);
  }
  // The CLI the image ships (bin/berth.js) imports TypeScript from paths the runtime stage copies.
  const runtimeCopies = instructions(runtime, "COPY").map((c) => c.split(/\s+/).at(-2));
  for (const m of readFileSync("bin/berth.js", "utf8").matchAll(/from "(\.[^"]+)"/g)) {
    const top = relative(".", join("bin", m[1] ?? "")).split("/")[0];
    assert.ok(runtimeCopies.includes(top), `bin/berth.js imports ${m[1]}, but the image has no ${top}/`);
  }
});

test("npm run build makes the ENTRYPOINT's file", async () => {
  const out = mkdtempSync(join(tmpdir(), "berth-build-"));
  const tsc = join("node_modules", "typescript", "bin", "tsc");
  // The same compile as the image's `npm run build`, into a scratch directory so dist/ in this checkout is left alone.
  const result = await promisify(execFile)(process.execPath, [tsc, "-p", "tsconfig.build.json", "--outDir", out]).then(
    () => ({ ok: true, output: "" }),
    (e: { stdout: string; stderr: string }) => ({ ok: false, output: `${e.stdout}${e.stderr}` }),
  );
  assert.ok(result.ok, `the build fails, so the image would not build:\n${result.output}`);
  const built = join(out, relative(outDir, entryFile));
  assert.ok(existsSync(built), `the ENTRYPOINT runs ${entryFile}, which the build does not make`);
  assert.ok(existsSync(join(out, "commands", "index.js")));
});

test("npm run build compiles each workspace package to the entry the ENTRYPOINT's condition loads", async () => {
  const pkg = parse(readFileSync("package.json", "utf8")) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.build ?? "", /npm run build --workspaces/);
  const conditions = entrypoint.flatMap((a) => /^--conditions=(.+)$/.exec(a)?.[1] ?? []);
  assert.ok(packageBuilds.length > 0 && conditions.length > 0, "the Slack emulator builds, and the image loads it compiled");
  const tsc = join("node_modules", "typescript", "bin", "tsc");
  for (const { dir, outDir: packageOut } of packageBuilds) {
    const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { exports: Record<string, Record<string, string>> };
    const compiled = conditions.map((c) => manifest.exports["."]?.[c]).find((target) => target !== undefined) ?? "";
    const target = posix.join(dir, compiled);
    assert.ok(compiled && target.startsWith(`${packageOut}/`), `${dir}: no export under ${packageOut} for --conditions=${conditions}`);
    const out = mkdtempSync(join(tmpdir(), "berth-build-"));
    await promisify(execFile)(process.execPath, [tsc, "-p", join(dir, "tsconfig.build.json"), "--outDir", out]);
    assert.ok(existsSync(join(out, relative(packageOut, target))), `${dir}: the build does not make ${compiled}`);
  }
});

test("the package has what the runtime stage needs: ESM and the compiled start script", () => {
  const pkg = parse(readFileSync("package.json", "utf8")) as { type: string; scripts: Record<string, string> };
  assert.equal(pkg.type, "module", "dist/ is ESM; package.json must be in the image");
  assert.match(
    pkg.scripts.start ?? "",
    new RegExp(
      entrypoint
        .slice(1)
        .join(" ")
        .replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
    ),
  );
});
