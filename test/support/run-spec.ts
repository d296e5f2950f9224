import { labels, type RunSpec } from "../../src/engines/ports.ts";

/** The installation id test engines are opened with: containers carrying it (and a job) are berth's to them. */
export const testInstallation = "berth-test-installation";

/** The labels that make a container berth's (see `isOwned`), for containers a test makes without berth. */
export function ownedLabels(job = "j-test"): Record<string, string> {
  return { [labels.managed]: "true", [labels.installation]: testInstallation, [labels.job]: job };
}

/**
 * A RunSpec for the test image running `sh -c cmd`, with modest limits (the engine refuses "none") and no network;
 * `over` replaces any field, except that its labels are added to the job label every berth container has.
 */
export function shellSpec(cmd: string, over: Partial<RunSpec> = {}): RunSpec {
  const { labels: extra, ...rest } = over;
  return {
    image: "berth-test/busybox:1",
    cmd: ["sh", "-c", cmd],
    env: [],
    labels: { [labels.job]: "j-test", ...extra },
    memoryBytes: 256 * 1024 ** 2,
    nanoCpus: 1e9,
    pidsLimit: 256,
    networkMode: "none",
    privileged: false,
    mounts: [],
    autoRemove: false,
    tty: false,
    ...rest,
  };
}
