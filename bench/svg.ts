/** A minimal line/scatter chart as SVG, so the report needs no plotting library. */
export function lineChart(options: {
  title: string;
  xLabel: string;
  yLabel: string;
  series: { name: string; color: string; points: { x: number; y: number }[] }[];
  yMin?: number;
  hLine?: { y: number; label: string };
}): string {
  const w = 720;
  const h = 360;
  const m = { l: 64, r: 16, t: 36, b: 48 };
  const all = options.series.flatMap((s) => s.points);
  const xMax = Math.max(1, ...all.map((p) => p.x));
  const xMin = Math.min(0, ...all.map((p) => p.x));
  const yMax = Math.max(options.hLine?.y ?? 0, ...all.map((p) => p.y)) * 1.1 || 1;
  const yMin = options.yMin ?? 0;
  const sx = (x: number) => m.l + ((x - xMin) / (xMax - xMin || 1)) * (w - m.l - m.r);
  const sy = (y: number) => h - m.b - ((y - yMin) / (yMax - yMin || 1)) * (h - m.t - m.b);
  const ticks = (lo: number, hi: number) => Array.from({ length: 6 }, (_, i) => lo + ((hi - lo) * i) / 5);
  const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1));
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif" font-size="12">`,
    `<rect width="${w}" height="${h}" fill="white"/>`,
    `<text x="${w / 2}" y="20" text-anchor="middle" font-size="14">${xmlEscape(options.title)}</text>`,
    `<line x1="${m.l}" y1="${h - m.b}" x2="${w - m.r}" y2="${h - m.b}" stroke="#333"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${h - m.b}" stroke="#333"/>`,
    ...ticks(xMin, xMax).map((x) => `<text x="${sx(x)}" y="${h - m.b + 16}" text-anchor="middle">${fmt(x)}</text>`),
    ...ticks(yMin, yMax).map(
      (y) =>
        `<text x="${m.l - 6}" y="${sy(y) + 4}" text-anchor="end">${fmt(y)}</text><line x1="${m.l}" y1="${sy(y)}" x2="${w - m.r}" y2="${sy(y)}" stroke="#eee"/>`,
    ),
    `<text x="${w / 2}" y="${h - 10}" text-anchor="middle">${xmlEscape(options.xLabel)}</text>`,
    `<text x="16" y="${h / 2}" text-anchor="middle" transform="rotate(-90 16 ${h / 2})">${xmlEscape(options.yLabel)}</text>`,
  ];
  if (options.hLine) {
    const y = sy(options.hLine.y);
    parts.push(`<line x1="${m.l}" y1="${y}" x2="${w - m.r}" y2="${y}" stroke="#c00" stroke-dasharray="6 4"/>`);
    parts.push(`<text x="${w - m.r - 4}" y="${y - 4}" text-anchor="end" fill="#c00">${xmlEscape(options.hLine.label)}</text>`);
  }
  options.series.forEach((s, i) => {
    const pts = s.points.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(" ");
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${pts}"/>`);
    parts.push(`<text x="${m.l + 10}" y="${m.t + 14 + i * 16}" fill="${s.color}">${xmlEscape(s.name)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n");
}

/** Points of an empirical CDF: x = value, y = share of samples at or below it (0–100 %). */
export function cdf(values: readonly number[]): { x: number; y: number }[] {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.map((v, i) => ({ x: v, y: ((i + 1) / sorted.length) * 100 }));
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
}
