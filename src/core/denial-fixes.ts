import type { Action, Actor } from "./action.ts";
import { parseDuration } from "./duration.ts";
import type { Choice } from "./events.ts";
import { normalizeImage } from "./glob.ts";
import { authorize, type Decision, type Place, type Policy, type Subject } from "./policy.ts";
import { suggest } from "./suggest.ts";

/** A break-glass grant asked for from a denial lasts an hour at most: enough for the task, never the policy's maximum. */
const askedGrantSeconds = 3600;

/**
 * The fixes a denial names, as taps. "Ask for a grant": each break-glass role this person may ask for that would allow
 * exactly this action here, as a filled-in `grant` request (its approvers decide, as for a typed one). An image outside
 * the allow-list: the closest images the list names outright. Each tap is authorized again as whoever taps it.
 */
export function denialChoices(
  policy: Policy,
  subject: Subject,
  action: Action,
  decision: Extract<Decision, { allow: false }>,
  place: Place,
  actor: Pick<Actor, "channelName" | "channelId">,
  now: number,
): Choice[] {
  if (decision.rule === "policy:images" && (action.kind === "container.run" || action.kind === "service.update")) {
    return closestImages(policy, action.image).flatMap((image): Choice[] => {
      const fixed = { ...action, image };
      return authorize(policy, subject, fixed, place, now).allow ? [{ label: `Use ${image}`, action: fixed }] : [];
    });
  }
  // A runbook's refusal names the step and its missing permission; a grant is asked for with that step in mind.
  if (decision.rule !== "default:deny" || action.kind === "grant.request" || action.kind === "runbook.run") return [];
  const asked = new Set<string>();
  return policy.grants.flatMap((g): Choice[] => {
    if (asked.has(g.role)) return [];
    const grant = { kind: "grant.request" as const, role: g.role, durationSeconds: 0, reason: "" };
    // May this person ask for it at all (the policy's requesters), and would it allow this very action here?
    if (!mayAsk(policy, subject, grant, place, now)) return [];
    const withGrant = {
      ...subject,
      grants: [...(subject.grants ?? []), { id: "g-preview", userId: subject.userId, role: g.role, expiresAt: now + 60_000 }],
    };
    if (!authorize(policy, withGrant, action, place, now).allow) return [];
    asked.add(g.role);
    const seconds = Math.min(askedGrantSeconds, parseDuration(g.maxDuration) ?? askedGrantSeconds);
    const where = actor.channelName ? `#${actor.channelName}` : actor.channelId;
    return [
      {
        label: `Ask for ${g.role} (${asTyped(seconds)})`,
        action: { ...grant, durationSeconds: seconds, reason: `to ${action.kind} in ${where}, which berth denied` },
      },
    ];
  });
}

/** A duration as one would type it for `--for`: 1h, 30m, 90s. */
const asTyped = (seconds: number) =>
  seconds % 3600 === 0 ? `${seconds / 3600}h` : seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`;

/** A grant request is decided against the policy's grants: a request with a valid duration tells whether one may ask. */
function mayAsk(policy: Policy, subject: Subject, grant: Extract<Action, { kind: "grant.request" }>, place: Place, now: number): boolean {
  return authorize(policy, subject, { ...grant, durationSeconds: 60, reason: "check" }, place, now).allow;
}

/** Images the allow-list names outright (no wildcard), closest to the one asked for first; three at most. */
function closestImages(policy: Policy, image: string): string[] {
  const literal = (policy.images ?? []).filter((g) => !/[*?[\]{}]/.test(g));
  const repo = (ref: string) => {
    const full = normalizeImage(ref).replace(/@.*$/, "");
    const colon = full.lastIndexOf(":");
    return colon > full.lastIndexOf("/") ? full.slice(0, colon) : full;
  };
  const sameRepo = literal.filter((g) => repo(g) === repo(image));
  const close = suggest(image, literal);
  return [...new Set([...sameRepo, ...close])].slice(0, 3);
}
