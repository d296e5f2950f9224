/**
 * The one Slack workspace berth serves. A signed request only proves it came through Slack for this app, not from
 * whom: an app distributed to, or shared into, another workspace (Slack Connect) receives that workspace's commands
 * and clicks too, and their user IDs mean nothing in berth's policy. Every command and click is checked here first.
 */
import { BerthError } from "../core/errors.ts";

/** The workspace (and, on Enterprise Grid, the organization) berth serves. */
export type Home = { teamId: string; enterpriseId?: string | undefined };

/** Where a request says it comes from: its workspace, and its organization when there is one. */
export type Origin = { teamId?: string | undefined; enterpriseId?: string | undefined };

/** Why berth refuses a request from elsewhere; undefined when it comes from berth's own workspace. */
export function foreignRequest(home: Home | undefined, origin: Origin): string | undefined {
  if (!home) return "berth does not know yet which Slack workspace it serves (it is still starting). Try again in a moment.";
  if (origin.teamId !== home.teamId) {
    return `This berth serves one Slack workspace (${home.teamId}), and this request came from another (${origin.teamId ?? "unknown"}), so berth does nothing with it. Use berth from its own workspace; if yours needs one, its admins can install their own.`;
  }
  if (home.enterpriseId !== undefined && origin.enterpriseId !== home.enterpriseId) {
    return `This berth serves one Slack organization (${home.enterpriseId}), and this request came from ${origin.enterpriseId ? `another (${origin.enterpriseId})` : "outside it"}, so berth does nothing with it.`;
  }
  return undefined;
}

/**
 * The workspace from the operator's BERTH_SLACK_TEAM_ID, else the one the bot token belongs to (auth.test): a token
 * is installed in exactly one workspace, so that is the one berth answers.
 */
export async function homeWorkspace(
  configured: { teamId?: string | undefined; enterpriseId?: string | undefined },
  authTest: () => Promise<{ team_id?: string | undefined }>,
): Promise<Home> {
  if (configured.teamId) return { teamId: configured.teamId, enterpriseId: configured.enterpriseId };
  const { team_id: teamId } = await authTest();
  if (!teamId) {
    throw new BerthError("CONFIG", "Slack's auth.test did not say which workspace the bot token belongs to; set BERTH_SLACK_TEAM_ID (T…).");
  }
  return { teamId, enterpriseId: configured.enterpriseId };
}
