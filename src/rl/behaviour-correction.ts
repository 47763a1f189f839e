// Importance weights against the behaviour policy: the log-probs the rollout engine reported for the
// tokens it sampled. The learner's "old" policy (its own log-probs when the generation batch was first
// trained on) and the engine's policy differ because of kernel/precision mismatch, stale adapter
// versions (async rollouts) and top-p/top-k truncation done wrong; these weights correct for it.
// TRL names (GRPOConfig vllm_importance_sampling_*, TRL ≥ 0.26), per completion row:
//   token_truncate     w_t = clamp(exp(old_t − beh_t), C_min, C_max)          (TIS, Yao et al. 2025)
//   token_mask         w_t = exp(old_t − beh_t), or 0 when outside [C_min, C_max]   (MIS)
//   sequence_truncate  w   = clamp(exp(Σ_t m_t (old_t − beh_t)), C_min, C_max), one weight per row
//   sequence_mask      w   = exp(Σ_t m_t (old_t − beh_t)), or 0 (the row is dropped) when outside the bounds
// A null bound is no bound. The weights are constants (no gradient flows through them), and they
// multiply the policy term of the loss, not the KL term (TRL's order).
//
// Metrics (TRL names where they exist):
//   sampling/importance_sampling_ratio/{min,mean,max}  of the weights after truncation / masking, over
//                          completion tokens (token modes) or completions (sequence modes), as TRL
//   sampling/sampling_logp_difference/{mean,max}        |old − beh| over completion tokens
//   sampling/kl            k3 estimate of KL(behaviour ‖ learner), mean over completion tokens:
//                          r − 1 − log r with r = exp(old − beh) (≥ 0; 0 iff the two agree)
//   sampling/masked_frac   (mask modes) share of units set to 0;  sampling/truncated_frac (truncate modes)
import type { FloatArray } from '../ops/types.js';

export type ImportanceSamplingMode = 'token_truncate' | 'token_mask' | 'sequence_truncate' | 'sequence_mask';
export const IMPORTANCE_SAMPLING_MODES: readonly ImportanceSamplingMode[] = [
  'token_truncate',
  'token_mask',
  'sequence_truncate',
  'sequence_mask',
];

export interface BehaviourCorrection {
  mode: ImportanceSamplingMode;
  /** C_min: lower bound (null = none). */
  clipMin: number | null;
  /** C_max: upper bound (null = none). TRL vllm_importance_sampling_clip_max (formerly _cap). */
  clipMax: number | null;
}

/** Raw sums, mergeable across micro-batches. */
export interface BehaviourSums {
  /** Units the ratio statistics are over: tokens (token modes) or completions (sequence modes). */
  units: number;
  ratioSum: number;
  ratioMin: number;
  ratioMax: number;
  /** Units whose raw ratio left the bounds (masked, or truncated). */
  outOfBounds: number;
  /** Completion tokens seen (for the log-prob difference and KL means). */
  tokens: number;
  logpDiffSum: number;
  logpDiffMax: number;
  klSum: number;
}

export function emptyBehaviourSums(): BehaviourSums {
  return {
    units: 0,
    ratioSum: 0,
    ratioMin: Infinity,
    ratioMax: -Infinity,
    outOfBounds: 0,
    tokens: 0,
    logpDiffSum: 0,
    logpDiffMax: 0,
    klSum: 0,
  };
}

export function mergeBehaviourSums(acc: BehaviourSums, p: BehaviourSums): BehaviourSums {
  acc.units += p.units;
  acc.ratioSum += p.ratioSum;
  acc.outOfBounds += p.outOfBounds;
  acc.ratioMin = Math.min(acc.ratioMin, p.ratioMin);
  acc.ratioMax = Math.max(acc.ratioMax, p.ratioMax);
  acc.tokens += p.tokens;
  acc.logpDiffSum += p.logpDiffSum;
  acc.logpDiffMax = Math.max(acc.logpDiffMax, p.logpDiffMax);
  acc.klSum += p.klSum;
  return acc;
}

export function validateBehaviourCorrection(c: BehaviourCorrection): void {
  if (!IMPORTANCE_SAMPLING_MODES.includes(c.mode))
    throw new Error(
      `importance_sampling_mode: expected one of ${IMPORTANCE_SAMPLING_MODES.join(' | ')}, got ${JSON.stringify(c.mode)}`,
    );
  if (c.clipMin !== null && !(c.clipMin >= 0))
    throw new Error(`importance_sampling_clip_min: must be ≥ 0 or null, got ${c.clipMin}`);
  if (c.clipMax !== null && !(c.clipMax > 0))
    throw new Error(`importance_sampling_clip_max: must be > 0 or null, got ${c.clipMax}`);
  if (c.clipMin !== null && c.clipMax !== null && !(c.clipMin < c.clipMax))
    throw new Error(
      `importance_sampling_clip_min (${c.clipMin}) must be less than importance_sampling_clip_max (${c.clipMax})`,
    );
}

/**
 * Weights for one completion row (positions row·T … row·T + T − 1) into `w`; masked-out positions get
 * 0. `target` is the learner's old log-prob (or its current one, detached, when no old was kept).
 */
export function behaviourWeightsRow(
  target: FloatArray,
  behaviour: ArrayLike<number>,
  mask: ArrayLike<number>,
  row: number,
  T: number,
  c: BehaviourCorrection,
  w: Float64Array,
  sums: BehaviourSums,
): void {
  const lo = c.clipMin ?? -Infinity;
  const hi = c.clipMax ?? Infinity;
  const truncate = c.mode === 'token_truncate' || c.mode === 'sequence_truncate';
  const bound = (r: number): number => {
    const out = r < lo || r > hi;
    if (out) sums.outOfBounds++;
    if (truncate) return r < lo ? lo : r > hi ? hi : r;
    return out ? 0 : r;
  };
  const note = (v: number): void => {
    sums.units++;
    sums.ratioSum += v;
    if (v < sums.ratioMin) sums.ratioMin = v;
    if (v > sums.ratioMax) sums.ratioMax = v;
  };
  const base = row * T;
  let diffSum = 0;
  for (let t = 0; t < T; t++) {
    const k = base + t;
    if (mask[k] === 0) continue;
    const d = target[k]! - behaviour[k]!;
    diffSum += d;
    const ad = Math.abs(d);
    sums.tokens++;
    sums.logpDiffSum += ad;
    if (ad > sums.logpDiffMax) sums.logpDiffMax = ad;
    sums.klSum += Math.exp(d) - 1 - d;
  }
  if (c.mode === 'token_truncate' || c.mode === 'token_mask') {
    for (let t = 0; t < T; t++) {
      const k = base + t;
      if (mask[k] === 0) {
        w[k] = 0;
        continue;
      }
      const v = bound(Math.exp(target[k]! - behaviour[k]!));
      w[k] = v;
      note(v);
    }
    return;
  }
  const v = bound(Math.exp(diffSum));
  note(v);
  for (let t = 0; t < T; t++) w[base + t] = mask[base + t] === 0 ? 0 : v;
}

/** The metrics (empty when no correction ran). */
export function behaviourMetrics(s: BehaviourSums, c: BehaviourCorrection | null): Record<string, number> {
  if (!c || s.units === 0) return {};
  const masking = c.mode === 'token_mask' || c.mode === 'sequence_mask';
  return {
    'sampling/importance_sampling_ratio/min': s.ratioMin,
    'sampling/importance_sampling_ratio/mean': s.ratioSum / s.units,
    'sampling/importance_sampling_ratio/max': s.ratioMax,
    'sampling/sampling_logp_difference/mean': s.tokens ? s.logpDiffSum / s.tokens : 0,
    'sampling/sampling_logp_difference/max': s.logpDiffMax,
    'sampling/kl': s.tokens ? s.klSum / s.tokens : 0,
    [masking ? 'sampling/masked_frac' : 'sampling/truncated_frac']: s.outOfBounds / s.units,
  };
}
