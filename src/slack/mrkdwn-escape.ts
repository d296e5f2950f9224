/**
 * Text berth posts as itself, in Slack's mrkdwn. Whatever a person typed or a container or engine produced must not
 * become markup there: no `<!channel>`/`<!here>`/`<!everyone>`, no user-group ping, no `<http://evil|innocent>` link
 * under berth's name. Slack parses `<…>` even inside backticks and code blocks, so escaping applies everywhere.
 */

/** Plain `@channel` is not a mention in API-posted text (no link_names), but it must not read like one either. */
const bareMention = /(^|[^\w@])@(channel|here|everyone)\b/gi;
const wordJoiner = "\u2060";

/**
 * Untrusted text → inert mrkdwn: `&`, `<`, `>` as Slack's entities, all Slack asks for; that alone turns special
 * mentions, user-group mentions and links into text. Exactly reversible (see unescapeMrkdwn).
 */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** The text an escaped value stood for (to show it again somewhere else, e.g. in a code block). */
export function unescapeMrkdwn(text: string): string {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

/** A mention of a user berth knows by ID; anything that is not a user ID is shown as text, never as markup. */
export function mention(userId: string): string {
  return /^[UW][A-Z0-9]{2,}$/.test(userId) ? `<@${userId}>` : escapeMrkdwn(userId);
}

/**
 * The last step before anything berth composed is posted: berth's own markup passes (entities it already escaped,
 * user and channel mentions, mentions of the user groups the policy names), every other `<`, `>`, `&` is escaped,
 * and a bare @channel/@here/@everyone gets an invisible word joiner after its `@`. So a special mention or link that
 * reached a message by any path is shown as text. Idempotent.
 */
export function neutralizeMrkdwn(text: string, usergroups: readonly string[] = []): string {
  const allowed = new Set(usergroups);
  return text
    .replace(
      /&(?:amp|lt|gt);|<(@[UW][A-Z0-9]{2,}|#C[A-Z0-9]{2,}(?:\|[\w.-]{1,80})?|!subteam\^(S[A-Z0-9]{2,})(?:\|@?[\w.-]{1,80})?)>|[&<>]/g,
      (m: string, token: string | undefined, group: string | undefined) => {
        if (m.startsWith("&") && m.length > 1) return m;
        if (token && (!group || allowed.has(group))) return m;
        return escapeMrkdwn(m);
      },
    )
    .replace(bareMention, `$1@${wordJoiner}$2`);
}

/**
 * Characters that change how text reads without showing themselves: format characters (zero-width, direction
 * overrides and isolates, BOM, soft hyphen), controls, and line/paragraph separators. On a card that asks someone to
 * approve a command they are shown as `⟨U+202E⟩`, so the approver sees exactly what will run.
 */
const invisible = /[\p{Cf}\p{Cc}\p{Zl}\p{Zp}]/gu;

export function showInvisible(text: string): string {
  return text.replace(invisible, (c) => `⟨U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}⟩`);
}
