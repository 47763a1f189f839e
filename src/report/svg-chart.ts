// Line charts as inline SVG strings: the report must open offline from disk with no scripts or
// libraries to fetch, so charts are drawn here, not in the browser.

export interface Series {
  name: string;
  xs: number[];
  ys: (number | undefined)[];
  color: string;
  /** Raw series are drawn thin and faint under their smoothed version. */
  faint?: boolean;
}

export interface Marker {
  x: number;
  label: string;
  color?: string;
}

const W = 460;
const H = 220;
const PAD = { l: 54, r: 12, t: 40, b: 30 };

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function niceTicks(lo: number, hi: number, n = 4): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  // Ticks by integer index: with a span of a few ulps (a metric constant up to rounding) `v += step`
  // would not move v, and an accumulating loop would never end.
  const first = Math.ceil(lo / step);
  const count = Math.min(Math.floor(hi / step + 1e-9) - first + 1, 4 * n);
  const out: number[] = [];
  for (let k = 0; k < count; k++) out.push(Number(((first + k) * step).toPrecision(12)));
  return out.length ? out : [lo];
}

function fmt(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e4 || a < 1e-3) return v.toExponential(1);
  return Number(v.toPrecision(3)).toString();
}

/** One chart. Returns '' when no series has a finite value (the caller lists it as "no data"). */
export function lineChart(id: string, title: string, series: Series[], markers: Marker[] = []): string {
  const pts = series
    .flatMap((s) => s.xs.map((x, i) => [x, s.ys[i]] as const))
    .filter((p): p is readonly [number, number] => p[1] !== undefined && Number.isFinite(p[1]));
  if (pts.length === 0) return '';
  let x0 = Math.min(...pts.map((p) => p[0]));
  let x1 = Math.max(...pts.map((p) => p[0]));
  let y0 = Math.min(...pts.map((p) => p[1]));
  let y1 = Math.max(...pts.map((p) => p[1]));
  if (x1 === x0) {
    x0 -= 1;
    x1 += 1;
  }
  // A flat series (equal up to rounding) gets a band around its value.
  if (y1 - y0 <= Math.abs(y0) * 1e-9) {
    const d = Math.abs(y0) * 0.1 || 1;
    y0 -= d;
    y1 += d;
  }
  const sx = (x: number): number => PAD.l + ((x - x0) / (x1 - x0)) * (W - PAD.l - PAD.r);
  const sy = (y: number): number => H - PAD.b - ((y - y0) / (y1 - y0)) * (H - PAD.t - PAD.b);
  const parts: string[] = [];
  parts.push(
    `<svg class="chart" id="${esc(id)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">`,
  );
  parts.push(`<text x="${PAD.l}" y="16" class="title">${esc(title)}</text>`);
  for (const t of niceTicks(y0, y1)) {
    parts.push(
      `<line class="grid" x1="${PAD.l}" x2="${W - PAD.r}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}"/>`,
    );
    parts.push(`<text class="tick" x="${PAD.l - 4}" y="${(sy(t) + 3).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`);
  }
  for (const t of niceTicks(x0, x1, 5)) {
    parts.push(
      `<text class="tick" x="${sx(t).toFixed(1)}" y="${H - PAD.b + 14}" text-anchor="middle">${fmt(t)}</text>`,
    );
  }
  parts.push(`<text class="tick" x="${W - PAD.r}" y="${H - 4}" text-anchor="end">step</text>`);
  markers.forEach((m, i) => {
    if (m.x < x0 || m.x > x1) return;
    const x = sx(m.x);
    parts.push(
      `<line class="marker" x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${PAD.t}" y2="${H - PAD.b}" stroke="${m.color ?? '#888'}"/>`,
    );
    // Labels stacked (one row per marker) beside the line, on the side with more room.
    const right = x < W / 2;
    parts.push(
      `<text class="tick" x="${(x + (right ? 3 : -3)).toFixed(1)}" y="${PAD.t + 10 + 11 * i}" text-anchor="${right ? 'start' : 'end'}" fill="${m.color ?? '#888'}">${esc(m.label)}</text>`,
    );
  });
  // Legend on its own line under the title, so long titles and names never overlap.
  let legendX = PAD.l;
  for (const s of series) {
    let d = '';
    let pen = false;
    for (let i = 0; i < s.xs.length; i++) {
      const y = s.ys[i];
      if (y === undefined || !Number.isFinite(y)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${sx(s.xs[i]!).toFixed(1)},${sy(y).toFixed(1)}`;
      pen = true;
    }
    if (d === '') continue;
    parts.push(
      `<path class="${s.faint ? 'raw' : 'smooth'}" d="${d}" stroke="${s.color}" data-series="${esc(s.name)}"/>`,
    );
    if (s.xs.length === 1)
      parts.push(`<circle cx="${sx(s.xs[0]!).toFixed(1)}" cy="${sy(s.ys[0]!).toFixed(1)}" r="3" fill="${s.color}"/>`);
    if (!s.faint) {
      parts.push(`<text class="legend" x="${legendX}" y="30" fill="${s.color}">${esc(s.name)}</text>`);
      legendX += Math.min(140, 8 + 6.5 * s.name.length);
    }
  }
  parts.push('</svg>');
  return parts.join('');
}
