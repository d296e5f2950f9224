import type { webApi } from "@slack/bolt";

/**
 * Which of the policy's user groups a person belongs to, from `usergroups.users.list`, cached briefly so a burst of
 * commands costs one call per group. A group that cannot be read counts as "not a member" (deny by default) and is
 * reported through `onError`.
 */
export function createDirectory(options: {
  client: webApi.WebClient;
  groups: () => readonly string[];
  ttlMs?: number;
  now?: () => number;
  onError?: (group: string, error: unknown) => void;
}) {
  const ttl = options.ttlMs ?? 60_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { at: number; members: Promise<ReadonlySet<string>> }>();

  const members = (group: string): Promise<ReadonlySet<string>> => {
    const hit = cache.get(group);
    if (hit && now() - hit.at < ttl) return hit.members;
    const fetched = options.client.usergroups.users
      .list({ usergroup: group })
      .then((res) => new Set(res.users ?? []) as ReadonlySet<string>)
      .catch((error: unknown) => {
        options.onError?.(group, error);
        cache.delete(group);
        return new Set<string>() as ReadonlySet<string>;
      });
    cache.set(group, { at: now(), members: fetched });
    return fetched;
  };

  return {
    async groupsOf(userId: string): Promise<ReadonlySet<string>> {
      const groups = options.groups();
      const found = await Promise.all(groups.map(async (g) => ((await members(g)).has(userId) ? g : undefined)));
      return new Set(found.filter((g): g is string => g !== undefined));
    },
  };
}
