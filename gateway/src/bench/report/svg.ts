/**
 * Small self-contained SVG charts for the HTML report (no scripts, no external styles): grouped bars with
 * error bars, lines and scatter plots, each with a title, axis labels, ticks and a legend.
 */

/** Okabe-Ito colours: distinguishable with common colour-vision deficiencies. */
export const PALETTE = [
  '#0072B2',
  '#E69F00',
  '#009E73',
  '#D55E00',
  '#CC79A7',
  '#56B4E9',
  '#F0E442',
  '#000000',
];

/** Escapes text for XML content and attributes. */
export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const H = 360;
const PW = 440;
const PH = H - 44 - 56;

/** Plot geometry: the plot area is fixed; the canvas widens to fit the legend's longest label. */
interface Layout {
  W: number;
  M: { left: number; right: number; top: number; bottom: number };
}

function layout(legendLabels: readonly string[]): Layout {
  const longest = Math.max(0, ...legendLabels.map((l) => l.length));
  const right = Math.min(420, Math.max(120, 40 + Math.ceil(longest * 6.4)));
  const M = { left: 64, right, top: 44, bottom: 56 };
  return { W: M.left + PW + right, M };
}

/** Round tick values covering [lo, hi]. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toFixed(10)));
  return out;
}

function frame(
  L: Layout,
  title: string,
  xLabel: string,
  yLabel: string,
  body: string[],
  desc: string,
): string {
  const { W, M } = L;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${xmlEscape(title)}">`,
    `<title>${xmlEscape(title)}</title>`,
    `<desc>${xmlEscape(desc)}</desc>`,
    `<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-family="sans-serif" font-size="15" font-weight="bold">${xmlEscape(title)}</text>`,
    `<text x="${M.left + PW / 2}" y="${H - 12}" text-anchor="middle" font-family="sans-serif" font-size="12">${xmlEscape(xLabel)}</text>`,
    `<text x="16" y="${M.top + PH / 2}" text-anchor="middle" font-family="sans-serif" font-size="12" transform="rotate(-90 16 ${M.top + PH / 2})">${xmlEscape(yLabel)}</text>`,
    `<line x1="${M.left}" y1="${M.top + PH}" x2="${M.left + PW}" y2="${M.top + PH}" stroke="#333"/>`,
    `<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + PH}" stroke="#333"/>`,
    ...body,
    '</svg>',
  ].join('\n');
}

function yAxis(L: Layout, yMin: number, yMax: number, y: (v: number) => number): string[] {
  const { M } = L;
  return ticks(yMin, yMax).flatMap((t) => [
    `<line x1="${M.left - 4}" y1="${y(t)}" x2="${M.left + PW}" y2="${y(t)}" stroke="#ddd"/>`,
    `<text x="${M.left - 7}" y="${y(t) + 4}" text-anchor="end" font-family="sans-serif" font-size="11">${fmtTick(t)}</text>`,
  ]);
}

function legend(L: Layout, names: string[]): string[] {
  const { M } = L;
  return names.flatMap((n, i) => [
    `<rect x="${M.left + PW + 14}" y="${M.top + i * 18}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/>`,
    `<text x="${M.left + PW + 31}" y="${M.top + i * 18 + 10}" font-family="sans-serif" font-size="11">${xmlEscape(n)}</text>`,
  ]);
}

function fmtTick(v: number): string {
  return Math.abs(v) >= 1e6 || (Math.abs(v) < 0.01 && v !== 0)
    ? v.toExponential(1)
    : String(Number(v.toFixed(3)));
}

/** Grouped bar chart: one group per category, one bar per series; optional ± error bars. */
export function barChart(o: {
  title: string;
  xLabel: string;
  yLabel: string;
  groups: string[];
  series: string[];
  /** values[group][series]; null draws nothing. */
  values: Array<Array<number | null>>;
  errors?: Array<Array<number | null>>;
  yMax: number;
}): string {
  const L = layout(o.series);
  const { M } = L;
  const y = (v: number): number => M.top + PH - (Math.max(0, Math.min(v, o.yMax)) / o.yMax) * PH;
  const gw = PW / Math.max(1, o.groups.length);
  const bw = (gw * 0.8) / Math.max(1, o.series.length);
  const body = [...yAxis(L, 0, o.yMax, y)];
  o.groups.forEach((g, gi) => {
    const gx = M.left + gi * gw + gw * 0.1;
    body.push(
      `<text x="${M.left + gi * gw + gw / 2}" y="${M.top + PH + 16}" text-anchor="middle" font-family="sans-serif" font-size="11">${xmlEscape(g)}</text>`,
    );
    o.series.forEach((s, si) => {
      const v = o.values[gi]?.[si];
      if (v === null || v === undefined || !Number.isFinite(v)) return;
      const x = gx + si * bw;
      body.push(
        `<rect class="bar" x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(bw * 0.92).toFixed(1)}" height="${(M.top + PH - y(v)).toFixed(1)}" fill="${PALETTE[si % PALETTE.length]}"><title>${xmlEscape(`${g}, ${s}: ${v.toFixed(2)}`)}</title></rect>`,
      );
      const e = o.errors?.[gi]?.[si];
      if (e !== null && e !== undefined && Number.isFinite(e) && e > 0) {
        const cx = (x + (bw * 0.92) / 2).toFixed(1);
        body.push(
          `<line x1="${cx}" y1="${y(v + e).toFixed(1)}" x2="${cx}" y2="${y(v - e).toFixed(1)}" stroke="#222"/>`,
        );
      }
    });
  });
  body.push(...legend(L, o.series));
  return frame(
    L,
    o.title,
    o.xLabel,
    o.yLabel,
    body,
    `Grouped bar chart of ${o.yLabel} by ${o.xLabel}; bars are ${o.series.join(', ')}.`,
  );
}

/** Line chart of several series over a numeric x axis. */
export function lineChart(o: {
  title: string;
  xLabel: string;
  yLabel: string;
  lines: Array<{ name: string; points: Array<[number, number]> }>;
  yMax: number;
}): string {
  const L = layout(o.lines.map((l) => l.name));
  const { M } = L;
  const xs = o.lines.flatMap((l) => l.points.map((p) => p[0]));
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs, xMin + 1);
  const x = (v: number): number => M.left + ((v - xMin) / (xMax - xMin)) * PW;
  const y = (v: number): number => M.top + PH - (Math.max(0, Math.min(v, o.yMax)) / o.yMax) * PH;
  const body = [...yAxis(L, 0, o.yMax, y)];
  for (const t of ticks(xMin, xMax).filter((t) => Number.isInteger(t))) {
    body.push(
      `<text x="${x(t)}" y="${M.top + PH + 16}" text-anchor="middle" font-family="sans-serif" font-size="11">${t}</text>`,
    );
  }
  o.lines.forEach((l, i) => {
    const c = PALETTE[i % PALETTE.length];
    const d = l.points
      .map(([a, b], k) => `${k === 0 ? 'M' : 'L'}${x(a).toFixed(1)},${y(b).toFixed(1)}`)
      .join(' ');
    body.push(`<path class="line" d="${d}" fill="none" stroke="${c}" stroke-width="2"/>`);
    for (const [a, b] of l.points) {
      body.push(
        `<circle cx="${x(a).toFixed(1)}" cy="${y(b).toFixed(1)}" r="3" fill="${c}"><title>${xmlEscape(`${l.name}: ${a} -> ${b.toFixed(2)}`)}</title></circle>`,
      );
    }
  });
  body.push(
    ...legend(
      L,
      o.lines.map((l) => l.name),
    ),
  );
  return frame(L, o.title, o.xLabel, o.yLabel, body, `Line chart of ${o.yLabel} against ${o.xLabel}.`);
}

/** Scatter plot of several series, with a subtitle line (e.g. the correlation). */
export function scatterPlot(o: {
  title: string;
  subtitle: string;
  xLabel: string;
  yLabel: string;
  series: Array<{ name: string; points: Array<[number, number]> }>;
  yMax: number;
}): string {
  const L = layout(o.series.map((s) => s.name));
  const { W, M } = L;
  const xs = o.series.flatMap((s) => s.points.map((p) => p[0])).filter(Number.isFinite);
  let xMin = xs.length > 0 ? Math.min(...xs) : 0;
  let xMax = xs.length > 0 ? Math.max(...xs) : 1;
  if (!(xMax > xMin)) {
    xMin -= 0.5;
    xMax += 0.5;
  }
  // A little room on both sides so points do not sit on the axis.
  const pad = (xMax - xMin) * 0.04;
  xMin -= pad;
  xMax += pad;
  const x = (v: number): number => M.left + ((v - xMin) / (xMax - xMin)) * PW;
  const y = (v: number): number => M.top + PH - (Math.max(0, Math.min(v, o.yMax)) / o.yMax) * PH;
  const body = [
    ...yAxis(L, 0, o.yMax, y),
    `<text x="${W / 2}" y="38" text-anchor="middle" font-family="sans-serif" font-size="11" fill="#444">${xmlEscape(o.subtitle)}</text>`,
  ];
  for (const t of ticks(xMin + pad, xMax - pad)) {
    body.push(
      `<text x="${x(t)}" y="${M.top + PH + 16}" text-anchor="middle" font-family="sans-serif" font-size="11">${fmtTick(t)}</text>`,
    );
  }
  o.series.forEach((s, i) => {
    for (const [a, b] of s.points) {
      if (!Number.isFinite(a) || !Number.isFinite(b)) continue;
      body.push(
        `<circle class="point" cx="${x(a).toFixed(1)}" cy="${y(b).toFixed(1)}" r="3" fill="${PALETTE[i % PALETTE.length]}" fill-opacity="0.7"/>`,
      );
    }
  });
  body.push(
    ...legend(
      L,
      o.series.map((s) => s.name),
    ),
  );
  return frame(
    L,
    o.title,
    o.xLabel,
    o.yLabel,
    body,
    `Scatter plot of ${o.yLabel} against ${o.xLabel}. ${o.subtitle}`,
  );
}
