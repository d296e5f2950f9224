import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { Policy } from "../../src/core/policy.ts";
import { parsePolicyText } from "../../src/core/policy-file.ts";
import { createPolicyReloader, type FileSnapshot } from "../../src/core/policy-reload.ts";

// The file an editor is saving: a valid policy whose approval rule comes last. Cut anywhere inside `rules:` it is still
// valid YAML and a valid policy — just without the rule.
const v1 = `version: 1
roles:
  operator: { actions: [container.run, container.restart] }
bindings:
  - { role: operator, users: [U0OPER] }
images: ["berth-test/**"]
rules:
  - { id: run-four-eyes, actions: [container.run], require: approval }
`;
const v2 = v1.replace("container.restart]", "container.restart, container.stop]");
const truncated = v2.slice(0, v2.indexOf("rules:"));

const gates = (p: Policy) => p.rules.map((r) => `${r.id}:${r.require}`);

/** A file in memory: `reads` are what each read sees, in order (the last one repeats), like an editor mid-save. */
function fakeFile(reads: string[]) {
  let n = 0;
  const seen: string[] = [];
  return {
    seen,
    read: (): FileSnapshot => {
      const text = reads[Math.min(n++, reads.length - 1)] ?? "";
      seen.push(text);
      // mtime moves with every write; an editor writing in place changes size and mtime between our reads.
      return { text, mtimeMs: reads.indexOf(text), size: text.length };
    },
  };
}

function reloader(read: () => FileSnapshot, wait: (ms: number) => Promise<void> = async () => {}) {
  let policy = parsePolicyText(v1, "policy.yaml");
  const applied: Policy[] = [];
  const r = createPolicyReloader({
    path: "policy.yaml",
    current: () => policy,
    apply: (p) => {
      policy = p;
      applied.push(p);
    },
    read,
    wait,
    settleMs: 50,
    attempts: 3,
  });
  return { changed: r.changed, applied, policy: () => policy };
}

test("a truncated save that drops the approval rule is never applied; the completed file is", async () => {
  // Seen at the change: the prefix; a settle interval later: the whole file, which then stays.
  const file = fakeFile([truncated, v2, v2]);
  assert.deepEqual(gates(parsePolicyText(truncated, "t.yaml")), [], "the prefix is a valid policy without the gate");
  const r = reloader(file.read);
  const result = await r.changed();
  assert.equal(result.type, "applied");
  assert.equal(r.applied.length, 1);
  assert.deepEqual(gates(r.policy()), ["run-four-eyes:approval"]);
  assert.deepEqual(r.policy().roles.operator?.actions, ["container.run", "container.restart", "container.stop"]);
  assert.deepEqual(file.seen, [truncated, v2, v2]);
});

test("a file that changes between every pair of reads is not applied, and the policy in force stays", async () => {
  const file = fakeFile([truncated, `${truncated}\n`, `${truncated}\n\n`, `${truncated}\n\n\n`, v2]);
  const r = reloader(file.read);
  const result = await r.changed();
  assert.equal(result.type, "unsettled");
  assert.equal(r.applied.length, 0);
  assert.deepEqual(gates(r.policy()), ["run-four-eyes:approval"]);
});

test("the same bytes with a new mtime (written again meanwhile) are not yet stable", async () => {
  let mtime = 1;
  const r = reloader(() => ({ text: v2, mtimeMs: mtime++, size: v2.length }));
  assert.equal((await r.changed()).type, "unsettled");
  assert.equal(r.applied.length, 0);
});

test("on a real file: an editor finishing its in-place write during the settle interval gets the complete policy applied", async () => {
  const path = join(mkdtempSync(join(tmpdir(), "berth-reload-")), "policy.yaml");
  writeFileSync(path, truncated);
  let policy = parsePolicyText(v1, path);
  const applied: Policy[] = [];
  let waits = 0;
  const r = createPolicyReloader({
    path,
    current: () => policy,
    apply: (p) => {
      policy = p;
      applied.push(p);
    },
    settleMs: 50,
    // Instead of sleeping: the editor writes the rest of the file while berth waits.
    wait: async () => {
      if (waits++ === 0) writeFileSync(path, v2);
    },
  });
  const result = await r.changed();
  assert.equal(result.type, "applied");
  assert.deepEqual(applied.map(gates), [["run-four-eyes:approval"]]);
});

test("an invalid file is refused with its line, and the policy in force stays", async () => {
  const bad = v1.replace("role: operator", "role: opperator");
  const r = reloader(fakeFile([bad]).read);
  const result = await r.changed();
  assert.equal(result.type, "refused");
  assert.match(
    result.type === "refused" ? result.reason : "",
    /Invalid policy policy\.yaml:\n {2}line 5 \(bindings\.0\.role\): no role named "opperator"/,
  );
  assert.equal(r.applied.length, 0);
});

test("a touched file with the same policy applies nothing", async () => {
  const r = reloader(fakeFile([`# comment\n${v1}`]).read);
  assert.equal((await r.changed()).type, "unchanged");
  assert.equal(r.applied.length, 0);
});

test("changes seen while a reload runs are folded into one more run after it", async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  // The first run reads v2 twice; the edit made while it ran is what the second run reads.
  const confirmOnly = v2.replace("approval", "confirm");
  let reads = 0;
  const r = reloader(
    () => {
      const text = reads++ < 2 ? v2 : confirmOnly;
      return { text, mtimeMs: text.length, size: text.length };
    },
    () => gate,
  );
  const first = r.changed();
  const second = r.changed();
  const third = r.changed();
  assert.equal(second, third, "one more run for any number of changes seen meanwhile");
  release();
  assert.equal((await first).type, "applied");
  assert.equal((await second).type, "applied");
  assert.equal(reads, 4);
  assert.deepEqual(r.applied.map(gates), [["run-four-eyes:approval"], ["run-four-eyes:confirm"]]);
});
