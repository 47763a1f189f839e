// Advantages for the GRPO family, over flat arrays of per-completion rewards.
//
// Layout convention (Tina / TRL): the G completions of one prompt are consecutive, so group g owns
// rewards[g*G .. g*G+G-1]. Everything here is pure and deterministic; no model dependency.
//
// Estimators (A_i for completion i of group g, r̄_g = group mean):
//   grpo                    A_i = (r_i − r̄_g) / (σ + 1e-4), σ chosen by scale_rewards:
//                           'group' → torch-style unbiased std of the group (Tina, TRL ≤ 0.21 True),
//                           'batch' → unbiased std over the whole (kept) batch (TRL ≥ 0.22 "batch"),
//                           'none'  → no division at all (TRL scale_rewards=False / Dr.GRPO).
//   dr_grpo                 A_i = r_i − r̄_g (Liu et al. 2025, "Understanding R1-Zero-Like Training",
//                           §3.2: drop the std; scale_rewards is ignored for this estimator).
//   rloo                    A_i = r_i − (Σ_{j∈g} r_j − r_i)/(G − 1)  (leave-one-out baseline,
//                           Kool et al. 2019; Ahmadian et al. 2024). Equals G/(G−1)·(r_i − r̄_g).
//   reinforce_pp_baseline   REINFORCE++-baseline (Hu 2025, arXiv 2501.03262; verl
//                           core_algos.compute_reinforce_plus_plus_baseline_outcome_advantage):
//                           a_i = r_i − r̄_g, then batch whitening
//                           A_i = (a_i − mean(a)) / sqrt(var_unbiased(a) + 1e-8).
//                           verl whitens over response tokens (token-weighted); we whiten over
//                           sequences because the advantage actor sees one total per completion.
//
// DAPO dynamic sampling (Yu et al. 2025, arXiv 2503.14476 §3.2): groups whose G rewards are all
// exactly equal carry no learning signal under group-centred estimators. Here, on one batch, 'drop'
// and 'refill' leave them out and 'refill' reports how many are missing; the training loop's refill
// over generation rounds is src/rl/dynamic-sampling.ts (the advantage actor's admitGroups).

export type ScaleRewards = 'group' | 'batch' | 'none';
export type AdvantageEstimator = 'grpo' | 'dr_grpo' | 'rloo' | 'reinforce_pp_baseline';
export type DynamicSampling = 'off' | 'drop' | 'refill';

/** Added to the std before dividing (Tina / TRL: `std + 1e-4`). */
export const GRPO_STD_EPS = 1e-4;
/** verl's masked_whiten epsilon (inside the square root). */
export const WHITEN_EPS = 1e-8;

export const ADVANTAGE_ESTIMATORS: readonly AdvantageEstimator[] = ['grpo', 'dr_grpo', 'rloo', 'reinforce_pp_baseline'];
export const SCALE_REWARDS: readonly ScaleRewards[] = ['group', 'batch', 'none'];
export const DYNAMIC_SAMPLING: readonly DynamicSampling[] = ['off', 'drop', 'refill'];

/** TRL accepted booleans before the string form: true ≡ 'group', false ≡ 'none'. */
export function normaliseScaleRewards(value: ScaleRewards | boolean): ScaleRewards {
  if (value === true) return 'group';
  if (value === false) return 'none';
  if (value === 'group' || value === 'batch' || value === 'none') return value;
  throw new Error(`scale_rewards: expected 'group' | 'batch' | 'none' | true | false, got ${JSON.stringify(value)}`);
}

/**
 * Weighted reward total per completion, Tina / TRL style: total_i = nansum_f(w_f · r_f[i]).
 * A NaN term (a reward function that abstained, e.g. unparseable gold) is skipped; a completion whose
 * every term is NaN gets 0, exactly as torch.nansum does.
 */
export function weightedRewardTotal(perFunc: readonly ArrayLike<number>[], weights: ArrayLike<number>): Float64Array {
  if (perFunc.length !== weights.length) {
    throw new Error(`reward_weights: ${weights.length} weights for ${perFunc.length} reward functions`);
  }
  if (perFunc.length === 0) throw new Error('weightedRewardTotal: no reward functions');
  const n = perFunc[0]!.length;
  for (let f = 0; f < perFunc.length; f++) {
    if (perFunc[f]!.length !== n)
      throw new Error(`rewards[${f}]: length ${perFunc[f]!.length}, expected ${n} (same as rewards[0])`);
    if (!Number.isFinite(weights[f]!)) throw new Error(`reward_weights[${f}]: not a finite number (${weights[f]})`);
  }
  const total = new Float64Array(n);
  for (let f = 0; f < perFunc.length; f++) {
    const r = perFunc[f]!;
    const w = weights[f]!;
    for (let i = 0; i < n; i++) {
      const term = w * r[i]!;
      if (!Number.isNaN(term)) total[i]! += term;
    }
  }
  return total;
}

export interface GroupStatistics {
  groupSize: number;
  numGroups: number;
  /** Per-group mean. */
  mean: Float64Array;
  /** Per-group torch-style unbiased std (divide by G − 1). */
  std: Float64Array;
  /** 1 where all G rewards of the group are exactly equal (zero variance). */
  allEqual: Uint8Array;
}

function checkRewards(rewards: ArrayLike<number>, groupSize: number): void {
  if (!Number.isInteger(groupSize) || groupSize < 2) {
    throw new Error(`num_generations (groupSize): must be an integer ≥ 2 (std needs two samples), got ${groupSize}`);
  }
  if (rewards.length === 0) throw new Error('rewards: empty');
  if (rewards.length % groupSize !== 0) {
    throw new Error(`rewards: length ${rewards.length} is not a multiple of num_generations ${groupSize}`);
  }
  for (let i = 0; i < rewards.length; i++) {
    if (!Number.isFinite(rewards[i]!))
      throw new Error(`rewards[${i}]: not finite (${rewards[i]}); combine NaN terms with weightedRewardTotal first`);
  }
}

/** Mean and unbiased std of each consecutive block of `groupSize` rewards. */
export function groupStatistics(rewards: ArrayLike<number>, groupSize: number): GroupStatistics {
  checkRewards(rewards, groupSize);
  const numGroups = rewards.length / groupSize;
  const mean = new Float64Array(numGroups);
  const std = new Float64Array(numGroups);
  const allEqual = new Uint8Array(numGroups);
  for (let g = 0; g < numGroups; g++) {
    const base = g * groupSize;
    let sum = 0;
    let equal = 1;
    const first = rewards[base]!;
    for (let j = 0; j < groupSize; j++) {
      const r = rewards[base + j]!;
      sum += r;
      if (r !== first) equal = 0;
    }
    const mu = sum / groupSize;
    let ss = 0;
    for (let j = 0; j < groupSize; j++) {
      const d = rewards[base + j]! - mu;
      ss += d * d;
    }
    mean[g] = mu;
    std[g] = equal ? 0 : Math.sqrt(ss / (groupSize - 1));
    allEqual[g] = equal;
  }
  return { groupSize, numGroups, mean, std, allEqual };
}

export interface AdvantageOptions {
  groupSize: number;
  estimator?: AdvantageEstimator;
  scaleRewards?: ScaleRewards | boolean;
  dynamicSampling?: DynamicSampling;
}

export interface AdvantageResult {
  /** One advantage per completion, same order as the rewards; 0 for completions of dropped groups. */
  advantages: Float64Array;
  stats: GroupStatistics;
  /** Indices of groups with all-equal rewards (reported whatever dynamicSampling says). */
  zeroVarianceGroups: number[];
  /** Groups removed from this step (empty unless dynamicSampling is 'drop' or 'refill'). */
  droppedGroups: number[];
  /** Completion indices the learner should train on (all of them unless groups were dropped). */
  keptCompletions: Int32Array;
  /** How many groups the coordinator should re-sample ('refill' only; else 0). */
  refillGroups: number;
  /** Scale actually applied: 'none' for estimators that never divide by a std. */
  appliedScale: ScaleRewards;
  metrics: AdvantageMetrics;
}

/** TRL metric names where one exists (reward, reward_std, frac_reward_zero_std). */
export interface AdvantageMetrics {
  reward: number;
  /** Mean over groups of the group std (TRL's reward_std). */
  reward_std: number;
  frac_reward_zero_std: number;
  'advantage/mean': number;
  'advantage/std': number;
  'advantage/abs_max': number;
  dropped_groups: number;
  refill_groups: number;
}

function unbiasedStd(values: ArrayLike<number>, idx: Int32Array): { mean: number; std: number } {
  const n = idx.length;
  let sum = 0;
  for (let k = 0; k < n; k++) sum += values[idx[k]!]!;
  const mean = n > 0 ? sum / n : 0;
  if (n < 2) return { mean, std: NaN };
  let ss = 0;
  for (let k = 0; k < n; k++) {
    const d = values[idx[k]!]! - mean;
    ss += d * d;
  }
  return { mean, std: Math.sqrt(ss / (n - 1)) };
}

/** The estimator and dynamic-sampling mode checked, and the std scaling the estimator applies. */
function resolveAdvantageOptions(opts: AdvantageOptions): {
  estimator: AdvantageEstimator;
  dynamic: DynamicSampling;
  appliedScale: ScaleRewards;
} {
  const estimator = opts.estimator ?? 'grpo';
  if (!ADVANTAGE_ESTIMATORS.includes(estimator)) {
    throw new Error(
      `advantage_estimator: expected one of ${ADVANTAGE_ESTIMATORS.join(' | ')}, got ${JSON.stringify(estimator)}`,
    );
  }
  const dynamic = opts.dynamicSampling ?? 'off';
  if (!DYNAMIC_SAMPLING.includes(dynamic)) {
    throw new Error(
      `dynamic_sampling: expected one of ${DYNAMIC_SAMPLING.join(' | ')}, got ${JSON.stringify(dynamic)}`,
    );
  }
  const requestedScale = normaliseScaleRewards(opts.scaleRewards ?? 'group');
  const appliedScale: ScaleRewards = estimator === 'grpo' ? requestedScale : 'none';
  return { estimator, dynamic, appliedScale };
}

/** Zero-variance groups, the ones dynamic sampling drops from this step, and the completions kept. */
function selectKeptCompletions(
  stats: GroupStatistics,
  numCompletions: number,
  dynamic: DynamicSampling,
): { zeroVarianceGroups: number[]; droppedGroups: number[]; keptCompletions: Int32Array } {
  const G = stats.groupSize;
  const zeroVarianceGroups: number[] = [];
  for (let g = 0; g < stats.numGroups; g++) if (stats.allEqual[g]) zeroVarianceGroups.push(g);
  const droppedGroups = dynamic === 'off' ? [] : zeroVarianceGroups.slice();
  const dropped = new Uint8Array(stats.numGroups);
  for (const g of droppedGroups) dropped[g] = 1;
  const kept: number[] = [];
  for (let i = 0; i < numCompletions; i++) if (!dropped[Math.floor(i / G)]) kept.push(i);
  return { zeroVarianceGroups, droppedGroups, keptCompletions: Int32Array.from(kept) };
}

/** First stage of every estimator, into `advantages`: r − r̄_g, or RLOO's r − leave-one-out mean. */
function centreRewards(
  rewards: ArrayLike<number>,
  stats: GroupStatistics,
  kept: Int32Array,
  estimator: AdvantageEstimator,
  advantages: Float64Array,
): void {
  const G = stats.groupSize;
  // Centre on the group mean (every estimator but RLOO uses r − r̄_g as its first stage).
  for (let k = 0; k < kept.length; k++) {
    const i = kept[k]!;
    const g = Math.floor(i / G);
    const r = rewards[i]!;
    if (estimator === 'rloo') {
      const baseline = (stats.mean[g]! * G - r) / (G - 1);
      advantages[i] = r - baseline;
    } else {
      advantages[i] = r - stats.mean[g]!;
    }
  }
}

/** grpo, scale_rewards 'group': divide by the group's std + GRPO_STD_EPS. */
function divideByGroupStd(advantages: Float64Array, stats: GroupStatistics, kept: Int32Array): void {
  const G = stats.groupSize;
  for (let k = 0; k < kept.length; k++) {
    const i = kept[k]!;
    advantages[i] = advantages[i]! / (stats.std[Math.floor(i / G)]! + GRPO_STD_EPS);
  }
}

/** grpo, scale_rewards 'batch': divide by the kept batch's reward std + GRPO_STD_EPS. */
function divideByBatchStd(advantages: Float64Array, rewards: ArrayLike<number>, kept: Int32Array): void {
  // Std of the raw rewards over the kept batch (TRL: rewards.std() over the whole batch).
  const { std } = unbiasedStd(rewards, kept);
  const denom = (Number.isNaN(std) ? 0 : std) + GRPO_STD_EPS;
  for (let k = 0; k < kept.length; k++) {
    const i = kept[k]!;
    advantages[i] = advantages[i]! / denom;
  }
}

/** reinforce_pp_baseline: whiten the centred advantages over the kept batch (verl masked_whiten). */
function whitenOverBatch(advantages: Float64Array, kept: Int32Array): void {
  const { mean, std } = unbiasedStd(advantages, kept);
  const variance = Number.isNaN(std) ? 0 : std * std;
  const invStd = 1 / Math.sqrt(variance + WHITEN_EPS);
  for (let k = 0; k < kept.length; k++) {
    const i = kept[k]!;
    advantages[i] = (advantages[i]! - mean) * invStd;
  }
}

/** Second stage: the std scaling (grpo) or batch whitening (reinforce_pp_baseline); none for the others. */
function scaleAdvantages(
  advantages: Float64Array,
  rewards: ArrayLike<number>,
  stats: GroupStatistics,
  kept: Int32Array,
  estimator: AdvantageEstimator,
  appliedScale: ScaleRewards,
): void {
  if (estimator === 'grpo' && appliedScale === 'group') divideByGroupStd(advantages, stats, kept);
  else if (estimator === 'grpo' && appliedScale === 'batch') divideByBatchStd(advantages, rewards, kept);
  else if (estimator === 'reinforce_pp_baseline') whitenOverBatch(advantages, kept);
}

/** TRL-named metrics: reward mean, mean group std, zero-std share, advantage statistics over the kept ones. */
function advantageMetrics(
  rewards: ArrayLike<number>,
  stats: GroupStatistics,
  advantages: Float64Array,
  kept: Int32Array,
  zeroVarianceCount: number,
  droppedCount: number,
  refillGroups: number,
): AdvantageMetrics {
  let rewardSum = 0;
  for (let i = 0; i < rewards.length; i++) rewardSum += rewards[i]!;
  let stdSum = 0;
  for (let g = 0; g < stats.numGroups; g++) stdSum += stats.std[g]!;
  const adv = unbiasedStd(advantages, kept);
  let absMax = 0;
  for (let k = 0; k < kept.length; k++) absMax = Math.max(absMax, Math.abs(advantages[kept[k]!]!));
  return {
    reward: rewardSum / rewards.length,
    reward_std: stdSum / stats.numGroups,
    frac_reward_zero_std: zeroVarianceCount / stats.numGroups,
    'advantage/mean': adv.mean,
    'advantage/std': Number.isNaN(adv.std) ? 0 : adv.std,
    'advantage/abs_max': absMax,
    dropped_groups: droppedCount,
    refill_groups: refillGroups,
  };
}

/** Advantages for one step's rewards (totals, grouped consecutively by groupSize). */
export function computeGroupAdvantages(rewards: ArrayLike<number>, opts: AdvantageOptions): AdvantageResult {
  const stats = groupStatistics(rewards, opts.groupSize);
  const { estimator, dynamic, appliedScale } = resolveAdvantageOptions(opts);
  const { zeroVarianceGroups, droppedGroups, keptCompletions } = selectKeptCompletions(stats, rewards.length, dynamic);
  const advantages = new Float64Array(rewards.length);
  centreRewards(rewards, stats, keptCompletions, estimator, advantages);
  scaleAdvantages(advantages, rewards, stats, keptCompletions, estimator, appliedScale);
  const refillGroups = dynamic === 'refill' ? droppedGroups.length : 0;
  return {
    advantages,
    stats,
    zeroVarianceGroups,
    droppedGroups,
    keptCompletions,
    refillGroups,
    appliedScale,
    metrics: advantageMetrics(
      rewards,
      stats,
      advantages,
      keptCompletions,
      zeroVarianceGroups.length,
      droppedGroups.length,
      refillGroups,
    ),
  };
}
