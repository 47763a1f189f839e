// The GRPO-family policy loss over per-token log-probs, and its gradient with respect to them.
//
// Shapes: N completions × T completion positions, row-major ([i*T + t]). The learner runs the model,
// gathers logp of the sampled tokens, calls policyLoss, and chains dLogp back through the model.
//
// Per token (A_i = advantage of completion i, β = beta, ε_lo = epsilon, ε_hi = epsilon_high):
//   ratio ρ  = exp(logp − old)            old = oldLogp, or stopgrad(logp) when absent (then ρ ≡ 1
//                                          in value with dρ/dlogp = 1: Tina / TRL 0.15.2)
//   clipped  = clamp(ρ, 1 − ε_lo, 1 + ε_hi)
//   w        = min(exp(old − behaviour), cap)   truncated importance weight for stale / engine
//                                          rollouts, a constant (no gradient); 1 when no behaviourLogp
//   kl       = exp(ref − logp) − (ref − logp) − 1   (k3 estimator, Schulman 2020; only when β ≠ 0)
//   ℓ        = −w · min(ρ·A, clipped·A) + β · kl   (TRL ≥ 0.16; w as TRL's vLLM IS correction)
// Derivative: dℓ/dlogp = −w·A·ρ·[the unclipped branch is the min] + β·(1 − exp(ref − logp)).
//
// Normalisers (c = per-token coefficient; loss = Σ_it c_i · m_it · ℓ_it), TRL semantics:
//   grpo    c_i = 1 / (max(1, Σ_t m_it) · B)          per-sequence token mean, then batch mean
//   bnpo    c   = 1 / (max(1, Σ_local m) · M)          token mean over the local micro-batch, then
//                                                     the Trainer's 1/grad_accum (M micro-batches)
//   dr_grpo c   = 1 / (B · max_completion_length)     Liu et al. 2025's constant normaliser
//   dapo    c   = 1 / max(1, Σ_global m)              token mean over the whole optimizer batch
// B = sequences in the whole optimizer batch (all micro-batches), passed in via `global` so that the
// sum of micro-batch losses equals the full-batch loss exactly for grpo, dr_grpo and dapo. bnpo is
// TRL's local definition: it equals the full-batch token mean only when every micro-batch holds the
// same number of tokens (that gap is why DAPO's global token normaliser exists).

export type LossType = 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo';
export const LOSS_TYPES: readonly LossType[] = ['grpo', 'bnpo', 'dr_grpo', 'dapo'];
export type LogpArray = Float32Array | Float64Array;

export interface PolicyLossBatch {
  /** Completions in this (micro-)batch. */
  numSequences: number;
  /** Completion positions per row (padded length). */
  seqLen: number;
  /** log π_θ of the sampled tokens, [N, T]. */
  logp: LogpArray;
  /** 1 up to and including the first EOS, 0 after (see completionMask), [N, T]. */
  mask: ArrayLike<number>;
  /** One advantage per completion, [N]. */
  advantages: ArrayLike<number>;
  /** Reference policy (adapter off) log-probs, [N, T]; required when beta ≠ 0. */
  refLogp?: LogpArray;
  /** Policy log-probs when the rollouts were scored (num_iterations > 1); absent ⇒ logp (ρ ≡ 1). */
  oldLogp?: LogpArray;
  /** Log-probs reported by the rollout engine; enables the truncated IS correction. */
  behaviourLogp?: LogpArray;
}

export interface GlobalBatchSize {
  /** Completions in the whole optimizer batch (sum over micro-batches). */
  sequences: number;
  /** Mask tokens in the whole optimizer batch. */
  tokens: number;
  /** Number of micro-batches the optimizer batch is split into (gradient_accumulation_steps). */
  microBatches: number;
}

export interface PolicyLossOptions {
  lossType: LossType;
  beta: number;
  epsilon: number;
  /** Upper clip (DAPO clip-higher); defaults to epsilon. */
  epsilonHigh?: number;
  /** Cap of the truncated IS weight (TRL vllm_importance_sampling_cap, default 2). */
  importanceSamplingCap?: number;
  /** dr_grpo's constant; defaults to seqLen. */
  maxCompletionLength?: number;
  /** The whole optimizer batch when this call sees one micro-batch; defaults to this batch alone. */
  global?: GlobalBatchSize;
}

/** Raw sums, so that metrics of several micro-batches can be merged exactly. */
export interface PolicyLossSums {
  sequences: number;
  tokens: number;
  klSeqMeanSum: number;
  klTokenSum: number;
  clipLowTokens: number;
  clipHighTokens: number;
  isWeightSum: number;
  isWeightMin: number;
  isWeightMax: number;
  isCappedTokens: number;
  isTokens: number;
}

export interface PolicyLossMetrics {
  /** TRL 0.15.2 / Tina: mean over sequences of the per-sequence masked token mean of k3 KL. */
  kl: number;
  /** Token-level masked mean of k3 KL (TRL ≥ 0.17). */
  kl_token_mean: number;
  'clip_ratio/low_mean': number;
  'clip_ratio/high_mean': number;
  'clip_ratio/region_mean': number;
  'is_weight/mean': number;
  'is_weight/min': number;
  'is_weight/max': number;
  'is_weight/capped_frac': number;
}

export interface PolicyLossResult {
  loss: number;
  /** dLoss/dlogp, [N, T]; zero outside the mask. */
  dLogp: LogpArray;
  metrics: PolicyLossMetrics;
  sums: PolicyLossSums;
}

function checkLen(name: string, a: ArrayLike<number> | undefined, n: number): void {
  if (a !== undefined && a.length !== n) throw new Error(`${name}: length ${a.length}, expected ${n}`);
}

/**
 * Loss value, dLoss/dlogp and metrics for one (micro-)batch. `out`, when given, receives dLogp
 * (length N·T) so the learner's step loop allocates nothing.
 */
export function policyLoss(batch: PolicyLossBatch, opts: PolicyLossOptions, out?: LogpArray): PolicyLossResult {
  const N = batch.numSequences;
  const T = batch.seqLen;
  if (!Number.isInteger(N) || N < 1) throw new Error(`numSequences: must be a positive integer, got ${N}`);
  if (!Number.isInteger(T) || T < 1) throw new Error(`seqLen: must be a positive integer, got ${T}`);
  const NT = N * T;
  checkLen('logp', batch.logp, NT);
  checkLen('mask', batch.mask, NT);
  checkLen('advantages', batch.advantages, N);
  checkLen('refLogp', batch.refLogp, NT);
  checkLen('oldLogp', batch.oldLogp, NT);
  checkLen('behaviourLogp', batch.behaviourLogp, NT);
  checkLen('out', out, NT);
  if (!LOSS_TYPES.includes(opts.lossType)) throw new Error(`loss_type: expected one of ${LOSS_TYPES.join(' | ')}, got ${JSON.stringify(opts.lossType)}`);
  const beta = opts.beta;
  if (!(beta >= 0)) throw new Error(`beta: must be ≥ 0, got ${beta}`);
  if (beta !== 0 && !batch.refLogp) throw new Error('refLogp: required when beta ≠ 0 (the KL term needs the reference policy)');
  const epsLow = opts.epsilon;
  const epsHigh = opts.epsilonHigh ?? opts.epsilon;
  if (!(epsLow >= 0)) throw new Error(`epsilon: must be ≥ 0, got ${epsLow}`);
  if (!(epsHigh >= 0)) throw new Error(`epsilon_high: must be ≥ 0, got ${epsHigh}`);
  const cap = opts.importanceSamplingCap ?? 2;
  if (!(cap > 0)) throw new Error(`importance_sampling_cap: must be > 0, got ${cap}`);
  const L = opts.maxCompletionLength ?? T;
  if (!(L >= 1)) throw new Error(`max_completion_length: must be ≥ 1, got ${L}`);

  const { logp, mask, advantages, refLogp, oldLogp, behaviourLogp } = batch;
  let localTokens = 0;
  for (let k = 0; k < NT; k++) localTokens += mask[k]!;
  const global = opts.global ?? { sequences: N, tokens: localTokens, microBatches: 1 };
  if (!(global.sequences >= N)) throw new Error(`global.sequences: ${global.sequences} is less than this batch's ${N} sequences`);
  if (!(global.tokens >= 0)) throw new Error(`global.tokens: must be ≥ 0, got ${global.tokens}`);
  if (!Number.isInteger(global.microBatches) || global.microBatches < 1) throw new Error(`global.microBatches: must be a positive integer, got ${global.microBatches}`);

  const grad = out ?? new Float64Array(NT);
  const lo = 1 - epsLow;
  const hi = 1 + epsHigh;
  let loss = 0;
  let klSeqMeanSum = 0, klTokenSum = 0, clipLowTokens = 0, clipHighTokens = 0;
  let isWeightSum = 0, isWeightMin = Infinity, isWeightMax = -Infinity, isCappedTokens = 0, isTokens = 0;

  for (let i = 0; i < N; i++) {
    const A = advantages[i]!;
    const row = i * T;
    let seqTokens = 0;
    for (let t = 0; t < T; t++) seqTokens += mask[row + t]!;
    let c: number;
    switch (opts.lossType) {
      case 'grpo': c = 1 / (Math.max(1, seqTokens) * global.sequences); break;
      case 'bnpo': c = 1 / (Math.max(1, localTokens) * global.microBatches); break;
      case 'dr_grpo': c = 1 / (global.sequences * L); break;
      case 'dapo': c = 1 / Math.max(1, global.tokens); break;
    }
    let seqKl = 0;
    for (let t = 0; t < T; t++) {
      const k = row + t;
      const m = mask[k]!;
      if (m === 0) { grad[k] = 0; continue; }
      const lp = logp[k]!;
      const ratio = oldLogp ? Math.exp(lp - oldLogp[k]!) : 1;
      const clipped = ratio < lo ? lo : ratio > hi ? hi : ratio;
      const unclippedTerm = ratio * A;
      const clippedTerm = clipped * A;
      // min(ρA, clip(ρ)A): the gradient flows only through the unclipped branch when it is the min.
      const useUnclipped = unclippedTerm <= clippedTerm;
      if (ratio < lo && A < 0) clipLowTokens += m;
      if (ratio > hi && A > 0) clipHighTokens += m;
      let w = 1;
      if (behaviourLogp) {
        const raw = Math.exp((oldLogp ? oldLogp[k]! : lp) - behaviourLogp[k]!);
        w = raw > cap ? cap : raw;
        if (raw > cap) isCappedTokens += m;
        isWeightSum += w * m;
        isTokens += m;
        if (w < isWeightMin) isWeightMin = w;
        if (w > isWeightMax) isWeightMax = w;
      }
      let l = -w * (useUnclipped ? unclippedTerm : clippedTerm);
      let d = useUnclipped ? -w * A * ratio : 0;
      if (refLogp) {
        const diff = refLogp[k]! - lp;
        const e = Math.exp(diff);
        const kl = e - diff - 1;
        seqKl += kl * m;
        klTokenSum += kl * m;
        if (beta !== 0) {
          l += beta * kl;
          d += beta * (1 - e);
        }
      }
      loss += c * m * l;
      grad[k] = c * m * d;
    }
    klSeqMeanSum += seqKl / Math.max(1, seqTokens);
  }

  const sums: PolicyLossSums = {
    sequences: N, tokens: localTokens, klSeqMeanSum, klTokenSum, clipLowTokens, clipHighTokens,
    isWeightSum, isWeightMin, isWeightMax, isCappedTokens, isTokens,
  };
  return { loss, dLogp: grad, metrics: policyLossMetrics(sums), sums };
}

/** Merge the sums of several micro-batches (then call policyLossMetrics for the step's metrics). */
export function mergePolicyLossSums(parts: readonly PolicyLossSums[]): PolicyLossSums {
  const acc: PolicyLossSums = {
    sequences: 0, tokens: 0, klSeqMeanSum: 0, klTokenSum: 0, clipLowTokens: 0, clipHighTokens: 0,
    isWeightSum: 0, isWeightMin: Infinity, isWeightMax: -Infinity, isCappedTokens: 0, isTokens: 0,
  };
  for (const p of parts) {
    acc.sequences += p.sequences; acc.tokens += p.tokens; acc.klSeqMeanSum += p.klSeqMeanSum;
    acc.klTokenSum += p.klTokenSum; acc.clipLowTokens += p.clipLowTokens; acc.clipHighTokens += p.clipHighTokens;
    acc.isWeightSum += p.isWeightSum; acc.isCappedTokens += p.isCappedTokens; acc.isTokens += p.isTokens;
    acc.isWeightMin = Math.min(acc.isWeightMin, p.isWeightMin);
    acc.isWeightMax = Math.max(acc.isWeightMax, p.isWeightMax);
  }
  return acc;
}

/** Metrics (TRL names) from sums. IS stats are 1 when no behaviour log-probs were given. */
export function policyLossMetrics(s: PolicyLossSums): PolicyLossMetrics {
  const tok = Math.max(1, s.tokens);
  const hasIs = s.isTokens > 0;
  return {
    kl: s.sequences > 0 ? s.klSeqMeanSum / s.sequences : 0,
    kl_token_mean: s.klTokenSum / tok,
    'clip_ratio/low_mean': s.clipLowTokens / tok,
    'clip_ratio/high_mean': s.clipHighTokens / tok,
    'clip_ratio/region_mean': (s.clipLowTokens + s.clipHighTokens) / tok,
    'is_weight/mean': hasIs ? s.isWeightSum / s.isTokens : 1,
    'is_weight/min': hasIs ? s.isWeightMin : 1,
    'is_weight/max': hasIs ? s.isWeightMax : 1,
    'is_weight/capped_frac': hasIs ? s.isCappedTokens / s.isTokens : 0,
  };
}

/**
 * Completion mask as TRL builds it: 1 up to and including the first EOS token of each row, 0 after;
 * rows without an EOS (truncated at max length) are all 1 up to `lengths[i]` (default T).
 */
export function completionMask(
  tokenIds: ArrayLike<number>, numSequences: number, seqLen: number,
  eosTokenIds: number | readonly number[], lengths?: ArrayLike<number>, out?: Uint8Array,
): Uint8Array {
  const NT = numSequences * seqLen;
  checkLen('tokenIds', tokenIds, NT);
  checkLen('lengths', lengths, numSequences);
  const eos = typeof eosTokenIds === 'number' ? [eosTokenIds] : eosTokenIds;
  if (eos.length === 0) throw new Error('eos_token_id: at least one EOS id is required');
  const mask = out ?? new Uint8Array(NT);
  checkLen('out', mask, NT);
  for (let i = 0; i < numSequences; i++) {
    const len = lengths ? lengths[i]! : seqLen;
    if (!(len >= 0 && len <= seqLen)) throw new Error(`lengths[${i}]: ${len} is outside [0, ${seqLen}]`);
    let on = 1;
    for (let t = 0; t < seqLen; t++) {
      const k = i * seqLen + t;
      mask[k] = on && t < len ? 1 : 0;
      if (on && eos.includes(tokenIds[k]!)) on = 0;
    }
  }
  return mask;
}
