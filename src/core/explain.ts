import type { ActionOf } from "./action.ts";
import type { HandlerContext } from "./handlers/handler.ts";
import { code, isUser, join, msg, strong } from "./message.ts";
import { parse } from "./parse.ts";
import { now, type Outcome, replyOutcome } from "./pipeline-types.ts";
import { hostFor, placeOf } from "./place.ts";
import { approversFor, authorize } from "./policy.ts";

/** `can-i COMMAND…`: the decision the policy would make, without running anything. */
export async function explain(action: ActionOf<"policy.explain">, c: HandlerContext): Promise<Outcome> {
  const { deps, actor, requestId } = c;
  const text = action.text ?? "";
  const answer = (m: Parameters<typeof replyOutcome>[1]) => replyOutcome(requestId, m);
  const parsed = parse(text, deps.registry);
  if (!parsed.ok) return answer(msg`I can't tell: that command does not parse. ${parsed.message}`);
  const asked = parsed.action;
  const choice = hostFor(asked, actor, deps);
  if (!choice.ok) return answer(msg`${choice.message}`);
  const place = await placeOf(deps, asked, actor, choice.host);
  const d = authorize(c.policy, c.subject, asked, place, now(deps));
  const what = code(text);
  if (!d.allow) return answer(msg`${strong("Denied:")} ${what}. ${d.reason} (rule ${code(d.rule)})`);
  const via = msg`allowed by ${code(d.rule)}`;
  if (d.gate === "none") return answer(msg`${strong("Allowed:")} ${what}, ${via}; it runs at once.`);
  const gateRule = code(d.gateRule ?? "");
  if (d.gate === "confirm")
    return answer(msg`${strong("Allowed after you confirm:")} ${what}, ${via}; ${gateRule} asks for a tap on Run first.`);
  const who = approversFor(c.policy, { action: asked, place, approvers: d.approvers }).filter((a) => !isUser(a, actor.userId));
  return answer(
    msg`${strong("Needs approval:")} ${what}, ${via}; ${gateRule} needs a second person. Who could approve: ${who.length ? join(who, ", ") : "nobody is bound to approve it here"}.`,
  );
}
