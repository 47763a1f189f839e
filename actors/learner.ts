// The learner actor: owns the LoRA adapter, its AdamW state and LR schedule, and turns one step's
// trajectories + advantages into one optimizer update, then publishes the new adapter version to
// the WeightStore. Per step: reference log-probs (LoRA scale 0 — the same weights, no second model),
// policy log-probs with activations kept, the GRPO-family loss and its gradient w.r.t. log-probs,
// backward into the LoRA block only, global grad-norm clipping, AdamW, publish.
//
// Crash recovery (src/rl/learner-recovery.ts): after each step the learner commits its whole state
// and reply to a coordinator-owned shared-memory store. A replacement worker (after a crash,
// process.exit or a hang past the deadline) restores it in init(); a retry in the same worker after
// a throw mid-step restores it too (the attempt may have half-updated the state). The retried step
// then computes exactly what the lost attempt would have (same state, inputs and RNG).
import { tensorView, isSharedTensor, type SharedTensor } from '../protocols/shared-tensor.js';
import { readFileSync } from 'node:fs';
import { writeFileNamed } from '../src/util/fs-write.js';
import { join } from 'node:path';
import { CheckpointProtocols, TrainingProtocols, type CheckpointRequest, type LearnerStepRequest, type RepublishRequest, type RestoreRequest, type SaveAdapterRequest, type Trajectory } from '../protocols/training.js';
import { attachModel, type ModelDescriptor, type Model } from '../src/model/weights.js';
import { scatterScored, type TrainBatch } from '../src/model/train.js';
import { initLoraAdapter, loraScale, type LoraAdapter } from '../src/model/lora.js';
import { loadAdapterPeft, saveAdapterPeft } from '../src/model/peft.js';
import type { LoraSettings } from '../src/model/adapter-layout.js';
import { policyLoss, mergePolicyLossSums, policyLossMetrics, completionMask, type LossType, type PolicyLossSums } from '../src/rl/loss.js';
import { createAdamWState, serializeAdamWState, deserializeAdamWState, type AdamWHyperparams, type AdamWState } from '../src/rl/optimizer.js';
import { createCpuLearnerDevice, type LearnerDevice } from '../src/rl/learner-device.js';
import type { LearnerDeviceConfig } from '../src/rl/learner-config.js';
import { learningRateAt, type LrSchedule } from '../src/rl/schedule.js';
import { WeightStore, type WeightStoreDescription } from '../src/runtime/weight-store.js';
import { Rng, type RngState } from '../src/util/rng.js';
import { drillDue, fireFaultDrill, type FaultDrill } from '../src/runtime/fault-drill.js';
import { commitLearnerState, learnerRecoverySize, restoreLearnerState } from '../src/rl/learner-recovery.js';

export interface LearnerInit {
  model: ModelDescriptor;
  store: WeightStoreDescription;
  lora: LoraSettings;
  seed: number;
  eosTokenIds: number[];
  /** Left-truncate prompts to this many tokens for the log-prob pass (TRL max_prompt_length); 0 = off. */
  maxPromptLength: number;
  maxCompletionLength: number;
  lossType: LossType;
  beta: number;
  epsilon: number;
  epsilonHigh: number;
  importanceSamplingCorrection: boolean;
  importanceSamplingCap: number;
  /** Rollouts from a policy more than this many versions older than the one being trained are refused. */
  maxStaleness: number;
  /** Log-probs under logits / temperature (TRL ≥ 0.16; 1 reproduces TRL 0.15.2 / Tina). */
  logprobTemperature: number;
  gradientAccumulationSteps: number;
  schedule: LrSchedule;
  adamw: AdamWHyperparams;
  baseModelName: string;
  /** Where the forward, backward and optimizer run (config section `learner`). */
  device: LearnerDeviceConfig;
  /** Crash-recovery store of learnerRecoverySize(adapter size) floats; absent = no recovery. */
  recovery?: WeightStoreDescription;
  /** Fault drills (config `faults`, set by the coordinator): mode 'corrupt' on handler 'publish'. */
  __faults?: FaultDrill[];
}


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
  lastReply: Record<string, unknown> | null;
}

let S: LearnerState | null = null;

export const accepts = {
  trainStep: TrainingProtocols.LearnerStepRequest,
  saveAdapter: TrainingProtocols.SaveAdapterRequest,
  saveCheckpoint: CheckpointProtocols.CheckpointRequest,
  restoreCheckpoint: CheckpointProtocols.RestoreRequest,
  republish: CheckpointProtocols.RepublishRequest,
};

async function createLearnerDevice(dc: LearnerDeviceConfig, model: Model<Float32Array>, adapter: LoraAdapter<Float32Array>): Promise<LearnerDevice> {
  if (dc.device === 'cpu') return createCpuLearnerDevice(model, adapter);
  // Dawn and the kernels load only in a learner that uses them.
  const { createWebGpuLearnerDevice } = await import('../src/rl/learner-device-webgpu.js');
  return createWebGpuLearnerDevice(model, adapter, { weightDtype: dc.weight_dtype, recompute: dc.recompute });
}

export async function init(cfg: LearnerInit): Promise<void> {
  const model = attachModel(cfg.model);
  const adapter = initLoraAdapter(model.config, cfg.lora, Rng.derive(cfg.seed, 'lora-init'));
  const store = WeightStore.attach(cfg.store);
  if (store.size !== adapter.layout.size) throw new Error(`learner: WeightStore holds ${store.size} values, the adapter has ${adapter.layout.size}`);
  // A predecessor that died mid-publish must not block this writer.
  store.recoverAbandonedWrite();
  const n = adapter.layout.size;
  const recovery = cfg.recovery ? WeightStore.attach(cfg.recovery) : null;
  if (recovery && recovery.size !== learnerRecoverySize(n)) throw new Error(`learner: recovery store holds ${recovery.size} values, needs ${learnerRecoverySize(n)}`);
  recovery?.recoverAbandonedWrite();
  const device = await createLearnerDevice(cfg.device, model, adapter);
  // The device a run trains on is part of its provenance (and a GPU run names its adapter).
  if (device.kind !== 'cpu') console.error(`learner: ${device.description}`);
  S = {
    cfg, model, adapter, device, opt: createAdamWState(n), store, dropoutRng: Rng.derive(cfg.seed, 'lora-dropout'), step: 0,
    recovery, packed: new Float32Array(recovery ? learnerRecoverySize(n) : 0), dirty: false, lastReply: null,
  };
  if (recovery && recovery.version > 0) restoreCommitted(S);
  else if (recovery) commitState(S, null);
}

function commitState(s: LearnerState, reply: Record<string, unknown> | null): void {
  commitLearnerState(s.recovery!, s.packed, { params: s.adapter.params, m: s.opt.m, v: s.opt.v, optStep: s.opt.step, rng: s.dropoutRng.state(), step: s.step, reply });
  s.lastReply = reply;
  s.dirty = false;
}

function restoreCommitted(s: LearnerState): void {
  const st = restoreLearnerState(s.recovery!, s.packed, { params: s.adapter.params, m: s.opt.m, v: s.opt.v });
  if (!st) return;
  s.opt.step = st.optStep;
  s.device.loadState(s.opt);
  s.dropoutRng = new Rng(st.rng);
  s.step = st.step;
  s.lastReply = st.reply;
  s.dirty = false;
}

/** Publish the adapter as version = step (again, under the same number, if a lost attempt already did). */
function publishAdapter(s: LearnerState): number {
  return s.store.version === s.step ? s.store.rewrite(s.adapter.params, s.step) : s.store.publish(s.adapter.params, s.step, s.step);
}

function state(): LearnerState {
  if (!S) throw new Error('learner: not initialised');
  // A step that failed in this worker may have left half-updated state: every handler starts from the
  // last commit (trainStep's own retry included).
  if (S.recovery && S.dirty) restoreCommitted(S);
  return S;
}

const ints = (x: Trajectory['promptIds']): ArrayLike<number> => (isSharedTensor(x) ? tensorView(x as SharedTensor & { dtype: 'i32' }) : x);
const floats = (x: Trajectory['behaviourLogprobs']): ArrayLike<number> => (isSharedTensor(x) ? tensorView(x as SharedTensor & { dtype: 'f32' }) : x);

/** Right-padded [B, T] batch of prompt+completion, plus the completion-aligned [B, Tc] views. */
function buildBatch(trajs: Trajectory[], maxPrompt: number): { batch: TrainBatch; prompts: number[]; comps: number[]; Tc: number } {
  const prompts = trajs.map((t) => Math.min(ints(t.promptIds).length, maxPrompt > 0 ? maxPrompt : Infinity));
  const comps = trajs.map((t) => ints(t.completionIds).length);
  const T = Math.max(...trajs.map((_, i) => prompts[i]! + comps[i]!));
  const Tc = Math.max(1, ...comps);
  const ids = new Int32Array(trajs.length * T);
  const lengths = new Int32Array(trajs.length);
  const scoreFrom = new Int32Array(trajs.length);
  trajs.forEach((t, b) => {
    const p = ints(t.promptIds);
    const c = ints(t.completionIds);
    const kept = prompts[b]!;
    for (let i = 0; i < kept; i++) ids[b * T + i] = p[p.length - kept + i]!;
    for (let i = 0; i < c.length; i++) ids[b * T + kept + i] = c[i]!;
    lengths[b] = kept + c.length;
    scoreFrom[b] = kept;
  });
  return { batch: { ids, lengths, seqLen: T, scoreFrom }, prompts, comps, Tc };
}

/** Gather [B·T] model log-probs into completion-aligned [B, Tc]. */
function gather(src: ArrayLike<number>, b: { prompts: number[]; comps: number[]; Tc: number; T: number }): Float32Array {
  const out = new Float32Array(b.prompts.length * b.Tc);
  for (let i = 0; i < b.prompts.length; i++) {
    for (let t = 0; t < b.comps[i]!; t++) out[i * b.Tc + t] = src[i * b.T + b.prompts[i]! + t]!;
  }
  return out;
}

export async function trainStep(msg: LearnerStepRequest): Promise<Record<string, number | string | boolean>> {
  const s = state();
  const { cfg, model, adapter } = s;
  if (s.recovery) {
    // (A retry after a throw mid-step has been rolled back to the last commit by state().)
    // The step finished and was committed but its reply was lost with the worker: answer it again.
    if (msg.step === s.step && s.lastReply) return s.lastReply as Record<string, number | string | boolean>;
    s.dirty = true;
  }
  if (msg.step !== s.step + 1) throw new Error(`learner: step ${msg.step} received, expected ${s.step + 1} (steps must arrive in order)`);
  // Provenance check: the current policy is version step−1; older rollouts must be within the bound.
  msg.trajectories.forEach((t, i) => {
    const lag = msg.step - 1 - t.policyVersion;
    if (lag > cfg.maxStaleness || lag < 0) throw new Error(`learner: trajectory ${i} comes from policy version ${t.policyVersion}, ${lag} versions behind step ${msg.step}'s policy (max_staleness ${cfg.maxStaleness}): refused`);
  });
  const t0 = performance.now();
  const scale = loraScale(adapter.settings);
  const N = msg.trajectories.length;
  const M = Math.min(cfg.gradientAccumulationSteps, N);
  // Global sizes first, so every micro-batch's loss uses the whole optimizer batch's normalisers.
  const masks = msg.trajectories.map((t) => {
    const c = ints(t.completionIds);
    return completionMask(c, 1, Math.max(1, c.length), cfg.eosTokenIds);
  });
  const globalTokens = masks.reduce((a, m) => a + m.reduce((x, y) => x + y, 0), 0);
  s.device.zeroGrad();
  const sums: PolicyLossSums[] = [];
  let loss = 0;
  let tokens = 0;
  const time = { reference: 0, policy: 0, backward: 0 };
  const temperature = cfg.logprobTemperature;
  for (let m = 0; m < M; m++) {
    const lo = Math.floor((m * N) / M), hi = Math.floor(((m + 1) * N) / M);
    const trajs = msg.trajectories.slice(lo, hi);
    const built = buildBatch(trajs, cfg.maxPromptLength);
    const T = built.batch.seqLen;
    const shape = { ...built, T };
    const mask = new Uint8Array(trajs.length * built.Tc);
    trajs.forEach((_, i) => mask.set(masks[lo + i]!, i * built.Tc));
    const toBT = (lp: Float32Array, flat: Int32Array): Float32Array => scatterScored(new Float32Array(trajs.length * T), lp, flat);
    let ta = performance.now();
    let ref: Float32Array | undefined;
    if (cfg.beta !== 0) {
      const r = await s.device.logprobs(built.batch, 0, { temperature });
      ref = gather(toBT(r.lp, r.scoredFlat), shape);
    }
    time.reference += performance.now() - ta;
    ta = performance.now();
    const fwd = await s.device.forward(built.batch, scale, { temperature }, adapter.settings.dropout > 0 ? s.dropoutRng : null);
    time.policy += performance.now() - ta;
    const logp = gather(toBT(fwd.lp, fwd.scoredFlat), shape);
    const behaviour = cfg.importanceSamplingCorrection ? new Float32Array(trajs.length * built.Tc) : undefined;
    if (behaviour) trajs.forEach((t, i) => behaviour.set(floats(t.behaviourLogprobs), i * built.Tc));
    let r: ReturnType<typeof policyLoss>;
    try {
      r = policyLoss(
        { numSequences: trajs.length, seqLen: built.Tc, logp, mask, advantages: msg.advantages.slice(lo, hi), refLogp: ref, behaviourLogp: behaviour },
        { lossType: cfg.lossType, beta: cfg.beta, epsilon: cfg.epsilon, epsilonHigh: cfg.epsilonHigh, importanceSamplingCap: cfg.importanceSamplingCap, maxCompletionLength: cfg.maxCompletionLength, global: { sequences: N, tokens: globalTokens, microBatches: M } },
      );
    } catch (err) {
      fwd.discard();
      throw err;
    }
    loss += r.loss;
    sums.push(r.sums);
    // ∂L/∂logp back to the scored order the model produced, then backpropagate into the LoRA block.
    const dlp = new Float32Array(fwd.scoredFlat.length);
    for (let k = 0; k < dlp.length; k++) {
      const flat = fwd.scoredFlat[k]!, i = Math.floor(flat / T), t = flat - i * T - built.prompts[i]!;
      dlp[k] = r.dLogp[i * built.Tc + t]!;
    }
    ta = performance.now();
    await fwd.backward(dlp);
    time.backward += performance.now() - ta;
    for (let i = 0; i < trajs.length; i++) tokens += built.batch.lengths[i]!;
  }
  const metrics = policyLossMetrics(mergePolicyLossSums(sums));
  const lr = learningRateAt(cfg.schedule, s.step);
  let gradNorm: number;
  let skipped = '';
  try {
    gradNorm = (await s.device.optimizerStep(s.opt, cfg.adamw, lr)).gradNorm;
  } catch (err) {
    // NaN/Inf gradients: keep the previous adapter, report, publish the same weights again.
    gradNorm = NaN;
    skipped = (err as Error).message;
  }
  if (!Number.isFinite(loss) && !skipped) skipped = `loss is ${loss}`;
  s.step = msg.step;
  const tp = performance.now();
  const version = publishAdapter(s);
  if (drillDue(cfg.__faults, 'publish')?.drill.mode === 'corrupt') s.store.corruptActiveForDrill();
  fireFaultDrill(cfg.__faults, 'learner', 'afterPublish'); // drill: die with version published, state not committed
  const seconds = (performance.now() - t0) / 1000;
  const reply = {
    step: s.step, version, loss, kl: metrics.kl, grad_norm: gradNorm, learning_rate: lr,
    'clip_ratio/region_mean': metrics['clip_ratio/region_mean'], 'is_weight/mean': metrics['is_weight/mean'],
    tokens_per_s: tokens / seconds, 'time/reference_s': time.reference / 1000, 'time/policy_s': time.policy / 1000,
    'time/backward_s': time.backward / 1000, 'time/publish_s': (performance.now() - tp) / 1000,
    skipped,
  };
  if (s.recovery) commitState(s, reply);
  fireFaultDrill(cfg.__faults, 'learner', 'afterCommit'); // drill: the step is committed, its reply lost
  return reply;
}

export async function saveAdapter(msg: SaveAdapterRequest): Promise<{ dir: string; step: number }> {
  const s = state();
  saveAdapterPeft(msg.dir, s.adapter, { baseModel: s.cfg.baseModelName });
  return { dir: msg.dir, step: s.step };
}

/** Checkpoint the learner's whole state into `dir`: PEFT adapter + AdamW state; returns the RNG state. */
export async function saveCheckpoint(msg: CheckpointRequest): Promise<{ step: number; dropoutRng: RngState }> {
  const s = state();
  if (msg.step !== s.step) throw new Error(`learner.saveCheckpoint: asked for step ${msg.step}, the learner is at step ${s.step}`);
  // A checkpoint is what resume trusts: never seal one that could not be trained on.
  const bad = [['adapter', countNonFinite(s.adapter.params)], ['AdamW first moment', countNonFinite(s.opt.m)], ['AdamW second moment', countNonFinite(s.opt.v)]] as const;
  const found = bad.filter(([, n]) => n > 0);
  if (found.length) throw new Error(`learner.saveCheckpoint: refusing to save step ${msg.step}: the ${found.map(([what, n]) => `${what} holds ${n} non-finite value(s)`).join(', the ')} (of ${s.adapter.params.length} each)`);
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
export async function restoreCheckpoint(msg: RestoreRequest): Promise<{ step: number; version: number }> {
  const s = state();
  if (s.recovery) s.dirty = true; // from here until the commit the state is neither old nor new
  const loaded = loadAdapterPeft(msg.dir, s.model.config);
  if (loaded.layout.size !== s.adapter.layout.size || loaded.settings.r !== s.adapter.settings.r) {
    throw new Error(`learner.restoreCheckpoint: ${msg.dir} holds a LoRA adapter of ${loaded.layout.size} values (r ${loaded.settings.r}); this run's has ${s.adapter.layout.size} (r ${s.adapter.settings.r})`);
  }
  s.adapter.params.set(loaded.params);
  s.opt = deserializeAdamWState(readFileSync(join(msg.dir, 'optimizer.bin')), join(msg.dir, 'optimizer.bin'));
  if (s.opt.m.length !== s.adapter.params.length) throw new Error(`learner.restoreCheckpoint: optimizer.bin has ${s.opt.m.length} moments, adapter has ${s.adapter.params.length} values`);
  s.device.loadState(s.opt);
  s.dropoutRng = new Rng(msg.dropoutRng as RngState);
  s.step = msg.step;
  if (s.recovery) commitState(s, null);
  return { step: s.step, version: publishAdapter(s) };
}

/** Rewrite the current adapter under its version: a reader found that version's bytes corrupted. */
export async function republish(msg: RepublishRequest): Promise<{ version: number }> {
  const s = state();
  if (msg.version > s.step) throw new Error(`learner.republish: asked for version ${msg.version}, the learner holds version ${s.step}`);
  // A newer version was published since the request was made: its bytes are fresh already.
  if (msg.version < s.step) return { version: s.step };
  return { version: publishAdapter(s) };
}
