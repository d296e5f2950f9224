export * from "../../src/slack-emulator/slack-fake-blocks.ts";
