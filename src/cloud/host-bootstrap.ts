/**
 * What a new Azure VM runs at first boot to become a Docker host berth can reach: Docker from the platform's own
 * source, the TLS material berth issued, and dockerd listening on the Docker TLS port with client certificates
 * required (docker-machine's setup, docs/reference/azure.md §1.3, without the SSH round trips). Pure: builds documents, no I/O.
 *
 * The documents carry the server's private key: never log them.
 */
import { stringify } from "yaml";
import { BerthError } from "../core/errors.ts";
import type { Pem } from "./certificates.ts";

/** Azure decodes customData to at most this many bytes (osProfile.customData). */
export const customDataLimit = 65_535;

/** Docker CE for Windows, from Docker's static builds; pinned so that every host gets the same engine. */
export const windowsDockerVersion = "28.5.1";

const linuxTlsDir = "/etc/docker";
const windowsCertDir = "C:\\ProgramData\\docker\\certs.d";
const windowsConfigDir = "C:\\ProgramData\\docker\\config";
const windowsScript = "C:\\AzureData\\berth-setup.ps1";

/** Azure's Instance Metadata Service: instance facts and, on a VM with a managed identity, that identity's tokens. */
export const metadataAddress = "169.254.169.254";
/**
 * Azure's WireServer: the VM agent's channel (extension settings, health) and the VM's DNS resolver. Containers keep
 * DNS (port 53, which Docker hands them from the host's resolv.conf); everything else there is the host's business.
 */
export const wireServerAddress = "168.63.129.16";
export const metadataBlockScript = "/usr/local/sbin/berth-block-metadata";

/** The chain berth fills; DOCKER-USER jumps to it first, and any rules the administrator keeps there stay. */
export const metadataChain = "BERTH-METADATA";

/**
 * iptables rules (iptables-save form) for DOCKER-USER, the chain Docker leaves to the administrator in front of its
 * own FORWARD rules: it sees what containers on bridge networks send out and not the host's own traffic (OUTPUT), so
 * the VM agent and berth's own tools keep working. `--network host` containers are the host's own traffic: see
 * docs/security.md.
 */
export function metadataBlockRules(): string[] {
  return [
    `-A ${metadataChain} -d ${metadataAddress}/32 -j DROP`,
    `-A ${metadataChain} -d ${wireServerAddress}/32 -p udp -m udp --dport 53 -j RETURN`,
    `-A ${metadataChain} -d ${wireServerAddress}/32 -p tcp -m tcp --dport 53 -j RETURN`,
    `-A ${metadataChain} -d ${wireServerAddress}/32 -j DROP`,
  ];
}

/**
 * The script that installs metadataBlockRules; also what docs/security.md gives other hosts. iptables-restore swaps
 * the whole chain in one commit (no moment without the rules when it runs again), and --noflush leaves every other
 * chain, DOCKER-USER included, as it is. Safe to run any number of times.
 */
export function linuxMetadataBlock(): string {
  return [
    "#!/bin/sh",
    "# berth: containers must not reach the cloud metadata endpoints (managed-identity tokens, agent settings).",
    "set -e",
    "iptables-restore -w --noflush <<'RULES'",
    "*filter",
    `:${metadataChain} - [0:0]`,
    ...metadataBlockRules(),
    "COMMIT",
    "RULES",
    // Before dockerd's first start DOCKER-USER does not exist yet; Docker keeps an existing one and its rules.
    "iptables -w -N DOCKER-USER 2>/dev/null || true",
    `iptables -w -C DOCKER-USER -j ${metadataChain} 2>/dev/null || iptables -w -I DOCKER-USER 1 -j ${metadataChain}`,
    "",
  ].join("\n");
}

/**
 * A #cloud-config for Ubuntu: the distribution's docker.io with a systemd drop-in that makes dockerd listen with TLS.
 * cloud-init's write_files runs before its package module, so dockerd's very first start already has TLS.
 */
export function linuxCloudInit(o: { ca: string; server: Pem; dockerPort: number }): string {
  checkPort(o.dockerPort);
  const dropIn = [
    "[Service]",
    // An empty ExecStart= clears the package's own command line; a second one is an error for a simple service.
    "ExecStart=",
    `ExecStart=/usr/bin/dockerd -H fd:// -H tcp://0.0.0.0:${o.dockerPort} --containerd=/run/containerd/containerd.sock` +
      ` --tlsverify --tlscacert=${linuxTlsDir}/ca.pem --tlscert=${linuxTlsDir}/server.pem --tlskey=${linuxTlsDir}/server-key.pem`,
    // Before dockerd starts (so no restarted container gets a moment without the rules; dockerd does not start if they
    // cannot be set), and again once it runs (in case a firewall reload dropped them in between).
    `ExecStartPre=${metadataBlockScript}`,
    `ExecStartPost=${metadataBlockScript}`,
    "",
  ].join("\n");
  const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");
  const document = {
    package_update: true,
    packages: ["docker.io"],
    write_files: [
      { path: `${linuxTlsDir}/ca.pem`, encoding: "b64", content: b64(o.ca), owner: "root:root", permissions: "0644" },
      { path: `${linuxTlsDir}/server.pem`, encoding: "b64", content: b64(o.server.cert), owner: "root:root", permissions: "0644" },
      { path: `${linuxTlsDir}/server-key.pem`, encoding: "b64", content: b64(o.server.key), owner: "root:root", permissions: "0600" },
      { path: "/etc/systemd/system/docker.service.d/10-berth.conf", content: dropIn, owner: "root:root", permissions: "0644" },
      { path: metadataBlockScript, content: linuxMetadataBlock(), owner: "root:root", permissions: "0755" },
    ],
    runcmd: [
      ["systemctl", "daemon-reload"],
      ["systemctl", "enable", "--now", "docker"],
      ["systemctl", "restart", "docker"],
    ],
  };
  // lineWidth 0: base64 stays on one line, which keeps the document easy to read back and diff.
  return checkSize(`#cloud-config\n${stringify(document, { lineWidth: 0 })}`);
}

/**
 * Windows Server: customData is a PowerShell script (Azure stores it as C:\AzureData\CustomData.bin, which Windows
 * never runs by itself) and `command` is what the Custom Script Extension runs to execute it. The script is
 * idempotent: it runs again at start-up after the reboot that the Containers (and Hyper-V) features need.
 */
export function windowsSetup(o: { ca: string; server: Pem; dockerPort: number; hyperv: boolean }): {
  customData: string;
  command: string;
} {
  checkPort(o.dockerPort);
  const daemonJson = JSON.stringify(
    {
      hosts: [`tcp://0.0.0.0:${o.dockerPort}`, "npipe://"],
      tlsverify: true,
      tlscacert: `${windowsCertDir}\\ca.pem`,
      tlscert: `${windowsCertDir}\\server-cert.pem`,
      tlskey: `${windowsCertDir}\\server-key.pem`,
    },
    null,
    2,
  );
  const features = o.hyperv ? "@('Containers', 'Hyper-V')" : "@('Containers')";
  const script = `# berth: makes this VM a Docker host with TLS on port ${o.dockerPort}. Safe to run again.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$DockerVersion = '${windowsDockerVersion}'
$DockerPort = ${o.dockerPort}
$Script = '${windowsScript}'
$TaskName = 'berth-docker-setup'
$Certs = '${windowsCertDir}'
$Config = '${windowsConfigDir}'
$DockerDir = Join-Path $env:ProgramFiles 'docker'
Start-Transcript -Path 'C:\\AzureData\\berth-setup.log' -Append | Out-Null

# The extension and the start-up task can both run this after a reboot: one at a time.
$Mutex = New-Object System.Threading.Mutex($false, 'Global\\berth-docker-setup')
try { [void]$Mutex.WaitOne() } catch [System.Threading.AbandonedMutexException] { <# ours now: its last holder died #> }
try {
  New-Item -ItemType Directory -Force -Path $Certs, $Config | Out-Null
  [IO.File]::WriteAllText("$Certs\\ca.pem", @'
${hereString("CA certificate", o.ca)}
'@)
  [IO.File]::WriteAllText("$Certs\\server-cert.pem", @'
${hereString("server certificate", o.server.cert)}
'@)
  [IO.File]::WriteAllText("$Certs\\server-key.pem", @'
${hereString("server key", o.server.key)}
'@)
  # Only SYSTEM (dockerd) and Administrators may read the key.
  & icacls.exe "$Certs\\server-key.pem" /inheritance:r /grant:r '*S-1-5-18:F' '*S-1-5-32-544:F' | Out-Null
  # WriteAllText writes UTF-8 without a BOM, which dockerd needs to parse daemon.json.
  [IO.File]::WriteAllText("$Config\\daemon.json", @'
${daemonJson}
'@)

  if (-not (Get-NetFirewallRule -Name 'berth-docker-tls' -ErrorAction SilentlyContinue)) {
    New-NetFirewallRule -Name 'berth-docker-tls' -DisplayName 'Docker TLS (berth)' -Direction Inbound -Protocol TCP -LocalPort $DockerPort -Action Allow | Out-Null
  }

  $RestartNeeded = $false
  foreach ($Name in ${features}) {
    $Feature = Get-WindowsFeature -Name $Name
    if ($Feature.InstallState -eq 'InstallPending') {
      $RestartNeeded = $true
    } elseif (-not $Feature.Installed) {
      $Options = @{ Name = $Name }
      if ($Name -eq 'Hyper-V') { $Options.IncludeManagementTools = $true }
      $Result = Install-WindowsFeature @Options
      if ([string]$Result.RestartNeeded -ne 'No') { $RestartNeeded = $true }
    }
  }
  if ($RestartNeeded) {
    # Continue at the next start-up, as SYSTEM; the task removes itself once Docker runs.
    $Action = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument "-NoProfile -ExecutionPolicy Bypass -File \`"$Script\`""
    $Trigger = New-ScheduledTaskTrigger -AtStartup
    Register-ScheduledTask -TaskName $TaskName -Action $Action -Trigger $Trigger -User 'SYSTEM' -RunLevel Highest -Force | Out-Null
    Restart-Computer -Force
    exit 0
  }

  if (-not (Test-Path (Join-Path $DockerDir 'dockerd.exe'))) {
    [Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12
    $Zip = Join-Path $env:TEMP "docker-$DockerVersion.zip"
    Invoke-WebRequest -UseBasicParsing -Uri "https://download.docker.com/win/static/stable/x86_64/docker-$DockerVersion.zip" -OutFile $Zip
    Expand-Archive -Path $Zip -DestinationPath $env:ProgramFiles -Force
    Remove-Item -Force $Zip
  }
  $MachinePath = [Environment]::GetEnvironmentVariable('Path', 'Machine')
  if (($MachinePath -split ';') -notcontains $DockerDir) {
    [Environment]::SetEnvironmentVariable('Path', "$MachinePath;$DockerDir", 'Machine')
  }
  if (-not (Get-Service -Name docker -ErrorAction SilentlyContinue)) {
    & (Join-Path $DockerDir 'dockerd.exe') --register-service
    if ($LASTEXITCODE -ne 0) { throw "dockerd --register-service failed with exit code $LASTEXITCODE" }
  }
  Set-Service -Name docker -StartupType Automatic
  # A restart, not a start: a second run may have brought new certificates.
  Restart-Service -Name docker -Force

  # Containers must not reach the cloud metadata endpoints. The host's firewall applies to process-isolated containers
  # (it is namespace-aware); rules scoped to the containers' NAT prefix leave the host's own traffic (the VM agent)
  # alone. Hyper-V isolated containers run their own firewall in the utility VM: these rules do not reach them.
  $Nat = $null
  foreach ($Try in 1..30) {
    $Nat = Get-NetNat -ErrorAction SilentlyContinue | Select-Object -First 1
    if ($Nat) { break }
    Start-Sleep -Seconds 2
  }
  if ($Nat) {
    $Prefix = $Nat.InternalIPInterfaceAddressPrefix
    Get-NetFirewallRule -Name 'berth-block-metadata*' -ErrorAction SilentlyContinue | Remove-NetFirewallRule
    New-NetFirewallRule -Name 'berth-block-metadata' -DisplayName 'Containers: no cloud metadata (berth)' -Direction Outbound -LocalAddress $Prefix -RemoteAddress '${metadataAddress}' -Action Block | Out-Null
    New-NetFirewallRule -Name 'berth-block-metadata-wireserver' -DisplayName 'Containers: no Azure WireServer but DNS (berth)' -Direction Outbound -LocalAddress $Prefix -RemoteAddress '${wireServerAddress}' -Protocol TCP -RemotePort @('80', '32526') -Action Block | Out-Null
  } else {
    Write-Warning 'berth: no container NAT network found; the cloud metadata endpoints are not blocked for containers'
  }
  if (Get-ScheduledTask -TaskName $TaskName -ErrorAction SilentlyContinue) {
    Unregister-ScheduledTask -TaskName $TaskName -Confirm:$false
  }
} finally {
  $Mutex.ReleaseMutex()
  Stop-Transcript | Out-Null
}
`;
  return {
    customData: checkSize(script),
    command: `powershell.exe -NoProfile -ExecutionPolicy Bypass -Command "Copy-Item C:\\AzureData\\CustomData.bin ${windowsScript} -Force; & ${windowsScript}"`,
  };
}

/** The body of a single-quoted here-string: taken verbatim, so only a line starting with '@ could end it early. */
function hereString(what: string, pem: string): string {
  const text = pem.replace(/\r\n/g, "\n").replace(/\n+$/, "");
  if (/^'@/m.test(text)) {
    throw new BerthError(
      "INTERNAL",
      `The ${what} for the Windows setup script contains a line starting with '@, which would end the PowerShell here-string it is embedded in. It is not a PEM berth issued; re-issue it with berth's CA.`,
    );
  }
  return text;
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new BerthError("CONFIG", `The Docker TLS port ${port} is not a TCP port (1-65535); fix the dockerPort setting.`);
  }
}

function checkSize(customData: string): string {
  const bytes = Buffer.byteLength(customData, "utf8");
  if (bytes > customDataLimit) {
    throw new BerthError(
      "INTERNAL",
      `The host's start-up document is ${bytes} bytes, more than the ${customDataLimit} Azure accepts as customData; the certificates embedded in it are unexpectedly large.`,
    );
  }
  return customData;
}
