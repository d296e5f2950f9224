/**
 * checkPlatform against Microsoft's compatibility tables (docs/reference/windows-engine.md §5.1 Windows Server hosts, §5.2
 * client hosts), every cell, plus the Linux/Windows cross cases and the wording of the refusals.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { checkPlatform, type PlatformHost, parseWindowsBuild, processCompatible, releaseName } from "../../src/core/windows.ts";
import type { Isolation } from "../../src/engines/ports.ts";

const server = (name: string, build: number): PlatformHost => ({
  name,
  osType: "windows",
  osBuild: `10.0.${build}`,
  defaultIsolation: "process",
  isolations: ["process", "hyperv"],
});
const hosts = {
  ws2025: server("ws2025", 26100),
  ws2022: server("ws2022", 20348),
  ws2019: server("ws2019", 17763),
  ws2016: server("ws2016", 14393),
};
const images = {
  ws2025: { ref: "mcr.microsoft.com/windows/nanoserver:ltsc2025", osVersion: "10.0.26100.3781" },
  ws2022: { ref: "mcr.microsoft.com/windows/nanoserver:ltsc2022", osVersion: "10.0.20348.3566" },
  ws2019: { ref: "mcr.microsoft.com/windows/nanoserver:1809", osVersion: "10.0.17763.7249" },
  ws2016: { ref: "mcr.microsoft.com/windows/servercore:ltsc2016", osVersion: "10.0.14393.7259" },
} as const;
type Row = keyof typeof hosts;
type Col = keyof typeof images;

// §5.1 verbatim, host row × isolation → image column. The WS2025 image on older hosts is not listed there (the pull is
// blocked, §6 E9): a newer image never runs on an older host.
const table: Record<Row, Record<Isolation, Record<Col, boolean>>> = {
  ws2025: {
    hyperv: { ws2025: true, ws2022: true, ws2019: true, ws2016: true },
    process: { ws2025: true, ws2022: true, ws2019: false, ws2016: false },
  },
  ws2022: {
    hyperv: { ws2025: false, ws2022: true, ws2019: true, ws2016: true },
    process: { ws2025: false, ws2022: true, ws2019: false, ws2016: false },
  },
  ws2019: {
    hyperv: { ws2025: false, ws2022: false, ws2019: true, ws2016: true },
    process: { ws2025: false, ws2022: false, ws2019: true, ws2016: false },
  },
  ws2016: {
    hyperv: { ws2025: false, ws2022: false, ws2019: false, ws2016: true },
    process: { ws2025: false, ws2022: false, ws2019: false, ws2016: true },
  },
};

describe("§5.1 Windows Server hosts, every cell", () => {
  for (const [row, byIsolation] of Object.entries(table) as [Row, Record<Isolation, Record<Col, boolean>>][]) {
    for (const [isolation, byImage] of Object.entries(byIsolation) as [Isolation, Record<Col, boolean>][]) {
      for (const [col, supported] of Object.entries(byImage) as [Col, boolean][]) {
        test(`${row} host, ${isolation}, ${col} image: ${supported ? "runs" : "refused"}`, () => {
          const image = images[col];
          const r = checkPlatform(hosts[row], { os: "windows", osVersion: image.osVersion }, isolation, image.ref);
          if (supported) assert.deepEqual(r, { ok: true, isolation });
          else {
            assert.equal(r.ok, false);
            if (!r.ok) {
              assert.equal(r.code, "CONFLICT");
              assert.match(r.message, /\.$/); // ends with what to do
            }
          }
        });
      }
    }
  }
});

// §5.2: Windows 11 24H2 (26100) runs WS2025 and WS2022 images in both modes, older ones only under Hyper-V; Windows 10
// runs WS2019/WS2016 images under Hyper-V only and no WS2022 image. Client hosts default to Hyper-V.
const win11: PlatformHost = {
  name: "win11",
  osType: "windows",
  osBuild: "10.0.26100",
  defaultIsolation: "hyperv",
  isolations: ["hyperv", "process"],
};
const win11Early: PlatformHost = { ...win11, name: "win11-22h2", osBuild: "10.0.22621" };
const win10: PlatformHost = { name: "win10", osType: "windows", osBuild: "10.0.19045", defaultIsolation: "hyperv", isolations: ["hyperv"] };
const clientTable: [PlatformHost, Col, Isolation, boolean][] = [
  [win11, "ws2025", "hyperv", true],
  [win11, "ws2025", "process", true],
  [win11, "ws2022", "hyperv", true],
  [win11, "ws2022", "process", true],
  [win11, "ws2019", "hyperv", true],
  [win11, "ws2019", "process", false],
  [win11, "ws2016", "hyperv", true],
  [win11, "ws2016", "process", false],
  // ¹ "Supported from Windows 11 24H2 onwards": earlier Windows 11 builds are older than the WS2025 image.
  [win11Early, "ws2025", "hyperv", false],
  [win11Early, "ws2025", "process", false],
  [win11Early, "ws2022", "process", true],
  [win10, "ws2022", "hyperv", false],
  [win10, "ws2022", "process", false],
  [win10, "ws2019", "hyperv", true],
  [win10, "ws2019", "process", false],
  [win10, "ws2016", "hyperv", true],
  [win10, "ws2016", "process", false],
];

describe("§5.2 Windows client hosts, every cell", () => {
  for (const [host, col, isolation, supported] of clientTable) {
    test(`${host.name} host, ${isolation}, ${col} image: ${supported ? "runs" : "refused"}`, () => {
      const image = images[col];
      const r = checkPlatform(host, { os: "windows", osVersion: image.osVersion }, isolation, image.ref);
      if (supported) assert.deepEqual(r, { ok: true, isolation });
      else assert.equal(r.ok, false);
    });
  }
});

describe("effective isolation", () => {
  test("no --isolation means the host's default, checked as such", () => {
    assert.deepEqual(checkPlatform(hosts.ws2022, { os: "windows", osVersion: images.ws2022.osVersion }, undefined, images.ws2022.ref), {
      ok: true,
      isolation: "process",
    });
    assert.deepEqual(checkPlatform(hosts.ws2022, { os: "windows", osVersion: images.ws2022.osVersion }, "default", images.ws2022.ref), {
      ok: true,
      isolation: "process",
    });
    const r = checkPlatform(hosts.ws2022, { os: "windows", osVersion: images.ws2019.osVersion }, undefined, images.ws2019.ref);
    assert.equal(r.ok, false);
    // A client host defaults to Hyper-V, which runs the older image.
    assert.deepEqual(checkPlatform(win11, { os: "windows", osVersion: images.ws2019.osVersion }, undefined, images.ws2019.ref), {
      ok: true,
      isolation: "hyperv",
    });
  });

  test("the revision (UBR) does not matter from 1809 on", () => {
    const host = { ...hosts.ws2019, osBuild: "10.0.17763.107" };
    assert.equal(checkPlatform(host, { os: "windows", osVersion: "10.0.17763.7249" }, "process", "app:1").ok, true);
  });

  test("Windows Server 2016 needs the same revision under process isolation when both are known", () => {
    const host = { ...hosts.ws2016, osBuild: "10.0.14393.447" };
    const r = checkPlatform(host, { os: "windows", osVersion: "10.0.14393.7259" }, "process", "app:1");
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.message, /same update/);
    assert.equal(checkPlatform(host, { os: "windows", osVersion: "10.0.14393.447" }, "process", "app:1").ok, true);
  });

  test("without an image build there is nothing to compare: allowed, the engine decides", () => {
    assert.deepEqual(checkPlatform(hosts.ws2022, { os: "windows" }, undefined, "app:1"), { ok: true, isolation: "process" });
  });

  test("an isolation the host does not offer is refused as INVALID with the alternative", () => {
    const r = checkPlatform(win10, { os: "windows", osVersion: images.ws2019.osVersion }, "process", images.ws2019.ref);
    assert.deepEqual(r, {
      ok: false,
      code: "INVALID",
      message: "Host win10 does not offer process isolation; use --isolation hyperv.",
      fixes: [{ isolation: "hyperv" }],
    });
    const noHyperv = { ...hosts.ws2022, isolations: ["process"] as const };
    const r2 = checkPlatform(noHyperv, { os: "windows", osVersion: images.ws2022.osVersion }, "hyperv", images.ws2022.ref);
    assert.equal(r2.ok, false);
    if (!r2.ok) assert.match(r2.message, /does not offer Hyper-V isolation; use --isolation process\.$/);
  });
});

describe("messages", () => {
  test("process mismatch names both releases and offers Hyper-V and the matching tag", () => {
    const r = checkPlatform(
      hosts.ws2022,
      { os: "windows", osVersion: "10.0.17763.7249" },
      "process",
      "mcr.microsoft.com/windows/nanoserver:1809",
    );
    assert.deepEqual(r, {
      ok: false,
      code: "CONFLICT",
      message:
        '"mcr.microsoft.com/windows/nanoserver:1809" is built for Windows Server 2019 (17763) and host ws2022 runs Windows Server 2022 (20348); process isolation needs a matching Windows build. Run it with --isolation hyperv, or use "mcr.microsoft.com/windows/nanoserver:ltsc2022".',
      // The fixes the message names, as changes a button can make.
      fixes: [{ isolation: "hyperv" }, { image: "mcr.microsoft.com/windows/nanoserver:ltsc2022" }],
    });
  });

  test("without Hyper-V on the host only the tag is offered; a non-release tag gets the generic suggestion", () => {
    const host = { ...hosts.ws2019, isolations: ["process"] as const };
    const r = checkPlatform(host, { os: "windows", osVersion: "10.0.20348.1" }, undefined, "registry.example.com/app:2.1");
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.doesNotMatch(r.message, /hyperv/);
      assert.match(
        r.message,
        /a newer Windows image cannot run on an older host\. Use a :1809 image, or pick a newer Windows host with -H\.$/,
      );
    }
    const r2 = checkPlatform(hosts.ws2025, { os: "windows", osVersion: "10.0.17763.1" }, "process", "registry.example.com/app:2.1");
    assert.equal(r2.ok, false);
    if (!r2.ok) assert.match(r2.message, /Run it with --isolation hyperv, or use a :ltsc2025 or :ltsc2022 image\.$/);
    // A tag berth cannot name for this repository is no button; Hyper-V is.
    if (!r2.ok) assert.deepEqual(r2.fixes, [{ isolation: "hyperv" }]);
  });

  test("Hyper-V with a newer image is refused, with no isolation fix offered", () => {
    const r = checkPlatform(hosts.ws2022, { os: "windows", osVersion: images.ws2025.osVersion }, "hyperv", images.ws2025.ref);
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.code, "CONFLICT");
      assert.doesNotMatch(r.message, /--isolation/);
      assert.match(r.message, /Windows Server 2025 \(26100\).*Windows Server 2022 \(20348\)/);
      assert.match(r.message, /"mcr\.microsoft\.com\/windows\/nanoserver:ltsc2022"/);
    }
  });
});

describe("Linux and Windows cross cases", () => {
  const linux: PlatformHost = { name: "lin1", osType: "linux", osBuild: "6.1.0-18-amd64", isolations: [] };

  test("a Linux image on a Windows host", () => {
    assert.deepEqual(checkPlatform(hosts.ws2022, { os: "linux" }, undefined, "busybox:1"), {
      ok: false,
      code: "CONFLICT",
      message: '"busybox:1" is a Linux image and host ws2022 runs Windows containers; pick a Linux host with -H or a Windows image.',
      fixes: [],
    });
  });

  test("a Windows image on a Linux host", () => {
    assert.deepEqual(checkPlatform(linux, { os: "windows", osVersion: images.ws2022.osVersion }, undefined, images.ws2022.ref), {
      ok: false,
      code: "CONFLICT",
      message: `"${images.ws2022.ref}" is a Windows image and host lin1 runs Linux containers; pick a Windows host with -H or a Linux image.`,
      fixes: [],
    });
  });

  test("--isolation on a Linux host is refused; the default is fine", () => {
    for (const isolation of ["process", "hyperv"] as const) {
      const r = checkPlatform(linux, { os: "linux" }, isolation, "busybox:1");
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.equal(r.code, "INVALID");
        assert.match(
          r.message,
          new RegExp(`only the default isolation; drop --isolation ${isolation}, or pick a Windows host with -H\\.$`),
        );
        assert.deepEqual(r.fixes, [{ isolation: "default" }]);
      }
    }
    assert.deepEqual(checkPlatform(linux, { os: "linux" }, "default", "busybox:1"), { ok: true, isolation: undefined });
    assert.deepEqual(checkPlatform(linux, { os: "linux" }, undefined, "busybox:1"), { ok: true, isolation: undefined });
  });
});

describe("parseWindowsBuild and the hcsshim rule", () => {
  test("parses with and without the revision, rejects anything else", () => {
    assert.deepEqual(parseWindowsBuild("10.0.20348"), { major: 10, minor: 0, build: 20348, revision: undefined });
    assert.deepEqual(parseWindowsBuild("10.0.20348.2655"), { major: 10, minor: 0, build: 20348, revision: 2655 });
    for (const bad of ["", "10.0", "6.1.0-18-amd64", "10.0 20348 (20348.1.amd64fre.fe_release.210507-1500)", "10.0.x"])
      assert.equal(parseWindowsBuild(bad), undefined, bad);
  });

  test("hcsshim: exact below 2022, previous LTSC up to the host from 2022 on", () => {
    const b = (build: number) => ({ major: 10, minor: 0, build, revision: undefined });
    assert.equal(processCompatible(b(22621), b(20348)), true); // Windows 11 22H2
    assert.equal(processCompatible(b(22621), b(17763)), false);
    assert.equal(processCompatible(b(26100), b(25398)), true);
    assert.equal(processCompatible(b(27000), b(20348)), false); // a host after 2025 takes 2025 on
    assert.equal(processCompatible(b(27000), b(26100)), true);
    assert.equal(processCompatible(b(19045), b(19045)), true);
    assert.equal(processCompatible(b(19045), b(17763)), false);
  });

  test("release names", () => {
    assert.equal(releaseName(17763), "Windows Server 2019 (17763)");
    assert.equal(releaseName(19045), "Windows build 19045");
  });
});
