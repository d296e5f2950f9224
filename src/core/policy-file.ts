import { type Policy, PolicySchema } from "./policy.ts";
import { loadYamlFile, parseYaml } from "./yaml-file.ts";

/** Reads and validates the policy manifest; an invalid one is a BerthError("CONFIG") naming file, line and problem. */
export function loadPolicyFile(path: string): Policy {
  return loadYamlFile(path, PolicySchema, "policy");
}

/** Validates policy text already read (a reload validates exactly the bytes it checked were stable). */
export function parsePolicyText(text: string, path: string): Policy {
  return parseYaml(text, PolicySchema, `policy ${path}`);
}
