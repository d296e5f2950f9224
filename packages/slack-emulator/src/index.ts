/**
 * The emulator's public surface: the fake itself (SlackFake and its records) and the HTTP-mode driver that delivers
 * signed slash commands and button clicks to a bot. Everything else under src/ is its internals.
 */
export * from "./slack-driver.ts";
export * from "./slack-driver-home.ts";
export * from "./slack-fake.ts";
export type { FileRecord } from "./slack-fake-store.ts";
