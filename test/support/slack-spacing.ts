import { slackLimits } from "../../src/slack/limits.ts";

/** The outbox's spacing options at Slack's real limits, for tests that build an outbox of their own. */
export const slackSpacing = {
  postPerChannelMs: slackLimits.postSpacingPerChannelMs,
  postRepliesMs: slackLimits.postSpacingRepliesMs,
  postTopLevelMs: slackLimits.postSpacingTopLevelMs,
  updateMs: slackLimits.updateSpacingMs,
  uploadMs: slackLimits.uploadSpacingMs,
};
