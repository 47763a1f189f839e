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
import { backwardScored, forwardScored, type TrainBatch } from '../model/train.js';
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
import type { LearnerDevice, ScoreOptions } from './learner-device.js';
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

export async function createWebGpuLearnerDevice(
  model: Model<Float32Array>,
  adapter: LoraAdapter<Float32Array>,
  opts: WebGpuLearnerOptions,
): Promise<LearnerDevice> {
  const ctx = opts.shared?.ctx ?? (await createGpuContext({ disableFeatures: opts.disableFeatures }));
  const ops = webgpuOps(ctx);
  let kernels = `matmul ${pickVariant(ctx, opts.weightDtype === 'f16')}`;
  if (opts.tuneMatmul ?? !/swiftshader/i.test(ctx.info.adapter)) {
    const prepared = await prepareMatmul(ctx, { tune: true });
    const s = configureMatmul(ctx, {});
    kernels = `matmul verified ${prepared.verified.join(', ') || 'none'}; f32 ${s.f32Variant}, f16 ${s.f16Variant ?? s.f32Variant}`;
  }
  const { model: gmodel, report } = opts.shared
    ? { model: opts.shared.model, report: sharedReport(opts.shared.model) }
    : uploadModel(ctx, model, { weightDtype: opts.weightDtype });
  const n = adapter.params.length;
  const persistent = (): GpuTensor => allocTensor(ctx, n, 'f32', true, true);
  const params = persistent(),
    grad = persistent(),
    m = persistent(),
    v = persistent();
  const gadapter: LoraAdapter<GpuTensor> = { settings: adapter.settings, layout: adapter.layout, params };
  writeTensor(ctx, params, adapter.params, 'lora params');
  const kept = report.keptF32.length ? `; kept in f32 (outside the f16 range): ${report.keptF32.join(', ')}` : '';
  const description = `webgpu (${ctx.info.adapter}; weights ${opts.weightDtype}, ${(report.bytes / 2 ** 20).toFixed(1)} MiB${opts.shared ? ', shared with the engine' : ''}; features ${ctx.info.features.join(' ') || 'none'}; ${kernels}${opts.recompute ? '; per-layer recomputation' : ''}${kept})`;

  const run = (batch: TrainBatch, scale: number, o: ScoreOptions, save: boolean, dropoutRng: Rng | null) => {
    // The fused LM head never holds whole logit rows, which top-p/top-k scoring needs (planRun refuses such configs).
    if (o.truncation && truncationActive(o.truncation, model.config.vocabSize))
      throw new Error(
        'webgpu learner: top-p/top-k (truncated) log-probs are computed on the cpu learner only; use learner.device "cpu" or grpo.top_p 1 / top_k 0',
      );
    return forwardScored<GpuTensor>(gmodel, gadapter, scale, batch, ops, {
      temperature: o.temperature,
      entropy: o.entropy,
      saveForBackward: save,
      recompute: save && opts.recompute,
      ...(dropoutRng && adapter.settings.dropout > 0 && scale !== 0 ? { dropoutSeed: dropoutRng.nextU32() } : {}),
    });
  };

  return {
    kind: 'webgpu',
    description,
    async logprobs(batch, scale, o) {
      beginScope(ctx);
      try {
        const r = run(batch, scale, o, false, null);
        const lp = await readF32(ctx, r.lp);
        const entropy = r.entropy ? await readF32(ctx, r.entropy) : null;
        return { lp, entropy, scoredFlat: r.scoredFlat };
      } finally {
        endScope(ctx);
      }
    },
    async forward(batch, scale, o, dropoutRng) {
      beginScope(ctx);
      let open = true;
      const close = (): void => {
        if (open) {
          open = false;
          endScope(ctx);
        }
      };
      try {
        const r = run(batch, scale, o, true, dropoutRng);
        const lp = await readF32(ctx, r.lp);
        const entropy = r.entropy ? await readF32(ctx, r.entropy) : null;
        return {
          lp,
          entropy,
          scoredFlat: r.scoredFlat,
          backward: async (dlp) => {
            try {
              backwardScored<GpuTensor>(r.saved!, uploadTensor(ctx, dlp), { lora: grad });
              await finish(ctx);
            } finally {
              close();
            }
          },
          discard: close,
        };
      } catch (err) {
        close();
        throw err;
      }
    },
    zeroGrad: () => fillTensor(ctx, grad, 0),
    async optimizerStep(state: AdamWState, hp: AdamWHyperparams, lr: number): Promise<OptimizerStepReport> {
      if (!(lr >= 0) || !Number.isFinite(lr)) throw new Error(`learning_rate: must be finite and ≥ 0, got ${lr}`);
      const gradNorm = Math.sqrt(await sumOfSquares(ctx, grad));
      if (!Number.isFinite(gradNorm))
        throw new Error(`grad_norm is ${gradNorm} at optimizer step ${state.step + 1}: refusing to update the adapter`);
      // torch clip_grad_norm_: coef = max_norm / (norm + 1e-6), applied when < 1.
      const clip =
        hp.maxGradNorm > 0 && hp.maxGradNorm !== Infinity ? Math.min(1, hp.maxGradNorm / (gradNorm + 1e-6)) : 1;
      state.step += 1;
      adamwStep(ctx, params, grad, m, v, lr, hp.beta1, hp.beta2, hp.eps, hp.weightDecay, state.step, clip);
      adapter.params.set(await readF32(ctx, params));
      state.m.set(await readF32(ctx, m));
      state.v.set(await readF32(ctx, v));
      return { gradNorm, clipCoef: clip, learningRate: lr, step: state.step };
    },
    loadState(state: AdamWState) {
      writeTensor(ctx, params, adapter.params, 'lora params');
      writeTensor(ctx, m, state.m, 'adamw exp_avg');
      writeTensor(ctx, v, state.v, 'adamw exp_avg_sq');
    },
    takePeakBytes() {
      const peak = memoryStats(ctx).peakBytes;
      resetPeaks(ctx);
      return peak;
    },
    profileKernels() {
      startProfile(ctx);
      return {
        stop: async () => {
          await finish(ctx);
          return profileRows(await stopProfile(ctx));
        },
      };
    },
    dispose: () => {
      if (!opts.shared) {
        ctx.device.destroy();
        return;
      }
      for (const t of [params, grad, m, v]) releaseTensor(ctx, t);
    },
  };
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
