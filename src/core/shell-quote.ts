/** Characters a POSIX shell and berth's tokenizer both take literally outside quotes: such words are shown bare. */
const bare = /^[\p{L}\p{N}_@%+=:,./-]+$/u;

/**
 * An argv as one command line that berth's tokenizer (tokenize.ts), and a POSIX shell, split back into the same
 * words: what a card shows can be copied and sent again. Each word that needs it goes in single quotes, inside which
 * nothing is special; a single quote itself is `'\''` (close, escaped quote, reopen); an empty word is `''`.
 * Not the `shell-quote` package: its double-quoted and backslash forms (`"\$x"`, `'a\\b'`) do not round-trip here.
 */
export function quoteArgs(argv: readonly string[]): string {
  return argv.map(quoteArg).join(" ");
}

function quoteArg(word: string): string {
  if (bare.test(word)) return word;
  return `'${word.replaceAll("'", "'\\''")}'`;
}
