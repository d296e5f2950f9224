// The tests import the emulator through here so that their imports stay put; new code imports @berth/slack-emulator.
export * from "@berth/slack-emulator";
