// The phases of one learner optimizer step (actors/learner.ts's trainStep runs them in order; see its
// header): the request's order and staleness checks, the completion masks and the whole optimizer
// batch's normalisers, per micro-batch the forward passes, the loss and the backward, the optimizer
// step (or its skip on non-finite values), and the reply's metrics. The model runs in two places only:
// scoreMicroBatch (forward; with top-p/top-k the truncated log-probs) and backwardMicroBatch.
import type { LearnerStepReply, LearnerStepRequest, Trajectory } from '../../protocols/training.js';
import type { LearnerInit } from '../../protocols/role-config.js';
import { loraScale } from '../model/lora.js';
import { policyLoss, completionMask, type PolicyLossMetrics, type PolicyLossSums } from './loss.js';
import { truncationActive } from './token-distribution.js';
import type { PolicyForward } from './learner-device.js';
import {
  buildBatch,
  gatherCompletions,
  microBatchBounds,
  scatterCompletions,
  stackCompletions,
  type BuiltBatch,
} from './learner-batch.js';
import { learningRateAt } from './schedule.js';
import { arrays, floats, ints, type LearnerState } from './learner-state.js';

/** Log-probs of one micro-batch's completion tokens ([B, Tc]), and for the policy pass what the backward needs. */
export interface Scored {
  logp: Float32Array;
  /** Per-token entropy of the sampling distribution ([B, Tc]); policy pass only. */
  entropy?: Float32Array;
  /** The device's forward, holding the activations backwardMicroBatch consumes; policy pass only. */
  fwd?: PolicyForward;
  /** Flat [B·T] index of each scored token (the device's order). */
  scoredFlat: Int32Array;
  /** Sampled tokens outside the learner's top-p/top-k set (see token-distribution.ts). */
  outside: number;
}

/**
 * The one place the learner runs the model forward: the policy (LoRA on, dropout, activations kept),
 * the reference (LoRA scale 0) or the old policy (LoRA on, no dropout). With top-p/top-k the
 * log-probs are those of the truncated, renormalised distribution the engine sampled from.
 */
export async function scoreMicroBatch(
  s: LearnerState,
  b: BuiltBatch,
  pass: 'policy' | 'reference' | 'old',
): Promise<Scored> {
  const { cfg, adapter } = s;
  const o = { temperature: cfg.logprobTemperature, entropy: pass === 'policy', truncation: cfg.truncation };
  const scale = pass === 'reference' ? 0 : loraScale(adapter.settings);
  const toCompletions = (v: Float32Array, flat: Int32Array): Float32Array => {
    const full = new Float32Array(b.batch.ids.length);
    for (let k = 0; k < flat.length; k++) full[flat[k]!] = v[k]!;
    return gatherCompletions(full, b);
  };
  if (pass !== 'policy') {
    const r = await s.device.logprobs(b.batch, scale, o);
    return { logp: toCompletions(r.lp, r.scoredFlat), scoredFlat: r.scoredFlat, outside: r.outside ?? 0 };
  }
  const fwd = await s.device.forward(b.batch, scale, o, adapter.settings.dropout > 0 ? s.dropoutRng : null);
  return {
    logp: toCompletions(fwd.lp, fwd.scoredFlat),
    entropy: toCompletions(fwd.entropy!, fwd.scoredFlat),
    fwd,
    scoredFlat: fwd.scoredFlat,
    outside: fwd.outside ?? 0,
  };
}

/** The one place the learner runs the model backward: dLoss/dlogp ([B, Tc]) into the device's LoRA gradient. */
async function backwardMicroBatch(scored: Scored, b: BuiltBatch, dLogp: ArrayLike<number>): Promise<void> {
  const full = scatterCompletions(dLogp, b);
  const dlp = new Float32Array(scored.scoredFlat.length);
  for (let k = 0; k < dlp.length; k++) dlp[k] = full[scored.scoredFlat[k]!]!;
  await scored.fwd!.backward(dlp);
}

/** Refuses a step out of order, or one with a rollout older than the staleness bound allows. */
export function checkStepRequest(s: LearnerState, msg: LearnerStepRequest): void {
  const { cfg } = s;
  if (msg.step !== s.step + 1)
    throw new Error(`learner: step ${msg.step} received, expected ${s.step + 1} (steps must arrive in order)`);
  // Provenance check: the current policy is version step−1; older rollouts must be within the bound
  // (max_staleness, plus the steps a generation batch is reused over: num_iterations, steps_per_generation).
  msg.trajectories.forEach((t, i) => {
    const lag = msg.step - 1 - t.policyVersion;
    if (lag > cfg.maxStaleness || lag < 0)
      throw new Error(
        `learner: trajectory ${i} comes from policy version ${t.policyVersion}, ${lag} versions behind step ${msg.step}'s policy (allowed ${cfg.maxStaleness}: max_staleness plus generation-batch reuse): refused`,
      );
  });
}

/** One optimizer step's batch: its micro-batch bounds and the sizes every micro-batch's loss normalises by. */
export interface StepBatch {
  msg: LearnerStepRequest;
  /** Trajectories in the step. */
  N: number;
  /** Micro-batches in the step. */
  M: number;
  advantages: ArrayLike<number>;
  bounds: number[];
  /** Each trajectory's completion mask. */
  masks: Uint8Array[];
  /** Completion tokens under the masks, over the whole step. */
  globalTokens: number;
}

export function stepBatch(cfg: LearnerInit, msg: LearnerStepRequest): StepBatch {
  const N = msg.trajectories.length;
  const advantages = floats(msg.advantages);
  const bounds = microBatchBounds(N, cfg.gradientAccumulationSteps, msg.microBatchSizes);
  const M = bounds.length - 1;
  // Global sizes first, so every micro-batch's loss uses the whole optimizer batch's normalisers.
  const masks = msg.trajectories.map((t) => {
    const c = ints(t.completionIds);
    return completionMask(
      c,
      1,
      Math.max(1, c.length),
      cfg.eosTokenIds,
      undefined,
      undefined,
      cfg.maskTruncatedCompletions,
    );
  });
  const globalTokens = masks.reduce((a, m) => a + m.reduce((x, y) => x + y, 0), 0);
  return { msg, N, M, advantages, bounds, masks, globalTokens };
}

/** What a step sums over its micro-batches, added in micro-batch order (the order is part of the numerics). */
export interface StepTotals {
  sums: PolicyLossSums[];
  loss: number;
  tokens: number;
  entropySum: number;
  outside: number;
  /** Milliseconds per phase. */
  time: { reference: number; policy: number; backward: number };
}

/** Forward, loss and backward over every micro-batch, the LoRA gradient accumulating on the device. */
export async function forwardBackward(s: LearnerState, sb: StepBatch): Promise<StepTotals> {
  const totals: StepTotals = {
    sums: [],
    loss: 0,
    tokens: 0,
    entropySum: 0,
    outside: 0,
    time: { reference: 0, policy: 0, backward: 0 },
  };
  for (let m = 0; m < sb.M; m++) await trainMicroBatch(s, sb, m, totals);
  return totals;
}

/** One micro-batch: trajectories [lo, hi) of the step, batched, with their completion masks. */
interface MicroBatch {
  lo: number;
  hi: number;
  trajs: Trajectory[];
  built: BuiltBatch;
  mask: Uint8Array;
}

function microBatch(s: LearnerState, sb: StepBatch, m: number): MicroBatch {
  const { msg } = sb;
  const lo = sb.bounds[m]!,
    hi = sb.bounds[m + 1]!;
  const trajs = msg.trajectories.slice(lo, hi);
  const built = buildBatch(
    trajs.map((t) => arrays(msg.prompts, t)),
    s.cfg.maxPromptLength,
  );
  const mask = new Uint8Array(trajs.length * built.Tc);
  trajs.forEach((_, i) => {
    mask.set(sb.masks[lo + i]!, i * built.Tc);
  });
  return { lo, hi, trajs, built, mask };
}

async function trainMicroBatch(s: LearnerState, sb: StepBatch, m: number, totals: StepTotals): Promise<void> {
  const mb = microBatch(s, sb, m);
  const { built, mask } = mb;
  let ta = performance.now();
  const ref = s.cfg.objective.beta !== 0 ? (await scoreMicroBatch(s, built, 'reference')).logp : undefined;
  totals.time.reference += performance.now() - ta;
  ta = performance.now();
  const pol = await scoreMicroBatch(s, built, 'policy');
  totals.time.policy += performance.now() - ta;
  for (let k = 0; k < mask.length; k++) if (mask[k]) totals.entropySum += pol.entropy![k]!;
  totals.outside += pol.outside;
  const r = microBatchLoss(s.cfg, sb, mb, pol, ref);
  totals.loss += r.loss;
  totals.sums.push(r.sums);
  ta = performance.now();
  await backwardMicroBatch(pol, built, r.dLogp);
  totals.time.backward += performance.now() - ta;
  for (let i = 0; i < mb.trajs.length; i++) totals.tokens += built.batch.lengths[i]!;
}

/** The micro-batch's loss and dLoss/dlogp; on a throw the policy forward's activations are let go. */
function microBatchLoss(
  cfg: LearnerInit,
  sb: StepBatch,
  mb: MicroBatch,
  pol: Scored,
  ref: Float32Array | undefined,
): ReturnType<typeof policyLoss> {
  const { trajs, built, lo, hi } = mb;
  const behaviour = cfg.correction
    ? stackCompletions(
        trajs.map((t) => floats(t.behaviourLogprobs)),
        built,
      )
    : undefined;
  const old =
    trajs[0]!.oldLogprobs !== undefined
      ? stackCompletions(
          trajs.map((t, i) => floats(t.oldLogprobs ?? missingOld(lo + i))),
          built,
        )
      : undefined;
  try {
    return policyLoss(
      {
        numSequences: trajs.length,
        seqLen: built.Tc,
        logp: pol.logp,
        mask: mb.mask,
        advantages: Array.prototype.slice.call(sb.advantages, lo, hi) as number[],
        refLogp: ref,
        oldLogp: old,
        behaviourLogp: behaviour,
      },
      {
        ...cfg.objective,
        correction: cfg.correction,
        maxCompletionLength: cfg.maxCompletionLength,
        global: { sequences: sb.N, tokens: sb.globalTokens, microBatches: sb.M },
      },
    );
  } catch (err) {
    pol.fwd!.discard();
    throw err;
  }
}

function missingOld(i: number): never {
  throw new Error(`learner: trajectory ${i} has no oldLogprobs while others in its micro-batch do`);
}

/** The optimizer step's outcome: the gradient norm, or why the update was skipped ('' when it was not). */
export interface StepUpdate {
  gradNorm: number;
  skipped: string;
}

/** Clip + AdamW on the accumulated gradient, unless the step is empty or its values are non-finite. */
export async function optimizerStepOrSkip(s: LearnerState, N: number, loss: number): Promise<StepUpdate> {
  const { cfg } = s;
  const lr = learningRateAt(cfg.schedule, s.step);
  let gradNorm = 0;
  let skipped = '';
  if (N > 0) {
    try {
      gradNorm = (await s.device.optimizerStep(s.opt, cfg.adamw, lr)).gradNorm;
    } catch (err) {
      // NaN/Inf gradients: keep the previous adapter, report, publish the same weights again.
      gradNorm = NaN;
      skipped = (err as Error).message;
    }
    if (!Number.isFinite(loss) && !skipped) skipped = `loss is ${loss}`;
  }
  return { gradNorm, skipped };
}

/** What the reply reports of a step that has been published. */
export interface StepOutcome {
  batch: StepBatch;
  totals: StepTotals;
  metrics: PolicyLossMetrics;
  update: StepUpdate;
  version: number;
  /** performance.now() at the step's start and at its publish. */
  t0: number;
  tp: number;
}

export function stepReply(s: LearnerState, o: StepOutcome): LearnerStepReply {
  const { cfg } = s;
  const { totals, batch } = o;
  const seconds = (performance.now() - o.t0) / 1000;
  const { kl, kl_token_mean: _k, ...lossMetrics } = o.metrics;
  return {
    step: s.step,
    version: o.version,
    loss: totals.loss,
    kl,
    grad_norm: o.update.gradNorm,
    // Logged as the HF Trainer does: the learning rate after the scheduler's step (the next update's).
    learning_rate: learningRateAt(cfg.schedule, s.step),
    tokens_per_s: totals.tokens / seconds,
    metrics: {
      ...lossMetrics,
      ...(batch.globalTokens > 0 ? { entropy: totals.entropySum / batch.globalTokens } : {}),
      ...(truncationActive(cfg.truncation, s.model.config.vocabSize)
        ? { 'sampling/outside_truncation_frac': totals.outside / Math.max(1, batch.globalTokens) }
        : {}),
    },
    timings: {
      'time/reference_s': totals.time.reference / 1000,
      'time/policy_s': totals.time.policy / 1000,
      'time/backward_s': totals.time.backward / 1000,
      'time/publish_s': (performance.now() - o.tp) / 1000,
    },
    skipped: o.update.skipped,
    ...(batch.N === 0 ? { empty: true as const } : {}),
  };
}
