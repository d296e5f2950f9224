/**
 * Glob patterns as the policy and hosts manifests use them. In image references `*` stays within one path segment
 * and `**` crosses `/`; in names (channels, hosts) `*` matches anything.
 */
export function globMatch(pattern: string, value: string, options: { segments: boolean } = { segments: false }): boolean {
  if (pattern === "*" || pattern === "**") return true;
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === "*" && pattern[i + 1] === "*") {
      re += ".*";
      i++;
    } else if (c === "*") re += options.segments ? "[^/]*" : ".*";
    else if (c === "?") re += options.segments ? "[^/]" : ".";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`, "i").test(value);
}

/** `busybox` means `busybox:latest` to Docker; match the allow-list against the reference Docker will use. */
export function normalizeImage(image: string): string {
  const lastSegment = image.slice(image.lastIndexOf("/") + 1);
  return lastSegment.includes(":") || image.includes("@") ? image : `${image}:latest`;
}
