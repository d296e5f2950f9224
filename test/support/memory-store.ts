// Stores and job registries for unit tests: an in-memory store port, closed after each test with what it carries (the
// registry's heartbeat timer), so that no test leaves a handle open. A test file calls `afterEach(closeOpened)`.
import { createJobRegistry, type JobRegistry, type JobRegistryOptions } from "../../src/core/jobs.ts";
import type { StorePort } from "../../src/store/port.ts";
import { openSqliteStore } from "../../src/store/sqlite-store.ts";

const opened: (() => Promise<void> | void)[] = [];

/** A fresh `:memory:` store on `clock` (default: the real one). */
export async function memoryStore(clock?: () => number): Promise<StorePort> {
  const store = await openSqliteStore({ dataDir: ":memory:", clock });
  opened.push(() => store.close());
  return store;
}

/** A job registry on `store` owned by "test", its heartbeat stopped by closeOpened. */
export function testJobs(store: StorePort, options: Partial<JobRegistryOptions> = {}): JobRegistry {
  const jobs = createJobRegistry(store, { owner: "test", ...options });
  opened.push(() => jobs.close());
  return jobs;
}

/** Closes, newest first, whatever memoryStore and testJobs opened since the last call. */
export async function closeOpened(): Promise<void> {
  for (const close of opened.splice(0).reverse()) await close();
}
