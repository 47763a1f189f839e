// The advantage actor: turns one step's rewards into advantages. Stateless and pure (a thin
// message layer over src/rl/advantages.ts), so the runtime may run it on several threads.
// Messages are plain objects (msgpackr-friendly: number[] in and out).
import {
  computeGroupAdvantages, weightedRewardTotal,
  type AdvantageEstimator, type AdvantageMetrics, type DynamicSampling, type ScaleRewards,
} from '../src/rl/advantages.js';

export interface ComputeAdvantagesRequest {
  /** Weighted reward totals, one per completion, grouped consecutively by groupSize. */
  rewards: number[];
  groupSize: number;
  estimator?: AdvantageEstimator;
  scale_rewards?: ScaleRewards | boolean;
  dynamic_sampling?: DynamicSampling;
}

export interface ComputeAdvantagesResponse {
  /** One per completion; 0 for completions of dropped groups. */
  advantages: number[];
  groupStats: { mean: number[]; std: number[]; allEqual: boolean[] };
  zeroVarianceGroups: number[];
  droppedGroups: number[];
  /** Completion indices to train on. */
  keptCompletions: number[];
  refillGroups: number;
  appliedScale: ScaleRewards;
  metrics: AdvantageMetrics;
}

function requireNumberArray(field: string, v: unknown): number[] {
  if (!Array.isArray(v) && !ArrayBuffer.isView(v)) throw new Error(`${field}: expected an array of numbers`);
  const arr = Array.from(v as ArrayLike<unknown>);
  arr.forEach((x, i) => {
    if (typeof x !== 'number') throw new Error(`${field}[${i}]: expected a number, got ${typeof x}`);
  });
  return arr as number[];
}

export async function computeAdvantages(msg: ComputeAdvantagesRequest): Promise<ComputeAdvantagesResponse> {
  if (msg === null || typeof msg !== 'object') throw new Error('computeAdvantages: message must be an object');
  const rewards = requireNumberArray('rewards', msg.rewards);
  const r = computeGroupAdvantages(rewards, {
    groupSize: msg.groupSize,
    estimator: msg.estimator ?? 'grpo',
    scaleRewards: msg.scale_rewards ?? 'group',
    dynamicSampling: msg.dynamic_sampling ?? 'off',
  });
  return {
    advantages: Array.from(r.advantages),
    groupStats: { mean: Array.from(r.stats.mean), std: Array.from(r.stats.std), allEqual: Array.from(r.stats.allEqual, (x) => x === 1) },
    zeroVarianceGroups: r.zeroVarianceGroups,
    droppedGroups: r.droppedGroups,
    keptCompletions: Array.from(r.keptCompletions),
    refillGroups: r.refillGroups,
    appliedScale: r.appliedScale,
    metrics: r.metrics,
  };
}

export interface RewardTotalsRequest {
  /** perFunc[f][i]: reward function f on completion i; NaN (or null) = the function abstained. */
  perFunc: (number | null)[][];
  weights: number[];
}

/** Weighted totals with Tina's nansum; null is treated as NaN (msgpack and JSON carry no NaN in some paths). */
export async function computeRewardTotals(msg: RewardTotalsRequest): Promise<{ totals: number[] }> {
  if (msg === null || typeof msg !== 'object' || !Array.isArray(msg.perFunc)) throw new Error('computeRewardTotals: perFunc must be an array of arrays');
  const perFunc = msg.perFunc.map((row, f) => {
    if (!Array.isArray(row)) throw new Error(`perFunc[${f}]: expected an array`);
    return row.map((x, i) => {
      if (x === null) return NaN;
      if (typeof x !== 'number') throw new Error(`perFunc[${f}][${i}]: expected a number or null, got ${typeof x}`);
      return x;
    });
  });
  const weights = requireNumberArray('weights', msg.weights);
  return { totals: Array.from(weightedRewardTotal(perFunc, weights)) };
}
