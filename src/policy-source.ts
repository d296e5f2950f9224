import { unwatchFile, watchFile } from "node:fs";
import type { Policy } from "./core/policy.ts";
import { loadPolicyFile } from "./core/policy-file.ts";
import { createPolicyReloader, type ReloadResult } from "./core/policy-reload.ts";

export type PolicySource = {
  /** The policy in force now (a reload replaces it between two requests, never during one). */
  current(): Policy;
  /** Reads the file now; the file watcher calls this on a change. Every result, applied or not, goes to the listeners. */
  reload(): Promise<ReloadResult>;
  /** Tells `listener` every reload's result (the audit operations record and post them). */
  onReload(listener: (result: ReloadResult) => void): void;
  /** Stops watching the file. */
  close(): void;
};

/**
 * The policy file, read at start (an invalid one stops berth: BerthError "CONFIG") and applied again without a restart
 * once a change is complete and valid (policy-reload.ts).
 */
export function createPolicySource(o: {
  path: string;
  /** How often the file is checked for changes (ms, default 2000). */
  intervalMs?: number | undefined;
  /** How long a changed file must stay the same before it is read as complete (ms). */
  settleMs?: number | undefined;
  onError: (error: unknown) => void;
}): PolicySource {
  let policy = loadPolicyFile(o.path);
  const listeners: ((result: ReloadResult) => void)[] = [];
  const reloader = createPolicyReloader({
    path: o.path,
    current: () => policy,
    apply: (next) => {
      policy = next;
    },
    settleMs: o.settleMs,
  });
  const reload = async () => {
    const result = await reloader.changed();
    for (const listener of listeners) listener(result);
    return result;
  };
  watchFile(o.path, { interval: o.intervalMs ?? 2000, persistent: false }, (cur, prev) => {
    if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size) void reload().catch(o.onError);
  });
  return {
    current: () => policy,
    reload,
    onReload: (listener) => listeners.push(listener),
    close: () => unwatchFile(o.path),
  };
}
