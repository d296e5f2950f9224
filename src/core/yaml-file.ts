import { readFileSync } from "node:fs";
import { LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { BerthError } from "./errors.ts";

/**
 * Reads a YAML manifest and validates it with a zod schema. Every problem is reported with the file, line and the
 * path inside the document, so the operator can go straight to it.
 */
export function loadYamlFile<T extends z.ZodType>(path: string, schema: T, what: string): z.output<T> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (cause) {
    const hint =
      (cause as { code?: string }).code === "ENOENT"
        ? ` Copy manifests/${what}.example.yaml to ${path} and edit it, or point BERTH_${what.toUpperCase()} at your file.`
        : "";
    throw new BerthError("CONFIG", `Cannot read the ${what} file ${path}: ${(cause as Error).message}.${hint}`, { cause });
  }
  return parseYaml(text, schema, `${what} ${path}`);
}

export function parseYaml<T extends z.ZodType>(text: string, schema: T, source: string): z.output<T> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const firstError = doc.errors[0];
  if (firstError) {
    const at = lines.linePos(firstError.pos[0]);
    throw new BerthError("CONFIG", `Invalid ${source}, line ${at.line}: ${firstError.message.split("\n")[0]}`);
  }
  const result = schema.safeParse(doc.toJS());
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.map(String);
    // Point at the deepest node that exists: a missing key is reported at its parent.
    let line: number | undefined;
    for (let n = path.length; n >= 0 && line === undefined; n--) {
      const node = doc.getIn(
        path.slice(0, n).map((p) => (/^\d+$/.test(p) ? Number(p) : p)),
        true,
      ) as { range?: [number, number, number] } | undefined;
      if (node?.range) line = lines.linePos(node.range[0]).line;
    }
    const where = path.length ? path.join(".") : "(top level)";
    return `line ${line ?? 1} (${where}): ${issue.message}`;
  });
  throw new BerthError("CONFIG", `Invalid ${source}:\n  ${problems.join("\n  ")}`);
}
