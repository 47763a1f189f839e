// The learner on WebGPU: base weights uploaded once (f16 or f32), the LoRA block, its gradient and
// the AdamW moments resident on the GPU; the model code of src/model/train.ts on the webgpu ops.
// Per micro-batch only the log-probs come back (the loss is computed on the host, O(tokens)) and
// ∂L/∂logp goes up; per step the grad-norm partial sums come back and, after AdamW, the adapter and
// moments are read into the host arrays once (publish, checkpoints, crash recovery).
//
// Dropout uses the counter-based source (a seed drawn from the learner's generator per forward),
// so per-layer recomputation reproduces the masks. Loaded only when learner.device is webgpu.
import { profileRows, startProfile, stopProfile } from '../ops/webgpu/profile.js';
import type { Model } from '../model/weights.js';
import type { LoraAdapter } from '../model/lora.js';
import {
  backwardScored,
  forwardScored,
  type SavedForward,
  type ScoredForward,
  type TrainBatch,
} from '../model/train.js';
import type { Ops } from '../ops/types.js';
import {
  allocTensor,
  beginScope,
  createGpuContext,
  endScope,
  fillTensor,
  finish,
  memoryStats,
  readF32,
  releaseTensor,
  resetPeaks,
  uploadTensor,
  writeTensor,
  type GpuContext,
} from '../ops/webgpu/context.js';
import { webgpuOps } from '../ops/webgpu/index.js';
import { uploadModel, type UploadReport, type WeightDType } from '../ops/webgpu/model-upload.js';
import { adamwStep, sumOfSquares } from '../ops/webgpu/optimizer.js';
import { prepareMatmul } from '../ops/webgpu/matmul-check.js';
import { configureMatmul, pickVariant } from '../ops/webgpu/gemm.js';
import { bytesFor, type GpuTensor } from '../ops/webgpu/tensor.js';
import type { Rng } from '../util/rng.js';
import { truncationActive } from './token-distribution.js';
import type { LearnerDevice, PolicyForward, ScoredLogprobs, ScoreOptions } from './learner-device.js';
import type { AdamWHyperparams, AdamWState, OptimizerStepReport } from './optimizer.js';

export interface WebGpuLearnerOptions {
  weightDtype: WeightDType;
  /** Keep only layer inputs and recompute each layer in the backward. */
  recompute: boolean;
  /** Leave out adapter features (tests of portable kernel paths). */
  disableFeatures?: string[];
  /**
   * An existing context and the base weights already uploaded to it (uploadModel), shared with a
   * webgpu generation engine in the same thread: one copy of the frozen weights per GPU. The device
   * then belongs to the caller (dispose does not destroy it).
   */
  shared?: { ctx: GpuContext; model: Model<GpuTensor> };
  /**
   * Check the fast matmul variants (f16 arithmetic, subgroup-matrix) against a reference on this
   * device and time them, making the fastest that passes the default. Default: on, except on a
   * software adapter (SwiftShader), where every variant but the portable ones is unavailable anyway.
   */
  tuneMatmul?: boolean;
}

/** What the device's parts share: the context, the uploaded model and the resident adapter tensors. */
interface LearnerGpuState {
  ctx: GpuContext;
  ops: Ops<GpuTensor>;
  opts: WebGpuLearnerOptions;
  /** The host model (its config) and adapter (the authoritative host copy of the params). */
  model: Model<Float32Array>;
  adapter: LoraAdapter<Float32Array>;
  gmodel: Model<GpuTensor>;
  /** The adapter on the GPU: its settings and layout over `params`. */
  gadapter: LoraAdapter<GpuTensor>;
  params: GpuTensor;
  grad: GpuTensor;
  /** AdamW moments. */
  m: GpuTensor;
  v: GpuTensor;
}

export async function createWebGpuLearnerDevice(
  model: Model<Float32Array>,
  adapter: LoraAdapter<Float32Array>,
  opts: WebGpuLearnerOptions,
): Promise<LearnerDevice> {
  const ctx = opts.shared?.ctx ?? (await createGpuContext({ disableFeatures: opts.disableFeatures }));
  const ops = webgpuOps(ctx);
  const kernels = await configureKernels(ctx, opts);
  const { model: gmodel, report } = opts.shared
    ? { model: opts.shared.model, report: sharedReport(opts.shared.model) }
    : uploadModel(ctx, model, { weightDtype: opts.weightDtype });
  const s: LearnerGpuState = { ctx, ops, opts, model, adapter, gmodel, ...allocAdapter(ctx, adapter) };
  writeTensor(ctx, s.params, adapter.params, 'lora params');
  return deviceMethods(s, describeDevice(ctx, opts, report, kernels));
}

/** The matmul variants in use: tuned on this device unless it is a software adapter (or told not to). */
async function configureKernels(ctx: GpuContext, opts: WebGpuLearnerOptions): Promise<string> {
  let kernels = `matmul ${pickVariant(ctx, opts.weightDtype === 'f16')}`;
  if (opts.tuneMatmul ?? !/swiftshader/i.test(ctx.info.adapter)) {
    const prepared = await prepareMatmul(ctx, { tune: true });
    const s = configureMatmul(ctx, {});
    const verified = prepared.verified.join(', ') || 'none';
    kernels = `matmul verified ${verified}; f32 ${s.f32Variant}, f16 ${s.f16Variant ?? s.f32Variant}`;
  }
  return kernels;
}

/** The adapter params, their gradient and the AdamW moments, resident for the device's lifetime. */
function allocAdapter(
  ctx: GpuContext,
  adapter: LoraAdapter<Float32Array>,
): Pick<LearnerGpuState, 'gadapter' | 'params' | 'grad' | 'm' | 'v'> {
  const n = adapter.params.length;
  const persistent = (): GpuTensor => allocTensor(ctx, n, 'f32', true, true);
  const params = persistent(),
    grad = persistent(),
    m = persistent(),
    v = persistent();
  const gadapter: LoraAdapter<GpuTensor> = { settings: adapter.settings, layout: adapter.layout, params };
  return { gadapter, params, grad, m, v };
}

function describeDevice(ctx: GpuContext, opts: WebGpuLearnerOptions, report: UploadReport, kernels: string): string {
  const kept = report.keptF32.length ? `; kept in f32 (outside the f16 range): ${report.keptF32.join(', ')}` : '';
  const shared = opts.shared ? ', shared with the engine' : '';
  const weights = `weights ${opts.weightDtype}, ${(report.bytes / 2 ** 20).toFixed(1)} MiB${shared}`;
  const features = `features ${ctx.info.features.join(' ') || 'none'}`;
  const recompute = opts.recompute ? '; per-layer recomputation' : '';
  return `webgpu (${ctx.info.adapter}; ${weights}; ${features}; ${kernels}${recompute}${kept})`;
}

function deviceMethods(s: LearnerGpuState, description: string): LearnerDevice {
  const { ctx } = s;
  return {
    kind: 'webgpu',
    description,
    logprobs: (batch, scale, o) => scoreLogprobs(s, batch, scale, o),
    forward: (batch, scale, o, dropoutRng) => forwardForBackward(s, batch, scale, o, dropoutRng),
    zeroGrad: () => fillTensor(ctx, s.grad, 0),
    optimizerStep: (state, hp, lr) => optimizerStep(s, state, hp, lr),
    loadState: (state) => loadState(s, state),
    takePeakBytes: () => takePeakBytes(ctx),
    profileKernels: () => profileKernels(ctx),
    dispose: () => dispose(s),
  };
}

function runScored(
  s: LearnerGpuState,
  batch: TrainBatch,
  scale: number,
  o: ScoreOptions,
  save: boolean,
  dropoutRng: Rng | null,
): ScoredForward<GpuTensor> {
  // The fused LM head never holds whole logit rows, which top-p/top-k scoring needs (planRun refuses such configs).
  if (o.truncation && truncationActive(o.truncation, s.model.config.vocabSize))
    throw new Error(
      'webgpu learner: top-p/top-k (truncated) log-probs are computed on the cpu learner only; ' +
        'use learner.device "cpu" or grpo.top_p 1 / top_k 0',
    );
  return forwardScored<GpuTensor>(s.gmodel, s.gadapter, scale, batch, s.ops, {
    temperature: o.temperature,
    entropy: o.entropy,
    saveForBackward: save,
    recompute: save && s.opts.recompute,
    ...(dropoutRng && s.adapter.settings.dropout > 0 && scale !== 0 ? { dropoutSeed: dropoutRng.nextU32() } : {}),
  });
}

/** Log-probs (and entropies) of a forward read back to the host: all that leaves the GPU per micro-batch. */
async function readScores(ctx: GpuContext, r: ScoredForward<GpuTensor>): Promise<ScoredLogprobs> {
  const lp = await readF32(ctx, r.lp);
  const entropy = r.entropy ? await readF32(ctx, r.entropy) : null;
  return { lp, entropy, scoredFlat: r.scoredFlat };
}

async function scoreLogprobs(
  s: LearnerGpuState,
  batch: TrainBatch,
  scale: number,
  o: ScoreOptions,
): Promise<ScoredLogprobs> {
  beginScope(s.ctx);
  try {
    return await readScores(s.ctx, runScored(s, batch, scale, o, false, null));
  } finally {
    endScope(s.ctx);
  }
}

/** The scope holding a forward's activations stays open until its backward or discard closes it (once). */
async function forwardForBackward(
  s: LearnerGpuState,
  batch: TrainBatch,
  scale: number,
  o: ScoreOptions,
  dropoutRng: Rng | null,
): Promise<PolicyForward> {
  const { ctx } = s;
  beginScope(ctx);
  let open = true;
  const close = (): void => {
    if (open) {
      open = false;
      endScope(ctx);
    }
  };
  try {
    const r = runScored(s, batch, scale, o, true, dropoutRng);
    return {
      ...(await readScores(ctx, r)),
      backward: (dlp) => backwardInto(s, r.saved!, dlp, close),
      discard: close,
    };
  } catch (err) {
    close();
    throw err;
  }
}

async function backwardInto(
  s: LearnerGpuState,
  saved: SavedForward<GpuTensor>,
  dlp: Float32Array,
  close: () => void,
): Promise<void> {
  try {
    backwardScored<GpuTensor>(saved, uploadTensor(s.ctx, dlp), { lora: s.grad });
    await finish(s.ctx);
  } finally {
    close();
  }
}

async function optimizerStep(
  s: LearnerGpuState,
  state: AdamWState,
  hp: AdamWHyperparams,
  lr: number,
): Promise<OptimizerStepReport> {
  if (!(lr >= 0) || !Number.isFinite(lr)) throw new Error(`learning_rate: must be finite and ≥ 0, got ${lr}`);
  const gradNorm = Math.sqrt(await sumOfSquares(s.ctx, s.grad));
  if (!Number.isFinite(gradNorm))
    throw new Error(`grad_norm is ${gradNorm} at optimizer step ${state.step + 1}: refusing to update the adapter`);
  // torch clip_grad_norm_: coef = max_norm / (norm + 1e-6), applied when < 1.
  const clip = hp.maxGradNorm > 0 && hp.maxGradNorm !== Infinity ? Math.min(1, hp.maxGradNorm / (gradNorm + 1e-6)) : 1;
  state.step += 1;
  adamwStep(s.ctx, s.params, s.grad, s.m, s.v, lr, hp.beta1, hp.beta2, hp.eps, hp.weightDecay, state.step, clip);
  await readBackAdapter(s, state);
  return { gradNorm, clipCoef: clip, learningRate: lr, step: state.step };
}

/** After each update, into the host arrays (publish, checkpoints, crash recovery). */
async function readBackAdapter(s: LearnerGpuState, state: AdamWState): Promise<void> {
  s.adapter.params.set(await readF32(s.ctx, s.params));
  state.m.set(await readF32(s.ctx, s.m));
  state.v.set(await readF32(s.ctx, s.v));
}

function loadState(s: LearnerGpuState, state: AdamWState): void {
  writeTensor(s.ctx, s.params, s.adapter.params, 'lora params');
  writeTensor(s.ctx, s.m, state.m, 'adamw exp_avg');
  writeTensor(s.ctx, s.v, state.v, 'adamw exp_avg_sq');
}

function takePeakBytes(ctx: GpuContext): number {
  const peak = memoryStats(ctx).peakBytes;
  resetPeaks(ctx);
  return peak;
}

function profileKernels(ctx: GpuContext): ReturnType<NonNullable<LearnerDevice['profileKernels']>> {
  startProfile(ctx);
  return {
    stop: async () => {
      await finish(ctx);
      return profileRows(await stopProfile(ctx));
    },
  };
}

/** An own context goes with the device; a shared one belongs to the caller, so only the adapter tensors are freed. */
function dispose(s: LearnerGpuState): void {
  if (!s.opts.shared) {
    s.ctx.device.destroy();
    return;
  }
  for (const t of [s.params, s.grad, s.m, s.v]) releaseTensor(s.ctx, t);
}

/** What an upload report says of weights uploaded by someone else (bytes only). */
function sharedReport(m: Model<GpuTensor>): UploadReport {
  let bytes = 0;
  for (const t of [
    m.weights.embed,
    m.weights.finalNorm,
    ...(m.weights.lmHead !== m.weights.embed ? [m.weights.lmHead] : []),
    ...m.weights.layers.flatMap((l) => Object.values(l)),
  ])
    bytes += bytesFor(t.length, t.dtype);
  return { bytes, keptF32: [], split: {} };
}
