// The WebGPU LoRA linear layer against the cpu op (src/ops/cpu/lora-linear.ts): bias, LoRA scale (the
// B product fused into the base product's epilogue, split-K included), accumulation into y,
// dropout (xLora and the keep multiplier on the LoRA branch's dx), the dz scratch, accumulation into
// every gradient, null-able gradient outputs, the branch switched off (null or scale 0: exactly zero
// LoRA gradient), f16 and split base weights, LoRA A/B as views at odd offsets of one flat block, and
// us given as columns of a wider matrix (LinearShape.usGiven, the stacked A products of inference).
import t, { type Test } from 'tap';
import { allocTensor, readF32, uploadTensor, type GpuContext } from '../../src/ops/webgpu/context.js';
import { viewOf, type GpuTensor } from '../../src/ops/webgpu/tensor.js';
import { loraLinearBackward, loraLinearForward } from '../../src/ops/webgpu/matmul.js';
import { loraLinearBackward as cpuBackward, loraLinearForward as cpuForward } from '../../src/ops/cpu/lora-linear.js';
import type { LinearGrads, LoraOperand } from '../../src/ops/types.js';
import { Rng, randomArray, relError, testGpu } from '../helpers/gpu-helpers.js';
import { f16Round, placed, splitMatrix } from '../helpers/webgpu-matmul-helpers.js';

interface Case {
  rows: number;
  inF: number;
  outF: number;
  r: number;
  scale: number | null;
  bias: boolean;
  dropout: boolean;
  w: 'f32' | 'f16' | 'split';
  /** Forward: y += the layer's output (LinearShape.accumulate). */
  accumulate?: boolean;
}

/** Host data of one case, and its GPU twin (LoRA A and B at odd offsets of one flat block). */
function setUp(ctx: GpuContext, c: Case, rng: Rng) {
  const { rows, inF, outF, r } = c;
  const x = randomArray(rng, rows * inF);
  const keep = new Float32Array(rows * inF).map(() => (rng.next() < 0.25 ? 0 : 1 / 0.75));
  const xl = c.dropout ? x.map((v, i) => v * keep[i]!) : x;
  let w = randomArray(rng, outF * inF, 0.5);
  if (c.w === 'f16') w = f16Round(w);
  const bias = randomArray(rng, outF);
  const flat = randomArray(rng, 3 + r * inF + outF * r + 2, 0.5);
  const gA = { a: flat.subarray(3, 3 + r * inF), b: flat.subarray(3 + r * inF, 3 + r * inF + outF * r) };
  const cpuLora: LoraOperand | null = c.scale === null ? null : { ...gA, r, scale: c.scale };
  const flatT = uploadTensor(ctx, flat);
  const gpuLora: LoraOperand<GpuTensor> | null =
    c.scale === null
      ? null
      : { a: viewOf(flatT, 3, r * inF), b: viewOf(flatT, 3 + r * inF, outF * r), r, scale: c.scale };
  const W = c.w === 'split' ? splitMatrix(ctx, w, inF, Math.ceil(outF / 3)) : placed(ctx, w, 5, c.w);
  const X = placed(ctx, x, 1);
  return {
    x,
    xl,
    keep,
    w,
    bias,
    cpuLora,
    gpuLora,
    W,
    X,
    XL: c.dropout ? placed(ctx, xl, 2) : X,
    KEEP: placed(ctx, keep, 3),
    BIAS: c.bias ? placed(ctx, bias, 4) : null,
  };
}

const worst = { forward: 0, backward: 0 };

async function forwardCase(t: Test, c: Case, rng: Rng): Promise<void> {
  const ctx = await testGpu();
  const s = setUp(ctx, c, rng);
  const { rows, outF, r } = c;
  const y0 = c.accumulate ? randomArray(rng, rows * outF) : new Float32Array(rows * outF);
  const y = Float32Array.from(y0),
    us = new Float32Array(rows * r);
  cpuForward(y, s.x, s.w, c.bias ? s.bias : null, c, s.cpuLora, s.xl, us);
  const Y = placed(ctx, y0, 2),
    US = placed(ctx, new Float32Array(rows * r).fill(7), 1);
  loraLinearForward(ctx, Y, s.X, s.W, s.BIAS, c, s.gpuLora, s.XL, US);
  const ey = relError(await readF32(ctx, Y), y);
  worst.forward = Math.max(worst.forward, ey);
  t.ok(ey < 2e-6, `${JSON.stringify(c)}: y rel error ${ey.toExponential(2)}`);
  if (s.cpuLora && s.cpuLora.scale !== 0) {
    const eu = relError(await readF32(ctx, US), us);
    t.ok(eu < 2e-6, `us rel error ${eu.toExponential(2)}`);
  } else {
    t.same([...(await readF32(ctx, US))], new Array(rows * r).fill(7), 'branch off: us untouched');
  }
}

type GradName = keyof LinearGrads;

async function backwardCase(t: Test, c: Case, present: GradName[], rng: Rng): Promise<void> {
  const ctx = await testGpu();
  const s = setUp(ctx, c, rng);
  const { rows, inF, outF, r } = c;
  const dy = randomArray(rng, rows * outF);
  const us = randomArray(rng, rows * r);
  const sizes: Record<GradName, number> = { dx: rows * inF, dW: outF * inF, dBias: outF, dA: r * inF, dB: outF * r };
  const init = Object.fromEntries(Object.entries(sizes).map(([k, n]) => [k, randomArray(rng, n)])) as Record<
    GradName,
    Float32Array
  >;
  const cpuG = Object.fromEntries(
    (Object.keys(sizes) as GradName[]).map((k) => [k, present.includes(k) ? Float32Array.from(init[k]) : null]),
  ) as unknown as LinearGrads;
  cpuBackward(
    cpuG,
    dy,
    s.x,
    s.w,
    c,
    s.cpuLora,
    s.xl,
    us,
    c.dropout ? s.keep : null,
    new Float32Array(rows * r),
    new Float32Array(rows * inF),
  );
  // dA and dB: views of one gradient block, as in the model.
  const gradFlat = uploadTensor(ctx, Float32Array.of(0, ...init.dA, 0, ...init.dB));
  const gpuG: LinearGrads<GpuTensor> = {
    dx: present.includes('dx') ? placed(ctx, init.dx, 1) : null,
    dW: present.includes('dW') ? (c.w === 'split' ? splitMatrix(ctx, init.dW, inF, 4) : placed(ctx, init.dW, 2)) : null,
    dBias: present.includes('dBias') ? placed(ctx, init.dBias, 3) : null,
    dA: present.includes('dA') ? viewOf(gradFlat, 1, r * inF) : null,
    dB: present.includes('dB') ? viewOf(gradFlat, 2 + r * inF, outF * r) : null,
  };
  const dz = allocTensor(ctx, rows * r),
    dxScratch = allocTensor(ctx, rows * inF);
  loraLinearBackward(
    ctx,
    gpuG,
    placed(ctx, dy, 4),
    s.X,
    s.W,
    c,
    s.gpuLora,
    s.XL,
    placed(ctx, us, 5),
    c.dropout ? s.KEEP : null,
    dz,
    dxScratch,
  );
  const off = !c.scale;
  for (const k of present) {
    const got = await readF32(ctx, gpuG[k]!);
    if (off && (k === 'dA' || k === 'dB')) {
      t.same([...got], [...init[k]], `${k}: branch off, gradient exactly unchanged`);
      continue;
    }
    const e = relError(got, cpuG[k]!);
    worst.backward = Math.max(worst.backward, e);
    t.ok(e < 5e-6, `${JSON.stringify(c)} [${present.join(',')}] ${k}: rel error ${e.toExponential(2)}`);
  }
}

const BASE: Case = { rows: 7, inF: 37, outF: 19, r: 4, scale: 2.5, bias: true, dropout: true, w: 'f32' };

t.test('forward equals the cpu op: bias, scale, dropout, branch off, f16 and split weights', async (t) => {
  const rng = new Rng(11);
  for (const w of ['f32', 'f16', 'split'] as const) {
    for (const scale of [2.5, 0, null]) {
      for (const bias of [true, false])
        await forwardCase(t, { ...BASE, w, scale, bias, dropout: scale !== null && bias }, rng);
    }
  }
  await forwardCase(t, { rows: 70, inF: 96, outF: 130, r: 8, scale: 0.5, bias: true, dropout: false, w: 'f16' }, rng);
  // y += the layer (inference's residual adds), with and without the branch and split weights.
  for (const w of ['f32', 'split'] as const)
    for (const scale of [2.5, null]) await forwardCase(t, { ...BASE, w, scale, dropout: false, accumulate: true }, rng);
  // Long K over few output tiles: the fused B product and the bias are applied by the split-K reduce.
  const longK: Case = { rows: 9, inF: 1100, outF: 40, r: 8, scale: 0.5, bias: true, dropout: false, w: 'f32' };
  for (const accumulate of [false, true]) await forwardCase(t, { ...longK, accumulate }, rng);
});

t.test('forward with us given (columns of a stacked A product): y as when us is computed', async (t) => {
  const ctx = await testGpu();
  const rng = new Rng(13);
  const c: Case = { ...BASE, dropout: false, accumulate: true, rows: 70 };
  const s = setUp(ctx, c, rng);
  const { rows, outF, r } = c;
  const y0 = randomArray(rng, rows * outF);
  const y = Float32Array.from(y0),
    us = new Float32Array(rows * r);
  cpuForward(y, s.x, s.w, s.bias, c, s.cpuLora, s.x, us);
  // us as the middle r columns of a [rows, 3r] matrix, as layer.ts passes k_proj's.
  const ld = 3 * r;
  const wide = randomArray(rng, rows * ld);
  for (let i = 0; i < rows; i++) wide.set(us.subarray(i * r, (i + 1) * r), i * ld + r);
  const shape = { ...c, usGiven: { ld } };
  const yCpu = Float32Array.from(y0);
  cpuForward(yCpu, s.x, s.w, s.bias, shape, s.cpuLora, s.x, wide.subarray(r));
  t.ok(relError(yCpu, y) < 1e-6, `cpu: rel error ${relError(yCpu, y).toExponential(2)}`);
  const WIDE = placed(ctx, wide, 3);
  for (const w of ['f32', 'split'] as const) {
    const W = w === 'split' ? splitMatrix(ctx, s.w, c.inF, 9) : s.W;
    const Y = placed(ctx, y0, 2);
    loraLinearForward(ctx, Y, s.X, W, s.BIAS, shape, s.gpuLora, s.X, viewOf(WIDE, r, (rows - 1) * ld + r));
    const e = relError(await readF32(ctx, Y), y);
    t.ok(e < 2e-6, `gpu, ${w} weights: rel error ${e.toExponential(2)}`);
  }
  t.same([...(await readF32(ctx, WIDE))], [...wide], 'us read, not written');
});

t.test('backward equals the cpu op: accumulation, keep multiplier, null-able outputs, branch off', async (t) => {
  const rng = new Rng(12);
  const all: GradName[] = ['dx', 'dW', 'dBias', 'dA', 'dB'];
  for (const dropout of [true, false]) await backwardCase(t, { ...BASE, dropout }, all, rng);
  await backwardCase(t, { ...BASE, w: 'f16' }, all, rng);
  await backwardCase(t, { ...BASE, w: 'split' }, all, rng);
  await backwardCase(t, BASE, ['dx', 'dA', 'dB'], rng); // LoRA only, as in training
  await backwardCase(t, BASE, ['dA'], rng); // no dx: dz still formed for dA
  await backwardCase(t, BASE, ['dx', 'dB'], rng);
  await backwardCase(t, BASE, ['dW', 'dBias'], rng);
  for (const scale of [0, null]) await backwardCase(t, { ...BASE, scale }, all, rng);
  // Long K (rows) over few output tiles: dB, dA and dBias take the split-K path.
  await backwardCase(
    t,
    { rows: 1100, inF: 12, outF: 10, r: 2, scale: 1.5, bias: true, dropout: true, w: 'f32' },
    all,
    rng,
  );
});

t.teardown(() =>
  console.log(
    `# worst rel error: forward ${worst.forward.toExponential(2)}, backward ${worst.backward.toExponential(2)}`,
  ),
);
