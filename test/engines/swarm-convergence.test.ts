/** The pure Swarm rules, with engine JSON written out by hand (shapes as Docker 20.10 sends them). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BerthError } from "../../src/core/errors.ts";
import {
  changedSpec,
  convergence,
  maxFailuresInARow,
  parseNodes,
  parseService,
  parseTasks,
  type RawNode,
  type RawService,
  type RawTask,
  summarizeService,
  toServiceTask,
} from "../../src/engines/swarm-convergence.ts";

const serviceId = "wl1x6zpf9t5ixzoam8d0rwnrf";
const nodeA = "yxd1k2mrdo693jzy2gqaav9ta";
const nodeB = "b0b2k2mrdo693jzy2gqaav9tb";
const t0 = Date.parse("2026-01-01T12:00:00Z");
const at = (seconds: number) => new Date(t0 + seconds * 1000).toISOString();

function service(
  over: { replicas?: number; global?: boolean; image?: string; update?: { State: string; Message?: string } } = {},
): RawService {
  return parseService(
    {
      ID: serviceId,
      Version: { Index: 42 },
      CreatedAt: at(-100),
      UpdatedAt: at(0),
      Spec: {
        Name: "web",
        Labels: {},
        TaskTemplate: {
          ContainerSpec: { Image: over.image ?? "registry.example.com/web:2@sha256:" + "a".repeat(64), Args: ["sleep", "3600"] },
        },
        Mode: over.global ? { Global: {} } : { Replicated: { Replicas: over.replicas ?? 3 } },
      },
      ...(over.update ? { UpdateStatus: { ...over.update, StartedAt: at(0) } } : {}),
    },
    "test service",
  );
}

let seq = 0;
function task(
  state: string,
  createdAt: number,
  over: { desired?: string; node?: string; err?: string; exit?: number; service?: string } = {},
): RawTask {
  const [task] = parseTasks([
    {
      ID: `task${String(++seq).padStart(21, "0")}`,
      Version: { Index: 100 + seq },
      CreatedAt: at(createdAt),
      UpdatedAt: at(createdAt + 1),
      ServiceID: over.service ?? serviceId,
      Slot: seq,
      NodeID: over.node ?? nodeA,
      Spec: { ContainerSpec: { Image: "registry.example.com/web:2" } },
      Status: {
        Timestamp: at(createdAt + 1),
        State: state,
        Message: state === "rejected" ? "preparing" : state,
        ...(over.err ? { Err: over.err } : {}),
        ContainerStatus: { ContainerID: "c0ffee", ExitCode: over.exit ?? 0 },
      },
      DesiredState: over.desired ?? (state === "running" || state === "pending" ? "running" : "shutdown"),
    },
  ]);
  assert.ok(task);
  return task;
}

function nodes(...specs: { id: string; state?: string; availability?: string; hostname?: string }[]): RawNode[] {
  return parseNodes(
    specs.map((n) => ({
      ID: n.id,
      Version: { Index: 9 },
      Spec: { Role: "manager", Availability: n.availability ?? "active" },
      Description: { Hostname: n.hostname ?? `host-${n.id.slice(0, 4)}` },
      Status: { State: n.state ?? "ready", Addr: "127.0.0.1" },
    })),
  );
}

const one = nodes({ id: nodeA, hostname: "vm" });
const since = new Date(t0 - 1000);
const base = { nodes: one, since, firstUpdateState: undefined };

describe("convergence", () => {
  it("is ok and done once every replica of the current spec runs and no update is in flight", () => {
    const c = convergence({ ...base, service: service(), tasks: [task("running", 1), task("running", 1), task("running", 2)] });
    assert.deepEqual(
      { running: c.running, desired: c.desired, done: c.done, ok: c.ok, failed: c.failed },
      { running: 3, desired: 3, done: true, ok: true, failed: [] },
    );
  });

  it("keeps going while replicas are still starting", () => {
    const c = convergence({ ...base, service: service(), tasks: [task("running", 1), task("running", 1), task("pending", 1)] });
    assert.equal(c.running, 2);
    assert.equal(c.done, false);
  });

  it("does not count tasks that run but are meant to stop, or run on a node that is down", () => {
    const two = nodes({ id: nodeA }, { id: nodeB, state: "down" });
    const tasks = [task("running", 1), task("running", 1, { desired: "shutdown" }), task("running", 1, { node: nodeB })];
    const c = convergence({ ...base, nodes: two, service: service(), tasks });
    assert.equal(c.running, 1);
    assert.equal(c.done, false);
  });

  it("waits for the update to complete even when the replica count already matches", () => {
    const tasks = [task("running", 1), task("running", 1), task("running", 1)];
    const updating = convergence({ ...base, service: service({ update: { State: "updating", Message: "update in progress" } }), tasks });
    assert.equal(updating.done, false);
    assert.equal(updating.updateState, "updating");
    const completed = convergence({ ...base, service: service({ update: { State: "completed", Message: "update completed" } }), tasks });
    assert.deepEqual([completed.done, completed.ok], [true, true]);
  });

  it("fails when the update paused, listing the failed tasks since the change newest first with their errors", () => {
    const tasks = [
      task("rejected", -30, { err: "an older failure, from a change before this one" }),
      task("rejected", 2, { err: "No such image: web:3" }),
      task("failed", 8, { err: "task: non-zero exit (1)", exit: 1 }),
      task("running", 1),
    ];
    const message = "update paused due to failure or early termination of task x";
    const c = convergence({ ...base, service: service({ update: { State: "paused", Message: message } }), tasks });
    assert.deepEqual([c.done, c.ok, c.updateState, c.updateMessage], [true, false, "paused", message]);
    assert.deepEqual(
      c.failed.map((f) => [f.state, f.error, f.exitCode, f.node]),
      [
        ["failed", "task: non-zero exit (1)", 1, "vm"],
        ["rejected", "No such image: web:3", 0, "vm"],
      ],
    );
  });

  it("fails when a rollback paused", () => {
    const c = convergence({
      ...base,
      firstUpdateState: "rollback_started",
      service: service({ update: { State: "rollback_paused", Message: "rollback paused" } }),
      tasks: [],
    });
    assert.deepEqual([c.done, c.ok], [true, false]);
  });

  it("treats a requested rollback that completed as success once its replicas run", () => {
    const svc = service({ replicas: 1, update: { State: "rollback_completed", Message: "rollback completed" } });
    const early = convergence({
      ...base,
      firstUpdateState: "rollback_started",
      service: svc,
      tasks: [task("starting", 1, { desired: "running" })],
    });
    assert.equal(early.done, false, "rollback_completed comes before the old task runs again");
    const c = convergence({ ...base, firstUpdateState: "rollback_started", service: svc, tasks: [task("running", 1)] });
    assert.deepEqual([c.done, c.ok], [true, true]);
  });

  it("reports an update the engine rolled back on its own as a failure", () => {
    const tasks = [task("running", 1)];
    const started = convergence({
      ...base,
      firstUpdateState: "updating",
      service: service({ replicas: 1, update: { State: "rollback_started" } }),
      tasks,
    });
    assert.deepEqual([started.done, started.ok], [false, false]);
    const c = convergence({
      ...base,
      firstUpdateState: "updating",
      service: service({ replicas: 1, update: { State: "rollback_completed", Message: "rollback completed" } }),
      tasks,
    });
    assert.deepEqual([c.done, c.ok], [true, false]);
    assert.match(c.updateMessage ?? "", /rolled it back/);
  });

  it(`gives up after ${maxFailuresInARow} failed tasks in a row with none getting to run, with the last error`, () => {
    const failures = (n: number) =>
      Array.from({ length: n }, (_, i) => task("rejected", 2 + i * 5, { err: `No such image (try ${i + 1})` }));
    const almost = convergence({
      ...base,
      service: service({ replicas: 2 }),
      tasks: [task("running", 1), ...failures(maxFailuresInARow - 1)],
    });
    assert.equal(almost.done, false);
    const c = convergence({ ...base, service: service({ replicas: 2 }), tasks: [task("running", 1), ...failures(maxFailuresInARow)] });
    assert.deepEqual([c.done, c.ok, c.running, c.desired], [true, false, 1, 2]);
    assert.match(c.updateMessage ?? "", new RegExp(`No such image \\(try ${maxFailuresInARow}\\)`));
    assert.equal(c.failed.length, maxFailuresInARow);
  });

  it("leaves failures during an update to the engine's failure action", () => {
    const failures = Array.from({ length: 8 }, (_, i) => task("rejected", 2 + i, { err: "No such image" }));
    const c = convergence({ ...base, service: service({ replicas: 1, update: { State: "updating" } }), tasks: failures });
    assert.deepEqual([c.done, c.failed.length], [false, 8]);
  });

  it("counts only the failures after the newest task that got running as in a row", () => {
    const tasks = [
      ...Array.from({ length: 4 }, (_, i) => task("failed", 1 + i, { err: "crashed" })),
      task("running", 10),
      task("failed", 11, { err: "crashed" }),
      task("pending", 12),
    ];
    const c = convergence({ ...base, service: service({ replicas: 3 }), tasks });
    assert.equal(c.done, false);
    assert.equal(c.failed.length, 5);
  });

  it("wants one task per ready, active node for a global service", () => {
    const three = nodes({ id: nodeA }, { id: nodeB }, { id: "drained0000000000000000000", availability: "drain" });
    const none = convergence({ ...base, nodes: three, service: service({ global: true }), tasks: [] });
    assert.deepEqual([none.desired, none.done], [2, false]);
    const c = convergence({
      ...base,
      nodes: three,
      service: service({ global: true }),
      tasks: [task("running", 1), task("running", 1, { node: nodeB })],
    });
    assert.deepEqual([c.running, c.desired, c.done, c.ok], [2, 2, true, true]);
  });

  it("wants only the nodes that got a task when placement leaves some out", () => {
    const two = nodes({ id: nodeA }, { id: nodeB });
    const c = convergence({ ...base, nodes: two, service: service({ global: true }), tasks: [task("running", 1)] });
    assert.deepEqual([c.running, c.desired, c.ok], [1, 1, true]);
  });
});

describe("summarizeService", () => {
  it("counts running tasks of its own service and strips the digest", () => {
    const tasks = [
      task("running", 1),
      task("running", 1),
      task("pending", 1),
      task("running", 1, { service: "other0000000000000000000000" }),
    ];
    assert.deepEqual(summarizeService(service({ update: { State: "paused", Message: "update paused" } }), tasks), {
      id: serviceId.slice(0, 12),
      name: "web",
      image: "registry.example.com/web:2",
      mode: "replicated",
      desired: 3,
      running: 2,
      updateState: "paused",
      updateMessage: "update paused",
    });
  });

  it("has no desired count for a global service", () => {
    const s = summarizeService(service({ global: true, image: "busybox:1" }), []);
    assert.deepEqual([s.mode, s.desired, s.running, s.image, s.updateState], ["global", undefined, 0, "busybox:1", undefined]);
  });
});

describe("toServiceTask", () => {
  it("names the node by hostname, else by short id", () => {
    const t = task("failed", 3, { err: "task: non-zero exit (2)", exit: 2, node: nodeB });
    const known = toServiceTask(t, new Map([[nodeB, "worker-1"]]));
    assert.deepEqual(
      {
        node: known.node,
        error: known.error,
        exitCode: known.exitCode,
        state: known.state,
        image: known.image,
        updatedAt: known.updatedAt,
      },
      {
        node: "worker-1",
        error: "task: non-zero exit (2)",
        exitCode: 2,
        state: "failed",
        image: "registry.example.com/web:2",
        updatedAt: new Date(at(4)),
      },
    );
    assert.equal(toServiceTask(t, new Map()).node, nodeB.slice(0, 12));
    assert.equal(toServiceTask(task("running", 1), new Map()).error, undefined);
  });
});

describe("changedSpec", () => {
  const raw = {
    Name: "web",
    Labels: { team: "a" },
    TaskTemplate: { ContainerSpec: { Image: "web:2", Args: ["serve"], Env: ["A=1"] }, RestartPolicy: { Condition: "any" } },
    Mode: { Replicated: { Replicas: 3 } },
    UpdateConfig: { FailureAction: "pause" },
  };

  it("scales by replacing the replica count only", () => {
    const spec = changedSpec(service(), { ID: serviceId, Spec: raw }, { kind: "scale", replicas: 5 });
    assert.deepEqual(spec, { ...raw, Mode: { Replicated: { Replicas: 5 } } });
    assert.equal(raw.Mode.Replicated.Replicas, 3, "the input is not modified");
  });

  it("changes the image and keeps the rest of the container spec", () => {
    const spec = changedSpec(service(), { ID: serviceId, Spec: raw }, { kind: "image", image: "web:3" });
    assert.deepEqual(spec, {
      ...raw,
      TaskTemplate: { ...raw.TaskTemplate, ContainerSpec: { ...raw.TaskTemplate.ContainerSpec, Image: "web:3" } },
    });
    assert.equal(raw.TaskTemplate.ContainerSpec.Image, "web:2");
  });

  it("sends the current spec unchanged for a rollback", () => {
    assert.deepEqual(changedSpec(service(), { ID: serviceId, Spec: raw }, { kind: "rollback" }), raw);
  });

  it("refuses to scale a global service with CONFLICT", () => {
    assert.throws(
      () => changedSpec(service({ global: true }), { Spec: { ...raw, Mode: { Global: {} } } }, { kind: "scale", replicas: 2 }),
      (e: unknown) => e instanceof BerthError && e.code === "CONFLICT" && /global mode/.test(e.message) && /web/.test(e.message),
    );
  });
});

describe("parsing engine JSON", () => {
  it("is berth's INTERNAL problem when the shape is not what the engine documents", () => {
    assert.throws(
      () => parseService({ ID: 7 }, "service x"),
      (e: unknown) => e instanceof BerthError && e.code === "INTERNAL",
    );
  });
});
