// The learner actor: owns the LoRA adapter, its AdamW state and LR schedule, and turns one step's
// trajectories + advantages into one optimizer update, then publishes the new adapter version to
// the WeightStore. Per step: reference log-probs (LoRA scale 0 — the same weights, no second model),
// policy log-probs with activations kept, the GRPO-family loss (src/rl/loss.ts: ratios against the
// old log-probs the trajectories carry, the behaviour correction against the engine's) and its
// gradient w.r.t. log-probs, backward into the LoRA block only, global grad-norm clipping, AdamW,
// publish. `oldLogprobs` scores a generation batch before its first step (num_iterations > 1 or a
// batch spread over steps); it changes no state. The model runs in two places only:
// scoreMicroBatch (forward; with top-p/top-k the truncated log-probs) and backwardMicroBatch.
//
// Crash recovery (src/rl/learner-recovery.ts): after each step the learner commits its whole state
// and reply to a coordinator-owned shared-memory store. A replacement worker (after a crash,
// process.exit or a hang past the deadline) restores it in init(); a retry in the same worker after
// a throw mid-step restores it too (the attempt may have half-updated the state). The retried step
// then computes exactly what the lost attempt would have (same state, inputs and RNG).
import { tensorView, isSharedTensor, packSharedRows } from '../protocols/shared-tensor.js';
import { readFileSync } from 'node:fs';
import { writeFileNamed } from '../src/util/fs-write.js';
import { join } from 'node:path';
import type {
  CheckpointReply,
  CheckpointRequest,
  LearnerStepReply,
  LearnerStepRequest,
  OldLogprobsReply,
  OldLogprobsRequest,
  RepublishReply,
  RepublishRequest,
  RestoreReply,
  RestoreRequest,
  SaveAdapterReply,
  SaveAdapterRequest,
  Trajectory,
} from '../protocols/training.js';
import type { Floats, Ids } from '../protocols/messages.js';
import { acceptsOf, LearnerProtocol } from '../protocols/handlers.js';
import type { LearnerInit } from '../protocols/role-config.js';
import { attachModel, type Model } from '../src/model/weights.js';
import { initLoraAdapter, loraScale, type LoraAdapter } from '../src/model/lora.js';
import { loadAdapterPeft, saveAdapterPeft } from '../src/model/peft.js';
import {
  policyLoss,
  mergePolicyLossSums,
  policyLossMetrics,
  completionMask,
  type PolicyLossSums,
} from '../src/rl/loss.js';
import { truncationActive } from '../src/rl/token-distribution.js';
import { createCpuLearnerDevice, type LearnerDevice, type PolicyForward } from '../src/rl/learner-device.js';
import type { LearnerDeviceConfig } from '../src/rl/learner-config.js';
import {
  buildBatch,
  gatherCompletions,
  microBatchBounds,
  scatterCompletions,
  stackCompletions,
  type BuiltBatch,
} from '../src/rl/learner-batch.js';
import { createAdamWState, serializeAdamWState, deserializeAdamWState, type AdamWState } from '../src/rl/optimizer.js';
import { learningRateAt } from '../src/rl/schedule.js';
import { WeightStore } from '../src/runtime/weight-store.js';
import { Rng, type RngState } from '../src/util/rng.js';
import { drillDue, fireFaultDrill } from '../src/runtime/fault-drill.js';
import { commitLearnerState, learnerRecoverySize, restoreLearnerState } from '../src/rl/learner-recovery.js';

export type { LearnerInit };

interface LearnerState {
  cfg: LearnerInit;
  model: Model<Float32Array>;
  adapter: LoraAdapter<Float32Array>;
  device: LearnerDevice;
  opt: AdamWState;
  store: WeightStore;
  dropoutRng: Rng;
  /** Optimizer steps taken (the published version equals it). */
  step: number;
  recovery: WeightStore | null;
  /** Packing buffer for recovery commits. */
  packed: Float32Array;
  /** A step is under way (set at its start, cleared at its commit): a retry must restore first. */
  dirty: boolean;
  /** The reply of the last committed step (for a retry whose reply was lost). */
  lastReply: LearnerStepReply | null;
}

let S: LearnerState | null = null;

// Requests are validated against protocols/handlers.ts LearnerProtocol; the compiler checks each handler against it.
export const accepts = acceptsOf(LearnerProtocol, {
  trainStep,
  oldLogprobs,
  saveAdapter,
  saveCheckpoint,
  restoreCheckpoint,
  republish,
});

async function createLearnerDevice(
  dc: LearnerDeviceConfig,
  model: Model<Float32Array>,
  adapter: LoraAdapter<Float32Array>,
): Promise<LearnerDevice> {
  if (dc.device === 'cpu') return createCpuLearnerDevice(model, adapter);
  // Dawn and the kernels load only in a learner that uses them.
  const { createWebGpuLearnerDevice } = await import('../src/rl/learner-device-webgpu.js');
  return createWebGpuLearnerDevice(model, adapter, { weightDtype: dc.weight_dtype, recompute: dc.recompute });
}

export async function init(cfg: LearnerInit): Promise<void> {
  const model = attachModel(cfg.model);
  const adapter = initLoraAdapter(model.config, cfg.lora, Rng.derive(cfg.seed, 'lora-init'));
  const store = WeightStore.attach(cfg.store);
  if (store.size !== adapter.layout.size)
    throw new Error(`learner: WeightStore holds ${store.size} values, the adapter has ${adapter.layout.size}`);
  // A predecessor that died mid-publish must not block this writer.
  store.recoverAbandonedWrite();
  const n = adapter.layout.size;
  const recovery = cfg.recovery ? WeightStore.attach(cfg.recovery) : null;
  if (recovery && recovery.size !== learnerRecoverySize(n))
    throw new Error(`learner: recovery store holds ${recovery.size} values, needs ${learnerRecoverySize(n)}`);
  recovery?.recoverAbandonedWrite();
  const device = await createLearnerDevice(cfg.device, model, adapter);
  // The device a run trains on is part of its provenance (and a GPU run names its adapter).
  if (device.kind !== 'cpu') console.error(`learner: ${device.description}`);
  S = {
    cfg,
    model,
    adapter,
    device,
    opt: createAdamWState(n),
    store,
    dropoutRng: Rng.derive(cfg.seed, 'lora-dropout'),
    step: 0,
    recovery,
    packed: new Float32Array(recovery ? learnerRecoverySize(n) : 0),
    dirty: false,
    lastReply: null,
  };
  if (recovery && recovery.version > 0) restoreCommitted(S);
  else if (recovery) commitState(S, null);
}

function commitState(s: LearnerState, reply: LearnerStepReply | null): void {
  commitLearnerState(s.recovery!, s.packed, {
    params: s.adapter.params,
    m: s.opt.m,
    v: s.opt.v,
    optStep: s.opt.step,
    rng: s.dropoutRng.state(),
    step: s.step,
    reply,
  });
  s.lastReply = reply;
  s.dirty = false;
}

function restoreCommitted(s: LearnerState): void {
  const st = restoreLearnerState(s.recovery!, s.packed, { params: s.adapter.params, m: s.opt.m, v: s.opt.v });
  if (!st) return;
  s.opt.step = st.optStep;
  s.dropoutRng = new Rng(st.rng);
  s.step = st.step;
  s.lastReply = st.reply as LearnerStepReply | null;
  s.dirty = false;
  s.device.loadState(s.opt);
}

/** Publish the adapter as version = step (again, under the same number, if a lost attempt already did). */
function publishAdapter(s: LearnerState): number {
  return s.store.version === s.step
    ? s.store.rewrite(s.adapter.params, s.step)
    : s.store.publish(s.adapter.params, s.step, s.step);
}

function state(): LearnerState {
  if (!S) throw new Error('learner: not initialised');
  // A step that failed in this worker may have left half-updated state: every handler starts from the
  // last commit (trainStep's own retry included).
  if (S.recovery && S.dirty) restoreCommitted(S);
  return S;
}

// Views of the shared memory the descriptors point at (the protocol checked their dtypes); arrays as they are.
const ints = (x: Ids): ArrayLike<number> => (isSharedTensor(x) ? tensorView(x) : x);
const floats = (x: Floats): ArrayLike<number> => (isSharedTensor(x) ? tensorView(x) : x);
/** A trajectory's prompt (sent once per prompt, in the request's `prompts`) and completion ids. */
const arrays = (prompts: readonly Ids[], t: Trajectory) => ({
  promptIds: ints(prompts[t.promptIndex]!),
  completionIds: ints(t.completionIds),
});

/** Log-probs of one micro-batch's completion tokens ([B, Tc]), and for the policy pass what the backward needs. */
interface Scored {
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
async function scoreMicroBatch(s: LearnerState, b: BuiltBatch, pass: 'policy' | 'reference' | 'old'): Promise<Scored> {
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

export async function trainStep(msg: LearnerStepRequest): Promise<LearnerStepReply> {
  const s = state();
  const { cfg } = s;
  if (s.recovery) {
    // (A retry after a throw mid-step has been rolled back to the last commit by state().)
    // The step finished and was committed but its reply was lost with the worker: answer it again.
    if (msg.step === s.step && s.lastReply) return s.lastReply;
    s.dirty = true;
  }
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
  const t0 = performance.now();
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
  s.device.zeroGrad();
  const sums: PolicyLossSums[] = [];
  let loss = 0;
  let tokens = 0;
  let entropySum = 0,
    outside = 0;
  const time = { reference: 0, policy: 0, backward: 0 };
  for (let m = 0; m < M; m++) {
    const lo = bounds[m]!,
      hi = bounds[m + 1]!;
    const trajs = msg.trajectories.slice(lo, hi);
    const built = buildBatch(
      trajs.map((t) => arrays(msg.prompts, t)),
      cfg.maxPromptLength,
    );
    const mask = new Uint8Array(trajs.length * built.Tc);
    trajs.forEach((_, i) => {
      mask.set(masks[lo + i]!, i * built.Tc);
    });
    let ta = performance.now();
    const ref = cfg.objective.beta !== 0 ? (await scoreMicroBatch(s, built, 'reference')).logp : undefined;
    time.reference += performance.now() - ta;
    ta = performance.now();
    const pol = await scoreMicroBatch(s, built, 'policy');
    time.policy += performance.now() - ta;
    for (let k = 0; k < mask.length; k++) if (mask[k]) entropySum += pol.entropy![k]!;
    outside += pol.outside;
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
    let r: ReturnType<typeof policyLoss>;
    try {
      r = policyLoss(
        {
          numSequences: trajs.length,
          seqLen: built.Tc,
          logp: pol.logp,
          mask,
          advantages: Array.prototype.slice.call(advantages, lo, hi) as number[],
          refLogp: ref,
          oldLogp: old,
          behaviourLogp: behaviour,
        },
        {
          ...cfg.objective,
          correction: cfg.correction,
          maxCompletionLength: cfg.maxCompletionLength,
          global: { sequences: N, tokens: globalTokens, microBatches: M },
        },
      );
    } catch (err) {
      pol.fwd!.discard();
      throw err;
    }
    loss += r.loss;
    sums.push(r.sums);
    ta = performance.now();
    await backwardMicroBatch(pol, built, r.dLogp);
    time.backward += performance.now() - ta;
    for (let i = 0; i < trajs.length; i++) tokens += built.batch.lengths[i]!;
  }
  const metrics = policyLossMetrics(mergePolicyLossSums(sums), cfg.correction, cfg.objective.lossType);
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
  s.step = msg.step;
  const tp = performance.now();
  const version = publishAdapter(s);
  if (drillDue(cfg.__faults, 'publish')?.drill.mode === 'corrupt') s.store.corruptActiveForDrill();
  fireFaultDrill(cfg.__faults, 'learner', 'afterPublish'); // drill: die with version published, state not committed
  const seconds = (performance.now() - t0) / 1000;
  const { kl, kl_token_mean: _k, ...lossMetrics } = metrics;
  const reply: LearnerStepReply = {
    step: s.step,
    version,
    loss,
    kl,
    grad_norm: gradNorm,
    // Logged as the HF Trainer does: the learning rate after the scheduler's step (the next update's).
    learning_rate: learningRateAt(cfg.schedule, s.step),
    tokens_per_s: tokens / seconds,
    metrics: {
      ...lossMetrics,
      ...(globalTokens > 0 ? { entropy: entropySum / globalTokens } : {}),
      ...(truncationActive(cfg.truncation, s.model.config.vocabSize)
        ? { 'sampling/outside_truncation_frac': outside / Math.max(1, globalTokens) }
        : {}),
    },
    timings: {
      'time/reference_s': time.reference / 1000,
      'time/policy_s': time.policy / 1000,
      'time/backward_s': time.backward / 1000,
      'time/publish_s': (performance.now() - tp) / 1000,
    },
    skipped,
    ...(N === 0 ? { empty: true as const } : {}),
  };
  if (s.recovery) commitState(s, reply);
  fireFaultDrill(cfg.__faults, 'learner', 'afterCommit'); // drill: the step is committed, its reply lost
  return reply;
}

function missingOld(i: number): never {
  throw new Error(`learner: trajectory ${i} has no oldLogprobs while others in its micro-batch do`);
}

/**
 * Log-probs of a generation batch under the current policy (no dropout, no state change), taken
 * before its first optimizer step: the ratio's denominator while the batch is trained on across
 * updates (num_iterations > 1, or steps_per_generation > gradient_accumulation_steps).
 */
export async function oldLogprobs(msg: OldLogprobsRequest): Promise<OldLogprobsReply> {
  const s = state();
  const bounds = microBatchBounds(msg.trajectories.length, Math.max(1, msg.trajectories.length), msg.microBatchSizes);
  const out: Float32Array[] = [];
  for (let m = 0; m + 1 < bounds.length; m++) {
    const trajs = msg.trajectories.slice(bounds[m]!, bounds[m + 1]!);
    const built = buildBatch(
      trajs.map((t) => arrays(msg.prompts, t)),
      s.cfg.maxPromptLength,
    );
    const scored = await scoreMicroBatch(s, built, 'old');
    for (let i = 0; i < trajs.length; i++) out.push(scored.logp.slice(i * built.Tc, i * built.Tc + built.comps[i]!));
  }
  // One shared buffer for the batch: the coordinator keeps the views and hands them back to trainStep.
  return { logprobs: packSharedRows('f32', out) };
}

export async function saveAdapter(msg: SaveAdapterRequest): Promise<SaveAdapterReply> {
  const s = state();
  saveAdapterPeft(msg.dir, s.adapter, { baseModel: s.cfg.baseModelName });
  return { dir: msg.dir, step: s.step };
}

/** Checkpoint the learner's whole state into `dir`: PEFT adapter + AdamW state; returns the RNG state. */
export async function saveCheckpoint(msg: CheckpointRequest): Promise<CheckpointReply> {
  const s = state();
  if (msg.step !== s.step)
    throw new Error(`learner.saveCheckpoint: asked for step ${msg.step}, the learner is at step ${s.step}`);
  // A checkpoint is what resume trusts: never seal one that could not be trained on.
  const bad = [
    ['adapter', countNonFinite(s.adapter.params)],
    ['AdamW first moment', countNonFinite(s.opt.m)],
    ['AdamW second moment', countNonFinite(s.opt.v)],
  ] as const;
  const found = bad.filter(([, n]) => n > 0);
  if (found.length)
    throw new Error(
      `learner.saveCheckpoint: refusing to save step ${msg.step}: the ${found.map(([what, n]) => `${what} holds ${n} non-finite value(s)`).join(', the ')} (of ${s.adapter.params.length} each)`,
    );
  saveAdapterPeft(msg.dir, s.adapter, { baseModel: s.cfg.baseModelName });
  writeFileNamed(join(msg.dir, 'optimizer.bin'), serializeAdamWState(s.opt));
  return { step: s.step, dropoutRng: s.dropoutRng.state() };
}

function countNonFinite(a: Float32Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) n++;
  return n;
}

/** Restore from a sealed checkpoint and publish the adapter as version `step` (versions = steps). */
export async function restoreCheckpoint(msg: RestoreRequest): Promise<RestoreReply> {
  const s = state();
  if (s.recovery) s.dirty = true; // from here until the commit the state is neither old nor new
  const loaded = loadAdapterPeft(msg.dir, s.model.config);
  if (loaded.layout.size !== s.adapter.layout.size || loaded.settings.r !== s.adapter.settings.r) {
    throw new Error(
      `learner.restoreCheckpoint: ${msg.dir} holds a LoRA adapter of ${loaded.layout.size} values (r ${loaded.settings.r}); this run's has ${s.adapter.layout.size} (r ${s.adapter.settings.r})`,
    );
  }
  s.adapter.params.set(loaded.params);
  s.opt = deserializeAdamWState(readFileSync(join(msg.dir, 'optimizer.bin')), join(msg.dir, 'optimizer.bin'));
  if (s.opt.m.length !== s.adapter.params.length)
    throw new Error(
      `learner.restoreCheckpoint: optimizer.bin has ${s.opt.m.length} moments, adapter has ${s.adapter.params.length} values`,
    );
  s.dropoutRng = new Rng(msg.dropoutRng as RngState);
  s.step = msg.step;
  s.device.loadState(s.opt);
  if (s.recovery) commitState(s, null);
  return { step: s.step, version: publishAdapter(s) };
}

/** Rewrite the current adapter under its version: a reader found that version's bytes corrupted. */
export async function republish(msg: RepublishRequest): Promise<RepublishReply> {
  const s = state();
  if (msg.version > s.step)
    throw new Error(`learner.republish: asked for version ${msg.version}, the learner holds version ${s.step}`);
  // A newer version was published since the request was made: its bytes are fresh already.
  if (msg.version < s.step) return { version: s.step };
  return { version: publishAdapter(s) };
}
