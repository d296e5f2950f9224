/** Result of splitting command text into words the way a POSIX shell would, without ever running one. */
export type Tokens = { ok: true; words: string[] } | { ok: false; message: string };

export function tokenize(text: string): Tokens {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: '"' | "'" | undefined;
  let quoteAt = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === "\\" && (text[i + 1] === '"' || text[i + 1] === "\\")) word += text[++i];
      else word += c;
    } else if (c === " " || c === "\t" || c === "\n") {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else if (c === '"' || c === "'") {
      quote = c;
      quoteAt = i;
      inWord = true;
    } else if (c === "\\" && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) {
    return {
      ok: false,
      message: `Unbalanced quote: the ${quote} at character ${quoteAt + 1} is never closed. Close it, or put a \\ before it to mean a literal ${quote}.`,
    };
  }
  if (inWord) words.push(word);
  return { ok: true, words };
}
