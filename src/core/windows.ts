/**
 * Whether an image can run on a host, decided before berth asks the engine. A Windows engine accepts a container whose
 * build cannot run and only fails at start with a bare "does not match the host operating system" (reference
 * docs/reference/windows-engine.md §6 E1), so berth checks first and says why and what to do instead.
 *
 * The rule is hcsshim's `CheckHostAndContainerCompat` (§5.4), which is Microsoft's compatibility table (§5.1, §5.2):
 * process isolation needs the host's build, except that hosts from Windows Server 2022 on also run images from the
 * latest LTSC release before them; Hyper-V isolation runs the host's build or any older one.
 */
import type { Isolation } from "../engines/ports.ts";

export type WindowsBuild = { major: number; minor: number; build: number; revision: number | undefined };

export type PlatformHost = {
  /** The host's name in berth's manifest, used in messages. */
  name?: string | undefined;
  osType: string;
  /** Windows: "10.0.<build>"; Linux: the kernel version (unused). */
  osBuild: string;
  defaultIsolation?: Isolation | undefined;
  /** The isolation modes berth may request there (engine info, narrowed by the manifest). */
  isolations: readonly Isolation[];
};

export type PlatformImage = { os: string; osVersion?: string | undefined };

/** A change to the request that the refusal names as its fix: another isolation, or another image. */
export type PlatformFix = { isolation: Isolation | "default" } | { image: string };

export type PlatformCheck =
  | { ok: true; isolation: Isolation | undefined }
  | { ok: false; code: "INVALID" | "CONFLICT"; message: string; fixes: readonly PlatformFix[] };

/** hcsshim osversion: the stable-ABI LTSC releases, ascending. */
const ltsc2022 = 20348;
const compatLtscReleases = [ltsc2022, 26100] as const;

/** Release names and image tags per build (§4.4). */
const releases: ReadonlyMap<number, { name: string; tags?: readonly string[] }> = new Map([
  [14393, { name: "Windows Server 2016", tags: ["ltsc2016"] }],
  [16299, { name: "Windows Server 1709", tags: ["1709"] }],
  [17134, { name: "Windows Server 1803", tags: ["1803"] }],
  // nanoserver only has :1809; servercore has both (§4.4).
  [17763, { name: "Windows Server 2019", tags: ["1809", "ltsc2019"] }],
  [18362, { name: "Windows Server 1903", tags: ["1903"] }],
  [18363, { name: "Windows Server 1909", tags: ["1909"] }],
  [19041, { name: "Windows Server 2004", tags: ["2004"] }],
  [19042, { name: "Windows Server 20H2", tags: ["20H2"] }],
  [20348, { name: "Windows Server 2022", tags: ["ltsc2022"] }],
  [22000, { name: "Windows 11 21H2" }],
  [22621, { name: "Windows 11 22H2" }],
  [25398, { name: "Windows Server 23H2" }],
  // Windows 11 24H2 shares this build; an image of this build is a Windows Server 2025 image.
  [26100, { name: "Windows Server 2025", tags: ["ltsc2025"] }],
]);
const releaseTags = new Set([...releases.values()].flatMap((r) => r.tags ?? []));

/** "10.0.20348" or "10.0.20348.2655"; undefined for anything else. */
export function parseWindowsBuild(v: string): WindowsBuild | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)(?:\.(\d+))?$/.exec(v.trim());
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), build: Number(m[3]), revision: m[4] === undefined ? undefined : Number(m[4]) };
}

/** "Windows Server 2019 (17763)", or "Windows build 19045" for builds without a server release. */
export function releaseName(build: number): string {
  const r = releases.get(build);
  return r ? `${r.name} (${build})` : `Windows build ${build}`;
}

/** hcsshim `CheckHostAndContainerCompat` (§5.4): can `image` run on `host` under process isolation? */
export function processCompatible(host: WindowsBuild, image: WindowsBuild): boolean {
  if (host.major !== image.major || host.minor !== image.minor) return false;
  if (host.build < ltsc2022) return host.build === image.build;
  // The latest LTSC strictly older than the host: an LTSC host runs the previous LTSC's images up to its own build.
  const oldest = compatLtscReleases.findLast((r) => host.build > r) ?? ltsc2022;
  return oldest <= image.build && image.build <= host.build;
}

export function checkPlatform(
  host: PlatformHost,
  image: PlatformImage,
  requested: Isolation | "default" | undefined,
  imageRef: string,
): PlatformCheck {
  const hostName = host.name ? `host ${host.name}` : "the host";
  const hostWindows = host.osType.toLowerCase() === "windows";
  const imageOs = image.os.toLowerCase() || "linux"; // images from before OS was recorded are Linux images
  const explicit = requested === "default" ? undefined : requested;
  if (!hostWindows) {
    if (imageOs === "windows")
      return refuse(
        "CONFLICT",
        `"${imageRef}" is a Windows image and ${hostName} runs Linux containers; pick a Windows host with -H or a Linux image.`,
      );
    if (explicit)
      return refuse(
        "INVALID",
        `${cap(hostName)} runs Linux containers, which support only the default isolation; drop --isolation ${explicit}, or pick a Windows host with -H.`,
        [{ isolation: "default" }],
      );
    return { ok: true, isolation: undefined };
  }
  if (imageOs !== "windows")
    return refuse(
      "CONFLICT",
      `"${imageRef}" is a ${osName(imageOs)} image and ${hostName} runs Windows containers; pick a Linux host with -H or a Windows image.`,
    );
  if (explicit && !host.isolations.includes(explicit)) {
    const others = host.isolations.filter((i) => i !== explicit);
    const instead = others.length ? `use --isolation ${others.join(" or ")}` : "pick another Windows host with -H";
    return refuse(
      "INVALID",
      `${cap(hostName)} does not offer ${label(explicit)} isolation; ${instead}.`,
      others.map((i) => ({ isolation: i })),
    );
  }
  const isolation = explicit ?? host.defaultIsolation;
  const hostBuild = parseWindowsBuild(host.osBuild);
  const imageBuild = image.osVersion === undefined ? undefined : parseWindowsBuild(image.osVersion);
  // Without both builds there is nothing to compare: the engine decides, and the adapter explains its answer.
  if (!isolation || !hostBuild || !imageBuild) return { ok: true, isolation };
  const runs = `"${imageRef}" is built for ${releaseName(imageBuild.build)} and ${hostName} runs ${releaseName(hostBuild.build)}`;
  const tags = matchingTags(hostBuild);
  const useTag = tags.length ? `use ${suggestImage(imageRef, tags)}` : `use an image built for ${releaseName(hostBuild.build)}`;
  const tagFixes = sameRepoTags(imageRef, tags).map((image) => ({ image }));
  const hypervFix = host.isolations.includes("hyperv") ? [{ isolation: "hyperv" as const }] : [];

  if (imageBuild.build > hostBuild.build || imageBuild.major !== hostBuild.major || imageBuild.minor !== hostBuild.minor)
    // Hyper-V runs older builds only (§5.3): no isolation mode helps here.
    return refuse(
      "CONFLICT",
      `${runs}; a newer Windows image cannot run on an older host. ${cap(useTag)}, or pick a newer Windows host with -H.`,
      tagFixes,
    );
  if (isolation === "hyperv") return { ok: true, isolation };

  if (!processCompatible(hostBuild, imageBuild)) {
    const fixes = [...(host.isolations.includes("hyperv") ? ["run it with --isolation hyperv"] : []), useTag];
    return refuse("CONFLICT", `${runs}; process isolation needs a matching Windows build. ${cap(fixes.join(", or "))}.`, [
      ...hypervFix,
      ...tagFixes,
    ]);
  }
  // Windows Server 2016 also needs the same revision (§5.3); hosts report theirs only sometimes.
  if (hostBuild.build === 14393 && hostBuild.revision !== undefined && imageBuild.revision !== undefined) {
    if (hostBuild.revision !== imageBuild.revision) {
      const fixes = [
        ...(host.isolations.includes("hyperv") ? ["run it with --isolation hyperv"] : []),
        "use the image update that matches the host's",
      ];
      return refuse(
        "CONFLICT",
        `"${imageRef}" is ${imageBuild.build}.${imageBuild.revision} and ${hostName} runs ${hostBuild.build}.${hostBuild.revision}; Windows Server 2016 needs the same update in image and host under process isolation. ${cap(fixes.join(", or "))}.`,
        hypervFix,
      );
    }
  }
  return { ok: true, isolation };
}

function refuse(code: "INVALID" | "CONFLICT", message: string, fixes: readonly PlatformFix[] = []): PlatformCheck {
  return { ok: false, code, message, fixes };
}

/** Release tags whose images run on this host under process isolation, newest first. */
function matchingTags(host: WindowsBuild): string[] {
  return [...releases.entries()]
    .filter(([build, r]) => r.tags && processCompatible(host, { ...host, build, revision: undefined }))
    .sort(([a], [b]) => b - a)
    .flatMap(([, r]) => (r.tags ? [r.tags[0] ?? ""] : []));
}

/** The same repository at each release tag, when the ref's own tag is a release tag (else berth cannot name one). */
function sameRepoTags(imageRef: string, tags: readonly string[]): string[] {
  const at = imageRef.lastIndexOf(":");
  const repo = at > imageRef.lastIndexOf("/") ? imageRef.slice(0, at) : undefined;
  return repo && releaseTags.has(imageRef.slice(at + 1)) ? tags.map((t) => `${repo}:${t}`) : [];
}

/** `repo:ltsc2022` when the ref's own tag is a release tag (same image family), else "a :ltsc2022 image". */
function suggestImage(imageRef: string, tags: readonly string[]): string {
  const at = imageRef.lastIndexOf(":");
  const repo = at > imageRef.lastIndexOf("/") ? imageRef.slice(0, at) : undefined;
  const tag = repo === undefined ? undefined : imageRef.slice(at + 1);
  if (repo && tag && releaseTags.has(tag)) return tags.map((t) => `"${repo}:${t}"`).join(" or ");
  return `a ${tags.map((t) => `:${t}`).join(" or ")} image`;
}

const osName = (os: string) => (os === "linux" ? "Linux" : os);
const label = (i: Isolation) => (i === "hyperv" ? "Hyper-V" : "process");
const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
