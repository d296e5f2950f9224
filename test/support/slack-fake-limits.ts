export * from "../../src/slack-emulator/slack-fake-limits.ts";
