export * from "../../src/slack-emulator/slack-driver.ts";
