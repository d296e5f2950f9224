export * from "../../src/slack-emulator/slack-fake.ts";
