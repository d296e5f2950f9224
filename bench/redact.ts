// The redactor on 16 KiB lines, in process: ordinary log text against lines crafted to make a backtracking pattern
// work hard (runs that almost match a secret, from every start). Linear patterns keep a crafted line within a small
// factor of an ordinary one; the earlier patterns took 0.1–0.25 s for one such line. `node bench/redact.ts` prints the table alone.
import { safeRegExp } from "../src/core/policy.ts";
import { createRedactor } from "../src/core/redact.ts";
import { median, round } from "./support.ts";

const lineChars = 16 * 1024;
const fill = (unit: string) => unit.repeat(Math.ceil(lineChars / unit.length)).slice(0, lineChars);

/** Ordinary output: a web server's and an app's log lines, glued to 16 KiB like one long line. */
const benign = fill(
  '127.0.0.1 - - [05/Dec/2026:09:00:00 +0000] "GET /api/v1/items?page=2 HTTP/1.1" 200 5123 "-" "curl/8.5.0" level=info msg="request done" took=12ms user_id=42 ',
);

/** Each family almost matches one pattern, over and over. */
export const crafted: Record<string, string> = {
  "JWT (eyJa-…)": "eyJa-",
  "JWT segments (eyJ….)": "eyJaaaaaaaaa.",
  "URL scheme (a.a.…)": "a.",
  "URL scheme (a-a-…)": "a-",
  "connection string (x://u:p…)": "x://u:p",
  "key=value (password=…)": "password=",
  'quoted value (token="a …)': 'token="a ',
  "key without value (password …)": "password ",
  "GitHub token (ghp_…)": "ghp_aaaa",
  "private key header (-----BEGIN A …)": "-----BEGIN A ",
  "Authorization: …": "Authorization: a",
  "Bearer …": "Bearer aaaaaaa ",
  "ANSI OSC (ESC]a…)": "\u001b]a",
};

/** A typical log line, for the cost of redaction per line of ordinary output. */
const short = '2026-12-05T09:00:00Z level=info msg="request 1234 done" path=/api/v1/items took=12ms';

export type RedactResult = {
  shortUsPerLine: number;
  lineChars: number;
  benignUsPerLine: number;
  benignMBps: number;
  families: { family: string; usPerLine: number; ratio: number }[];
  worstRatio: number;
};

/** Microseconds per line: the median of `rounds` rounds, each long enough to be measured (≥ 50 ms). */
function usPerLine(redact: (text: string) => string, line: string, rounds = 7): number {
  for (let i = 0; i < 20; i++) redact(line);
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let n = 0;
    const t0 = performance.now();
    do {
      redact(line);
      n++;
    } while (performance.now() - t0 < 50);
    samples.push(((performance.now() - t0) * 1000) / n);
  }
  return median(samples);
}

export function redactBenchmark(): RedactResult {
  // As for a run: two -e values and a policy pattern on top of the built-in ones.
  const extra = safeRegExp("acme_live_[A-Za-z0-9]{24}");
  const redact = createRedactor(["hunter2hunter2", "s3cr3t-db-pa55"], extra ? [extra] : []);
  const shortUs = usPerLine(redact, short);
  const base = usPerLine(redact, benign);
  const families = Object.entries(crafted).map(([family, unit]) => {
    const us = usPerLine(redact, fill(unit));
    return { family, usPerLine: round(us), ratio: round(us / base, 2) };
  });
  return {
    shortUsPerLine: round(shortUs, 2),
    lineChars,
    benignUsPerLine: round(base),
    benignMBps: round(lineChars / base, 1), // chars per µs = MB/s
    families,
    worstRatio: Math.max(...families.map((f) => f.ratio)),
  };
}

export function redactTable(r: RedactResult): string[] {
  return [
    `An ordinary ${short.length}-character log line: ${r.shortUsPerLine} µs.`,
    "",
    "| 16 KiB line | µs per line | × ordinary |",
    "|---|---|---|",
    `| ordinary log text (${r.benignMBps} MB/s) | ${r.benignUsPerLine} | 1 |`,
    ...r.families.map((f) => `| crafted: ${f.family.replace(/\|/g, "\\|")} | ${f.usPerLine} | ${f.ratio} |`),
  ];
}

if (import.meta.main) process.stdout.write(`${redactTable(redactBenchmark()).join("\n")}\n`);
