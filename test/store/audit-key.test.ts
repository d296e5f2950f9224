import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadConfig } from "../../src/config.ts";
import { auditKeysFromEnv, parseAuditKeys } from "../../src/store/audit-key.ts";

const secret = "0123456789abcdef-secret";

test("BERTH_AUDIT_KEY: id:secret entries, the first signs; a bare secret is key default; the secret never shows", () => {
  const keys = parseAuditKeys(`2026b:${secret}-new, 2026a:${secret}:with:colons`, "BERTH_AUDIT_KEY");
  assert.equal(keys.currentId, "2026b");
  assert.deepEqual(keys.ids, ["2026b", "2026a"]);
  assert.match(keys.mac("2026a", "x") ?? "", /^[0-9a-f]{64}$/);
  assert.equal(keys.mac("2025", "x"), undefined);
  assert.ok(!JSON.stringify(keys).includes(secret), "the keyring can be logged");
  assert.equal(parseAuditKeys(secret, "BERTH_AUDIT_KEY").currentId, "default");
});

test("BERTH_AUDIT_KEY refuses short keys, repeated ids, the example's placeholder and an empty list", () => {
  assert.throws(() => parseAuditKeys("k1:short", "BERTH_AUDIT_KEY"), /the audit key "k1" is 5 characters long; use at least 16/);
  assert.throws(() => parseAuditKeys(`k1:${secret},k1:${secret}x`, "BERTH_AUDIT_KEY"), /the audit key id "k1" appears twice/);
  assert.throws(() => parseAuditKeys("2026a:REPLACE-ME", "BERTH_AUDIT_KEY"), /still the example's placeholder/);
  assert.throws(() => parseAuditKeys(" , ", "BERTH_AUDIT_KEY"), /holds no key/);
});

test("BERTH_AUDIT_KEY=file:PATH reads the key file once; a missing file stops berth with its path", () => {
  const path = join(mkdtempSync(join(tmpdir(), "berth-key-")), "audit.key");
  writeFileSync(path, `k9:${secret}\n`);
  assert.equal(auditKeysFromEnv(`file:${path}`)?.currentId, "k9");
  assert.equal(loadConfig({ BERTH_AUDIT_KEY: `file:${path}` }).audit.keys?.currentId, "k9");
  assert.throws(
    () => loadConfig({ BERTH_AUDIT_KEY: "file:/nonexistent/berth/audit.key" }),
    (e: Error & { code?: string }) =>
      e.code === "CONFIG" && /Cannot read the audit key file \/nonexistent\/berth\/audit\.key \(BERTH_AUDIT_KEY=file:/.test(e.message),
  );
  assert.equal(loadConfig({}).audit.keys, undefined);
});

test("the audit channel, anchor file and interval are read from the environment", () => {
  const config = loadConfig({
    BERTH_AUDIT_CHANNEL: "C0AUDIT",
    BERTH_AUDIT_ANCHOR_FILE: "/a/anchors.jsonl",
    BERTH_AUDIT_ANCHOR_INTERVAL: "1h",
  });
  assert.deepEqual(
    { channel: config.audit.channel, file: config.audit.anchorFile, ms: config.audit.anchorIntervalMs },
    { channel: "C0AUDIT", file: "/a/anchors.jsonl", ms: 3_600_000 },
  );
  assert.equal(loadConfig({}).audit.anchorIntervalMs, 15 * 60_000);
  assert.throws(() => loadConfig({ BERTH_AUDIT_CHANNEL: "#audit" }), /BERTH_AUDIT_CHANNEL: a Slack channel ID/);
  assert.throws(() => loadConfig({ BERTH_AUDIT_ANCHOR_INTERVAL: "soon" }), /BERTH_AUDIT_ANCHOR_INTERVAL: a duration/);
});
