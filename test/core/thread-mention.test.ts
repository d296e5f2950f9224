import assert from "node:assert/strict";
import { test } from "node:test";
import { registry } from "../../commands/index.ts";
import { plainText } from "../../src/core/message.ts";
import { mentionRequest, type ThreadJob, threadJobOf } from "../../src/core/thread-mention.ts";

const running: ThreadJob = { id: "j-7f3a2c", running: true, host: "local", container: "berth-api-1" };
const ended: ThreadJob = { ...running, running: false };
const hostJob: ThreadJob = { id: "j-host01", running: true, host: null, container: undefined };

const cases: [string, string, ThreadJob, string][] = [
  ["stop of a running job cancels the job (its Stop button)", "stop", running, "cancel j-7f3a2c"],
  ["Stop, capitalised by a phone", "Stop", running, "cancel j-7f3a2c"],
  ["stop of an ended job stops its container", "stop", ended, "stop berth-api-1 -H local"],
  ["logs", "logs", ended, "logs berth-api-1 -H local"],
  ["logs with options keeps them", "logs -f --tail 20 -t", running, "logs -f --tail 20 -t berth-api-1 -H local"],
  ["a phone's long dash", "logs —tail 5", ended, "logs --tail 5 berth-api-1 -H local"],
  ["restart", "restart", running, "restart berth-api-1 -H local"],
  ["start, rm and inspect take the container too", "rm -f", ended, "rm -f berth-api-1 -H local"],
  ["inspect", "inspect", ended, "inspect berth-api-1 -H local"],
  ["a host given is kept", "logs -H other", ended, "logs -H other berth-api-1"],
  ["a container given runs as typed", "logs db", ended, "logs db"],
  ["stop NAME of a running job stops that container", "stop db", running, "stop db"],
  ["exec runs its command in the job's container", "exec ls -l /", running, "exec -H local berth-api-1 ls -l /"],
  ["exec naming the container runs as typed", "exec berth-api-1 ls", running, "exec berth-api-1 ls"],
  ["exec with -H keeps it", "exec -H local ps", running, "exec -H local berth-api-1 ps"],
  ["cancel alone cancels this job", "cancel", hostJob, "cancel j-host01"],
  ["a command that takes no container runs as typed", "ps -a", running, "ps -a"],
  ["an unknown command runs as typed (its error says so)", "frobnicate", running, "frobnicate"],
  ["a job without a container: a whole command runs as typed", "logs api", hostJob, "logs api"],
  ["a job without a host: no -H", "restart", { ...ended, host: null }, "restart berth-api-1"],
];

for (const [name, text, job, expected] of cases) {
  test(`mention in a job's thread: ${name}`, () => {
    const request = mentionRequest(text, job, registry);
    assert.equal(request.type, "command");
    if (request.type !== "command") return;
    assert.equal(request.text, expected);
    if (!["frobnicate"].includes(text)) assert.equal(request.parsed.ok, true, `${expected} parses`);
  });
}

test("the parsed request is the one dispatch would make of the text (one parse)", () => {
  const request = mentionRequest("logs -f", running, registry);
  assert.equal(request.type, "command");
  if (request.type !== "command" || !request.parsed.ok) return assert.fail("parsed");
  assert.deepEqual(request.parsed.action, { kind: "container.logs", container: "berth-api-1", follow: true, host: "local" });
});

test("outside a job's thread, or with nothing to act on, a mention gets the help answer", () => {
  for (const [text, job] of [
    ["stop", undefined],
    ["ps", undefined],
    ["", running],
    ["restart", hostJob],
    ["stop", hostJob],
  ] as const) {
    const request = mentionRequest(text, job, registry);
    assert.equal(request.type, "help", `${text} in ${job?.id ?? "no thread"}`);
    if (request.type === "help") assert.match(plainText(request.text), /@berth stop.*in the thread of a job's card/);
  }
});

test("a stored job's container is read from its resume data; a host job or an old record has none", () => {
  const base = { id: "j-1", status: "succeeded" as const, host: "local", kind: "container.run" };
  const point = { kind: "container.run", container: "0123abcd", name: "berth-api-1" };
  assert.deepEqual(threadJobOf({ ...base, resume: { requestId: "r", action: {}, point } }), {
    id: "j-1",
    running: false,
    host: "local",
    container: "berth-api-1",
  });
  const exec = { requestId: "r", action: { kind: "container.exec", container: "api", cmd: ["ls"] } };
  assert.equal(threadJobOf({ ...base, kind: "container.exec", resume: exec }).container, "api");
  assert.equal(threadJobOf({ ...base, resume: { requestId: "r", action: { kind: "container.run" } } }).container, undefined);
  assert.equal(threadJobOf({ ...base, resume: null }).container, undefined);
  assert.equal(threadJobOf({ ...base, resume: "garbage" }).container, undefined);
  assert.equal(threadJobOf({ ...base, kind: "host.create", resume: { point } }).container, undefined);
});
