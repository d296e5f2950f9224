export * from "../../src/slack-emulator/slack-fake-responses.ts";
