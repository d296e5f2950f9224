import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, test } from "node:test";
import { parse } from "yaml";
import { createCa, issueServerCert, type Pem } from "../../src/cloud/certificates.ts";
import {
  customDataLimit,
  linuxCloudInit,
  linuxMetadataBlock,
  metadataBlockScript,
  windowsDockerVersion,
  windowsSetup,
} from "../../src/cloud/host-bootstrap.ts";
import { BerthError } from "../../src/core/errors.ts";

let ca: Pem;
let server: Pem;

before(async () => {
  ca = await createCa("berth test CA");
  server = await issueServerCert(ca, {
    commonName: "dh1",
    ips: ["20.1.2.3", "10.0.0.4"],
    dnsNames: ["berth-dh1.westeurope.cloudapp.azure.com"],
  });
});

type WriteFile = { path: string; content: string; encoding?: string; permissions?: string; owner?: string };

function cloudConfig(text: string): { package_update: boolean; packages: string[]; write_files: WriteFile[]; runcmd: string[][] } {
  assert.ok(text.startsWith("#cloud-config\n"), "cloud-init only takes the document with its #cloud-config line");
  return parse(text);
}

test("Linux: cloud-init installs the distribution's Docker and writes the CA, server certificate and key", () => {
  const doc = cloudConfig(linuxCloudInit({ ca: ca.cert, server, dockerPort: 2376 }));
  assert.equal(doc.package_update, true);
  assert.deepEqual(doc.packages, ["docker.io"]);
  const files = new Map(doc.write_files.map((f) => [f.path, f]));
  const expected = { "/etc/docker/ca.pem": ca.cert, "/etc/docker/server.pem": server.cert, "/etc/docker/server-key.pem": server.key };
  for (const [path, pem] of Object.entries(expected)) {
    const file = files.get(path);
    assert.ok(file, `writes ${path}`);
    assert.equal(file.encoding, "b64");
    assert.equal(Buffer.from(file.content, "base64").toString("utf8"), pem);
  }
  assert.equal(files.get("/etc/docker/server-key.pem")?.permissions, "0600");
  assert.deepEqual(doc.runcmd, [
    ["systemctl", "daemon-reload"],
    ["systemctl", "enable", "--now", "docker"],
    ["systemctl", "restart", "docker"],
  ]);
});

test("Linux: the systemd drop-in makes dockerd listen on the Docker port with TLS and client verification", () => {
  for (const port of [2376, 12345]) {
    const doc = cloudConfig(linuxCloudInit({ ca: ca.cert, server, dockerPort: port }));
    const dropIn = doc.write_files.find((f) => f.path === "/etc/systemd/system/docker.service.d/10-berth.conf");
    assert.ok(dropIn);
    assert.equal(dropIn.encoding, undefined);
    assert.equal(
      dropIn.content,
      "[Service]\nExecStart=\n" +
        `ExecStart=/usr/bin/dockerd -H fd:// -H tcp://0.0.0.0:${port} --containerd=/run/containerd/containerd.sock` +
        " --tlsverify --tlscacert=/etc/docker/ca.pem --tlscert=/etc/docker/server.pem --tlskey=/etc/docker/server-key.pem\n" +
        "ExecStartPre=/usr/local/sbin/berth-block-metadata\nExecStartPost=/usr/local/sbin/berth-block-metadata\n",
    );
  }
});

test("both documents stay well under Azure's 64 KB customData limit", () => {
  assert.equal(customDataLimit, 65_535);
  const linux = linuxCloudInit({ ca: ca.cert, server, dockerPort: 2376 });
  const windows = windowsSetup({ ca: ca.cert, server, dockerPort: 2376, hyperv: true }).customData;
  for (const doc of [linux, windows]) assert.ok(Buffer.byteLength(doc) < 16_384, `${Buffer.byteLength(doc)} bytes`);
});

test("a document over the limit is refused before Azure would refuse it", () => {
  const huge = `${ca.cert}${"#".repeat(70_000)}\n`;
  assert.throws(
    () => linuxCloudInit({ ca: huge, server, dockerPort: 2376 }),
    (e: unknown) => {
      assert.ok(e instanceof BerthError);
      assert.equal(e.code, "INTERNAL");
      assert.match(e.message, /more than the 65535 Azure accepts as customData/);
      return true;
    },
  );
  assert.throws(() => windowsSetup({ ca: huge, server, dockerPort: 2376, hyperv: false }), BerthError);
});

test("a port that is not a TCP port is refused", () => {
  for (const dockerPort of [0, 70_000, 2376.5]) {
    assert.throws(() => linuxCloudInit({ ca: ca.cert, server, dockerPort }), { name: "BerthError", code: "CONFIG" });
    assert.throws(() => windowsSetup({ ca: ca.cert, server, dockerPort, hyperv: false }), { name: "BerthError", code: "CONFIG" });
  }
});

/** The bodies of the script's single-quoted here-strings, in order. */
function hereStrings(script: string): string[] {
  return [...script.matchAll(/@'\n([\s\S]*?)\n'@/g)].map((m) => m[1] ?? "");
}

test("Windows: the script writes the certificates and a daemon.json with TLS on the port", () => {
  const { customData } = windowsSetup({ ca: ca.cert, server, dockerPort: 2376, hyperv: false });
  const [caPem, certPem, keyPem, daemonJson, ...rest] = hereStrings(customData);
  assert.equal(rest.length, 0);
  assert.equal(caPem, ca.cert.trimEnd());
  assert.equal(certPem, server.cert.trimEnd());
  assert.equal(keyPem, server.key.trimEnd());
  assert.deepEqual(JSON.parse(daemonJson ?? ""), {
    hosts: ["tcp://0.0.0.0:2376", "npipe://"],
    tlsverify: true,
    tlscacert: "C:\\ProgramData\\docker\\certs.d\\ca.pem",
    tlscert: "C:\\ProgramData\\docker\\certs.d\\server-cert.pem",
    tlskey: "C:\\ProgramData\\docker\\certs.d\\server-key.pem",
  });
  for (const file of ["ca.pem", "server-cert.pem", "server-key.pem"]) {
    assert.ok(customData.includes(`[IO.File]::WriteAllText("$Certs\\${file}", @'\n`), file);
  }
  assert.ok(customData.includes(`[IO.File]::WriteAllText("$Config\\daemon.json", @'\n`));
  assert.ok(customData.includes("$Certs = 'C:\\ProgramData\\docker\\certs.d'"));
  assert.ok(customData.includes("$Config = 'C:\\ProgramData\\docker\\config'"));
});

test("Windows: the script opens the firewall, installs the features and Docker, and survives the reboot", () => {
  const { customData } = windowsSetup({ ca: ca.cert, server, dockerPort: 12345, hyperv: false });
  assert.match(customData, /^\$DockerPort = 12345$/m);
  assert.match(
    customData,
    /New-NetFirewallRule -Name 'berth-docker-tls' .*-Direction Inbound -Protocol TCP -LocalPort \$DockerPort -Action Allow/,
  );
  assert.match(customData, /^\s*if \(-not \(Get-NetFirewallRule -Name 'berth-docker-tls'/m);
  assert.match(customData, /foreach \(\$Name in @\('Containers'\)\)/);
  assert.match(customData, new RegExp(`^\\$DockerVersion = '${windowsDockerVersion.replaceAll(".", "\\.")}'$`, "m"));
  assert.ok(customData.includes('"https://download.docker.com/win/static/stable/x86_64/docker-$DockerVersion.zip"'));
  assert.ok(customData.includes("dockerd.exe') --register-service"));
  assert.ok(customData.includes("Restart-Service -Name docker"));
  // The reboot: the same script again at start-up, then the task goes away.
  assert.ok(customData.includes("New-ScheduledTaskTrigger -AtStartup"));
  assert.ok(customData.includes('-File `"$Script`"'));
  assert.ok(customData.includes("$Script = 'C:\\AzureData\\berth-setup.ps1'"));
  assert.ok(customData.includes("Restart-Computer -Force"));
  assert.ok(customData.includes("Unregister-ScheduledTask -TaskName $TaskName"));
  assert.doesNotMatch(customData, /'Containers', 'Hyper-V'/);
});

test("Windows: Hyper-V with its management tools only when asked", () => {
  const without = windowsSetup({ ca: ca.cert, server, dockerPort: 2376, hyperv: false }).customData;
  const withHyperV = windowsSetup({ ca: ca.cert, server, dockerPort: 2376, hyperv: true }).customData;
  assert.doesNotMatch(without, /'Hyper-V'\)\)/);
  assert.match(withHyperV, /foreach \(\$Name in @\('Containers', 'Hyper-V'\)\)/);
  assert.ok(withHyperV.includes("if ($Name -eq 'Hyper-V') { $Options.IncludeManagementTools = $true }"));
});

test("Windows: the extension's command copies customData to a script and runs it, and carries no secret", () => {
  const { command } = windowsSetup({ ca: ca.cert, server, dockerPort: 2376, hyperv: false });
  assert.equal(
    command,
    'powershell.exe -NoProfile -ExecutionPolicy Bypass -Command "Copy-Item C:\\AzureData\\CustomData.bin C:\\AzureData\\berth-setup.ps1 -Force; & C:\\AzureData\\berth-setup.ps1"',
  );
  assert.doesNotMatch(command, /BEGIN|PRIVATE/);
});

test("Windows: a PEM with a line starting with '@ is refused (it would end the here-string)", () => {
  const evil = server.cert.replace("\n", "\n'@\nRemove-Item C:\\ -Recurse\n@'\n");
  assert.throws(() => windowsSetup({ ca: ca.cert, server: { ...server, cert: evil }, dockerPort: 2376, hyperv: false }), {
    name: "BerthError",
    message: /server certificate .* line starting with '@/,
  });
  assert.throws(() => windowsSetup({ ca: `'@${ca.cert}`, server, dockerPort: 2376, hyperv: false }), /CA certificate/);
  assert.throws(() => windowsSetup({ ca: ca.cert, server: { ...server, key: `x\r\n'@ ` }, dockerPort: 2376, hyperv: false }), /server key/);
  // Elsewhere on a line it is harmless.
  assert.doesNotThrow(() => windowsSetup({ ca: `${ca.cert}x'@\n`, server, dockerPort: 2376, hyperv: false }));
});

test("Linux: containers are kept from the metadata endpoints, before dockerd starts and after every restart", () => {
  const doc = cloudConfig(linuxCloudInit({ ca: ca.cert, server, dockerPort: 2376 }));
  const script = doc.write_files.find((f) => f.path === metadataBlockScript);
  assert.ok(script, "writes the script");
  assert.equal(script.permissions, "0755");
  assert.equal(script.content, linuxMetadataBlock());
  const dropIn = doc.write_files.find((f) => f.path === "/etc/systemd/system/docker.service.d/10-berth.conf");
  // Part of docker.service itself: applied at boot, at every docker restart, and dockerd does not start without them.
  assert.match(dropIn?.content ?? "", /^ExecStartPre=\/usr\/local\/sbin\/berth-block-metadata$/m);
  assert.match(dropIn?.content ?? "", /^ExecStartPost=\/usr\/local\/sbin\/berth-block-metadata$/m);
  assert.match(script.content, /-A BERTH-METADATA -d 169\.254\.169\.254\/32 -j DROP/);
  assert.match(script.content, /-A BERTH-METADATA -d 168\.63\.129\.16\/32 -j DROP/);
  assert.match(script.content, /iptables -w -I DOCKER-USER 1 -j BERTH-METADATA/);
});

test("Windows: process-isolated containers are kept from the metadata endpoints, the host is not", () => {
  const { customData } = windowsSetup({ ca: ca.cert, server, dockerPort: 2376, hyperv: false });
  assert.match(
    customData,
    /New-NetFirewallRule -Name 'berth-block-metadata' .*-Direction Outbound -LocalAddress \$Prefix -RemoteAddress '169\.254\.169\.254' -Action Block/,
  );
  assert.match(
    customData,
    /New-NetFirewallRule -Name 'berth-block-metadata-wireserver' .*-LocalAddress \$Prefix -RemoteAddress '168\.63\.129\.16' -Protocol TCP -RemotePort @\('80', '32526'\) -Action Block/,
  );
  assert.match(customData, /\$Prefix = \$Nat\.InternalIPInterfaceAddressPrefix/);
});

// A real check of the Linux rules: this process's network namespace is the host; two more play a container on a
// bridge and the metadata service. Needs root and iptables (as on the Docker hosts berth makes); skipped otherwise.
const canNetns =
  process.getuid?.() === 0 &&
  ["unshare", "ip", "iptables-restore", "curl"].every((c) => spawnSync("sh", ["-c", `command -v ${c}`]).status === 0);
test("Linux: the rules drop a container's packets to IMDS and the WireServer, keep its DNS and the host's own access", {
  skip: !canNetns && "needs root, unshare, ip, iptables and curl",
}, () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-netns-"));
  try {
    writeFileSync(join(dir, "block.sh"), linuxMetadataBlock(), { mode: 0o755 });
    const server = `require("node:http").createServer((q, s) => s.end("reached")).listen(Number(process.argv[1]), process.argv[2])`;
    const node = process.execPath;
    const serve = (ip: string, port: number) => `ip netns exec meta ${node} -e '${server}' ${port} ${ip} >/dev/null 2>&1 & pids="$pids $!"`;
    const probe = (who: string, ip: string, port: number) =>
      `${who === "ctr" ? "ip netns exec ctr " : ""}curl -s --max-time 3 http://${ip}:${port}/ >/dev/null && echo "${who} ${ip}:${port} reached" || echo "${who} ${ip}:${port} no answer"`;
    const probes = (label: string) =>
      [
        `echo "-- ${label}"`,
        probe("ctr", "169.254.169.254", 80),
        probe("ctr", "168.63.129.16", 80),
        probe("ctr", "168.63.129.16", 53),
        probe("host", "169.254.169.254", 80),
      ].join("\n");
    const script = `set -e
pids=""
trap 'kill $pids' EXIT
mount -t tmpfs none /run && mkdir -p /run/netns
ip netns add ctr && ip netns add meta
ip link add h-c type veth peer name c0 netns ctr && ip link add h-m type veth peer name m0 netns meta
ip addr add 172.17.0.1/16 dev h-c && ip link set h-c up && ip addr add 10.99.0.1/24 dev h-m && ip link set h-m up
ip -n ctr addr add 172.17.0.2/16 dev c0 && ip -n ctr link set c0 up && ip -n ctr route add default via 172.17.0.1
ip -n meta link set lo up && ip -n meta addr add 10.99.0.2/24 dev m0 && ip -n meta link set m0 up
ip -n meta addr add 169.254.169.254/32 dev lo && ip -n meta addr add 168.63.129.16/32 dev lo
ip -n meta route add default via 10.99.0.1
ip route add 169.254.169.254/32 via 10.99.0.2 && ip route add 168.63.129.16/32 via 10.99.0.2
sysctl -qw net.ipv4.ip_forward=1
iptables -w -N DOCKER-USER && iptables -w -A FORWARD -j DOCKER-USER
${serve("169.254.169.254", 80)}
${serve("168.63.129.16", 80)}
${serve("168.63.129.16", 53)}
until ip netns exec meta sh -c 'curl -s http://169.254.169.254/ && curl -s http://168.63.129.16/ && curl -s http://168.63.129.16:53/' >/dev/null; do :; done
${probes("without the rules")}
sh ${dir}/block.sh
sh ${dir}/block.sh
${probes("with the rules")}
iptables -w -S DOCKER-USER | grep -c BERTH-METADATA | sed 's/^/jumps /'
`;
    const run = spawnSync("unshare", ["-nm", "sh", "-c", script], { encoding: "utf8", timeout: 120_000 });
    assert.equal(run.status, 0, run.stderr);
    const [before, after] = run.stdout.split("-- with the rules");
    for (const line of ["ctr 169.254.169.254:80 reached", "ctr 168.63.129.16:80 reached", "ctr 168.63.129.16:53 reached"]) {
      assert.ok(before?.includes(line), `the setup routes: ${line}\n${run.stdout}`);
    }
    assert.match(after ?? "", /ctr 169\.254\.169\.254:80 no answer/);
    assert.match(after ?? "", /ctr 168\.63\.129\.16:80 no answer/);
    assert.match(after ?? "", /ctr 168\.63\.129\.16:53 reached/, "DNS on the WireServer still works");
    assert.match(after ?? "", /host 169\.254\.169\.254:80 reached/, "the host's own traffic is not filtered");
    assert.match(after ?? "", /jumps 1/, "running the script again adds nothing");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
