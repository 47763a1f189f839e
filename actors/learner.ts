// The learner actor: owns the LoRA adapter, its AdamW state and LR schedule, and turns one step's
// trajectories + advantages into one optimizer update, then publishes the new adapter version to
// the WeightStore. Per step: reference log-probs (LoRA scale 0 — the same weights, no second model),
// policy log-probs with activations kept, the GRPO-family loss (src/rl/loss.ts: ratios against the
// old log-probs the trajectories carry, the behaviour correction against the engine's) and its
// gradient w.r.t. log-probs, backward into the LoRA block only, global grad-norm clipping, AdamW,
// publish. `oldLogprobs` scores a generation batch before its first step (num_iterations > 1 or a
// batch spread over steps); it changes no state. The step's phases, and the two places the model
// runs (scoreMicroBatch and backwardMicroBatch), are in src/rl/learner-step.ts; the state they share
// is src/rl/learner-state.ts's LearnerState.
//
// Crash recovery (src/rl/learner-recovery.ts): after each step the learner commits its whole state
// and reply to a coordinator-owned shared-memory store. A replacement worker (after a crash,
// process.exit or a hang past the deadline) restores it in init(); a retry in the same worker after
// a throw mid-step restores it too (the attempt may have half-updated the state). The retried step
// then computes exactly what the lost attempt would have (same state, inputs and RNG).
import { packSharedRows } from '../protocols/shared-tensor.js';
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
} from '../protocols/training.js';
import { acceptsOf, LearnerProtocol } from '../protocols/handlers.js';
import type { LearnerInit } from '../protocols/role-config.js';
import { attachModel, type Model } from '../src/model/weights.js';
import { initLoraAdapter, type LoraAdapter } from '../src/model/lora.js';
import { loadAdapterPeft, saveAdapterPeft } from '../src/model/peft.js';
import { policyLossMetrics, mergePolicyLossSums } from '../src/rl/loss.js';
import { createCpuLearnerDevice, type LearnerDevice } from '../src/rl/learner-device.js';
import type { LearnerDeviceConfig } from '../src/rl/learner-config.js';
import { buildBatch, microBatchBounds } from '../src/rl/learner-batch.js';
import { createAdamWState, serializeAdamWState, deserializeAdamWState } from '../src/rl/optimizer.js';
import { WeightStore } from '../src/runtime/weight-store.js';
import { Rng, type RngState } from '../src/util/rng.js';
import { drillDue, fireFaultDrill } from '../src/runtime/fault-drill.js';
import { commitLearnerState, learnerRecoverySize, restoreLearnerState } from '../src/rl/learner-recovery.js';
import { arrays, type LearnerState } from '../src/rl/learner-state.js';
import {
  checkStepRequest,
  forwardBackward,
  optimizerStepOrSkip,
  scoreMicroBatch,
  stepBatch,
  stepReply,
} from '../src/rl/learner-step.js';

export type { LearnerInit };

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

export async function trainStep(msg: LearnerStepRequest): Promise<LearnerStepReply> {
  const s = state();
  const { cfg } = s;
  if (s.recovery) {
    // (A retry after a throw mid-step has been rolled back to the last commit by state().)
    // The step finished and was committed but its reply was lost with the worker: answer it again.
    if (msg.step === s.step && s.lastReply) return s.lastReply;
    s.dirty = true;
  }
  checkStepRequest(s, msg);
  const t0 = performance.now();
  const batch = stepBatch(cfg, msg);
  s.device.zeroGrad();
  const totals = await forwardBackward(s, batch);
  const metrics = policyLossMetrics(mergePolicyLossSums(totals.sums), cfg.correction, cfg.objective.lossType);
  const update = await optimizerStepOrSkip(s, batch.N, totals.loss);
  s.step = msg.step;
  const tp = performance.now();
  const version = publishAdapter(s);
  if (drillDue(cfg.__faults, 'publish')?.drill.mode === 'corrupt') s.store.corruptActiveForDrill();
  fireFaultDrill(cfg.__faults, 'learner', 'afterPublish'); // drill: die with version published, state not committed
  const reply = stepReply(s, { batch, totals, metrics, update, version, t0, tp });
  if (s.recovery) commitState(s, reply);
  fireFaultDrill(cfg.__faults, 'learner', 'afterCommit'); // drill: the step is committed, its reply lost
  return reply;
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
