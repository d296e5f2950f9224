export * from "../../src/slack-emulator/slack-fake-methods.ts";
