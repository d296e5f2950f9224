import type { RunSpec } from "../../src/engines/ports.ts";

/** A RunSpec for the test image running `sh -c cmd`, with no limits and no network; `over` replaces any field. */
export function shellSpec(cmd: string, over: Partial<RunSpec> = {}): RunSpec {
  return {
    image: "berth-test/busybox:1",
    cmd: ["sh", "-c", cmd],
    env: [],
    labels: {},
    memoryBytes: 0,
    nanoCpus: 0,
    pidsLimit: 0,
    networkMode: "none",
    privileged: false,
    mounts: [],
    autoRemove: false,
    tty: false,
    ...over,
  };
}
