import type { Text } from "../../src/core/events.ts";
import { toMrkdwn } from "../../src/slack/render.ts";

/** What Slack would be sent for a reply or event text (with the default `/berth`): what the tests assert on. */
export const mrkdwn = (text: Text | undefined): string => (text === undefined ? "" : toMrkdwn(text, "/berth"));
