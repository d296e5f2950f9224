/**
 * Slack's Web API rate limits as sliding windows, per method per workspace (one fake = one workspace and one app).
 *
 * Numbers (docs.slack.dev/apis/web-api/rate-limits; docs/reference/slack-platform.md §4.1): Tier 1 1/min, Tier 2 20/min, Tier 3 50/min,
 * Tier 4 100/min; auth.test 600/min (the Java SDK's model of its "special" tier).
 *
 * chat.postMessage ("1 per second per channel, short bursts allowed", plus a workspace-wide cap) is modelled as two
 * sliding windows that must both have room:
 *   - per channel: at most 3 posts in any 3-second window. That allows a burst of 3 after a quiet spell and
 *     sustains 1/s (≤ 60/min per channel, the Java SDK's figure). Thread replies count against their channel.
 *   - per workspace: at most 300 posts in any 60-second window ("several hundred per minute").
 *
 * A rejected call does not consume budget. Retry-After is the whole seconds until the oldest call in the full window
 * leaves it (at least 1), so a client that waits exactly Retry-After succeeds.
 */

export type LimitProfile = "slack" | "off";

export interface WindowRule {
  limit: number;
  windowMs: number;
}

const MINUTE = 60_000;
const perMinute = (limit: number): WindowRule => ({ limit, windowMs: MINUTE });

export const TIERS = { tier1: 1, tier2: 20, tier3: 50, tier4: 100 } as const;

/** Per-method budgets for the methods the fake implements (chat.postMessage is special, see below). */
export const SLACK_METHOD_LIMITS: Readonly<Record<string, WindowRule>> = {
  "auth.test": perMinute(600),
  "apps.connections.open": perMinute(TIERS.tier1),
  "usergroups.users.list": perMinute(TIERS.tier2),
  "chat.update": perMinute(TIERS.tier3),
  "conversations.info": perMinute(TIERS.tier3),
  "chat.postEphemeral": perMinute(TIERS.tier4),
  "users.info": perMinute(TIERS.tier4),
  "files.getUploadURLExternal": perMinute(TIERS.tier4),
  "files.completeUploadExternal": perMinute(TIERS.tier4),
  "views.publish": perMinute(TIERS.tier4),
};

export const POST_MESSAGE_PER_CHANNEL: WindowRule = { limit: 3, windowMs: 3000 };
export const POST_MESSAGE_PER_WORKSPACE: WindowRule = perMinute(300);

export interface RateLimitDecision {
  /** The window that refused: a method name, `chat.postMessage#C123` (per channel) or `chat.postMessage#*`. */
  key: string;
  retryAfter: number;
  rule: WindowRule;
}

class SlidingWindow {
  private hits: number[] = [];
  readonly rule: WindowRule;

  constructor(rule: WindowRule) {
    this.rule = rule;
  }

  /** Seconds to wait before a call fits, 0 when it fits now. */
  retryAfter(now: number): number {
    const cutoff = now - this.rule.windowMs;
    while (this.hits.length > 0 && (this.hits[0] ?? now) <= cutoff) this.hits.shift();
    if (this.hits.length < this.rule.limit) return 0;
    const oldest = this.hits[0] ?? now;
    return Math.max(1, Math.ceil((oldest + this.rule.windowMs - now) / 1000));
  }

  record(now: number): void {
    this.hits.push(now);
  }
}

export class RateLimiter {
  private profile: LimitProfile = "slack";
  private readonly windows = new Map<string, SlidingWindow>();
  private readonly overrides = new Map<string, WindowRule | null>();
  private readonly now: () => number;

  constructor(now: () => number) {
    this.now = now;
  }

  get currentProfile(): LimitProfile {
    return this.profile;
  }

  setProfile(profile: LimitProfile): void {
    this.profile = profile;
    this.windows.clear();
  }

  /**
   * Overrides one rule: a method name, `chat.postMessage#channel` (every channel's window) or `chat.postMessage#*`
   * (the workspace cap). `null` disables the rule, `undefined` restores Slack's number.
   */
  setRule(ruleKey: string, rule: WindowRule | null | undefined): void {
    if (rule === undefined) this.overrides.delete(ruleKey);
    else this.overrides.set(ruleKey, rule);
  }

  reset(): void {
    this.windows.clear();
  }

  /** Takes one call's budget, or returns why it was refused (nothing is consumed then). */
  take(method: string, channel?: string): RateLimitDecision | undefined {
    if (this.profile === "off") return undefined;
    const now = this.now();
    const windows = this.windowsFor(method, channel);
    let refusal: RateLimitDecision | undefined;
    for (const [key, window] of windows) {
      const retryAfter = window.retryAfter(now);
      if (retryAfter > 0 && (!refusal || retryAfter > refusal.retryAfter)) {
        refusal = { key, retryAfter, rule: window.rule };
      }
    }
    if (refusal) return refusal;
    for (const [, window] of windows) window.record(now);
    return undefined;
  }

  private windowsFor(method: string, channel: string | undefined): [string, SlidingWindow][] {
    // [window key, rule key (for overrides), Slack's rule]
    const rules: [string, string, WindowRule | undefined][] =
      method === "chat.postMessage"
        ? [
            [`chat.postMessage#${channel ?? ""}`, "chat.postMessage#channel", POST_MESSAGE_PER_CHANNEL],
            ["chat.postMessage#*", "chat.postMessage#*", POST_MESSAGE_PER_WORKSPACE],
          ]
        : [[method, method, SLACK_METHOD_LIMITS[method]]];
    const out: [string, SlidingWindow][] = [];
    for (const [windowKey, ruleKey, slackRule] of rules) {
      const rule = this.overrides.has(ruleKey) ? this.overrides.get(ruleKey) : slackRule;
      if (!rule) continue;
      let window = this.windows.get(windowKey);
      if (!window || window.rule !== rule) {
        window = new SlidingWindow(rule); // a changed rule starts a fresh window
        this.windows.set(windowKey, window);
      }
      out.push([windowKey, window]);
    }
    return out;
  }
}
