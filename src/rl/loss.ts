// The GRPO-family policy loss over per-token log-probs, and its gradient with respect to them.
//
// Shapes: N completions × T completion positions, row-major ([i*T + t]). The learner runs the model,
// gathers logp of the sampled tokens, calls policyLoss, and chains dLogp back through the model.
// The objectives are TRL's (GRPOTrainer._compute_loss, TRL 1.x), term by term.
//
// Ratio (importance_sampling_level):
//   token     ρ_t = exp(logp_t − old_t)                     old = oldLogp, or stopgrad(logp) when absent
//   sequence  s_i = exp(Σ_t m_t (logp_t − old_t) / max(1, |y_i|))   GSPO (Zheng et al. 2025): one
//             length-normalised ratio per completion, used for every token of it
// (old absent ⇒ ratio ≡ 1 in value with dρ/dlogp = ρ: Tina / TRL 0.15.2, num_iterations 1.)
//
// Policy term f per token (A_i = advantage, ε_lo = epsilon, ε_hi = epsilon_high, δ = delta):
//   clip family (grpo, bnpo, dr_grpo, dapo):  f = −min(min(ρ, δ)·A, clamp(ρ, 1 − ε_lo, 1 + ε_hi)·A)
//             δ (INTELLECT-2 two-sided clipping) caps the unclipped branch; null = no cap.
//             df/dρ = −A where the unclipped branch is the min and ρ ≤ δ, else 0.
//   cispo     f = −sg(min(ρ, ε_hi))·A·logp   (MiniMax-M1; TRL clamps the ratio at epsilon_high itself,
//             ScaleRL's ε_max, e.g. 5.0). df/dlogp = −min(ρ, ε_hi)·A.
//   sapo      f = −σ(τ(ρ − 1))·(4/τ)·A, τ = sapo_temperature_pos if A > 0 else _neg (Soft Adaptive Policy
//             Optimization, Gao et al. 2025). df/dρ = −4·A·σ·(1 − σ).
// Per token  ℓ_t = w_t·f_t + β·kl_t   with w_t the behaviour importance weight (behaviour-correction.ts;
//            1 without behaviour log-probs) and kl_t = exp(ref − logp) − (ref − logp) − 1 (k3; β ≠ 0).
//
// Normalisers (c_i = per-token coefficient; loss = Σ_it c_i · m_it · ℓ_it), TRL semantics:
//   grpo, sapo      c_i = 1 / (max(1, Σ_t m_it) · B)      per-sequence token mean, then batch mean
//   bnpo            c   = 1 / (max(1, Σ_local m) · M)      token mean over the local micro-batch, then
//                                                         the Trainer's 1/grad_accum (M micro-batches)
//   dr_grpo         c   = 1 / (B · max_completion_length)  Liu et al. 2025's constant normaliser
//   dapo, cispo     c   = 1 / max(1, Σ_global m)           token mean over the whole optimizer batch
// B = sequences in the whole optimizer batch (all micro-batches), passed in via `global` so that the
// sum of micro-batch losses equals the full-batch loss exactly for grpo, dr_grpo, dapo, cispo, sapo.
// bnpo is TRL's local definition: it equals the full-batch token mean only when every micro-batch
// holds the same number of tokens (that gap is why DAPO's global token normaliser exists).
import {
  behaviourWeightsRow,
  emptyBehaviourSums,
  mergeBehaviourSums,
  behaviourMetrics,
  validateBehaviourCorrection,
  type BehaviourCorrection,
  type BehaviourSums,
} from './behaviour-correction.js';

export type LossType = 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo' | 'cispo' | 'sapo';
export const LOSS_TYPES: readonly LossType[] = ['grpo', 'bnpo', 'dr_grpo', 'dapo', 'cispo', 'sapo'];
export type ImportanceSamplingLevel = 'token' | 'sequence';
export const IMPORTANCE_SAMPLING_LEVELS: readonly ImportanceSamplingLevel[] = ['token', 'sequence'];
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
  /** Policy log-probs when the generation batch was first trained on (num_iterations > 1, or a batch spread over steps); absent ⇒ logp (ρ ≡ 1). */
  oldLogp?: LogpArray;
  /** Log-probs reported by the rollout engine; with `correction` they give the behaviour importance weights. */
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
  /** Upper clip (DAPO clip-higher); the ratio cap for cispo. Defaults to epsilon. */
  epsilonHigh?: number;
  /** Two-sided clipping cap of the unclipped branch (TRL delta); null/undefined = off. */
  delta?: number | null;
  /** 'token' (default) or 'sequence' (GSPO). */
  importanceSamplingLevel?: ImportanceSamplingLevel;
  /** SAPO gate temperatures (TRL defaults 1.0 / 1.05). */
  sapoTemperaturePos?: number;
  sapoTemperatureNeg?: number;
  /** Behaviour-policy correction (TIS / MIS); applied when the batch has behaviourLogp. null = off. */
  correction?: BehaviourCorrection | null;
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

interface Resolved {
  lossType: LossType;
  beta: number;
  lo: number;
  hi: number;
  epsHigh: number;
  delta: number;
  sequence: boolean;
  tauPos: number;
  tauNeg: number;
  correction: BehaviourCorrection | null;
  L: number;
}

function resolveOptions(opts: PolicyLossOptions, T: number): Resolved {
  if (!LOSS_TYPES.includes(opts.lossType))
    throw new Error(`loss_type: expected one of ${LOSS_TYPES.join(' | ')}, got ${JSON.stringify(opts.lossType)}`);
  const level = opts.importanceSamplingLevel ?? 'token';
  if (!IMPORTANCE_SAMPLING_LEVELS.includes(level))
    throw new Error(`importance_sampling_level: expected token | sequence, got ${JSON.stringify(level)}`);
  const beta = opts.beta;
  if (!(beta >= 0)) throw new Error(`beta: must be ≥ 0, got ${beta}`);
  const epsLow = opts.epsilon;
  const epsHigh = opts.epsilonHigh ?? opts.epsilon;
  if (!(epsLow >= 0)) throw new Error(`epsilon: must be ≥ 0, got ${epsLow}`);
  if (!(epsHigh >= 0)) throw new Error(`epsilon_high: must be ≥ 0, got ${epsHigh}`);
  const delta = opts.delta ?? Infinity;
  if (!(delta > 0)) throw new Error(`delta: must be > 0 or null, got ${opts.delta}`);
  const tauPos = opts.sapoTemperaturePos ?? 1,
    tauNeg = opts.sapoTemperatureNeg ?? 1.05;
  if (!(tauPos > 0) || !(tauNeg > 0))
    throw new Error(`sapo_temperature_pos / _neg: must be > 0, got ${tauPos} / ${tauNeg}`);
  const correction = opts.correction ?? null;
  if (correction) validateBehaviourCorrection(correction);
  const L = opts.maxCompletionLength ?? T;
  if (!(L >= 1)) throw new Error(`max_completion_length: must be ≥ 1, got ${L}`);
  return {
    lossType: opts.lossType,
    beta,
    lo: 1 - epsLow,
    hi: 1 + epsHigh,
    epsHigh,
    delta,
    sequence: level === 'sequence',
    tauPos,
    tauNeg,
    correction,
    L,
  };
}

/** Per-unit policy term: value f(ρ), derivative df/dρ (clip family, sapo) and clip flags. */
interface Unit {
  f: number;
  dfdr: number;
  low: boolean;
  high: boolean;
  cispo: boolean;
}

function policyTerm(o: Resolved, ratio: number, A: number, out: Unit): void {
  out.low = false;
  out.high = false;
  out.cispo = false;
  if (o.lossType === 'sapo') {
    const tau = A > 0 ? o.tauPos : o.tauNeg;
    const sg = 1 / (1 + Math.exp(-tau * (ratio - 1)));
    out.f = -sg * (4 / tau) * A;
    out.dfdr = -4 * A * sg * (1 - sg);
    return;
  }
  if (o.lossType === 'cispo') {
    // The caller multiplies by logp; here f is the detached weight −min(ρ, ε_hi)·A.
    const capped = ratio > o.epsHigh ? o.epsHigh : ratio;
    out.f = -capped * A;
    out.dfdr = 0;
    out.cispo = ratio > o.epsHigh && A > 0;
    return;
  }
  const coef1 = ratio > o.delta ? o.delta : ratio;
  const clipped = ratio < o.lo ? o.lo : ratio > o.hi ? o.hi : ratio;
  const unclippedTerm = coef1 * A;
  const clippedTerm = clipped * A;
  // min(ρA, clip(ρ)A): the gradient flows only through the unclipped branch when it is the min.
  const useUnclipped = unclippedTerm <= clippedTerm;
  out.f = -(useUnclipped ? unclippedTerm : clippedTerm);
  out.dfdr = useUnclipped && ratio <= o.delta ? -A : 0;
  out.low = coef1 < o.lo && A < 0;
  out.high = coef1 > o.hi && A > 0;
}

function coefficient(o: Resolved, seqTokens: number, localTokens: number, g: GlobalBatchSize): number {
  switch (o.lossType) {
    case 'grpo':
    case 'sapo':
      return 1 / (Math.max(1, seqTokens) * g.sequences);
    case 'bnpo':
      return 1 / (Math.max(1, localTokens) * g.microBatches);
    case 'dr_grpo':
      return 1 / (g.sequences * o.L);
    case 'dapo':
    case 'cispo':
      return 1 / Math.max(1, g.tokens);
  }
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
  const o = resolveOptions(opts, T);
  const { beta } = o;
  if (beta !== 0 && !batch.refLogp)
    throw new Error('refLogp: required when beta ≠ 0 (the KL term needs the reference policy)');

  const { logp, mask, advantages, refLogp, oldLogp, behaviourLogp } = batch;
  let localTokens = 0;
  for (let k = 0; k < NT; k++) localTokens += mask[k]!;
  const global = opts.global ?? { sequences: N, tokens: localTokens, microBatches: 1 };
  if (!(global.sequences >= N))
    throw new Error(`global.sequences: ${global.sequences} is less than this batch's ${N} sequences`);
  if (!(global.tokens >= 0)) throw new Error(`global.tokens: must be ≥ 0, got ${global.tokens}`);
  if (!Number.isInteger(global.microBatches) || global.microBatches < 1)
    throw new Error(`global.microBatches: must be a positive integer, got ${global.microBatches}`);

  const grad = out ?? new Float64Array(NT);
  const correct = o.correction !== null && behaviourLogp !== undefined;
  const w = correct ? new Float64Array(NT) : null;
  const behaviour = emptyBehaviourSums();
  const unit: Unit = { f: 0, dfdr: 0, low: false, high: false, cispo: false };
  let loss = 0;
  let klSeqMeanSum = 0,
    klTokenSum = 0,
    clipUnits = 0,
    clipLow = 0,
    clipHigh = 0,
    cispoClip = 0;

  for (let i = 0; i < N; i++) {
    const A = advantages[i]!;
    const row = i * T;
    let seqTokens = 0;
    for (let t = 0; t < T; t++) seqTokens += mask[row + t]!;
    const c = coefficient(o, seqTokens, localTokens, global);
    if (w) behaviourWeightsRow(oldLogp ?? logp, behaviourLogp!, mask, i, T, o.correction!, w, behaviour);
    // GSPO: one ratio and one policy term per row; Σ_t m_t w_t weighs its gradient.
    let seqRatio = 1,
      seqWeight = 0;
    if (o.sequence) {
      let lr = 0;
      for (let t = 0; t < T; t++)
        if (mask[row + t]) lr += logp[row + t]! - (oldLogp ? oldLogp[row + t]! : logp[row + t]!);
      seqRatio = Math.exp(lr / Math.max(1, seqTokens));
      policyTerm(o, seqRatio, A, unit);
      for (let t = 0; t < T; t++) if (mask[row + t]) seqWeight += w ? w[row + t]! : 1;
      if (seqTokens > 0) {
        clipUnits++;
        if (unit.low) clipLow++;
        if (unit.high) clipHigh++;
        if (unit.cispo) cispoClip++;
      }
    }
    const seqGrad =
      o.sequence && o.lossType !== 'cispo' ? (c * seqWeight * unit.dfdr * seqRatio) / Math.max(1, seqTokens) : 0;
    let seqKl = 0;
    for (let t = 0; t < T; t++) {
      const k = row + t;
      const m = mask[k]!;
      if (m === 0) {
        grad[k] = 0;
        continue;
      }
      const lp = logp[k]!;
      const wk = w ? w[k]! : 1;
      let ratio = seqRatio;
      if (!o.sequence) {
        ratio = oldLogp ? Math.exp(lp - oldLogp[k]!) : 1;
        policyTerm(o, ratio, A, unit);
        clipUnits += m;
        if (unit.low) clipLow += m;
        if (unit.high) clipHigh += m;
        if (unit.cispo) cispoClip += m;
      }
      let l: number, d: number;
      if (o.lossType === 'cispo') {
        l = wk * unit.f * lp;
        d = wk * unit.f;
      } else {
        l = -wk * -unit.f;
        d = o.sequence ? 0 : -wk * -unit.dfdr * ratio;
      }
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
      grad[k] = c * m * d + m * seqGrad;
    }
    klSeqMeanSum += seqKl / Math.max(1, seqTokens);
  }

  const sums: PolicyLossSums = {
    sequences: N,
    tokens: localTokens,
    klSeqMeanSum,
    klTokenSum,
    clipUnits,
    clipLow,
    clipHigh,
    cispoClip,
    behaviour,
  };
  return { loss, dLogp: grad, metrics: policyLossMetrics(sums, o.correction, o.lossType), sums };
}

/** Merge the sums of several micro-batches (then call policyLossMetrics for the step's metrics). */
export function mergePolicyLossSums(parts: readonly PolicyLossSums[]): PolicyLossSums {
  const acc: PolicyLossSums = {
    sequences: 0,
    tokens: 0,
    klSeqMeanSum: 0,
    klTokenSum: 0,
    clipUnits: 0,
    clipLow: 0,
    clipHigh: 0,
    cispoClip: 0,
    behaviour: emptyBehaviourSums(),
  };
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

/**
 * Completion mask as TRL builds it: 1 up to and including the first EOS token of each row, 0 after;
 * rows without an EOS (truncated at max length) are all 1 up to `lengths[i]` (default T), or all 0
 * with `maskTruncated` (TRL mask_truncated_completions: a truncated completion is not trained on).
 */
export function completionMask(
  tokenIds: ArrayLike<number>,
  numSequences: number,
  seqLen: number,
  eosTokenIds: number | readonly number[],
  lengths?: ArrayLike<number>,
  out?: Uint8Array,
  maskTruncated = false,
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
      if (on && t < len && eos.includes(tokenIds[k]!)) on = 0;
    }
    if (maskTruncated && on) mask.fill(0, i * seqLen, (i + 1) * seqLen);
  }
  return mask;
}
