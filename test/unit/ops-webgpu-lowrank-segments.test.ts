// The fused low-rank term with column segments (gemm.ts LowRank.segments): the B products of several
// projections that read one input (q,k,v; gate,up) in one product, each segment reading its own B
// and its own r columns of the stacked A product u, against a plain JS reference. Unequal widths that
// tiles and register blocks straddle, B views at odd offsets in one shared buffer (one placed before
// segment 0's, so its base wraps below zero), u a view inside a wider matrix; every variant SwiftShader
// runs, f16 weights, split-K (the reduce applies the term), the skinny kernel, weights split along N
// and grids cut to the workgroup limit (segments shifted by the sub-product's first column), the
// LoRA linear layer with usGiven (operation interface and decode routing), and the refusals.
import t from 'tap';
import { readF32, uploadTensor, type GpuContext } from '../../src/ops/webgpu/context.js';
import { gemm, variantUnavailable, type LowRank } from '../../src/ops/webgpu/gemm.js';
import { CPU_SKINNY, GPU_SKINNY, skinnyMatmulNT } from '../../src/ops/webgpu/skinny-matmul.js';
import { webgpuOps } from '../../src/ops/webgpu/index.js';
import { decodeOps } from '../../src/engines/webgpu/decode-ops.js';
import { viewOf, type GpuTensor } from '../../src/ops/webgpu/tensor.js';
import type { MatmulOptions } from '../../src/ops/webgpu/gemm-variants.js';
import { Rng, randomArray, relError, testGpu } from '../helpers/gpu-helpers.js';
import { TOL, f16Round, placed, splitMatrix } from '../helpers/webgpu-matmul-helpers.js';

/**
 * y (+)= alpha·x·wᵀ + bias + the segmented low-rank term, x [m, k], w [n, k], n = Σ widths. u is
 * (widths.length)·r columns at column uCol of a [m, ldu] matrix; B_s [widths[s], r].
 */
function segCase(rng: Rng, m: number, k: number, widths: number[], r: number, ldu: number, uCol: number) {
  const n = widths.reduce((s, w) => s + w, 0);
  const starts = widths.map((_, s) => widths.slice(0, s).reduce((a, w) => a + w, 0));
  const x = randomArray(rng, m * k),
    w = randomArray(rng, n * k),
    bias = randomArray(rng, n),
    y0 = randomArray(rng, m * n),
    uWide = randomArray(rng, m * ldu);
  const bs = widths.map((wd) => randomArray(rng, wd * r));
  /** The expected output for weights wRef (f16-rounded or not). */
  const expected = (wRef: Float32Array, alpha: number, accumulate: boolean): Float32Array => {
    const out = new Float32Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        while (s + 1 < starts.length && j >= starts[s + 1]!) s++;
        let dot = 0,
          low = 0;
        for (let q = 0; q < k; q++) dot += x[i * k + q]! * wRef[j * k + q]!;
        for (let q = 0; q < r; q++) low += uWide[i * ldu + uCol + s * r + q]! * bs[s]![(j - starts[s]!) * r + q]!;
        out[i * n + j] = alpha * dot + bias[j]! + low + (accumulate ? y0[i * n + j]! : 0);
      }
    }
    return out;
  };
  return { n, starts, x, w, bias, y0, uWide, bs, expected };
}

type Case = ReturnType<typeof segCase>;

/**
 * The B matrices as views into one buffer, at odd offsets with junk between: segment 1's first, so
 * its base (offset − start·r) lies below zero.
 */
function sharedBs(ctx: GpuContext, bs: Float32Array[]): GpuTensor[] {
  const order = bs.map((_, s) => s);
  if (order.length > 1) [order[0], order[1]] = [1, 0];
  const offsets: number[] = [];
  let at = 3;
  for (const s of order) {
    offsets[s] = at;
    at += bs[s]!.length + 5;
  }
  const host = new Float32Array(at).fill(777.25);
  for (const s of order) host.set(bs[s]!, offsets[s]!);
  const whole = uploadTensor(ctx, host, 'f32', 'test segment Bs');
  return bs.map((b, s) => viewOf(whole, offsets[s]!, b.length));
}

/** The GPU operands of a case: u as the view of its columns, the Bs in one buffer. */
function lowRankOf(ctx: GpuContext, c: Case, m: number, r: number, ldu: number, uCol: number): LowRank {
  const segs = c.starts.length;
  const U = viewOf(placed(ctx, c.uWide, 4), uCol, (m - 1) * ldu + segs * r);
  const B = sharedBs(ctx, c.bs);
  return { u: U, b: B[0]!, r, ldu, segments: c.starts.slice(1).map((start, s) => ({ start, b: B[s + 1]! })) };
}

const SHAPES = [
  { name: 'q,k,v-like 24|8|8', widths: [24, 8, 8], r: 3 },
  { name: 'gate,up-like 20|20', widths: [20, 20], r: 3 },
  { name: 'odd 13|22|6', widths: [13, 22, 6], r: 2 },
];

t.test('gemm: every variant, f32 and f16 weights, with and without split-K', async (t) => {
  const ctx = await testGpu();
  const rng = new Rng(21);
  const m = 21,
    k = 50;
  for (const { name, widths, r } of SHAPES) {
    const ldu = widths.length * r + 2,
      uCol = 1;
    const c = segCase(rng, m, k, widths, r, ldu, uCol);
    const lowRank = lowRankOf(ctx, c, m, r, ldu, uCol);
    for (const matmulVariant of ['tiled', 'direct', 'subgroup', 'f16-emulated'] as const) {
      if (variantUnavailable(ctx, matmulVariant)) continue;
      for (const dtype of ['f32', 'f16'] as const) {
        const ref = c.expected(dtype === 'f16' ? f16Round(c.w) : c.w, 0.5, true);
        const runs: MatmulOptions[] = [{ splitK: 1 }, { splitK: 3 }];
        // The direct kernel's narrow tile: each thread's 8 columns 2 apart, straddling boundaries.
        if (matmulVariant === 'direct') runs.push({ splitK: 1, tile: 'narrow' });
        for (const run of runs) {
          const Y = placed(ctx, c.y0, 1);
          const opts: MatmulOptions = { matmulVariant, ...run };
          const epi = { accumulate: true, alpha: 0.5, bias: placed(ctx, c.bias, 5), lowRank };
          gemm(ctx, 'NT', Y, placed(ctx, c.x, 2), placed(ctx, c.w, 3, dtype), m, k, c.n, epi, opts);
          const e = relError(await readF32(ctx, Y), ref);
          t.ok(
            e < TOL[matmulVariant],
            `${name} ${matmulVariant} ${dtype} ${JSON.stringify(opts)}: ${e.toExponential(2)}`,
          );
        }
      }
    }
  }
});

t.test('gemm: weights split along N and grids cut to the workgroup limit shift the segments', async (t) => {
  const ctx = await testGpu();
  const rng = new Rng(22);
  const m = 19,
    k = 30,
    r = 3;
  // 70 columns 30|25|15: row blocks of 16 (and 32 × 32 or 64 × 64 grid blocks) begin inside segments,
  // after one, and on a boundary-free stretch, so starts are clamped to 0 and bases moved.
  const widths = [30, 25, 15];
  const ldu = 3 * r,
    uCol = 0;
  const c = segCase(rng, m, k, widths, r, ldu, uCol);
  const lowRank = lowRankOf(ctx, c, m, r, ldu, uCol);
  const ref = c.expected(c.w, 1, false);
  const epi = { accumulate: false, bias: placed(ctx, c.bias, 2), lowRank };
  for (const matmulVariant of ['tiled', 'direct'] as const) {
    for (const splitK of [1, 2]) {
      const Y = placed(ctx, c.y0, 1);
      gemm(ctx, 'NT', Y, placed(ctx, c.x, 2), splitMatrix(ctx, c.w, k, 16), m, k, c.n, epi, { matmulVariant, splitK });
      const e = relError(await readF32(ctx, Y), ref);
      t.ok(e < TOL[matmulVariant], `${matmulVariant} splitK ${splitK}, W in row blocks of 16: ${e.toExponential(2)}`);
    }
  }
  const limits = ctx.info.limits,
    saved = limits.maxComputeWorkgroupsPerDimension;
  limits.maxComputeWorkgroupsPerDimension = 1;
  try {
    for (const [matmulVariant, tile] of [
      ['tiled', 'medium'],
      ['direct', 'medium'],
      ['direct', 'narrow'],
    ] as const) {
      const Y = placed(ctx, c.y0, 1);
      gemm(ctx, 'NT', Y, placed(ctx, c.x, 2), placed(ctx, c.w, 3), m, k, c.n, epi, { matmulVariant, tile });
      const e = relError(await readF32(ctx, Y), ref);
      t.ok(e < TOL[matmulVariant], `${matmulVariant} ${tile}, one workgroup per dimension: ${e.toExponential(2)}`);
    }
  } finally {
    limits.maxComputeWorkgroupsPerDimension = saved;
  }
});

t.test('the skinny kernel: both geometries, weights whole and split along N', async (t) => {
  const ctx = await testGpu();
  const rng = new Rng(23);
  const m = 5,
    k = 37;
  for (const { name, widths, r } of SHAPES.slice(0, 2)) {
    const ldu = widths.length * r + 1,
      uCol = 1;
    const c = segCase(rng, m, k, widths, r, ldu, uCol);
    const lowRank = lowRankOf(ctx, c, m, r, ldu, uCol);
    for (const dtype of ['f32', 'f16'] as const) {
      const ref = c.expected(dtype === 'f16' ? f16Round(c.w) : c.w, 0.5, true);
      for (const geom of [GPU_SKINNY, CPU_SKINNY]) {
        for (const split of [false, true]) {
          const W = split ? splitMatrix(ctx, c.w, k, 13, dtype) : placed(ctx, c.w, 3, dtype);
          const Y = placed(ctx, c.y0, 1);
          const epi = { accumulate: true, alpha: 0.5, bias: placed(ctx, c.bias, 5), lowRank };
          skinnyMatmulNT(ctx, Y, placed(ctx, c.x, 2), W, m, k, c.n, epi, geom);
          const e = relError(await readF32(ctx, Y), ref);
          const what = `${name} ${dtype} ${geom.WG}×${geom.MB}×${geom.BN}${split ? ', W in row blocks of 13' : ''}`;
          t.ok(e < 1e-5, `${what}: ${e.toExponential(2)}`);
        }
      }
    }
  }
});

t.test('loraLinearForward with usGiven and segments: operation interface and decode routing', async (t) => {
  const ctx = await testGpu();
  const ops = webgpuOps(ctx);
  const rng = new Rng(24);
  const rows = 6,
    inF = 40,
    widths = [24, 8, 8],
    r = 3,
    ldu = 3 * r + 2,
    uCol = 2;
  const c = segCase(rng, rows, inF, widths, r, ldu, uCol);
  const { u, b, segments } = lowRankOf(ctx, c, rows, r, ldu, uCol);
  const lora = { a: placed(ctx, randomArray(rng, r * inF), 1), b, r, scale: 2, segments: [...segments!] };
  const shape = { rows, inF, outF: c.n, accumulate: true, usGiven: { ld: ldu } };
  const x = placed(ctx, c.x, 1),
    w = placed(ctx, c.w, 2),
    bias = placed(ctx, c.bias, 3);
  const ref = c.expected(c.w, 1, true);
  // decodeOps with skinnyRows 64: the few-row kernel; with 2: the GEMM route (the operation interface).
  for (const [what, o] of [
    ['ops', ops],
    ['decode, skinny route', decodeOps(ctx, ops, 64)],
    ['decode, GEMM route', decodeOps(ctx, ops, 2)],
  ] as const) {
    const y = placed(ctx, c.y0, 4);
    o.loraLinearForward(y, x, w, bias, shape, lora, x, u);
    const e = relError(await readF32(ctx, y), ref);
    t.ok(e < 1e-5, `${what}: ${e.toExponential(2)}`);
  }
  const us = placed(ctx, new Float32Array(rows * r), 0);
  const noGiven = { rows, inF, outF: c.n };
  for (const o of [ops, decodeOps(ctx, ops, 64)]) {
    const y = placed(ctx, c.y0, 4);
    t.throws(
      () => o.loraLinearForward(y, x, w, bias, noGiven, lora, x, us),
      /loraLinearForward: lora.segments needs shape.usGiven/,
    );
  }
  const g = { dx: null, dW: null, dBias: null, dA: placed(ctx, new Float32Array(r * inF), 0), dB: null };
  const dz = placed(ctx, new Float32Array(rows * r), 0);
  t.throws(
    () => ops.loraLinearBackward(g, placed(ctx, c.y0, 0), x, w, noGiven, lora, x, us, null, dz, dz),
    /loraLinearBackward: lora.segments is forward-only/,
  );
});

t.test('refusals: segment count, order, range, buffers, lengths, ldu', async (t) => {
  const ctx = await testGpu();
  const rng = new Rng(25);
  const m = 4,
    k = 8,
    r = 3,
    ldu = 9;
  const c = segCase(rng, m, k, [24, 8, 8], r, ldu, 0);
  const lr = lowRankOf(ctx, c, m, r, ldu, 0);
  const [s1, s2] = lr.segments!;
  const Y = placed(ctx, c.y0, 1),
    X = placed(ctx, c.x, 2),
    W = placed(ctx, c.w, 3);
  const shortU = viewOf(lr.u, 0, 3 * ldu + 8); // one element short of 3 rows at stride 9 plus 3·r
  const run = (lowRank: LowRank) => () => gemm(ctx, 'NT', Y, X, W, m, k, c.n, { accumulate: false, lowRank });
  const skinny = (lowRank: LowRank) => () => skinnyMatmulNT(ctx, Y, X, W, m, k, c.n, { accumulate: false, lowRank });
  t.throws(
    run({ ...lr, segments: [s1!, s2!, { start: 36, b: s2!.b }] }),
    /matmulNT: lowRank segments: at most 2, got 3/,
  );
  t.throws(
    run({ ...lr, segments: [s2!, s1!] }),
    /matmulNT: lowRank segments\[1\].start must be an integer > 32 \(ascending\), got 24/,
  );
  t.throws(run({ ...lr, segments: [{ ...s1!, start: 0 }] }), /segments\[0\].start must be an integer > 0/);
  t.throws(run({ ...lr, segments: [s1!, { ...s2!, start: 40 }] }), /lowRank segments\[1\].start = 40 must be < n = 40/);
  const elsewhere = placed(ctx, c.bs[2]!, 1);
  t.throws(
    run({ ...lr, segments: [s1!, { ...s2!, b: elsewhere }] }),
    /matmulNT: lowRank segments\[1\].b must lie in lowRank b's buffer/,
  );
  t.throws(
    run({ ...lr, segments: [s1!, { ...s2!, b: viewOf(s2!.b, 0, 23) }] }),
    /matmulNT: lowRank segments\[1\].b \[8, r\] must be a single f32 tensor of at least 24 elements/,
  );
  t.throws(
    run({ ...lr, b: viewOf(lr.b, 0, 71) }),
    /matmulNT: lowRank b \[segments\[0\].start, r\] must be a single f32 tensor of at least 72 elements/,
  );
  t.throws(run({ ...lr, ldu: 8 }), /matmulNT: lowRank ldu must be an integer ≥ \(segments \+ 1\)·r = 9, got 8/);
  t.throws(
    run({ ...lr, u: shortU }),
    /matmulNT: lowRank u \[m, 3·r\] must be a single f32 tensor of at least 36 elements/,
  );
  t.throws(skinny({ ...lr, segments: [s2!, s1!] }), /skinnyMatmulNT: lowRank segments\[1\].start must be/);
  t.throws(
    skinny({ ...lr, u: shortU }),
    /skinnyMatmulNT: lowRank u \[m, 3·r\] must be a single f32 tensor of at least/,
  );
  t.throws(skinny({ ...lr, segments: [s1!, { ...s2!, b: elsewhere }] }), /skinnyMatmulNT: .*must lie in lowRank b/);
});
