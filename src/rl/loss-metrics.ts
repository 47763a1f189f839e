// The raw sums a policyLoss call (loss.ts) accumulates for its metrics, their merge over the
// micro-batches of one optimizer step, and the TRL-named metrics computed from them. Re-exported from
// loss.ts, so importers keep reading these names from there.
import {
  behaviourMetrics,
  emptyBehaviourSums,
  mergeBehaviourSums,
  type BehaviourCorrection,
  type BehaviourSums,
} from './behaviour-correction.js';
import type { LossType, PolicyUnit } from './loss-terms.js';

/** Raw sums, so that metrics of several micro-batches can be merged exactly. */
export interface PolicyLossSums {
  sequences: number;
  tokens: number;
  klSeqMeanSum: number;
  klTokenSum: number;
  /** Clip counts over units: tokens (token level) or completions (sequence level), as TRL. */
  clipUnits: number;
  clipLow: number;
  clipHigh: number;
  /** cispo: units whose ratio exceeded epsilon_high with A > 0 (TRL cispo_clip_ratio). */
  cispoClip: number;
  behaviour: BehaviourSums;
}

export interface PolicyLossMetrics {
  /** TRL 0.15.2 / Tina: mean over sequences of the per-sequence masked token mean of k3 KL. */
  kl: number;
  /** Token-level masked mean of k3 KL (TRL ≥ 0.17's kl). */
  kl_token_mean: number;
  /** Clip-family loss types: share of units clipped low / high / either (TRL clip_ratio/*). */
  'clip_ratio/low_mean'?: number;
  'clip_ratio/high_mean'?: number;
  'clip_ratio/region_mean'?: number;
  /** cispo: share of units whose ratio was capped with A > 0. */
  cispo_clip_ratio?: number;
  /** sampling/* behaviour-correction metrics (behaviour-correction.ts), when a correction ran. */
  [key: string]: number | undefined;
}

/** All-zero sums for a batch of `sequences` completions and `tokens` mask tokens. */
export function zeroPolicyLossSums(sequences: number, tokens: number): PolicyLossSums {
  return {
    sequences,
    tokens,
    klSeqMeanSum: 0,
    klTokenSum: 0,
    clipUnits: 0,
    clipLow: 0,
    clipHigh: 0,
    cispoClip: 0,
    behaviour: emptyBehaviourSums(),
  };
}

/** Counts one clip unit of weight n (1 per completion at sequence level, m_t per token) and its flags. */
export function countClips(sums: PolicyLossSums, unit: PolicyUnit, n: number): void {
  sums.clipUnits += n;
  if (unit.low) sums.clipLow += n;
  if (unit.high) sums.clipHigh += n;
  if (unit.cispo) sums.cispoClip += n;
}

/** Merge the sums of several micro-batches (then call policyLossMetrics for the step's metrics). */
export function mergePolicyLossSums(parts: readonly PolicyLossSums[]): PolicyLossSums {
  const acc = zeroPolicyLossSums(0, 0);
  for (const p of parts) {
    acc.sequences += p.sequences;
    acc.tokens += p.tokens;
    acc.klSeqMeanSum += p.klSeqMeanSum;
    acc.klTokenSum += p.klTokenSum;
    acc.clipUnits += p.clipUnits;
    acc.clipLow += p.clipLow;
    acc.clipHigh += p.clipHigh;
    acc.cispoClip += p.cispoClip;
    mergeBehaviourSums(acc.behaviour, p.behaviour);
  }
  return acc;
}

/**
 * Metrics (TRL names) from sums: clip_ratio/* for the clip family, cispo_clip_ratio for cispo, none
 * for sapo (as TRL); the sampling/* ones only when a behaviour correction ran.
 */
export function policyLossMetrics(
  s: PolicyLossSums,
  correction: BehaviourCorrection | null = null,
  lossType: LossType = 'grpo',
): PolicyLossMetrics {
  const units = Math.max(1, s.clipUnits);
  const clip =
    lossType === 'cispo'
      ? { cispo_clip_ratio: s.cispoClip / units }
      : lossType === 'sapo'
        ? {}
        : {
            'clip_ratio/low_mean': s.clipLow / units,
            'clip_ratio/high_mean': s.clipHigh / units,
            'clip_ratio/region_mean': (s.clipLow + s.clipHigh) / units,
          };
  return {
    kl: s.sequences > 0 ? s.klSeqMeanSum / s.sequences : 0,
    kl_token_mean: s.klTokenSum / Math.max(1, s.tokens),
    ...clip,
    ...behaviourMetrics(s.behaviour, correction),
  };
}
