// The tiled GEMM's fused epilogue against the cpu reference: alpha, bias, keep multiplier and the
// LoRA low-rank term (u·bᵀ), with and without split-K, with C split across buffers, on grids cut to
// the per-dimension workgroup limit, with u as columns of a wider matrix (ldu; also on the skinny
// kernel); and the half kernels' A scale (MAXABS partial maxima) over more elements than its workgroups.
import t from 'tap';
import { allocTensor, readF32 } from '../../src/ops/webgpu/context.js';
import { gemm, matmulNT, variantUnavailable } from '../../src/ops/webgpu/matmul.js';
import { matmulNTPlain } from '../../src/ops/matmul.js';
import { skinnyMatmulNT } from '../../src/ops/webgpu/skinny-matmul.js';
import { viewOf } from '../../src/ops/webgpu/tensor.js';
import { Rng, randomArray, relError, testGpu } from '../helpers/gpu-helpers.js';
import { TOL, f16Round, placed, splitMatrix } from '../helpers/webgpu-matmul-helpers.js';

/**
 * Operands of C (+)= alpha·A·Bᵀ ⊙ keep + bias + u·lbᵀ (A [m, k], B [n, k], u [m, r], lb [n, r]) and the
 * cpu reference for a choice of alpha, accumulate and the low-rank term.
 */
function epilogueCase(rng: Rng, m: number, k: number, n: number, r: number) {
  const a = randomArray(rng, m * k),
    b = randomArray(rng, n * k),
    bias = randomArray(rng, n),
    keep = randomArray(rng, m * n),
    c0 = randomArray(rng, m * n),
    u = randomArray(rng, m * r),
    lb = randomArray(rng, n * r);
  const prod = new Float32Array(m * n),
    low = new Float32Array(m * n);
  matmulNTPlain(prod, a, b, m, k, n, false);
  matmulNTPlain(low, u, lb, m, r, n, false);
  const expected = (alpha: number, accumulate: boolean, withLow: boolean): Float32Array =>
    Float32Array.from(
      prod,
      (p, i) => alpha * p * keep[i]! + bias[i % n]! + (withLow ? low[i]! : 0) + (accumulate ? c0[i]! : 0),
    );
  return { a, b, bias, keep, c0, u, lb, expected };
}

t.test('fused epilogue: alpha, bias, keep multiplier and low-rank term, with and without split-K', async (t) => {
  const ctx = await testGpu();
  const rng = new Rng(4);
  const m = 21,
    k = 50,
    n = 35,
    r = 3;
  const { a, b, bias, keep, c0, u, lb, expected } = epilogueCase(rng, m, k, n, r);
  for (const matmulVariant of ['tiled', 'direct', 'subgroup', 'f16-emulated'] as const) {
    if (variantUnavailable(ctx, matmulVariant)) continue;
    const tol = TOL[matmulVariant];
    for (const splitK of [1, 3]) {
      for (const accumulate of [false, true]) {
        for (const withLow of [false, true]) {
          // C split along M (row blocks of 8) in one case: the low-rank rows follow the cuts.
          const splitC = withLow && splitK === 3 && accumulate;
          const C = splitC ? splitMatrix(ctx, c0, n, 8) : placed(ctx, c0, 1);
          const lowRank = withLow ? { u: placed(ctx, u, 7), b: placed(ctx, lb, 8), r } : null;
          gemm(
            ctx,
            'NT',
            C,
            placed(ctx, a, 2),
            placed(ctx, b, 3),
            m,
            k,
            n,
            { accumulate, alpha: 0.75, bias: placed(ctx, bias, 5), mul: placed(ctx, keep, 6), lowRank },
            { splitK, matmulVariant },
          );
          const e = relError(await readF32(ctx, C), expected(0.75, accumulate, withLow));
          t.ok(
            e < tol,
            `${matmulVariant} splitK ${splitK} accumulate ${accumulate} low rank ${withLow}${splitC ? ' (C split along M)' : ''}: rel error ${e.toExponential(2)}`,
          );
        }
      }
    }
  }
  const C = allocTensor(ctx, m * n);
  const A = placed(ctx, a, 2),
    B = placed(ctx, b, 3);
  t.throws(
    () => gemm(ctx, 'NT', C, A, B, m, k, n, { accumulate: false, lowRank: { u: C, b: placed(ctx, lb, 1), r } }),
    /matmulNT: lowRank u lies in c's buffer/,
  );
  t.throws(
    () =>
      gemm(ctx, 'NT', C, A, B, m, k, n, {
        accumulate: false,
        lowRank: { u: placed(ctx, u, 1), b: placed(ctx, lb, 1), r: 4 },
      }),
    /matmulNT: lowRank u \[m, r\] must be a single f32 tensor of at least 84 elements/,
  );
});

t.test('grids beyond the per-dimension workgroup limit keep the epilogue operands in step', async (t) => {
  const ctx = await testGpu();
  const rng = new Rng(9);
  // 70 × 70 over 64 × 64 tiles with at most one workgroup per dimension: four sub-blocks, each with
  // its own offsets into A, B, C, bias, keep, u and b.
  const m = 70,
    k = 40,
    n = 70,
    r = 2;
  const { a, b, bias, keep, c0, u, lb, expected } = epilogueCase(rng, m, k, n, r);
  const ref = expected(1, true, true);
  const limits = ctx.info.limits,
    saved = limits.maxComputeWorkgroupsPerDimension;
  limits.maxComputeWorkgroupsPerDimension = 1;
  try {
    for (const matmulVariant of ['tiled', 'f16-emulated'] as const) {
      const C = placed(ctx, c0, 1);
      const lowRank = { u: placed(ctx, u, 7), b: placed(ctx, lb, 8), r };
      const epi = { accumulate: true, bias: placed(ctx, bias, 5), mul: placed(ctx, keep, 6), lowRank };
      gemm(ctx, 'NT', C, placed(ctx, a, 2), placed(ctx, b, 3), m, k, n, epi, { matmulVariant, tile: 'medium' });
      const e = relError(await readF32(ctx, C), ref);
      t.ok(e < TOL[matmulVariant], `${matmulVariant}, 2 × 2 blocks: rel error ${e.toExponential(2)}`);
    }
  } finally {
    limits.maxComputeWorkgroupsPerDimension = saved;
  }
});

t.test('the f16 kernels scale A by its max over more elements than the scale pass has workgroups', async (t) => {
  const ctx = await testGpu();
  const rng = new Rng(10);
  // 130 × 2100 = 273,000 elements of A: more than 255 partial maxima of 1,024, so each MAXABS
  // workgroup strides over several shares. The outlier is the last element: were it missed, the
  // scale would push it past f16's range (inf in the result).
  const m = 130,
    k = 2100,
    n = 8;
  const a = randomArray(rng, m * k, 2),
    b = f16Round(randomArray(rng, n * k));
  a[m * k - 1] = 60000;
  const ref = new Float32Array(m * n);
  matmulNTPlain(ref, a, b, m, k, n, false);
  const C = allocTensor(ctx, m * n);
  matmulNT(ctx, C, placed(ctx, a, 1), placed(ctx, b, 2, 'f16'), m, k, n, false, { matmulVariant: 'f16-emulated' });
  const got = await readF32(ctx, C);
  t.ok(got.every(Number.isFinite), 'every output finite');
  const e = relError(got, ref);
  t.ok(e < TOL['f16-emulated'], `rel error ${e.toExponential(2)}`);
});

t.test('the low-rank u as r columns of a wider matrix (ldu: a stacked LoRA A product)', async (t) => {
  const ctx = await testGpu();
  const rng = new Rng(11);
  // u is columns [2, 5) of a [m, 7] matrix: what layer.ts passes for the second of three stacked
  // branches. 70 rows: the skinny kernel's row blocks and the GEMM's tiles both cut inside it.
  const m = 70,
    k = 40,
    n = 30,
    r = 3,
    ldu = 7,
    col = 2;
  const { a, b, bias, keep, c0, u, lb, expected } = epilogueCase(rng, m, k, n, r);
  const wide = randomArray(rng, m * ldu);
  for (let i = 0; i < m; i++) wide.set(u.subarray(i * r, (i + 1) * r), i * ldu + col);
  const U = viewOf(placed(ctx, wide, 4), col, (m - 1) * ldu + r);
  const lowRank = { u: U, b: placed(ctx, lb, 8), r, ldu };
  const ref = expected(1, true, true);
  for (const matmulVariant of ['tiled', 'direct', 'f16-emulated'] as const) {
    for (const splitK of [1, 3]) {
      const C = placed(ctx, c0, 1);
      const epi = { accumulate: true, bias: placed(ctx, bias, 5), mul: placed(ctx, keep, 6), lowRank };
      gemm(ctx, 'NT', C, placed(ctx, a, 2), placed(ctx, b, 3), m, k, n, epi, { matmulVariant, splitK });
      const e = relError(await readF32(ctx, C), ref);
      t.ok(e < TOL[matmulVariant], `${matmulVariant} splitK ${splitK}: rel error ${e.toExponential(2)}`);
    }
  }
  const noKeep = new Float32Array(m * n);
  matmulNTPlain(noKeep, a, b, m, k, n, false);
  const low = new Float32Array(m * n);
  matmulNTPlain(low, u, lb, m, r, n, false);
  const C = placed(ctx, c0, 1);
  skinnyMatmulNT(ctx, C, placed(ctx, a, 2), placed(ctx, b, 3), m, k, n, { accumulate: true, lowRank });
  const skinnyRef = Float32Array.from(noKeep, (p, i) => p + low[i]! + c0[i]!);
  const e = relError(await readF32(ctx, C), skinnyRef);
  t.ok(e < TOL.tiled, `skinny kernel: rel error ${e.toExponential(2)}`);
  const A = placed(ctx, a, 2),
    B = placed(ctx, b, 3);
  t.throws(
    () => gemm(ctx, 'NT', C, A, B, m, k, n, { accumulate: false, lowRank: { ...lowRank, ldu: 2 } }),
    /matmulNT: lowRank ldu must be an integer ≥ r = 3, got 2/,
  );
  t.throws(
    () => skinnyMatmulNT(ctx, C, A, B, m, k, n, { accumulate: false, lowRank: { ...lowRank, ldu: 8 } }),
    /skinnyMatmulNT: lowRank u \[m, r\] must be a single f32 tensor of at least 555 elements/,
  );
});
