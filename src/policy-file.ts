import { type Policy, PolicySchema } from "./policy.ts";
import { loadYamlFile } from "./yaml-file.ts";

/** Reads and validates the policy manifest; an invalid one is a BerthError("CONFIG") naming file, line and problem. */
export function loadPolicyFile(path: string): Policy {
  return loadYamlFile(path, PolicySchema, "policy");
}
