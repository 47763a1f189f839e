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
import { behaviourWeightsRow } from './behaviour-correction.js';
import {
  addKlTerm,
  coefficient,
  policyTerm,
  resolveLossOptions,
  weightedPolicyTerm,
  type GlobalBatchSize,
  type PolicyLossOptions,
  type PolicyUnit,
  type ResolvedLossOptions,
  type TokenTerm,
} from './loss-terms.js';
import {
  countClips,
  policyLossMetrics,
  zeroPolicyLossSums,
  type PolicyLossMetrics,
  type PolicyLossSums,
} from './loss-metrics.js';

// The option types live with the terms they parameterise (loss-terms.ts), the sums and metrics in
// loss-metrics.ts; importers read them all from here as before.
export {
  IMPORTANCE_SAMPLING_LEVELS,
  LOSS_TYPES,
  type GlobalBatchSize,
  type ImportanceSamplingLevel,
  type LossType,
  type PolicyLossOptions,
} from './loss-terms.js';
export {
  mergePolicyLossSums,
  policyLossMetrics,
  type PolicyLossMetrics,
  type PolicyLossSums,
} from './loss-metrics.js';
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
  /**
   * Policy log-probs when the generation batch was first trained on (num_iterations > 1, or a batch
   * spread over steps); absent ⇒ logp (ρ ≡ 1).
   */
  oldLogp?: LogpArray;
  /** Log-probs reported by the rollout engine; with `correction` they give the behaviour importance weights. */
  behaviourLogp?: LogpArray;
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

/** Validates the batch's shape and the length of every array against it; returns N·T. */
function checkBatchShapes(batch: PolicyLossBatch, out: LogpArray | undefined): number {
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
  return NT;
}

/** The optimizer batch the normalisers divide by: `global` checked, or this batch alone. */
function resolveGlobal(global: GlobalBatchSize | undefined, N: number, localTokens: number): GlobalBatchSize {
  const g = global ?? { sequences: N, tokens: localTokens, microBatches: 1 };
  if (!(g.sequences >= N)) throw new Error(`global.sequences: ${g.sequences} is less than this batch's ${N} sequences`);
  if (!(g.tokens >= 0)) throw new Error(`global.tokens: must be ≥ 0, got ${g.tokens}`);
  if (!Number.isInteger(g.microBatches) || g.microBatches < 1)
    throw new Error(`global.microBatches: must be a positive integer, got ${g.microBatches}`);
  return g;
}

/** Σ mask over [start, start + count), in index order. */
function maskSum(mask: ArrayLike<number>, start: number, count: number): number {
  let sum = 0;
  for (let k = start; k < start + count; k++) sum += mask[k]!;
  return sum;
}

/** Per-row values the token loop reads, written by startRow into a scratch reused for every row. */
interface RowTerms {
  /** Σ_t m_t of the row. */
  seqTokens: number;
  /** The loss-type normaliser c_i. */
  c: number;
  /** GSPO's ratio of the row (1 at token level). */
  seqRatio: number;
  /** The row's sequence-level gradient, per unit of mask (0 at token level and for cispo). */
  seqGrad: number;
}

/**
 * One policyLoss call: what it reads, the scratch it reuses for every row and unit (so the loops
 * allocate nothing), and the sums it adds to in row-major token order.
 */
interface LossPass {
  batch: PolicyLossBatch;
  o: ResolvedLossOptions;
  localTokens: number;
  global: GlobalBatchSize;
  /** dLoss/dlogp being written, [N, T]. */
  grad: LogpArray;
  /** Behaviour importance weights w_t, [N, T]; null when no correction runs. */
  w: Float64Array | null;
  unit: PolicyUnit;
  term: TokenTerm;
  row: RowTerms;
  sums: PolicyLossSums;
}

/** The pass for one call: dLogp into `out` when given, and the weights array only when a correction runs. */
function startPass(
  batch: PolicyLossBatch,
  o: ResolvedLossOptions,
  localTokens: number,
  global: GlobalBatchSize,
  out: LogpArray | undefined,
): LossPass {
  const NT = batch.numSequences * batch.seqLen;
  const correct = o.correction !== null && batch.behaviourLogp !== undefined;
  return {
    batch,
    o,
    localTokens,
    global,
    grad: out ?? new Float64Array(NT),
    w: correct ? new Float64Array(NT) : null,
    unit: { f: 0, dfdr: 0, low: false, high: false, cispo: false },
    term: { l: 0, d: 0 },
    row: { seqTokens: 0, c: 0, seqRatio: 1, seqGrad: 0 },
    sums: zeroPolicyLossSums(batch.numSequences, localTokens),
  };
}

/** GSPO's ratio of a row: exp of the masked mean of logp − old over its tokens. */
function sequenceRatio(batch: PolicyLossBatch, row: number, T: number, seqTokens: number): number {
  const { logp, mask, oldLogp } = batch;
  let lr = 0;
  for (let t = 0; t < T; t++) if (mask[row + t]) lr += logp[row + t]! - (oldLogp ? oldLogp[row + t]! : logp[row + t]!);
  return Math.exp(lr / Math.max(1, seqTokens));
}

/** Σ_t m_t w_t of a row (w ≡ 1 without a correction): the weight of its sequence-level gradient. */
function sequenceWeight(mask: ArrayLike<number>, w: Float64Array | null, row: number, T: number): number {
  let seqWeight = 0;
  for (let t = 0; t < T; t++) if (mask[row + t]) seqWeight += w ? w[row + t]! : 1;
  return seqWeight;
}

/** Row i's values before its tokens: its normaliser, behaviour weights and (GSPO) sequence term. */
function startRow(p: LossPass, i: number): void {
  const { batch, o, unit, w, sums, row: r } = p;
  const { mask, logp, oldLogp } = batch;
  const T = batch.seqLen;
  const A = batch.advantages[i]!;
  const row = i * T;
  const seqTokens = maskSum(mask, row, T);
  const c = coefficient(o, seqTokens, p.localTokens, p.global);
  if (w) behaviourWeightsRow(oldLogp ?? logp, batch.behaviourLogp!, mask, i, T, o.correction!, w, sums.behaviour);
  // GSPO: one ratio and one policy term per row; Σ_t m_t w_t weighs its gradient.
  let seqRatio = 1,
    seqWeight = 0;
  if (o.sequence) {
    seqRatio = sequenceRatio(batch, row, T, seqTokens);
    policyTerm(o, seqRatio, A, unit);
    seqWeight = sequenceWeight(mask, w, row, T);
    if (seqTokens > 0) countClips(sums, unit, 1);
  }
  r.seqTokens = seqTokens;
  r.c = c;
  r.seqRatio = seqRatio;
  r.seqGrad =
    o.sequence && o.lossType !== 'cispo' ? (c * seqWeight * unit.dfdr * seqRatio) / Math.max(1, seqTokens) : 0;
}

/**
 * Every row (startRow), then each of its tokens: the ratio and policy term (token level; at sequence
 * level the row's), the KL term, c·m·ℓ into the loss and c·m·dℓ plus the row's sequence-level share
 * into the gradient; returns the loss. Both loops are one function, the sums stored inside them, so
 * that V8 compiles it as one unit inlining the per-token terms (a number passed to a call left out of
 * line is boxed: an allocation per token) and nothing after the loops lacks the first call's feedback.
 */
function accumulateRows(p: LossPass): number {
  let loss = 0;
  for (let i = 0; i < p.batch.numSequences; i++) {
    startRow(p, i);
    // Read per row rather than once before the loop: V8 gives this function its feedback vector
    // during the first call, and code compiled without feedback for its entry deopts at once.
    const { batch, o, unit, term, grad, w, sums, row: r } = p;
    const { mask, logp, oldLogp, refLogp } = batch;
    const T = batch.seqLen;
    const A = batch.advantages[i]!;
    const { c, seqRatio, seqGrad } = r;
    let seqKl = 0;
    for (let k = i * T; k < i * T + T; k++) {
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
        countClips(sums, unit, m);
      }
      weightedPolicyTerm(o, unit, wk, lp, ratio, term);
      if (refLogp) {
        const kl = addKlTerm(o.beta, refLogp[k]!, lp, term);
        seqKl += kl * m;
        sums.klTokenSum += kl * m;
      }
      loss += c * m * term.l;
      grad[k] = c * m * term.d + m * seqGrad;
    }
    sums.klSeqMeanSum += seqKl / Math.max(1, r.seqTokens);
  }
  return loss;
}

/**
 * Loss value, dLoss/dlogp and metrics for one (micro-)batch. `out`, when given, receives dLogp
 * (length N·T) so the learner's step loop allocates nothing.
 */
export function policyLoss(batch: PolicyLossBatch, opts: PolicyLossOptions, out?: LogpArray): PolicyLossResult {
  const NT = checkBatchShapes(batch, out);
  const o = resolveLossOptions(opts, batch.seqLen);
  if (o.beta !== 0 && !batch.refLogp)
    throw new Error('refLogp: required when beta ≠ 0 (the KL term needs the reference policy)');
  const localTokens = maskSum(batch.mask, 0, NT);
  const global = resolveGlobal(opts.global, batch.numSequences, localTokens);
  const pass = startPass(batch, o, localTokens, global, out);
  const loss = accumulateRows(pass);
  const { sums } = pass;
  return { loss, dLogp: pass.grad, metrics: policyLossMetrics(sums, o.correction, o.lossType), sums };
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
