// report.html: one self-contained page (inline CSS and SVG, a few lines of inline script for the
// raw/smoothed toggle) with the curves people look at in a Tina/TRL run. The charts come from
// charts.ts, the module the live dashboard draws with too.
import type { EvalSummary, StepMetrics } from './metrics.js';
import { CHART_CSS, EMA_ALPHA, renderCharts } from './charts.js';

export interface ReportInput {
  title: string;
  metrics: StepMetrics[];
  evals: EvalSummary[];
  /** The resolved config, shown at the end for provenance. */
  config?: unknown;
  /** Free-form facts shown in the header (wall time, seed, model, engine...). */
  facts?: Record<string, string | number>;
}

export function renderReport(input: ReportInput): string {
  const { metrics, evals } = input;
  const { figures: charts, empty, formatTurn: turn, best } = renderCharts(metrics, evals);

  const first = evals[0];
  const last = evals[evals.length - 1];
  const benches = [...new Set(evals.flatMap((e) => Object.keys(e.pass_at_1)))].sort();
  const pct = (v: number | undefined): string => (v === undefined ? '–' : (100 * v).toFixed(1));
  const evalRows = benches
    .map(
      (b) =>
        `<tr><td>${esc(b)}</td><td>${pct(first?.pass_at_1[b])}</td><td>${pct(last?.pass_at_1[b])}</td><td>${pct(best?.pass_at_1[b])}</td></tr>`,
    )
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
${CHART_CSS}
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
