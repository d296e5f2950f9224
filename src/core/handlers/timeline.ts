import type { Action } from "../action.ts";
import { formatDuration } from "../duration.ts";
import { msg } from "../message.ts";
import { now, replyOutcome } from "../pipeline-types.ts";
import { safeRegExp } from "../policy.ts";
import { createRedactor } from "../redact.ts";
import { buildTimeline, defaultTimelineSeconds } from "../timeline.ts";
import { type Handler, noPreview, plainSummary } from "./handler.ts";

/**
 * `timeline`: this channel's audit records as one story. `describe` is the handler table's summary of an action (the
 * table imports this file, so it is handed in rather than imported).
 */
/** "24h", "3d", "90m": the window as the person would type it. */
const window = (seconds: number) =>
  seconds >= 2 * 86400 && seconds % 86400 === 0
    ? `${seconds / 86400}d`
    : seconds % 3600 === 0
      ? `${seconds / 3600}h`
      : formatDuration(seconds * 1000);

export function timelineHandler(describe: (action: Action, host: string | undefined) => string): Handler<"audit.timeline"> {
  return {
    runs: "reply",
    summary: plainSummary,
    preview: noPreview,
    async execute(a, c) {
      const to = now(c.deps);
      const seconds = a.sinceSeconds ?? defaultTimelineSeconds;
      const redact = createRedactor(
        [],
        c.policy.redact.flatMap((p) => safeRegExp(p) ?? []),
      );
      const timeline = buildTimeline(await c.deps.store.audit.all(), {
        channel: c.actor.channelId,
        from: to - seconds * 1000,
        to,
        describe,
        redact,
      });
      if (!timeline.entries.length) {
        return replyOutcome(
          c.requestId,
          msg`Nothing was done through berth in this channel in the last ${window(seconds)}. Look further back with --since (at most 7d).`,
        );
      }
      return { type: "timeline", timeline, requestId: c.requestId };
    },
    inverse: undefined,
  };
}
