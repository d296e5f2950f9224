import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Actor } from "../core/action.ts";
import type { Text } from "../core/events.ts";
import { msg } from "../core/message.ts";
import type { Timeline } from "../core/timeline.ts";
import type { Outbox } from "./outbox.ts";
import { renderTimelineMarkdown, renderTimelineSummary, timelineFilename } from "./render-timeline.ts";
import { slackError } from "./run-job.ts";

export type TimelineDeliveryDeps = {
  outbox: Pick<Outbox, "post" | "upload">;
  slash: string;
  usergroups: () => readonly string[];
  log: (event: string, fields: Record<string, unknown>) => void;
  /** The workspace's URL (auth.test), for links to cards; undefined: the timeline is posted without them. */
  workspaceUrl?: (() => Promise<string | undefined>) | undefined;
  /** Where the file is written before it is uploaded (the spool directory: writable wherever berth runs). */
  scratchDir: string;
};

/** auth.test's `url`, asked once (a failure is not kept: the next timeline asks again). */
export function workspaceUrlOnce(authTest: () => Promise<{ url?: string | undefined }>): () => Promise<string | undefined> {
  let known: Promise<string | undefined> | undefined;
  return () => {
    known ??= authTest().then(
      (r) => r.url,
      () => {
        known = undefined;
        return undefined;
      },
    );
    return known;
  };
}

/**
 * Posts a timeline in its channel (the channel is the incident: everyone there saw these cards) and uploads the
 * Markdown file into the summary's thread. Resolves false when Slack refused the summary, so nothing was shown.
 */
export async function deliverTimeline(
  t: Timeline,
  actor: Actor,
  deps: TimelineDeliveryDeps,
  tell: (text: Text) => Promise<unknown>,
  refusal: (error: unknown) => Text,
  requestId: string,
): Promise<boolean | undefined> {
  const workspaceUrl = await deps.workspaceUrl?.();
  let ts: string;
  try {
    ts = await deps.outbox.post(actor.channelId, {
      text: renderTimelineSummary(t, { slash: deps.slash, usergroups: deps.usergroups(), workspaceUrl }),
    });
  } catch (error) {
    await tell(msg`No timeline was posted. ${refusal(error)}`);
    return false;
  }
  const dir = await mkdtemp(join(deps.scratchDir, "timeline-"));
  try {
    const path = join(dir, timelineFilename(t));
    await writeFile(path, renderTimelineMarkdown(t, { slash: deps.slash, workspaceUrl }));
    await deps.outbox.upload(actor.channelId, ts, { filename: timelineFilename(t), title: `Timeline: ${timelineFilename(t)}`, path });
  } catch (error) {
    deps.log("timeline file not uploaded", { requestId, error: slackError(error) });
    await tell(msg`The timeline's summary is posted, but Slack did not take its file (${slackError(error)}). Run it again for the file.`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return true;
}
