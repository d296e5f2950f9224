export * from "../../src/slack-emulator/slack-fake-store.ts";
