// The few-row product of the decode path against the cpu matmul: f32 and f16 weights, views at odd
// offsets, row counts that are not multiples of the row block, columns not multiples of the column
// block, bias, alpha, accumulate, the fused low-rank term, weights split in row blocks, both geometries; and the engine's routing of a LoRA
// linear layer through it equals the operation interface's loraLinearForward.
import t from 'tap';
import { matmulNT } from '../../src/ops/matmul.js';
import { readF32 } from '../../src/ops/webgpu/context.js';
import { CPU_SKINNY, GPU_SKINNY, skinnyMatmulNT } from '../../src/ops/webgpu/skinny-matmul.js';
import { webgpuOps } from '../../src/ops/webgpu/index.js';
import { decodeOps } from '../../src/engines/webgpu/decode-ops.js';
import { f16Round, placed, splitMatrix } from '../helpers/webgpu-matmul-helpers.js';
import { randomArray, relError, Rng, testGpu } from '../helpers/gpu-helpers.js';

t.test('skinnyMatmulNT equals the cpu matmulNT', async (t) => {
  const ctx = await testGpu();
  const rng = new Rng(1);
  for (const [m, k, n] of [
    [1, 37, 19],
    [3, 64, 8],
    [5, 130, 33],
    [19, 200, 70],
  ] as [number, number, number][]) {
    for (const dtype of ['f32', 'f16'] as const) {
      for (const [split, geom] of [
        [false, GPU_SKINNY],
        [true, GPU_SKINNY],
        [false, CPU_SKINNY],
        [true, CPU_SKINNY],
      ] as const) {
        const x = randomArray(rng, m * k),
          w = randomArray(rng, n * k),
          bias = randomArray(rng, n),
          y0 = randomArray(rng, m * n);
        const r = 3,
          u = randomArray(rng, m * r),
          b = randomArray(rng, n * r);
        const wRef = dtype === 'f16' ? f16Round(w) : w;
        const want = y0.slice();
        const prod = new Float32Array(m * n),
          low = new Float32Array(m * n);
        matmulNT(prod, x, wRef, m, k, n, false);
        matmulNT(low, u, b, m, r, n, false);
        for (let i = 0; i < m; i++)
          for (let j = 0; j < n; j++) want[i * n + j] += 0.5 * prod[i * n + j]! + bias[j]! + low[i * n + j]!;
        const wT = split ? splitMatrix(ctx, w, k, Math.max(1, Math.floor(n / 3)), dtype) : placed(ctx, w, 3, dtype);
        const yT = placed(ctx, y0, 5);
        skinnyMatmulNT(
          ctx,
          yT,
          placed(ctx, x, 1),
          wT,
          m,
          k,
          n,
          {
            accumulate: true,
            alpha: 0.5,
            bias: placed(ctx, bias, 2),
            lowRank: { u: placed(ctx, u, 3), b: placed(ctx, b, 1), r },
          },
          geom,
        );
        const err = relError(await readF32(ctx, yT), want);
        t.ok(
          err < 1e-5,
          `m ${m} k ${k} n ${n} ${dtype}${split ? ' split' : ''} ${geom.WG}×${geom.MB}×${geom.BN}: rel error ${err.toExponential(2)}`,
        );
      }
    }
  }
});

t.test('the decode routing of a LoRA linear layer equals ops.loraLinearForward', async (t) => {
  const ctx = await testGpu();
  const ops = webgpuOps(ctx),
    dops = decodeOps(ctx, ops, 64);
  const rng = new Rng(2);
  const rows = 3,
    inF = 48,
    outF = 40,
    r = 4;
  const x = placed(ctx, randomArray(rng, rows * inF), 1),
    w = placed(ctx, randomArray(rng, outF * inF), 0, 'f16');
  const bias = placed(ctx, randomArray(rng, outF), 0);
  const a = placed(ctx, randomArray(rng, r * inF), 0),
    b = placed(ctx, randomArray(rng, outF * r), 0);
  const outs = [];
  for (const o of [ops, dops]) {
    const y = o.alloc(rows * outF, x),
      us = o.alloc(rows * r, x);
    o.loraLinearForward(y, x, w, bias, { rows, inF, outF }, { a, b, r, scale: 2 }, x, us);
    outs.push([await readF32(ctx, y), await readF32(ctx, us)]);
  }
  t.ok(relError(outs[1]![0]!, outs[0]![0]!) < 1e-5, 'y equal');
  t.ok(relError(outs[1]![1]!, outs[0]![1]!) < 1e-5, 'us equal');
});
