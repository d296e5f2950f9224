export * from "../../src/slack-emulator/slack-fake-payloads.ts";
