export * from "../../src/slack-emulator/slack-fake-json.ts";
