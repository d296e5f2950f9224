import assert from "node:assert/strict";
import { test } from "node:test";
import { registry } from "../../commands/index.ts";
import type { Action } from "../../src/core/action.ts";
import { parse } from "../../src/core/parse.ts";
import { mrkdwn } from "../support/text.ts";

const ok: [string, string, Action][] = [
  [
    "run with command",
    "run busybox:1 echo hi",
    {
      kind: "container.run",
      image: "busybox:1",
      cmd: ["echo", "hi"],
      env: [],
      detach: false,
      autoRemove: false,
      privileged: false,
      mounts: [],
    },
  ],
  [
    "run options stop at the image",
    "run -d --name w1 -e A=1 -eB=x=y -m 128m --cpus 0.5 --timeout 1h30m --rm -H local busybox:1 sh -c 'ls -l'",
    {
      kind: "container.run",
      image: "busybox:1",
      cmd: ["sh", "-c", "ls -l"],
      env: [
        { name: "A", value: "1" },
        { name: "B", value: "x=y" },
      ],
      detach: true,
      autoRemove: true,
      privileged: false,
      mounts: [],
      name: "w1",
      memoryBytes: 128 * 1024 * 1024,
      cpus: 0.5,
      timeoutSeconds: 5400,
      host: "local",
    },
  ],
  [
    "named mounts: the policy's mode, or asked ro / rw",
    "run -v scratch:/x -v cache:/c:rw -v cache:/d:ro busybox:1",
    {
      kind: "container.run",
      image: "busybox:1",
      cmd: [],
      env: [],
      detach: false,
      autoRemove: false,
      privileged: false,
      mounts: [
        { name: "scratch", target: "/x" },
        { name: "cache", target: "/c", readOnly: false },
        { name: "cache", target: "/d", readOnly: true },
      ],
    },
  ],
  ["logs, options after the container", "logs api -f --tail=20", { kind: "container.logs", container: "api", follow: true, tail: 20 }],
  ["logs --since", "logs --since 15m api", { kind: "container.logs", container: "api", follow: false, sinceSeconds: 900 }],
  ["logs --tail all", "logs --tail all api", { kind: "container.logs", container: "api", follow: false }],
  [
    "logs -t --until",
    "logs -t --since 1h --until 30m api",
    { kind: "container.logs", container: "api", follow: false, sinceSeconds: 3600, untilSeconds: 1800, timestamps: true },
  ],
  ["ps -a", "ps -a", { kind: "container.list", all: true }],
  ["rm -f clustered", "rm -f api", { kind: "container.remove", container: "api", force: true }],
  ["exec keeps the command's options", "exec api ls -la /tmp", { kind: "container.exec", container: "api", cmd: ["ls", "-la", "/tmp"] }],
  ["stop with host", "stop -H local api", { kind: "container.stop", container: "api", host: "local" }],
  ["stop several, in the order typed", "stop web api db", { kind: "container.stop", container: "web", more: ["api", "db"] }],
  [
    "rm -f several, options anywhere",
    "rm api -f web -H local",
    { kind: "container.remove", container: "api", more: ["web"], force: true, host: "local" },
  ],
  ["a name typed twice counts once", "restart api web api", { kind: "container.restart", container: "api", more: ["web"] }],
  ["one name typed twice is one container", "start api api", { kind: "container.start", container: "api" }],
  [
    "twenty containers",
    `stop ${Array.from({ length: 20 }, (_, i) => `c${i}`).join(" ")}`,
    { kind: "container.stop", container: "c0", more: Array.from({ length: 19 }, (_, i) => `c${i + 1}`) },
  ],
  ["help topic", "help Logs", { kind: "help", topic: "logs" }],
  ["whoami", "whoami", { kind: "policy.explain", question: "whoami" }],
  ["cancel", "cancel j-abc123", { kind: "job.cancel", job: "j-abc123" }],
  ["jobs", "jobs", { kind: "job.list" }],
  ["double dash ends options", "logs -f -- api", { kind: "container.logs", container: "api", follow: true }],
  ["hosts", "Hosts", { kind: "host.list" }],
  ["service ls on a host", "service ls -H swarm-1", { kind: "service.list", host: "swarm-1" }],
  ["service ps", "service ps web", { kind: "service.ps", service: "web" }],
  ["service logs -f", "service logs -f --tail 50 web", { kind: "service.logs", service: "web", follow: true, tail: 50 }],
  ["service scale NAME=N", "service scale web=3", { kind: "service.scale", service: "web", replicas: 3 }],
  ["service scale NAME N (phone)", "Service scale web 0", { kind: "service.scale", service: "web", replicas: 0 }],
  [
    "service update --image",
    "service update --image registry.example.com/web:2.4 web",
    { kind: "service.update", service: "web", image: "registry.example.com/web:2.4" },
  ],
  ["service rollback", "services rollback web", { kind: "service.rollback", service: "web" }],
];

for (const [name, text, action] of ok) {
  test(`parse: ${name}`, () => assert.deepEqual(parse(text, registry), { ok: true, action }));
}

test("a phone-typed command parses exactly like the desktop one", () => {
  const pairs: [string, string][] = [
    ["Logs \u2014follow \u2014tail 20 api", "logs --follow --tail 20 api"],
    ["Run \u2014rm busybox:1 sh -c \u201Cecho hi &amp;&amp; echo there\u201D", 'run --rm busybox:1 sh -c "echo hi && echo there"'],
    ["Rm \u2013f api", "rm -f api"],
    ["Ps \u2014all", "ps --all"],
    ["Exec api sh -c \u2018cat /etc/hostname\u2019", "exec api sh -c 'cat /etc/hostname'"],
  ];
  for (const [phone, desktop] of pairs) {
    const a = parse(phone, registry);
    assert.equal(a.ok, true, `${phone}: ${a.ok ? "" : mrkdwn(a.message)}`);
    assert.deepEqual(a, parse(desktop, registry));
  }
});

/** Bad input: each gets a message that names the problem and says what to do. */
const bad: [string, string, RegExp][] = [
  ["empty text", "", /Tell berth what to do, for example `\/berth ps`/],
  ["only spaces", "   ", /Tell berth what to do/],
  ["unknown command", "lgos api", /berth has no command `lgos`\. Did you mean `logs`\?/],
  ["unknown command far from any", "deploy", /berth has no command `deploy`\. Commands: `help`/],
  ["unknown long option", "logs --folow api", /`logs` has no option `--folow`\. Did you mean `--follow`\?/],
  ["unknown short option", "ps -z", /`ps` has no option `-z`/],
  // Docker's own options: named as such, never "did you mean" a berth option that looks alike.
  ["run -it: no terminal", "run -it busybox:1 sh", /berth has no terminal to attach .*streams into the thread/],
  ["run -t alone", "run -t busybox:1 sh", /berth has no terminal to attach/],
  ["run --interactive", "run --interactive busybox:1 sh", /berth has no terminal to attach/],
  [
    "exec -it: one command at a time",
    "exec -it api sh",
    /berth has no terminal to attach .*`exec` runs the command and streams its output/,
  ],
  ["exec --tty", "exec --tty api sh", /berth has no terminal to attach/],
  [
    "a Docker option berth does not take",
    "run --workdir /x busybox:1 pwd",
    /`--workdir` is a `docker run` option that berth does not take/,
  ],
  ["a Docker short option berth does not take", "run -p 80:80 busybox:1", /`-p` is a `docker run` option that berth does not take/],
  ["a Docker option of another command", "logs --details api", /`--details` is a `docker logs` option that berth does not take/],
  ["logs --until with -f", "logs -f --until 5m api", /`--until` reads back in time and `-f` waits for new lines: use one of them/],
  ["logs --until older than --since", "logs --since 5m --until 1h api", /`--until` must be more recent than `--since`/],
  ["stop -t", "stop -t 5 api", /`-t` is a `docker stop` option that berth does not take/],
  ["missing image", "run", /`run`: missing IMAGE/],
  ["missing image after options", "run -d --rm", /`run`: missing IMAGE/],
  ["malformed -e", "run -e FOO busybox:1", /`FOO` is not NAME=value; write e\.g\. `-e LOG_LEVEL=debug`/],
  ["malformed -e name", "run -e 1X=2 busybox:1", /`1X=2` is not NAME=value/],
  ["option without value", "logs api --tail", /`--tail` needs a value: `--tail N`/],
  ["bad tail", "logs --tail many api", /`--tail`: write a number of lines, or `all`/],
  ["bad duration", "logs --since yesterday api", /`yesterday` is not a duration; write e\.g\. 30s, 5m/],
  ["bad memory", "run -m lots busybox:1", /`lots` is not a size; write e\.g\. 256m or 1g/],
  ["unbalanced quotes", "run busybox:1 sh -c 'echo hi", /Unbalanced quote: the ' at character 21 is never closed/],
  ["10 kB of text", `run busybox:1 echo ${"x".repeat(10_240)}`, /characters long; berth accepts up to 4,000/],
  ["missing container", "logs -f", /`logs`: missing CONTAINER/],
  ["extra argument", "inspect a b", /unexpected extra argument `b`/],
  ["stop without a container", "stop -H local", /`stop`: missing CONTAINER/],
  [
    "more than twenty containers",
    `rm -f ${Array.from({ length: 21 }, (_, i) => `c${i}`).join(" ")}`,
    /`rm`: 21 containers named, and one command takes at most 20: split them over several commands/,
  ],
  ["one bad name among several", "stop api 'a b' web", /container name or id/],
  ["invalid container name", "stop 'a b'", /container name or id/],
  ["invalid image reference", "run 'bad image'", /IMAGE is not an image reference/],
  ["exec without a command", "exec api", /`exec`: missing CMD/],
  ["switch given a value", "ps --all=yes", /`--all` is a switch/],
  ["volume target climbing out with ..", "run -v scratch:/x/../etc busybox:1", /`scratch:\/x\/\.\.\/etc`: .*may not contain `\.\.`/],
  ["volume target not absolute", "run -v scratch:x busybox:1", /must be absolute/],
  ["volume over the container's /", "run -v scratch:/ busybox:1", /may not replace the container's root/],
  ["volume over /proc", "run -v scratch:/proc busybox:1", /may not cover `\/proc`/],
  ["volume under /sys", "run -v scratch:/sys/kernel busybox:1", /may not cover `\/sys`/],
  ["volume over /dev", "run -v scratch:/dev busybox:1", /may not cover `\/dev`/],
  ["volume with an option smuggled in", "run -v scratch:/x:rw,z busybox:1", /is not NAME:\/container\/path\[:ro\]/],
  ["volume with a : in its target", "run -v scratch:/x:/y busybox:1", /is not NAME:\/container\/path\[:ro\]/],
  ["malformed volume", "run -v data busybox:1", /`data` is not NAME:\/container\/path\[:ro\]; NAME is a mount the policy defines/],
  ["CPUs that round to no limit", "run --cpus 1e-10 busybox:1", /`--cpus`: at least 0\.01/],
  ["memory 0", "run -m 0 busybox:1", /`0` would mean no memory limit at all; ask for at least 6m/],
  ["memory 0m", "run --memory 0.0m busybox:1", /`0\.0m` would mean no memory limit at all/],
  ["memory below Docker's minimum", "run -m 1k busybox:1", /1 KiB is below Docker's minimum of 6m/],
  ["service without what to do", "service", /missing what to do: ls, ps, logs, scale, update, rollback/],
  ["service typo", "service scael web=2", /`service scael` is not a service command\. Did you mean `service scale`\?/],
  ["service scale without =", "service scale web", /write NAME=REPLICAS, e\.g\. web=3/],
  ["service scale not a number", "service scale web=lots", /write NAME=REPLICAS/],
  ["service update without image", "service update web", /missing --image IMAGE/],
  ["service ps without name", "service ps", /missing NAME/],
  ["-f on the wrong subcommand", "service scale -f web=2", /-f, --tail and --since go with `service logs`/],
  ["hosts takes nothing", "hosts prod", /unexpected extra argument `prod`/],
];

for (const [name, text, message] of bad) {
  test(`bad input: ${name}`, () => {
    const result = parse(text, registry);
    assert.equal(result.ok, false);
    assert.match(result.ok ? "" : mrkdwn(result.message), message);
  });
}

test("Docker's own options are never answered with a berth option that looks alike", () => {
  for (const text of ["run -it busybox:1 sh", "exec -ti api sh", "run -h box busybox:1", "rm -v api", "ps -q"]) {
    const result = parse(text, registry);
    assert.equal(result.ok, false, text);
    assert.doesNotMatch(result.ok ? "" : mrkdwn(result.message), /Did you mean/, text);
  }
  // A typo of a berth option still gets its suggestion.
  const typo = parse("run --nmae web busybox:1", registry);
  assert.match(typo.ok ? "" : mrkdwn(typo.message), /Did you mean `--name`\?/);
});

test("usage errors carry the command's usage line", () => {
  const result = parse("logs", registry);
  assert.equal(result.ok, false);
  assert.equal(
    result.ok ? "" : mrkdwn(result.usage),
    "Usage: `/berth logs [-f] [-t] [--tail N] [--since DURATION] [--until DURATION] [-H HOST] CONTAINER`",
  );
});
