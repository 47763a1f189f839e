// The charts of a run, from its metrics records and evaluations: one module for report.html (rendered
// in Node when the run ends) and the live dashboard (the browser imports this same compiled file and
// redraws as each step arrives), so it imports nothing that needs Node.
// The familiar curves come first under fixed titles; every other numeric key of the records gets a
// chart of its own, so renamed or new metrics are drawn without a change here.
import { ema, formatTurnStep, withCurrentNames, type EvalSummary, type StepMetrics } from './metrics.js';
import { lineChart, type Marker, type Series } from './svg-chart.js';

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];
export const EMA_ALPHA = 0.1;
/** Keys that are not curves (the x axis and the wall clock). */
const NOT_CHARTED = new Set(['step', 'elapsed_s']);

export interface ChartSpec {
  id: string;
  title: string;
  keys: string[];
}

/** Chart specs for the keys present: the curated charts (missing keys skipped), then one per remaining key, in first-seen order. */
export function chartSpecs(keysInOrder: readonly string[]): ChartSpec[] {
  const keys = new Set(keysInOrder);
  const rewardFuncs = keysInOrder.filter((k) => /^rewards\/[^/]+\/mean$/.test(k)).sort();
  const phases = keysInOrder.filter((k) => k.startsWith('time/')).sort();
  const curated: ChartSpec[] = [
    { id: 'reward', title: 'reward (weighted total)', keys: ['reward'] },
    { id: 'reward-funcs', title: 'reward functions', keys: rewardFuncs },
    {
      id: 'accuracy',
      title: 'accuracy (rewards/accuracy/mean; TRL 0.15: rewards/accuracy)',
      keys: ['rewards/accuracy/mean'],
    },
    { id: 'format', title: 'format (rewards/format/mean; TRL 0.15: rewards/format)', keys: ['rewards/format/mean'] },
    { id: 'reward-std', title: 'reward_std', keys: ['reward_std'] },
    {
      id: 'completion-length',
      title: 'completions/mean_length (tokens; TRL 0.15: completion_length)',
      keys: ['completions/mean_length'],
    },
    { id: 'kl', title: 'kl', keys: ['kl'] },
    { id: 'loss', title: 'loss', keys: ['loss'] },
    { id: 'learning-rate', title: 'learning_rate', keys: ['learning_rate'] },
    { id: 'grad-norm', title: 'grad_norm (before clipping)', keys: ['grad_norm'] },
    {
      id: 'tokens-per-s',
      title: 'tokens/s (rollout and learner)',
      keys: ['rollout/tokens_per_s', 'learner/tokens_per_s'],
    },
    { id: 'phase-time', title: 'time per phase (s)', keys: phases },
  ].map((c) => ({ ...c, keys: c.keys.filter((k) => keys.has(k)) }));
  const drawn = new Set(curated.flatMap((c) => c.keys));
  const rest = keysInOrder
    .filter((k) => !drawn.has(k) && !NOT_CHARTED.has(k))
    .map((k) => ({ id: `m-${k.replace(/[^\w-]+/g, '-')}`, title: k, keys: [k] }));
  return [...curated, ...rest, { id: 'eval', title: 'held-out pass@1', keys: [] }];
}

/** Numeric keys of the records in order of first appearance. */
export function metricKeys(metrics: readonly StepMetrics[]): string[] {
  const seen = new Set<string>();
  for (const m of metrics) for (const [k, v] of Object.entries(m)) if (typeof v === 'number') seen.add(k);
  return [...seen];
}

export interface RenderedCharts {
  /** One `<figure>` per chart with data. */
  figures: string[];
  /** Titles of the charts without data. */
  empty: string[];
  formatTurn?: number;
  best?: EvalSummary;
}

/** Every chart as inline SVG, raw (faint) and EMA-smoothed, with the format-turn and best-checkpoint markers. */
export function renderCharts(given: readonly StepMetrics[], evals: readonly EvalSummary[]): RenderedCharts {
  const metrics = given.map(withCurrentNames);
  const steps = metrics.map((m) => m.step);
  const formatTurn = formatTurnStep(
    steps,
    metrics.map((m) => m['rewards/format/mean']),
    EMA_ALPHA,
  );
  const best = evals.length ? evals.reduce((a, b) => (b.average > a.average ? b : a)) : undefined;
  const markers: Marker[] = [];
  if (formatTurn !== undefined) markers.push({ x: formatTurn, label: `format turn @${formatTurn}`, color: '#c0392b' });
  if (best) markers.push({ x: best.step, label: `best @${best.step}`, color: '#27ae60' });
  const figures: string[] = [];
  const empty: string[] = [];
  for (const spec of chartSpecs(metricKeys(metrics))) {
    let series: Series[] = [];
    if (spec.id === 'eval') {
      const benches = [...new Set(evals.flatMap((e) => Object.keys(e.pass_at_1)))].sort();
      series = benches.map((b, i) => ({
        name: b,
        xs: evals.map((e) => e.step),
        ys: evals.map((e) => e.pass_at_1[b]),
        color: PALETTE[i % PALETTE.length]!,
      }));
    } else {
      spec.keys.forEach((k, i) => {
        const raw = metrics.map((m) => m[k]);
        const color = PALETTE[i % PALETTE.length]!;
        series.push({ name: `${k} (raw)`, xs: steps, ys: raw, color, faint: true });
        series.push({ name: k, xs: steps, ys: ema(raw, EMA_ALPHA), color });
      });
    }
    const svg = lineChart(spec.id, spec.title, series, markers);
    if (svg) figures.push(`<figure>${svg}</figure>`);
    else empty.push(spec.title);
  }
  return { figures, empty, ...(formatTurn !== undefined ? { formatTurn } : {}), ...(best ? { best } : {}) };
}

/** The CSS both pages use for the charts. */
export const CHART_CSS = `.charts{display:flex;flex-wrap:wrap;gap:8px} figure{margin:0;border:1px solid #eee;border-radius:4px}
svg .title{font-weight:600;font-size:12px} svg .tick{font-size:10px;fill:#666} svg .legend{font-size:10px}
svg .grid{stroke:#eee} svg .marker{stroke-dasharray:4 3}
svg path{fill:none} svg path.smooth{stroke-width:2} svg path.raw{stroke-width:1;opacity:.35}
body.smooth-only svg path.raw{display:none}`;
