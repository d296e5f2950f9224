/**
 * Exactly once per Slack delivery. Slack sends a delivery again when it did not see the ack in time (over HTTP the same
 * body with `X-Slack-Retry-Num` / `X-Slack-Retry-Reason`), after a Socket Mode reconnect (the same `envelope_id`, with
 * `retry_attempt`), and a click can arrive twice the same way (docs/reference/slack-platform.md §2.3, §3). The first
 * delivery claims its keys in the store, so a restarted berth (and, once the store is shared, every replica) knows it;
 * a later delivery with any of those keys is acked and does nothing else.
 *
 * The key is the delivery, never the text: two people (or one, twice) typing the same command are two deliveries with
 * two trigger ids, and both run.
 */
import { createHash } from "node:crypto";

export type DeliveryKind = "command" | "click" | "event";

/** One delivery as berth tells it apart: its keys, and how Slack marked it (for the log line of a duplicate). */
export type Delivery = {
  kind: DeliveryKind;
  /** Claimed in order; the delivery is a duplicate when any of them was claimed before. Never empty. */
  keys: readonly string[];
  retryNum?: number | undefined;
  retryReason?: string | undefined;
  envelopeId?: string | undefined;
};

/** What Bolt puts in a listener's context: the retry headers (or envelope fields) and, in Socket Mode, the envelope id. */
export type DeliveryContext = { retryNum?: unknown; retryReason?: unknown; envelopeId?: unknown };

/**
 * Slack's retries end within about 6 minutes (immediately, +1 min, +5 min) and a Socket Mode redelivery follows a
 * reconnect; an hour outlasts both with room to spare, and keeps the table at about an hour of traffic.
 */
export const deliveryKeyTtlMs = 60 * 60_000;

const text = (value: unknown): string | undefined => (typeof value === "string" && value !== "" ? value : undefined);
const field = (value: unknown, name: string): unknown =>
  typeof value === "object" && value !== null ? (value as Record<string, unknown>)[name] : undefined;

/**
 * The key Slack keeps the same on every delivery of one request: a slash command's `trigger_id` (minted per
 * invocation), a click's `trigger_id` + the action's `action_ts` + the message it was on, an Events API event's outer
 * `event_id` ("globally unique across all workspaces", docs/reference/slack-platform.md §2.3). Scoped by workspace.
 */
function requestKey(kind: DeliveryKind, body: unknown): string | undefined {
  const team = text(field(body, "team_id")) ?? text(field(field(body, "team"), "id")) ?? "-";
  const trigger = text(field(body, "trigger_id"));
  if (kind === "command") return trigger && `command:${team}:${trigger}`;
  if (kind === "event") {
    const eventId = text(field(body, "event_id"));
    return eventId && `event:${team}:${eventId}`;
  }
  const actions = field(body, "actions");
  const actionTs = text(field(Array.isArray(actions) ? actions[0] : undefined, "action_ts"));
  if (!trigger && !actionTs) return undefined;
  const messageTs = text(field(field(body, "container"), "message_ts")) ?? text(field(field(body, "message"), "ts")) ?? "-";
  return `click:${team}:${trigger ?? "-"}:${actionTs ?? "-"}:${messageTs}`;
}

/** Reads a delivery's keys: the request's own, the Socket Mode envelope's, or (neither there) a hash of the body. */
export function deliveryOf(kind: DeliveryKind, body: unknown, context: DeliveryContext): Delivery {
  const envelopeId = text(context.envelopeId);
  const keys = [requestKey(kind, body), envelopeId && `envelope:${envelopeId}`].filter((k): k is string => k !== undefined);
  // A body that names nothing (no trigger, no action time, no envelope): Slack re-sends the same bytes, so their hash.
  if (keys.length === 0) keys.push(`body:${kind}:${createHash("sha256").update(JSON.stringify(body)).digest("hex")}`);
  return {
    kind,
    keys,
    retryNum: typeof context.retryNum === "number" ? context.retryNum : undefined,
    retryReason: text(context.retryReason),
    envelopeId,
  };
}

export type DeliveryGateDeps = {
  /** The store's `dedupe.claim`: true for the first claim of a key, false while an earlier one holds. */
  claim: (key: string, ttlMs: number) => Promise<boolean>;
  log: (event: string, fields: Record<string, unknown>) => void;
  /** Counts a duplicate (berth_duplicate_deliveries_total). */
  duplicate?: ((kind: DeliveryKind) => void) | undefined;
};

/** Lets the first delivery of each request through; says which later ones are duplicates, logged and counted. */
export function createDeliveryGate(deps: DeliveryGateDeps) {
  return {
    /** True for the delivery to handle; false for a duplicate, which the caller has acked and now drops. */
    async first(delivery: Delivery): Promise<boolean> {
      let key: string | undefined;
      try {
        // In order, stopping at the first key claimed before: the later keys of a duplicate are left alone.
        for (const k of delivery.keys) {
          if (!(await deps.claim(k, deliveryKeyTtlMs))) {
            key = k;
            break;
          }
        }
      } catch (error) {
        // The store cannot say (a locked or full database): handling a possible duplicate beats dropping a command
        // someone typed during an incident, and the pipeline meets the same store fault and answers it.
        deps.log("delivery not de-duplicated: the store failed", { kind: delivery.kind, delivery: delivery.keys[0], err: error });
        return true;
      }
      if (key === undefined) return true;
      // `delivery`, not `key`: the logger censors fields named key.
      deps.log("duplicate delivery ignored", {
        kind: delivery.kind,
        delivery: key,
        retryNum: delivery.retryNum,
        retryReason: delivery.retryReason,
        envelopeId: delivery.envelopeId,
      });
      deps.duplicate?.(delivery.kind);
      return false;
    },
  };
}

export type DeliveryGate = ReturnType<typeof createDeliveryGate>;
