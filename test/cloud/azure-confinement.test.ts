import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

// The Azure SDK is the adapter's business: the rest of berth sees the HostCloud port (src/cloud/ports.ts) only.
test("only the files of src/cloud/azure/ import the Azure SDK", () => {
  const files = readdirSync("src", { recursive: true, withFileTypes: true })
    .filter((f) => f.isFile() && f.name.endsWith(".ts"))
    .map((f) => join(f.parentPath, f.name));
  const importers = files.filter((f) => /from "@azure\/|import\("@azure\//.test(readFileSync(f, "utf8")));
  assert.ok(importers.length > 0);
  assert.deepEqual(
    importers.filter((f) => !f.startsWith(join("src", "cloud", "azure") + "/")),
    [],
  );
});
