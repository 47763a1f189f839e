// The per-unit terms of the GRPO-family objective (formulas in loss.ts's header): the loss options and
// their validated form, the policy term f(ρ) of each loss type, the importance-weighted token term,
// the k3 KL term and the loss-type normaliser c_i. policyLoss (loss.ts) runs them over the batch; the
// exported option types are re-exported from there, so importers keep reading them from loss.ts.
import { validateBehaviourCorrection, type BehaviourCorrection } from './behaviour-correction.js';

export type LossType = 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo' | 'cispo' | 'sapo';
export const LOSS_TYPES: readonly LossType[] = ['grpo', 'bnpo', 'dr_grpo', 'dapo', 'cispo', 'sapo'];
export type ImportanceSamplingLevel = 'token' | 'sequence';
export const IMPORTANCE_SAMPLING_LEVELS: readonly ImportanceSamplingLevel[] = ['token', 'sequence'];

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

/** PolicyLossOptions validated, with defaults filled in and the clip range as bounds on ρ. */
export interface ResolvedLossOptions {
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

export function resolveLossOptions(opts: PolicyLossOptions, T: number): ResolvedLossOptions {
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
export interface PolicyUnit {
  f: number;
  dfdr: number;
  low: boolean;
  high: boolean;
  cispo: boolean;
}

export function policyTerm(o: ResolvedLossOptions, ratio: number, A: number, out: PolicyUnit): void {
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

/** One token's loss ℓ_t and dℓ_t/dlogp_t before the normaliser; a scratch reused for every token. */
export interface TokenTerm {
  l: number;
  d: number;
}

/**
 * The policy part of a token's term, w_t·f_t, into `out`: cispo's f is the detached weight times logp;
 * the others take df/dρ·ρ at token level (at sequence level the row's gradient is added separately).
 */
export function weightedPolicyTerm(
  o: ResolvedLossOptions,
  unit: PolicyUnit,
  wk: number,
  lp: number,
  ratio: number,
  out: TokenTerm,
): void {
  if (o.lossType === 'cispo') {
    out.l = wk * unit.f * lp;
    out.d = wk * unit.f;
  } else {
    out.l = -wk * -unit.f;
    out.d = o.sequence ? 0 : -wk * -unit.dfdr * ratio;
  }
}

/**
 * k3 KL of the reference against the policy at one token, kl = exp(ref − logp) − (ref − logp) − 1;
 * adds β·kl and its gradient β·(1 − exp(ref − logp)) to `out` when β ≠ 0. Returns kl, which the
 * metrics report whether or not β is 0.
 */
export function addKlTerm(beta: number, ref: number, lp: number, out: TokenTerm): number {
  const diff = ref - lp;
  const e = Math.exp(diff);
  const kl = e - diff - 1;
  if (beta !== 0) {
    out.l += beta * kl;
    out.d += beta * (1 - e);
  }
  return kl;
}

/** The loss-type normaliser c_i of row i (loss = Σ_it c_i · m_it · ℓ_it; see loss.ts's header). */
export function coefficient(
  o: ResolvedLossOptions,
  seqTokens: number,
  localTokens: number,
  g: GlobalBatchSize,
): number {
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
