import { type Action, ActionSchema, type Actor } from "../core/action.ts";
import { chosenAction } from "../core/choices.ts";
import { type DispatchDeps, pickedAction } from "../core/dispatch.ts";
import { code, command, type Message, msg } from "../core/message.ts";
import {
  approveActionId,
  denyActionId,
  hostExtendActionId,
  hostPickActionId,
  notifyLogsActionId,
  notifyRestartActionId,
  stopActionId,
} from "./render.ts";
import { choiceActionId } from "./render-choices.ts";

/** One kind of button berth puts on its messages: how its value becomes a typed action, and what a stale one says. */
export type Button = {
  actionId: string | RegExp;
  /** The button's name in logs and audit records (a host pick's action ID carries the host). */
  name: string;
  /** undefined: the value no longer stands for anything (used up, or not a valid action any more). */
  toAction: (value: string) => Action | undefined;
  /** Clicked on a gate card (Approve/Deny, Run/Cancel): the answer edits that card. */
  onGateCard: boolean;
  /** What the clicker is told when `toAction` finds nothing. */
  stale: Message;
};

/** A stale button's answer: what to type instead. */
const typeInstead = (line: string): Message => msg`That button's request is not valid any more. Use ${command(line)} instead.`;

/** A notification button carries a typed action as JSON; it is validated like any input, then authorized. */
const carried = (value: string): Action | undefined => {
  try {
    const parsed = ActionSchema.safeParse(JSON.parse(value));
    return parsed.success && (parsed.data.kind === "container.logs" || parsed.data.kind === "container.restart") ? parsed.data : undefined;
  } catch {
    return undefined;
  }
};

type TapBody = {
  container?: { type?: string; message_ts?: string; channel_id?: string; is_ephemeral?: boolean };
  channel?: { id?: string };
};

/** The channel message a tap came from; none for a tap in the Home tab, a modal or an ephemeral (no link to those). */
export function tappedOn(body: TapBody): Actor["tappedOn"] {
  const c = body.container;
  const channelId = c?.channel_id ?? body.channel?.id;
  if (c?.type !== "message" || c.is_ephemeral || !c.message_ts || !channelId) return undefined;
  return { channelId, ts: c.message_ts };
}

/** Every button berth answers; the clicker becomes the actor, and the button's value becomes a typed action. */
export function buttons(deps: Pick<DispatchDeps, "pendingActions">): readonly Button[] {
  const button = (actionId: string, toAction: Button["toAction"], onGateCard = false, stale: Message = []): Button => ({
    actionId,
    name: actionId,
    toAction,
    onGateCard,
    stale,
  });
  return [
    button(stopActionId, (job) => ({ kind: "job.cancel", job })),
    button(approveActionId, (id) => ({ kind: "approval.decide", id, verdict: "approve" }), true),
    button(denyActionId, (id) => ({ kind: "approval.decide", id, verdict: "deny" }), true),
    {
      actionId: new RegExp(`^${hostPickActionId}:`),
      name: hostPickActionId,
      toAction: (value) => pickedAction(deps, value),
      onGateCard: false,
      stale: msg`That choice is no longer open (berth restarted, or it was already used). Type the command again, with ${code("-H HOST")} if you like.`,
    },
    button(
      hostExtendActionId,
      (name) => {
        const parsed = ActionSchema.safeParse({ kind: "host.extend", name });
        return parsed.success ? parsed.data : undefined;
      },
      false,
      msg`That button is not valid any more. Use ${command("host extend NAME")}.`,
    ),
    {
      actionId: new RegExp(`^${choiceActionId}:`),
      name: choiceActionId,
      toAction: (value) => chosenAction(deps, value),
      onGateCard: false,
      stale: msg`That choice is no longer open (berth restarted since, or another berth took the tap). Type the command again.`,
    },
    button(notifyLogsActionId, carried, false, typeInstead("logs")),
    button(notifyRestartActionId, carried, false, typeInstead("restart")),
  ];
}
