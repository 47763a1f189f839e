// report.html: one self-contained page (inline CSS and SVG, a few lines of inline script for the
// raw/smoothed toggle) with the curves people look at in a Tina/TRL run.
import { ema, formatTurnStep, withCurrentNames, type EvalSummary, type StepMetrics } from './metrics.js';
import { lineChart, type Marker, type Series } from './svg-chart.js';

export interface ReportInput {
  title: string;
  metrics: StepMetrics[];
  evals: EvalSummary[];
  /** The resolved config, shown at the end for provenance. */
  config?: unknown;
  /** Free-form facts shown in the header (wall time, seed, model, engine...). */
  facts?: Record<string, string | number>;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];
const EMA_ALPHA = 0.1;

/** Chart specs: title and the metric keys drawn in it (missing keys are skipped). */
function chartSpecs(keys: Set<string>): { id: string; title: string; keys: string[] }[] {
  const rewardFuncs = [...keys].filter((k) => /^rewards\/[^/]+\/mean$/.test(k)).sort();
  const phases = [...keys].filter((k) => k.startsWith('time/')).sort();
  return [
    { id: 'reward', title: 'reward (weighted total)', keys: ['reward'] },
    { id: 'reward-funcs', title: 'reward functions', keys: rewardFuncs },
    { id: 'accuracy', title: 'accuracy (rewards/accuracy/mean; TRL 0.15: rewards/accuracy)', keys: ['rewards/accuracy/mean'] },
    { id: 'format', title: 'format (rewards/format/mean; TRL 0.15: rewards/format)', keys: ['rewards/format/mean'] },
    { id: 'reward-std', title: 'reward_std', keys: ['reward_std'] },
    { id: 'completion-length', title: 'completions/mean_length (tokens; TRL 0.15: completion_length)', keys: ['completions/mean_length'] },
    { id: 'kl', title: 'kl', keys: ['kl'] },
    { id: 'loss', title: 'loss', keys: ['loss'] },
    { id: 'learning-rate', title: 'learning_rate', keys: ['learning_rate'] },
    { id: 'grad-norm', title: 'grad_norm (before clipping)', keys: ['grad_norm'] },
    { id: 'tokens-per-s', title: 'tokens/s (rollout and learner)', keys: ['rollout/tokens_per_s', 'learner/tokens_per_s'] },
    { id: 'phase-time', title: 'time per phase (s)', keys: phases },
    { id: 'eval', title: 'held-out pass@1', keys: [] },
  ];
}

export function renderReport(input: ReportInput): string {
  const { evals } = input;
  const metrics = input.metrics.map(withCurrentNames);
  const steps = metrics.map((m) => m.step);
  const keys = new Set(metrics.flatMap((m) => Object.keys(m)));
  const turn = formatTurnStep(steps, metrics.map((m) => m['rewards/format/mean']), EMA_ALPHA);
  const best = evals.length ? evals.reduce((a, b) => (b.average > a.average ? b : a)) : undefined;
  const markers: Marker[] = [];
  if (turn !== undefined) markers.push({ x: turn, label: `format turn @${turn}`, color: '#c0392b' });
  if (best) markers.push({ x: best.step, label: `best @${best.step}`, color: '#27ae60' });

  const charts: string[] = [];
  const empty: string[] = [];
  for (const spec of chartSpecs(keys)) {
    let series: Series[] = [];
    if (spec.id === 'eval') {
      const benches = [...new Set(evals.flatMap((e) => Object.keys(e.pass_at_1)))].sort();
      series = benches.map((b, i) => ({ name: b, xs: evals.map((e) => e.step), ys: evals.map((e) => e.pass_at_1[b]), color: PALETTE[i % PALETTE.length]! }));
    } else {
      spec.keys.forEach((k, i) => {
        const raw = metrics.map((m) => m[k]);
        const color = PALETTE[i % PALETTE.length]!;
        series.push({ name: `${k} (raw)`, xs: steps, ys: raw, color, faint: true });
        series.push({ name: k, xs: steps, ys: ema(raw, EMA_ALPHA), color });
      });
    }
    const svg = lineChart(spec.id, spec.title, series, markers);
    if (svg) charts.push(`<figure>${svg}</figure>`);
    else empty.push(spec.title);
  }

  const first = evals[0];
  const last = evals[evals.length - 1];
  const benches = [...new Set(evals.flatMap((e) => Object.keys(e.pass_at_1)))].sort();
  const pct = (v: number | undefined): string => (v === undefined ? '–' : (100 * v).toFixed(1));
  const evalRows = benches
    .map((b) => `<tr><td>${esc(b)}</td><td>${pct(first?.pass_at_1[b])}</td><td>${pct(last?.pass_at_1[b])}</td><td>${pct(best?.pass_at_1[b])}</td></tr>`)
    .join('');
  const facts = Object.entries(input.facts ?? {})
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(String(v))}</td></tr>`)
    .join('');

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(input.title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1460px}
h1{font-size:20px;margin:0 0 8px} h2{font-size:16px;margin:20px 0 8px}
table{border-collapse:collapse;margin:4px 0 12px} td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:8px} figure{margin:0;border:1px solid #eee;border-radius:4px}
svg .title{font-weight:600;font-size:12px} svg .tick{font-size:10px;fill:#666} svg .legend{font-size:10px}
svg .grid{stroke:#eee} svg .marker{stroke-dasharray:4 3}
svg path{fill:none} svg path.smooth{stroke-width:2} svg path.raw{stroke-width:1;opacity:.35}
body.smooth-only svg path.raw{display:none}
pre{background:#f7f7f7;padding:8px;overflow:auto;max-height:400px}
</style></head>
<body>
<h1>${esc(input.title)}</h1>
<table>${facts}</table>
<h2>Held-out pass@1 (%)</h2>
${evals.length ? `<table><tr><th>benchmark</th><th>before (step ${first!.step})</th><th>after (step ${last!.step})</th><th>best (step ${best!.step}${best!.checkpoint ? `, ${esc(best!.checkpoint)}` : ''})</th></tr>${evalRows}</table>` : '<p>No evaluation was run.</p>'}
<p>${turn !== undefined ? `Format turn (EMA of rewards/format half-way to its extreme): step ${turn}.` : 'No format turn detected.'}
Curves: raw (faint) and EMA-smoothed (alpha ${EMA_ALPHA}). <label><input type="checkbox" id="smooth-only"> smoothed only</label></p>
<div class="charts">${charts.join('\n')}</div>
${empty.length ? `<p>No data for: ${empty.map(esc).join(', ')}.</p>` : ''}
<h2>Resolved config</h2>
<pre>${esc(JSON.stringify(input.config ?? {}, null, 2))}</pre>
<script>
document.getElementById('smooth-only').addEventListener('change', function (e) {
  document.body.classList.toggle('smooth-only', e.target.checked);
});
</script>
</body></html>
`;
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
