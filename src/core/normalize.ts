/**
 * Turns command text as Slack delivers it (from phones as much as desktops) back into what the person meant to type.
 * Slack escapes `&`, `<`, `>` as entities and wraps mentions, channels and anything that looks like a link in
 * `<…>` markup; phones turn `--` into a long dash and quotes into curly ones.
 */
export function normalize(text: string): string {
  const unmarked = text.replace(/<([^<>]*)>/g, (_, inner: string) => unmark(inner));
  const decoded = unmarked.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => entities[e] ?? "");
  return (
    decoded
      .replace(/[\u201C\u201D\u201E\u201F\u2033\u00AB\u00BB]/g, '"')
      .replace(/[\u2018\u2019\u201A\u201B\u2032]/g, "'")
      .replace(/\u2026/g, "...")
      .replace(/[\u200B-\u200D\u2060\uFEFF]/g, "")
      .replace(/[\s\u00A0\u2000-\u200A\u202F\u205F\u3000]+/g, " ")
      // A long dash starting a word stands for `--`, or for `-` before a single letter (`—f`).
      .replace(/(^| )[\u2014\u2013\u2012\u2015\u2212\u2E3A\u2E3B]+-*(\S+)/g, (_, lead: string, word: string) =>
        word.length === 1 ? `${lead}-${word}` : `${lead}--${word}`,
      )
      .trim()
  );
}

const entities: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', "#39": "'" };

function unmark(inner: string): string {
  const bar = inner.indexOf("|");
  const target = bar === -1 ? inner : inner.slice(0, bar);
  const label = bar === -1 ? undefined : inner.slice(bar + 1);
  if (target.startsWith("@")) return target; // users: keep the stable ID, not the display name
  if (target.startsWith("#")) return label ? `#${label}` : target;
  if (target.startsWith("!subteam^")) return `@${target.slice("!subteam^".length)}`;
  if (target.startsWith("!")) return `@${label ?? target.slice(1)}`;
  // Auto-linked text (an image like registry.example.com/app, a URL, an email): what was typed is the label.
  return label ?? target.replace(/^mailto:/, "");
}
