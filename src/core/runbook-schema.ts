/** The policy's `runbooks:` (zod): named, typed parameters and steps that are berth command lines. Run by runbook.ts. */
import { z } from "zod";
import { parseDuration } from "./duration.ts";
import { tokenize } from "./tokenize.ts";

/** A parameter's type says which values it takes; every type refuses a value that would read as an option (`-x`). */
export const paramTypes = ["string", "enum", "duration", "container", "host"] as const;
export type ParamType = (typeof paramTypes)[number];

const paramName = z.string().regex(/^[a-z][a-z0-9_]*$/, "parameter names are lower-case words, e.g. container or tail");
export const runbookName = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, "runbook names are lower-case words with -, e.g. restart-api");

const Param = z
  .object({
    name: paramName,
    type: z.enum(paramTypes),
    /** For `enum`: the values it takes. */
    values: z.array(z.string().min(1)).min(1).optional(),
    /** Used when the person leaves the parameter out; without one the parameter must be given. */
    default: z.string().optional(),
    help: z.string().max(200).optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.type === "enum" && !p.values) ctx.addIssue({ code: "custom", path: ["values"], message: "an enum parameter lists its values" });
    if (p.type !== "enum" && p.values) ctx.addIssue({ code: "custom", path: ["values"], message: "only an enum parameter has values" });
    if (p.default !== undefined) {
      const problem = valueProblem(p, p.default);
      if (problem) ctx.addIssue({ code: "custom", path: ["default"], message: `the default ${problem}` });
    }
    for (const [i, v] of (p.values ?? []).entries()) {
      if (v.startsWith("-")) ctx.addIssue({ code: "custom", path: ["values", i], message: "an enum value cannot start with -" });
    }
  });
export type RunbookParam = z.output<typeof Param>;

/** `{{name}}` in a step; a step is split into words first, so a value is always inside one word. */
export const placeholder = /\{\{\s*([a-z][a-z0-9_]*)\s*\}\}/g;

export const Runbook = z
  .object({
    name: runbookName,
    summary: z.string().min(1).max(200),
    params: z.array(Param).max(10).default([]),
    steps: z
      .array(
        z
          .string()
          .min(1)
          .superRefine((s, ctx) => {
            const words = tokenize(s);
            if (!words.ok) ctx.addIssue({ code: "custom", message: words.message });
            else if (words.words.length === 0) ctx.addIssue({ code: "custom", message: "an empty step" });
            else if ((words.words[0] as string).includes("{{"))
              ctx.addIssue({ code: "custom", message: "a step starts with a berth command, not a {{parameter}}" });
          }),
      )
      .min(1, "a runbook has at least one step")
      .max(20, "at most 20 steps"),
  })
  .strict()
  .superRefine((r, ctx) => {
    for (const [i, p] of r.params.entries()) {
      if (r.params.findIndex((q) => q.name === p.name) !== i)
        ctx.addIssue({ code: "custom", path: ["params", i, "name"], message: `duplicate parameter "${p.name}"` });
    }
    for (const [i, step] of r.steps.entries()) {
      for (const m of step.matchAll(placeholder)) {
        if (!r.params.some((p) => p.name === m[1]))
          ctx.addIssue({
            code: "custom",
            path: ["steps", i],
            message: `{{${m[1]}}} names no parameter; parameters: ${r.params.map((p) => p.name).join(", ") || "none"}`,
          });
      }
    }
    for (const [i, p] of r.params.entries()) {
      if (!r.steps.some((s) => [...s.matchAll(placeholder)].some((m) => m[1] === p.name)))
        ctx.addIssue({ code: "custom", path: ["params", i, "name"], message: `parameter "${p.name}" is used by no step` });
    }
  });
export type RunbookSpec = z.output<typeof Runbook>;

export const Runbooks = z
  .array(Runbook)
  .default([])
  .superRefine((list, ctx) => {
    for (const [i, r] of list.entries()) {
      if (list.findIndex((x) => x.name === r.name) !== i)
        ctx.addIssue({ code: "custom", path: [i, "name"], message: `duplicate runbook "${r.name}"` });
    }
  });

const containerRef = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const hostName = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

/**
 * Why `value` is not a `param` (a phrase after "the value"), or undefined. No type lets a value start with `-`: a
 * value is one word of a step, and this keeps it from being read as an option.
 */
export function valueProblem(param: Pick<RunbookParam, "type" | "values">, value: string): string | undefined {
  switch (param.type) {
    case "container":
      return containerRef.test(value) ? undefined : "is not a container name or id (letters, digits, _ . -)";
    case "host":
      return hostName.test(value) ? undefined : "is not a host name that the hosts command lists";
    case "duration":
      return /^\w+$/.test(value) && (parseDuration(value) ?? 0) > 0 ? undefined : "is not a duration such as 30s, 10m or 2h";
    case "enum":
      return param.values?.includes(value) ? undefined : `is not one of ${param.values?.join(", ")}`;
    case "string":
      if (value.length === 0) return "is empty";
      if (value.startsWith("-")) return "cannot start with - (it would read as an option)";
      return value.length > 200 ? "is longer than 200 characters" : undefined;
  }
}
