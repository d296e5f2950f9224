/**
 * The Docker adapter against the real engine on /var/run/docker.sock. Every container runs berth-test/busybox:1
 * with NetworkMode "none"; every name created here is removed in `after`, pass or fail. No dockerode here: the
 * unlabelled "foreign" containers are made with the docker CLI.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { promisify } from "node:util";
import { createDockerEngine } from "../../src/engines/docker/engine.ts";
import { type LogLine, labels, type RunSpec } from "../../src/engines/ports.ts";
import { fails } from "../support/fails.ts";
import { ownedLabels, shellSpec, testInstallation } from "../support/run-spec.ts";

const execFileAsync = promisify(execFile);
const docker = async (...args: string[]) => (await execFileAsync("docker", args)).stdout.trim();

const image = "berth-test/busybox:1";
const prefix = `berth-test-${process.pid}-${Date.now().toString(36)}`;
const names: string[] = [];
let counter = 0;
function uniqueName(what: string): string {
  const name = `${prefix}-${what}-${++counter}`;
  names.push(name);
  return name;
}

const engine = createDockerEngine({ installation: testInstallation, name: "local", url: "unix:///var/run/docker.sock", timeoutMs: 10_000 });
const never = new AbortController().signal;

after(async () => {
  engine.close();
  if (names.length > 0) await docker("rm", "-f", ...names).catch(() => undefined); // some were never created
});

function spec(cmd: string, over: Partial<RunSpec> = {}): RunSpec {
  return shellSpec(cmd, { image, name: uniqueName("c"), ...over });
}

/** A container that stops at once on SIGTERM (busybox sh as PID 1 would ignore it and cost the 10 s grace). */
const idle = "trap 'exit 0' TERM; sleep 300 & wait";

async function runToEnd(cmd: string, over: Partial<RunSpec> = {}): Promise<string> {
  const { name } = await engine.run(spec(cmd, over), never);
  await engine.wait(name, never);
  return name;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const texts = (lines: LogLine[], stream: LogLine["stream"]) => lines.filter((l) => l.stream === stream).map((l) => l.text);

const pipes = () => process.getActiveResourcesInfo().filter((r) => r === "PipeWrap").length;

describe("run and inspect", () => {
  it("creates a started container with berth's labels, limits and hardening, and never reveals env values", async () => {
    const s = spec(idle, {
      labels: { [labels.user]: "U123", [labels.managed]: "false" },
      env: [{ name: "SECRET_TOKEN", value: "hunter2" }],
      memoryBytes: 64 * 1024 * 1024,
      nanoCpus: 500_000_000,
      pidsLimit: 64,
    });
    const { id, name } = await engine.run(s, never);
    assert.equal(name, s.name);
    assert.match(id, /^[0-9a-f]{12}$/);

    const d = await engine.inspect(name, never);
    assert.equal(d.id, id);
    assert.equal(d.state, "running");
    assert.equal(d.labels[labels.managed], "true");
    assert.equal(d.labels[labels.user], "U123");
    assert.deepEqual(d.cmd, ["sh", "-c", idle]);
    assert.equal(d.memoryBytes, 64 * 1024 * 1024);
    assert.equal(d.nanoCpus, 500_000_000);
    assert.equal(d.pidsLimit, 64);
    assert.equal(d.networkMode, "none");
    assert.equal(d.privileged, false);
    assert.equal(d.tty, false);
    assert.equal(d.exitCode, null);
    assert.ok(d.startedAt instanceof Date);
    assert.equal(d.finishedAt, null);
    assert.ok(d.envNames.includes("SECRET_TOKEN"));
    assert.ok(!JSON.stringify(d).includes("hunter2"));

    const hostConfig = JSON.parse(await docker("inspect", "--format", "{{json .HostConfig}}", name));
    assert.deepEqual(hostConfig.CapDrop, ["NET_RAW"]);
    assert.deepEqual(hostConfig.SecurityOpt, ["no-new-privileges"]);
    assert.equal(hostConfig.ReadonlyRootfs, false);
    assert.equal(hostConfig.AutoRemove, false);
  });

  it("refuses a name that is taken", async () => {
    const s = spec(idle);
    await engine.run(s, never);
    await assert.rejects(
      engine.run({ ...s }, never),
      fails(
        "CONFLICT",
        new RegExp(
          `^A container named "${s.name}" already exists on host local; pick another --name or remove it with /berth rm ${s.name}$`,
        ),
      ),
    );
  });

  it("reports a missing image as NOT_FOUND", async () => {
    await assert.rejects(
      engine.run(spec("true", { image: "berth-test/does-not-exist:1" }), never),
      fails("NOT_FOUND", /Image "berth-test\/does-not-exist:1" is not on host local/),
    );
  });

  it("passes the platform on: an image of another platform is NOT_FOUND", async () => {
    const other = process.arch === "s390x" ? "linux/riscv64" : "linux/s390x";
    await assert.rejects(
      engine.run(spec("true", { platform: other }), never),
      fails(
        "NOT_FOUND",
        new RegExp(`^Image "berth-test/busybox:1" for ${other} is not on host local \\(.*does not match the specified platform`),
      ),
    );
  });

  it("removes a container whose command cannot start, so the name stays free", async () => {
    const s = { ...spec(""), cmd: ["no-such-binary"] };
    await assert.rejects(
      engine.run(s, never),
      fails("INVALID", /^Docker on host local refused starting ".*": .*no-such-binary.*\. Check the command and its options\.$/),
    );
    assert.ok(!(await engine.list({ all: true }, never)).some((c) => c.name === s.name));
  });

  it("uses the image's default command when cmd is empty and a generated name when none is given", async () => {
    const { id, name } = await engine.run({ ...spec(""), cmd: [], name: undefined }, never);
    names.push(name);
    const d = await engine.inspect(id, never);
    assert.deepEqual(d.cmd, ["sh"]);
    assert.equal(d.name, name);
  });
});

describe("logs", () => {
  it("returns 2000 stdout lines and the stderr lines in order, each on its stream", async () => {
    const name = await runToEnd(
      'i=1; while [ $i -le 2000 ]; do echo "out $i"; [ $((i % 100)) -eq 0 ] && echo "err $i" >&2; i=$((i+1)); done; true',
    );
    const lines = await collect(engine.logs({ container: name, follow: false }, never));
    assert.deepEqual(
      texts(lines, "stdout"),
      Array.from({ length: 2000 }, (_, i) => `out ${i + 1}`),
    );
    assert.deepEqual(
      texts(lines, "stderr"),
      Array.from({ length: 20 }, (_, i) => `err ${(i + 1) * 100}`),
    );
  });

  it("does not demultiplex a TTY container's logs", async () => {
    const name = await runToEnd("echo one; echo two >&2", { tty: true });
    const lines = await collect(engine.logs({ container: name, follow: false }, never));
    assert.deepEqual(
      lines.map(({ stream, text }) => ({ stream, text })),
      [
        { stream: "stdout", text: "one" },
        { stream: "stdout", text: "two" },
      ],
    );
  });

  it("stamps every line with Docker's time and carries a stream on after a cursor, with no line again", async () => {
    const name = await runToEnd("seq 1 300; echo err >&2");
    const lines = await collect(engine.logs({ container: name, follow: false }, never));
    assert.equal(lines.length, 301);
    for (const l of lines) assert.match(l.at ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/, "9 fractional digits");
    const cursor = lines[149]?.at as string;
    const rest = await collect(engine.logs({ container: name, follow: false, after: cursor }, never));
    assert.deepEqual(
      rest.map((l) => l.text),
      lines.filter((l) => (l.at as string) > cursor).map((l) => l.text),
      "exactly the lines after the cursor",
    );
    assert.ok(!rest.some((l) => lines.slice(0, 150).some((e) => e.at === l.at && e.text === l.text)), "none at or before it");
    // A stream's full log read again from its first line (`from` includes that line's instant).
    const first = lines[100]?.at as string;
    const from = await collect(engine.logs({ container: name, follow: false, from: first, tail: 5 }, never));
    assert.deepEqual(
      from.map((l) => l.text),
      lines.filter((l) => (l.at as string) >= first).map((l) => l.text),
      "every line from that instant on, the tail ignored",
    );
  });

  it("reads only the lines logged before `until` (epoch seconds, as `logs --until` asks)", async () => {
    const name = await runToEnd("echo one; sleep 2.2; echo two");
    const lines = await collect(engine.logs({ container: name, follow: false }, never));
    const [one, two] = lines.map((l) => Date.parse(l.at as string) / 1000);
    // A whole second between the two lines' times: Docker's until there keeps the first and drops the second.
    const until = Math.ceil(one as number);
    assert.ok(until < (two as number), "the container slept long enough");
    const before = await collect(engine.logs({ container: name, follow: false, until }, never));
    assert.deepEqual(
      before.map((l) => l.text),
      ["one"],
    );
  });

  it("joins a line the engine stored in two frames and keeps a last line without newline", async () => {
    const name = await runToEnd("printf 'abc'; sleep 0.3; printf 'def\\n'; printf 'no newline'");
    const lines = await collect(engine.logs({ container: name, follow: false }, never));
    assert.deepEqual(texts(lines, "stdout"), ["abcdef", "no newline"]);
  });

  it("honours tail", async () => {
    const name = await runToEnd("seq 1 10");
    const lines = await collect(engine.logs({ container: name, follow: false, tail: 3 }, never));
    assert.deepEqual(texts(lines, "stdout"), ["8", "9", "10"]);
  });

  it("honours sinceSeconds", async () => {
    const { name } = await engine.run(spec("echo early; sleep 5; echo late; sleep 300"), never);
    const follow = new AbortController();
    for await (const line of engine.logs({ container: name, follow: true }, follow.signal)) {
      if (line.text === "late") follow.abort(); // "late" is now in the log, "early" is 5 s older
    }
    const recent = await collect(engine.logs({ container: name, follow: false, sinceSeconds: 3 }, never));
    assert.deepEqual(texts(recent, "stdout"), ["late"]);
    const all = await collect(engine.logs({ container: name, follow: false, sinceSeconds: 3600 }, never));
    assert.deepEqual(texts(all, "stdout"), ["early", "late"]);
  });

  it("ends a follow quietly when the signal is aborted, and releases its socket", async () => {
    const { name } = await engine.run(spec('i=1; while true; do echo "tick $i"; i=$((i+1)); sleep 0.2; done'), never);
    const ctl = new AbortController();
    const seen: string[] = [];
    let during = 0;
    for await (const line of engine.logs({ container: name, follow: true }, ctl.signal)) {
      seen.push(line.text);
      if (seen.length === 3) {
        during = pipes(); // by now the only engine socket still open is the follow's
        ctl.abort();
      }
    }
    assert.deepEqual(seen, ["tick 1", "tick 2", "tick 3"]);
    // Sockets close asynchronously: wait (bounded) for the follow's socket to go.
    for (let i = 0; i < 100 && pipes() >= during; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(pipes() < during, `unix sockets open: ${pipes()} after the abort, ${during} during the follow`);
  });

  it("ends a follow without lines when the signal is already aborted", async () => {
    const { name } = await engine.run(spec(idle), never);
    assert.deepEqual(await collect(engine.logs({ container: name, follow: true }, AbortSignal.abort())), []);
  });

  it("ends a follow by itself when the container exits", async () => {
    const { name } = await engine.run(spec("echo one; sleep 1; echo two"), never);
    const lines = await collect(engine.logs({ container: name, follow: true }, never));
    assert.deepEqual(texts(lines, "stdout"), ["one", "two"]);
  });

  it("keeps follow and wait open longer than the per-call timeout", async () => {
    const quick = createDockerEngine({
      installation: testInstallation,
      name: "quick",
      url: "unix:///var/run/docker.sock",
      // Long enough for create/start on a busy shared machine; the container outlives it by a wide margin.
      timeoutMs: 4000,
    });
    try {
      const { name } = await quick.run(spec("sleep 9; echo late; exit 2"), never);
      const [lines, status] = await Promise.all([collect(quick.logs({ container: name, follow: true }, never)), quick.wait(name, never)]);
      assert.deepEqual(texts(lines, "stdout"), ["late"]);
      assert.deepEqual(status, { exitCode: 2, oomKilled: false });
    } finally {
      quick.close();
    }
  });
});

describe("limits and mounts the engine will not send", () => {
  const refused: [string, Partial<RunSpec>, RegExp][] = [
    ["no CPU limit (NanoCpus 0)", { nanoCpus: 0 }, /below 0\.01 CPU \(0 means no limit\)/],
    ["a CPU limit that rounds to none", { nanoCpus: 1 }, /below 0\.01 CPU/],
    ["no memory limit (0)", { memoryBytes: 0 }, /below Docker's 6 MiB minimum/],
    ["memory below Docker's minimum", { memoryBytes: 1024 * 1024 }, /below Docker's 6 MiB minimum/],
    ["no pids limit (0)", { pidsLimit: 0 }, /pids limit of 0 would mean no limit/],
    ["no job label", { labels: { [labels.job]: "" } }, /no job label/],
    ["a relative bind source", { mounts: [{ source: "srv", target: "/x", readOnly: true }] }, /not an absolute path/],
    ["a bind source with ..", { mounts: [{ source: "/srv/../etc", target: "/x", readOnly: true }] }, /not an absolute path/],
    ["options smuggled into a target", { mounts: [{ source: "/srv", target: "/x:rw", readOnly: true }] }, /not an absolute path/],
  ];
  for (const [what, over, message] of refused) {
    it(`refuses ${what}, before creating anything`, async () => {
      const name = uniqueName("refused");
      await assert.rejects(engine.run(spec("true", { name, ...over }), never), fails("INVALID", message));
      await assert.rejects(docker("inspect", name), "nothing was created");
    });
  }

  it("binds a mount as a structured, read-only bind mount, never a Binds string", async () => {
    const dir = await mkdtemp(join(tmpdir(), "berth-bind-"));
    try {
      const name = await runToEnd("ls /data", { mounts: [{ source: dir, target: "/data", readOnly: true }] });
      const hc = JSON.parse(await docker("inspect", "--format", "{{json .HostConfig}}", name)) as {
        Binds: string[] | null;
        Mounts: { Type: string; Source: string; Target: string; ReadOnly: boolean }[];
      };
      assert.equal(hc.Binds, null);
      assert.deepEqual(
        hc.Mounts.map((m) => ({ Type: m.Type, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly })),
        [{ Type: "bind", Source: dir, Target: "/data", ReadOnly: true }],
      );
      const wrote = await runToEnd("touch /data/x", { mounts: [{ source: dir, target: "/data", readOnly: true }] });
      assert.notEqual(await docker("inspect", "--format", "{{.State.ExitCode}}", wrote), "0", "read-only inside the container");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("list and references", () => {
  it("lists only berth's containers, running ones unless all", async () => {
    const running = (await engine.run(spec(idle), never)).name;
    const exited = await runToEnd("true");
    const foreign = uniqueName("foreign");
    await docker("create", "--name", foreign, "--network", "none", image, "true");

    const all = await engine.list({ all: true }, never);
    const allNames = all.map((c) => c.name);
    assert.ok(allNames.includes(running) && allNames.includes(exited));
    assert.ok(!allNames.includes(foreign));
    assert.ok(all.every((c) => c.labels[labels.managed] === "true" && /^[0-9a-f]{12}$/.test(c.id)));
    const summary = all.find((c) => c.name === running);
    assert.equal(summary?.state, "running");
    assert.equal(summary?.image, image);
    assert.match(summary?.status ?? "", /^Up /);
    assert.ok(summary?.createdAt instanceof Date);

    const live = (await engine.list({ all: false }, never)).map((c) => c.name);
    assert.ok(live.includes(running) && !live.includes(exited));
  });

  it("resolves a name with or without a slash, a short id and a full id", async () => {
    const { id, name } = await engine.run(spec(idle), never);
    const fullId = await docker("inspect", "--format", "{{.Id}}", name);
    for (const ref of [name, `/${name}`, id, fullId, fullId.slice(0, 20).toUpperCase()]) {
      assert.equal((await engine.inspect(ref, never)).id, id, ref);
    }
  });

  it("says NOT_FOUND, with a hint, for a missing container and a malformed reference", async () => {
    for (const ref of [`${prefix}-missing`, "../images/json", "a b"]) {
      await assert.rejects(
        engine.inspect(ref, never),
        fails("NOT_FOUND", /^No berth container ".*" on host local\. Run `\/berth ps -a` to see berth's containers\.$/),
      );
    }
  });

  it("does not let berth see or touch a container it did not start", async () => {
    const foreign = uniqueName("foreign");
    const fullId = await docker("run", "-d", "--name", foreign, "--network", "none", image, "sleep", "300");
    const notBerths = fails("NOT_FOUND", /was not started by berth, and berth only manages containers it started/);
    await assert.rejects(engine.inspect(foreign, never), notBerths);
    await assert.rejects(engine.inspect(fullId.slice(0, 12), never), notBerths);
    await assert.rejects(engine.stop(foreign, never), notBerths);
    await assert.rejects(engine.remove(foreign, { force: true }, never), notBerths);
    await assert.rejects(engine.exec(foreign, ["true"], never), notBerths);
    await assert.rejects(collect(engine.logs({ container: foreign, follow: false }, never)), notBerths);
    assert.equal(await docker("inspect", "--format", "{{.State.Running}}", foreign), "true");
  });

  it("does not take a container for berth's because it carries berth's labels: only this installation's id and a job count", async () => {
    const lookalikes = [
      ["managed", { [labels.managed]: "true" }],
      ["managed-job", { [labels.managed]: "true", [labels.job]: "j-000001" }],
      ["other-berth", { ...ownedLabels(), [labels.installation]: "another-berth" }],
      ["no-job", { [labels.managed]: "true", [labels.installation]: testInstallation }],
    ] as const;
    const notBerths = fails("NOT_FOUND", /was not started by berth, and berth only manages containers it started/);
    for (const [what, l] of lookalikes) {
      const name = uniqueName(what);
      const flags = Object.entries(l).flatMap(([k, v]) => ["--label", `${k}=${v}`]);
      await docker("run", "-d", "--name", name, ...flags, "--network", "none", image, "sleep", "300");
      assert.ok(!(await engine.list({ all: true }, never)).some((c) => c.name === name), `${what}: not listed`);
      await assert.rejects(engine.inspect(name, never), notBerths, what);
      await assert.rejects(engine.stop(name, never), notBerths, what);
      await assert.rejects(engine.remove(name, { force: true }, never), notBerths, what);
      await assert.rejects(engine.exec(name, ["true"], never), notBerths, what);
      await assert.rejects(collect(engine.logs({ container: name, follow: false }, never)), notBerths, what);
      assert.equal(await docker("inspect", "--format", "{{.State.Running}}", name), "true", `${what}: still running`);
    }
    // The same labels with this installation's id and a job: that one is berth's.
    const mine = uniqueName("mine");
    const flags = Object.entries(ownedLabels()).flatMap(([k, v]) => ["--label", `${k}=${v}`]);
    await docker("run", "-d", "--name", mine, ...flags, "--network", "none", image, "sleep", "300");
    assert.ok((await engine.list({ all: true }, never)).some((c) => c.name === mine));
  });

  it("sees no container as berth's, and runs none, without an installation id", async () => {
    const anonymous = createDockerEngine({ name: "anonymous", url: "unix:///var/run/docker.sock", timeoutMs: 10_000 });
    try {
      await engine.run(spec(idle), never);
      assert.deepEqual(await anonymous.list({ all: true }, never), []);
      const name = uniqueName("anonymous");
      await assert.rejects(anonymous.run(spec(idle, { name }), never), fails("INVALID", /without berth's installation id/));
      await assert.rejects(docker("inspect", name), "nothing was created");
    } finally {
      anonymous.close();
    }
  });

  it("does not treat fewer than 4 hex characters as an id prefix", async () => {
    const { id } = await engine.run(spec(idle), never);
    await assert.rejects(engine.inspect(id.slice(0, 3), never), fails("NOT_FOUND", /No berth container/));
  });
});

describe("lifecycle", () => {
  it("stops, starts, restarts and removes, reporting state conflicts", async () => {
    const { name } = await engine.run(spec(idle), never);
    await engine.stop(name, never);
    assert.equal((await engine.inspect(name, never)).state, "exited");
    await assert.rejects(engine.stop(name, never), fails("CONFLICT", /is already stopped/));

    await engine.start(name, never);
    assert.equal((await engine.inspect(name, never)).state, "running");
    await assert.rejects(engine.start(name, never), fails("CONFLICT", /is already running/));

    const before = (await engine.inspect(name, never)).startedAt;
    await engine.restart(name, never);
    const after = await engine.inspect(name, never);
    assert.equal(after.state, "running");
    assert.notDeepEqual(after.startedAt, before);

    await assert.rejects(
      engine.remove(name, { force: false }, never),
      fails("CONFLICT", new RegExp(`^Container "${name}" is running; stop it first or use /berth rm -f ${name}$`)),
    );
    await engine.remove(name, { force: true }, never);
    await assert.rejects(engine.inspect(name, never), fails("NOT_FOUND", /No berth container/));
  });

  it("removes a stopped container without force and reports its exit code first", async () => {
    const name = await runToEnd("exit 3");
    const d = await engine.inspect(name, never);
    assert.equal(d.state, "exited");
    assert.equal(d.exitCode, 3);
    assert.ok(d.finishedAt instanceof Date);
    await engine.remove(name, { force: false }, never);
    assert.ok(!(await engine.list({ all: true }, never)).some((c) => c.name === name));
  });

  it("wait returns the exit code, also for an auto-removed container", async () => {
    const { name } = await engine.run(spec("exit 7"), never);
    assert.deepEqual(await engine.wait(name, never), { exitCode: 7, oomKilled: false });
    const auto = await engine.run(spec("sleep 1; exit 4", { autoRemove: true }), never);
    assert.deepEqual(await engine.wait(auto.name, never), { exitCode: 4, oomKilled: false });
  });

  it("a cancelled call throws CANCELLED", async () => {
    const { name } = await engine.run(spec(idle), never);
    const ctl = new AbortController();
    const waiting = engine.wait(name, ctl.signal);
    ctl.abort();
    await assert.rejects(waiting, fails("CANCELLED", /Cancelled while/));
  });
});

describe("exec", () => {
  it("streams demultiplexed output and the exit code", async () => {
    const { name } = await engine.run(spec(idle), never);
    const handle = await engine.exec(name, ["sh", "-c", "echo hi; echo oops >&2; printf 'a'; sleep 0.2; echo b; exit 3"], never);
    const lines = await collect(handle.lines);
    assert.deepEqual(texts(lines, "stdout"), ["hi", "ab"]);
    assert.deepEqual(texts(lines, "stderr"), ["oops"]);
    assert.equal(await handle.exitCode(), 3);
  });

  it("gives the exit code even when nobody reads the output", async () => {
    const { name } = await engine.run(spec(idle), never);
    const handle = await engine.exec(name, ["sh", "-c", "seq 1 5000; exit 5"], never);
    assert.equal(await handle.exitCode(), 5);
  });

  it("ends the output quietly when the signal is aborted; the exit code is then CANCELLED", async () => {
    const { name } = await engine.run(spec(idle), never);
    const ctl = new AbortController();
    const handle = await engine.exec(name, ["sh", "-c", 'i=1; while true; do echo "n $i"; i=$((i+1)); sleep 0.1; done'], ctl.signal);
    const seen: string[] = [];
    for await (const line of handle.lines) {
      seen.push(line.text);
      if (seen.length === 2) ctl.abort();
    }
    assert.deepEqual(seen, ["n 1", "n 2"]);
    await assert.rejects(handle.exitCode(), fails("CANCELLED", /^Cancelled while running a command in/));
  });

  it("refuses to exec in a stopped container", async () => {
    const name = await runToEnd("true");
    await assert.rejects(engine.exec(name, ["true"], never), fails("CONFLICT", /is not running on host local\. Start it first/));
  });
});

describe("images and engine", () => {
  it("reports engine info", async () => {
    const info = await engine.info(never);
    assert.equal(info.name, "local");
    assert.equal(info.osType, "linux");
    assert.ok(info.osVersion.length > 0 && info.engineVersion.length > 0);
    assert.match(info.apiVersion, /^\d+\.\d+$/);
  });

  it("knows which images are present and rejects malformed references", async () => {
    assert.equal(await engine.hasImage(image, never), true);
    assert.equal(await engine.hasImage("berth-test/does-not-exist:1", never), false);
    await assert.rejects(engine.hasImage("../../containers/json", never), fails("INVALID", /is not a valid image reference/));
  });

  it("explains a failed pull: no registry is reachable here, and the message names the one it tried", async () => {
    await assert.rejects(
      collect(engine.pull("berth-test/does-not-exist:1", never)),
      fails(
        "UNAVAILABLE",
        /^Could not pull image `berth-test\/does-not-exist:1` on host local: registry `docker.io` cannot be reached from there \(.+\)\. Check the registry name in the image, or ask the operator to let that host reach `docker.io` or to load the image on that host\.$/,
      ),
    );
  });

  it("says UNAVAILABLE when the engine cannot be reached", async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as net.AddressInfo;
    await new Promise((r) => server.close(r)); // nothing listens on this port any more
    const cases = [
      { url: "unix:///tmp/nonexistent.sock", reason: "there is no socket at that path" },
      { url: `tcp://127.0.0.1:${port}`, reason: "connection refused" },
    ];
    for (const { url, reason } of cases) {
      const down = createDockerEngine({ installation: testInstallation, name: "ghost", url, timeoutMs: 2000 });
      const unreachable = fails(
        "UNAVAILABLE",
        new RegExp(
          `^Docker engine "ghost" is unreachable at ${url}: ${reason}\\. Check that the engine is running and berth can reach it\\.$`,
        ),
      );
      await assert.rejects(down.info(never), unreachable);
      await assert.rejects(down.list({ all: true }, never), unreachable);
      await assert.rejects(collect(down.logs({ container: "x", follow: true }, never)), unreachable);
      await assert.rejects(collect(down.pull(image, never)), unreachable);
      down.close();
    }
  });

  it("says UNAVAILABLE, not hang, when the engine accepts but never answers", async () => {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => sockets.add(socket)); // reads the request, never answers
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as net.AddressInfo;
    const mute = createDockerEngine({ installation: testInstallation, name: "mute", url: `tcp://127.0.0.1:${port}`, timeoutMs: 300 });
    try {
      const silent = fails("UNAVAILABLE", /^Docker engine "mute" is unreachable at tcp:\/\/127\.0\.0\.1:\d+: no answer within 1 s\./);
      await assert.rejects(mute.info(never), silent);
      await assert.rejects(mute.stop("x", never), silent);
      await assert.rejects(collect(mute.logs({ container: "x", follow: true }, never)), silent);
    } finally {
      mute.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  it("says UNAVAILABLE when the TLS handshake fails, and CONFIG when the TLS material is not PEM", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "berth-tls-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const pem = (file: string) => readFile(join(dir, file), "utf8");
    try {
      const subject = ["-subj", "/CN=localhost", "-days", "1", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")];
      await execFileAsync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", ...subject]);
    } catch (error) {
      // .ci/run installs openssl; a machine without it must fail here rather than pass a test it never ran.
      throw new Error(`openssl is needed to make this test's certificate: ${(error as Error).message}`);
    }
    const tlsMaterial = { ca: await pem("cert.pem"), cert: await pem("cert.pem"), key: await pem("key.pem") };
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket.on("error", () => {})); // the client hangs up as soon as it sees this is not TLS
      socket.end("HTTP/1.1 400 Bad Request\r\n\r\n"); // plain HTTP, not TLS
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as net.AddressInfo;
    const plain = createDockerEngine({
      installation: testInstallation,
      name: "tls",
      url: `tcp://127.0.0.1:${port}`,
      tls: tlsMaterial,
      timeoutMs: 2000,
    });
    try {
      await assert.rejects(
        plain.info(never),
        fails("UNAVAILABLE", /^Docker engine "tls" is unreachable at .*: the TLS handshake failed \(wrong version number\)\. Check/),
      );
    } finally {
      plain.close();
      for (const socket of sockets) socket.destroy(); // never read, so they would not notice the client left
      await new Promise((r) => server.close(r));
    }
    const garbage = { ...tlsMaterial, key: "not a key" };
    assert.throws(
      () => createDockerEngine({ installation: testInstallation, name: "tls", url: "tcp://127.0.0.1:2376", tls: garbage, timeoutMs: 1000 }),
      fails("CONFIG", /the TLS CA, certificate or key is not usable PEM/),
    );
  });

  it("accepts an ssh:// engine with a pinned host key without connecting at construction, and refuses one without", () => {
    const sshHostKey = "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8";
    const url = "ssh://deploy@docker.example.invalid:2222";
    const engine = createDockerEngine({ installation: testInstallation, name: "remote", url, sshHostKey, timeoutMs: 1000 });
    assert.equal(engine.name, "remote");
    engine.close();
    assert.throws(
      () => createDockerEngine({ installation: testInstallation, name: "remote", url, timeoutMs: 1000 }),
      fails("CONFIG", /ssh:\/\/ hosts need `hostKey`/),
    );
  });

  it("rejects an unusable URL as a configuration error", () => {
    assert.throws(
      () => createDockerEngine({ installation: testInstallation, name: "bad", url: "ftp://x", timeoutMs: 1000 }),
      fails("CONFIG", /^Host "bad" has an unusable Docker connection "ftp:\/\/x"/),
    );
  });
});
