/**
 * What `npx berth policy check` finds in runbooks beyond the schema (which already refuses a placeholder without a
 * parameter and a parameter no step uses): a step that is not a berth command berth could parse, and a step that no
 * role named in the bindings may ever run, so nobody could get past it.
 */
import { risk } from "./action.ts";
import type { Registry } from "./command.ts";
import { globMatch } from "./glob.ts";
import { plainText } from "./message.ts";
import { roleActions } from "./policy.ts";
import type { Policy } from "./policy-schema.ts";
import { type RunbookStep, stepsOf } from "./runbook.ts";
import type { RunbookParam } from "./runbook-schema.ts";

/** A value of each parameter's type, to parse the steps with: its default, else its first value, else a plain one. */
function sample(p: RunbookParam): string {
  if (p.default !== undefined) return p.default;
  if (p.values?.[0]) return p.values[0];
  return { string: "example", enum: "example", duration: "1m", container: "example", host: "example" }[p.type];
}

/** One sentence per problem, naming the runbook and the step; none when every runbook could run. */
export function runbookProblems(policy: Policy, registry: Registry): string[] {
  const problems: string[] = [];
  const boundRoles = [...new Set(policy.bindings.map((b) => b.role))];
  for (const r of policy.runbooks) {
    const values = Object.fromEntries(r.params.map((p) => [p.name, sample(p)]));
    for (const [i, template] of r.steps.entries()) {
      // Each step on its own, so that one that does not parse hides no problem in the others.
      const parsed = stepsOf({ ...r, steps: [template] }, values, registry);
      if (!parsed.ok) {
        problems.push(`runbook ${r.name}, step ${i + 1} (${template}): ${plainText(parsed.message)}`);
        continue;
      }
      const kind = (parsed.steps[0] as RunbookStep).action.kind;
      if (risk[kind] === "self") continue;
      const roles = boundRoles.filter((role) => roleActions(policy, role).some((p) => globMatch(p, kind)));
      if (!roles.length)
        problems.push(
          `runbook ${r.name}, step ${i + 1} (${template}): no role named in bindings allows ${kind}, so nobody could run this runbook`,
        );
    }
  }
  return problems;
}
