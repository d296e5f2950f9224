export * from "../../src/slack-emulator/slack-socket-hub.ts";
