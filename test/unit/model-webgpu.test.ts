// The whole model on WebGPU against the cpu model: per-token log-probs, entropies and LoRA
// gradients of a packed multi-sequence batch (GQA, lengths that are not tile multiples), with f32
// and f16 weight storage, per-layer recomputation, counter-based LoRA dropout and a split
// embedding matrix. The relative errors are printed; the bounds are the (1e-4 for f32
// storage) and, for f16 storage, against the cpu model on the same f16-rounded weights.
import t, { type Test } from 'tap';
import { createRandomModel, buildWeights, weightEntries, type Model } from '../../src/model/weights.js';
import { defaultLoraSettings, initLoraAdapter, loraScale, type LoraAdapter } from '../../src/model/lora.js';
import { backwardScored, forwardScored, type TrainBatch } from '../../src/model/train.js';
import { cpuOps } from '../../src/ops/cpu/index.js';
import type { FloatArray } from '../../src/ops/types.js';
import { allocTensor, readF32, uploadTensor, type GpuContext } from '../../src/ops/webgpu/context.js';
import { webgpuOps } from '../../src/ops/webgpu/index.js';
import { uploadModel } from '../../src/ops/webgpu/model-upload.js';
import { f16BitsToF32, f32ToF16Bits, type GpuTensor } from '../../src/ops/webgpu/tensor.js';
import { randomBatch, tinyConfig } from '../helpers/model-helpers.js';
import { relError, Rng, testGpu } from '../helpers/gpu-helpers.js';

// Wide enough that the kernels tile (hidden 64, head dim 16, GQA 4 over 2), lengths not tile multiples.
const c = tinyConfig({
  hidden_size: 64,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  intermediate_size: 96,
  vocab_size: 83,
  num_hidden_layers: 2,
});
const batch: TrainBatch = randomBatch(c, 7, [37, 5, 70, 1 + 2], [4, 2, 9, 1], 70);

function setup(dropout: number): {
  model: Model<Float32Array>;
  adapter: LoraAdapter<Float32Array>;
  scale: number;
  dlp: Float32Array;
} {
  const model = createRandomModel(c, 11, { std: 0.2, perturbNorms: 0.2 });
  const settings = defaultLoraSettings({ r: 4, alpha: 8, dropout });
  const adapter = initLoraAdapter(c, settings, new Rng(5));
  const r = new Rng(9);
  for (const s of adapter.layout.tensors)
    if (s.name.endsWith('lora_B'))
      for (let i = 0; i < s.shape[0]! * s.shape[1]!; i++) adapter.params[s.offset + i] = 0.2 * r.normal();
  let M = 0;
  for (let b = 0; b < batch.lengths.length; b++) M += batch.lengths[b]! - batch.scoreFrom[b]!;
  const dlp = new Float32Array(M);
  for (let i = 0; i < M; i++) dlp[i] = r.normal();
  return { model, adapter, scale: loraScale(settings), dlp };
}

/** The same weights with every matrix rounded to f16 (what f16 storage computes with). */
function roundedToF16(m: Model<Float32Array>): Model<Float32Array> {
  const src = new Map(weightEntries(m.config, m.weights));
  const round = (a: Float32Array) => a.map((x) => f16BitsToF32(f32ToF16Bits(x)));
  const isMatrix = (name: string) =>
    name.endsWith('proj.weight') || name.endsWith('embed_tokens.weight') || name === 'lm_head.weight';
  return {
    config: m.config,
    weights: buildWeights(m.config, (name) => (isMatrix(name) ? round(src.get(name)!) : src.get(name)!.slice())),
  };
}

interface Result {
  lp: Float32Array;
  entropy: Float32Array;
  grad: Float32Array;
}

function onCpu(
  model: Model<Float32Array>,
  adapter: LoraAdapter<Float32Array>,
  scale: number,
  dlp: Float32Array,
  dropoutSeed?: number,
): Result {
  const r = forwardScored<FloatArray>(model, adapter, scale, batch, cpuOps, {
    temperature: 0.7,
    saveForBackward: true,
    entropy: true,
    ...(dropoutSeed !== undefined ? { dropoutSeed } : {}),
  });
  const grad = new Float32Array(adapter.params.length);
  backwardScored<FloatArray>(r.saved!, dlp, { lora: grad });
  return { lp: r.lp as Float32Array, entropy: r.entropy as Float32Array, grad };
}

async function onGpu(
  ctx: GpuContext,
  model: Model<Float32Array>,
  adapter: LoraAdapter<Float32Array>,
  scale: number,
  dlp: Float32Array,
  o: { dtype: 'f16' | 'f32'; recompute: boolean; dropoutSeed?: number; maxPartBytes?: number },
): Promise<Result> {
  const ops = webgpuOps(ctx);
  const g = uploadModel(ctx, model, {
    weightDtype: o.dtype,
    ...(o.maxPartBytes ? { maxPartBytes: o.maxPartBytes } : {}),
  }).model;
  const params = uploadTensor(ctx, adapter.params);
  const gad: LoraAdapter<GpuTensor> = { ...adapter, params };
  const r = forwardScored<GpuTensor>(g, gad, scale, batch, ops, {
    temperature: 0.7,
    saveForBackward: true,
    recompute: o.recompute,
    entropy: true,
    ...(o.dropoutSeed !== undefined ? { dropoutSeed: o.dropoutSeed } : {}),
  });
  const grad = allocTensor(ctx, adapter.params.length, 'f32', true);
  backwardScored<GpuTensor>(r.saved!, uploadTensor(ctx, dlp), { lora: grad });
  return { lp: await readF32(ctx, r.lp), entropy: await readF32(ctx, r.entropy!), grad: await readF32(ctx, grad) };
}

function compare(t: Test, what: string, gpu: Result, cpu: Result, bound: number): void {
  const e = {
    lp: relError(gpu.lp, cpu.lp),
    entropy: relError(gpu.entropy, cpu.entropy),
    grad: relError(gpu.grad, cpu.grad),
  };
  t.comment(
    `${what}: relative error log-probs ${e.lp.toExponential(2)}, entropy ${e.entropy.toExponential(2)}, LoRA grads ${e.grad.toExponential(2)}`,
  );
  t.ok(e.lp <= bound, `${what}: log-probs within ${bound} (${e.lp.toExponential(2)})`);
  t.ok(e.entropy <= bound, `${what}: entropies within ${bound} (${e.entropy.toExponential(2)})`);
  t.ok(e.grad <= bound, `${what}: LoRA gradients within ${bound} (${e.grad.toExponential(2)})`);
}

t.test('f32 storage: log-probs, entropies and LoRA gradients equal the cpu model within 1e-4', async (t) => {
  const ctx = await testGpu();
  const { model, adapter, scale, dlp } = setup(0);
  const cpu = onCpu(model, adapter, scale, dlp);
  compare(
    t,
    'f32, saved activations',
    await onGpu(ctx, model, adapter, scale, dlp, { dtype: 'f32', recompute: false }),
    cpu,
    1e-4,
  );
  compare(
    t,
    'f32, per-layer recomputation',
    await onGpu(ctx, model, adapter, scale, dlp, { dtype: 'f32', recompute: true }),
    cpu,
    1e-4,
  );
  compare(
    t,
    'f32, embedding and LM head split in 4 buffers',
    await onGpu(ctx, model, adapter, scale, dlp, { dtype: 'f32', recompute: true, maxPartBytes: 22 * 64 * 4 }),
    cpu,
    1e-4,
  );
});

t.test('f16 storage: equal to the cpu model on f16-rounded weights; the rounding error itself is stated', async (t) => {
  const ctx = await testGpu();
  const { model, adapter, scale, dlp } = setup(0);
  const gpu = await onGpu(ctx, model, adapter, scale, dlp, { dtype: 'f16', recompute: true });
  compare(t, 'f16 vs cpu on rounded weights', gpu, onCpu(roundedToF16(model), adapter, scale, dlp), 1e-4);
  const vsF32 = onCpu(model, adapter, scale, dlp);
  const e = relError(gpu.lp, vsF32.lp),
    eg = relError(gpu.grad, vsF32.grad);
  t.comment(`f16 storage vs f32 cpu model: log-probs ${e.toExponential(2)}, LoRA grads ${eg.toExponential(2)}`);
  t.ok(
    e <= 5e-3 && eg <= 5e-2,
    'f16 storage stays within the stated tolerance of the f32 model (log-probs 5e-3, grads 5e-2)',
  );
});

t.test('counter-based LoRA dropout: the GPU masks equal the cpu masks, with and without recomputation', async (t) => {
  const ctx = await testGpu();
  const { model, adapter, scale, dlp } = setup(0.25);
  const cpu = onCpu(model, adapter, scale, dlp, 1234);
  const off = onCpu(model, adapter, scale, dlp, 99);
  t.ok(relError(off.grad, cpu.grad) > 1e-2, 'another seed gives other masks (dropout is really on)');
  compare(
    t,
    'dropout 0.25, saved',
    await onGpu(ctx, model, adapter, scale, dlp, { dtype: 'f32', recompute: false, dropoutSeed: 1234 }),
    cpu,
    1e-4,
  );
  compare(
    t,
    'dropout 0.25, recomputed',
    await onGpu(ctx, model, adapter, scale, dlp, { dtype: 'f32', recompute: true, dropoutSeed: 1234 }),
    cpu,
    1e-4,
  );
});
