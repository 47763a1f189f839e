// Per-step metrics as loractor records them: current TRL names (reward, reward_std,
// rewards/<func>/mean and /std, frac_reward_zero_std, completions/mean_length, completions/clipped_ratio,
// num_tokens, kl, entropy, clip_ratio/{low,high,region}_mean, loss, learning_rate, grad_norm,
// sampling/* for the behaviour-policy correction) plus loractor's phase timings (time/<phase> in
// seconds), throughput, dynamic-sampling counts and policy-version provenance. Runs written before the
// rename (TRL 0.15 names, as Tina logged them: rewards/<func>, completion_length) still read: the
// report maps them through METRIC_ALIASES.

export interface StepMetrics {
  step: number;
  /** Wall-clock seconds since the run started, at the end of this step. */
  elapsed_s: number;
  reward: number;
  reward_std: number;
  /** rewards/<func>: mean of each reward function over the step's completions. */
  [key: string]: number | undefined;
}

export interface EvalSummary {
  step: number;
  policy_version: number;
  /** Benchmark name → pass@1 in [0, 1]. */
  pass_at_1: Record<string, number>;
  /** Mean over benchmarks. */
  average: number;
  /** Folder of the adapter checkpoint evaluated, when one was saved. */
  checkpoint?: string;
}

/** Exponential moving average with TRL/W&B-style smoothing: s_t = a·x_t + (1 − a)·s_{t−1}. */
export function ema(values: (number | undefined)[], alpha = 0.1): (number | undefined)[] {
  const out: (number | undefined)[] = [];
  let s: number | undefined;
  for (const v of values) {
    if (v === undefined || !Number.isFinite(v)) {
      out.push(s);
      continue;
    }
    s = s === undefined ? v : alpha * v + (1 - alpha) * s;
    out.push(s);
  }
  return out;
}

/**
 * The step where the format metric "turns" (Tina Fig. 4: format rewards and completion length change
 * regime early in training): the first step at which the EMA of the metric has covered half of the way
 * from its starting value to its extreme value over the run. Undefined when it never moves by more than
 * `minChange`.
 */
export function formatTurnStep(
  steps: number[],
  values: (number | undefined)[],
  alpha = 0.1,
  minChange = 0.05,
): number | undefined {
  const smooth = ema(values, alpha);
  const finite = smooth
    .map((v, i) => [v, i] as const)
    .filter((p): p is readonly [number, number] => p[0] !== undefined);
  if (finite.length < 2) return undefined;
  const start = finite[0]![0];
  let extreme = start;
  for (const [v] of finite) if (Math.abs(v - start) > Math.abs(extreme - start)) extreme = v;
  if (Math.abs(extreme - start) < minChange) return undefined;
  const half = start + (extreme - start) / 2;
  for (const [v, i] of finite) {
    if ((extreme > start && v >= half) || (extreme < start && v <= half)) return steps[i];
  }
  return undefined;
}

/** TRL 0.15 metric names (Tina's) → the current TRL names loractor writes. rewards/<f> → rewards/<f>/mean too. */
export const METRIC_ALIASES: Readonly<Record<string, string>> = {
  completion_length: 'completions/mean_length',
};

/** The current name of a metric key (identity for current names). */
export function currentMetricName(key: string): string {
  if (METRIC_ALIASES[key]) return METRIC_ALIASES[key]!;
  if (/^rewards\/[^/]+$/.test(key)) return `${key}/mean`;
  return key;
}

/** A step's metrics with every TRL 0.15 key also under its current name (old runs' metrics.jsonl). */
export function withCurrentNames(m: StepMetrics): StepMetrics {
  const out: StepMetrics = { ...m };
  for (const [k, v] of Object.entries(m)) {
    const cur = currentMetricName(k);
    if (cur !== k && out[cur] === undefined) out[cur] = v;
  }
  return out;
}
