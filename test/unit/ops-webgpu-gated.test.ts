// Gated A loads (gemm.ts GemmEpilogue.gatedA, skinny-matmul.ts SkinnyEpilogue.gatedX, LinearShape.gatedX):
// products over packed gate | up rows gu [m, 2k] that form silu(gate)·up as they load it, against the
// plain product over a = swigluPackedForward(gu) (the SwiGLU kernel the folding removes). Every variant
// SwiftShader runs, f32 and f16 weights, bias, alpha, accumulate, the low-rank term (plain and with
// column segments), split-K (K slices start inside rows: up stays the whole K past its gate), NN with
// B split along K, grids cut to the workgroup limit, odd k and m, views at odd offsets; the half
// kernels' A scale over the gated values; the skinny kernel in both geometries; the LoRA linear layer
// (operation interface and both decode routes); the refusals; and the WGSL of the gated kernels
// SwiftShader cannot run (f16 arithmetic, subgroup matrices) on Dawn's null backend.
import t from 'tap';
import { allocTensor, contextForDevice, readF32, type GpuContext } from '../../src/ops/webgpu/context.js';
import { gemm, variantUnavailable, type GemmEpilogue, type MatmulOp } from '../../src/ops/webgpu/gemm.js';
import type { MatmulOptions } from '../../src/ops/webgpu/gemm-variants.js';
import { swigluPackedForward } from '../../src/ops/webgpu/elementwise.js';
import { CPU_SKINNY, GPU_SKINNY, skinnyMatmulNT } from '../../src/ops/webgpu/skinny-matmul.js';
import { gemmKernel } from '../../src/ops/webgpu/matmul-kernels.js';
import { sgmKernel } from '../../src/ops/webgpu/matmul-sgmatrix.js';
import { webgpuOps } from '../../src/ops/webgpu/index.js';
import { decodeOps } from '../../src/engines/webgpu/decode-ops.js';
import { viewOf } from '../../src/ops/webgpu/tensor.js';
import { Rng, randomArray, relError, testGpu } from '../helpers/gpu-helpers.js';
import {
  TOL,
  compileError,
  f16Round,
  nullBackendDevice,
  placed,
  splitMatrix,
} from '../helpers/webgpu-matmul-helpers.js';

/** gu [m, 2k] and a = swigluPackedForward(gu) as the SwiGLU kernel writes it (read back). */
async function gatedInput(ctx: GpuContext, rng: Rng, m: number, k: number, scale = 2) {
  const gu = randomArray(rng, m * 2 * k, scale);
  const GU = placed(ctx, gu, 3);
  const A = allocTensor(ctx, m * k);
  swigluPackedForward(ctx, A, GU, m, k);
  return { gu, GU, A, a: await readF32(ctx, A) };
}

interface RefLowRank {
  u: Float32Array;
  ldu: number;
  r: number;
  /** B per column segment ([columns, r]) and each segment's first column. */
  bs: Float32Array[];
  starts: number[];
}

interface RefEpilogue {
  alpha?: number;
  bias?: Float32Array | null;
  low?: RefLowRank | null;
  c0?: Float32Array | null;
}

/** alpha·a·op(b) + bias + u·bᵀ (+ c0), in doubles. a [m, k]; b [n, k] (NT) or [k, n] (NN). */
function reference(op: MatmulOp, a: Float32Array, b: Float32Array, [m, k, n]: number[], e: RefEpilogue = {}) {
  const { alpha = 1, bias = null, low = null, c0 = null } = e;
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let dot = 0;
      for (let q = 0; q < k; q++) dot += a[i * k + q]! * (op === 'NT' ? b[j * k + q]! : b[q * n + j]!);
      let v = alpha * dot + (bias ? bias[j]! : 0) + (c0 ? c0[i * n + j]! : 0);
      if (low) {
        let s = 0;
        while (s + 1 < low.starts.length && j >= low.starts[s + 1]!) s++;
        for (let q = 0; q < low.r; q++)
          v += low.u[i * low.ldu + s * low.r + q]! * low.bs[s]![(j - low.starts[s]!) * low.r + q]!;
      }
      out[i * n + j] = v;
    }
  }
  return out;
}

/** A low-rank term over n columns cut at `starts` (one segment: [0]), u a view at an odd offset. */
function lowRankCase(ctx: GpuContext, rng: Rng, m: number, n: number, r: number, starts: number[]) {
  const ldu = starts.length * r + 1;
  const u = randomArray(rng, m * ldu);
  const bs = starts.map((s, i) => randomArray(rng, ((starts[i + 1] ?? n) - s) * r));
  // The Bs in one buffer (one binding), at odd offsets.
  const host = new Float32Array(bs.reduce((a, b) => a + b.length + 3, 1));
  const offs: number[] = [];
  let at = 1;
  for (const b of bs) {
    offs.push(at);
    host.set(b, at);
    at += b.length + 3;
  }
  const whole = placed(ctx, host, 2);
  const B = bs.map((b, i) => viewOf(whole, offs[i]!, b.length));
  const gpu = {
    u: viewOf(placed(ctx, u, 5), 0, u.length),
    b: B[0]!,
    r,
    ldu,
    segments: starts.slice(1).map((start, i) => ({ start, b: B[i + 1]! })),
  };
  return { gpu, ref: { u, ldu, r, bs, starts } satisfies RefLowRank };
}

const VARIANTS = ['tiled', 'direct', 'subgroup', 'f16-emulated'] as const;

t.test('gemm: gated A in every variant, f32 and f16 weights, epilogues, split-K', async (t) => {
  const ctx = await testGpu();
  const rng = new Rng(31);
  const m = 21,
    k = 37,
    n = 35,
    r = 3;
  const { GU, a } = await gatedInput(ctx, rng, m, k);
  const w = randomArray(rng, n * k),
    bias = randomArray(rng, n),
    c0 = randomArray(rng, m * n);
  const plainLow = lowRankCase(ctx, rng, m, n, r, [0]);
  const segLow = lowRankCase(ctx, rng, m, n, r, [0, 13, 22]);
  for (const matmulVariant of VARIANTS) {
    if (variantUnavailable(ctx, matmulVariant)) continue;
    for (const dtype of ['f32', 'f16'] as const) {
      const wRef = dtype === 'f16' ? f16Round(w) : w;
      const W = placed(ctx, w, 7, dtype);
      for (const [what, low] of [
        ['bare', null],
        ['bias, alpha, accumulate, low rank', plainLow],
        ['bias, alpha, accumulate, segments 13|9|13', segLow],
      ] as const) {
        const full = low !== null;
        const ref = reference('NT', a, wRef, [m, k, n], full ? { alpha: 0.5, bias, low: low.ref, c0 } : {});
        for (const splitK of [1, 3]) {
          const Y = placed(ctx, c0, 1);
          const epi: GemmEpilogue = full
            ? { accumulate: true, alpha: 0.5, bias: placed(ctx, bias, 4), lowRank: low.gpu, gatedA: true }
            : { accumulate: false, gatedA: true };
          gemm(ctx, 'NT', Y, GU, W, m, k, n, epi, { matmulVariant, splitK });
          const e = relError(await readF32(ctx, Y), ref);
          t.ok(e < TOL[matmulVariant], `${matmulVariant} ${dtype} ${what} splitK ${splitK}: ${e.toExponential(2)}`);
        }
      }
    }
  }
});

t.test('gemm: gated equals the plain product over the SwiGLU output bit for bit (f32 kernels)', async (t) => {
  const ctx = await testGpu();
  const rng = new Rng(32);
  const m = 13,
    k = 45,
    n = 20;
  const { GU, A } = await gatedInput(ctx, rng, m, k);
  const W = placed(ctx, randomArray(rng, n * k), 1);
  for (const matmulVariant of ['tiled', 'direct'] as const) {
    const outs: Float32Array[] = [];
    for (const [x, gatedA] of [
      [A, false],
      [GU, true],
    ] as const) {
      const Y = allocTensor(ctx, m * n);
      gemm(ctx, 'NT', Y, x, W, m, k, n, { accumulate: false, gatedA }, { matmulVariant });
      outs.push(await readF32(ctx, Y));
    }
    let diff = 0;
    for (let i = 0; i < outs[0]!.length; i++) if (outs[0]![i] !== outs[1]![i]) diff++;
    t.equal(diff, 0, `${matmulVariant}: outputs that differ from the plain product over the SwiGLU output`);
  }
});

t.test('gemm: NN with B split along K, grids cut to the workgroup limit, the half scale', async (t) => {
  const ctx = await testGpu();
  const rng = new Rng(33);
  {
    // B [k, n] in row blocks of 16: sub-products along K start at k0 = 16, 32 inside the gated rows.
    const m = 9,
      k = 41,
      n = 19;
    const { GU, a } = await gatedInput(ctx, rng, m, k);
    const b = randomArray(rng, k * n);
    const ref = reference('NN', a, b, [m, k, n]);
    for (const matmulVariant of ['tiled', 'direct'] as const) {
      const Y = allocTensor(ctx, m * n);
      gemm(
        ctx,
        'NN',
        Y,
        GU,
        splitMatrix(ctx, b, n, 16),
        m,
        k,
        n,
        { accumulate: false, gatedA: true },
        { matmulVariant },
      );
      const e = relError(await readF32(ctx, Y), ref);
      t.ok(e < TOL[matmulVariant], `NN ${matmulVariant}, B in row blocks of 16: ${e.toExponential(2)}`);
    }
  }
  {
    // 70 rows over 64-row tiles, one workgroup per dimension: the second block starts 64 rows (64·2k
    // elements) into the packed A.
    const m = 70,
      k = 13,
      n = 10;
    const { GU, a } = await gatedInput(ctx, rng, m, k);
    const w = randomArray(rng, n * k);
    const ref = reference('NT', a, w, [m, k, n]);
    const limits = ctx.info.limits,
      saved = limits.maxComputeWorkgroupsPerDimension;
    limits.maxComputeWorkgroupsPerDimension = 1;
    try {
      for (const matmulVariant of ['tiled', 'f16-emulated'] as const) {
        const Y = allocTensor(ctx, m * n);
        const opts: MatmulOptions = { matmulVariant, tile: 'medium' };
        gemm(ctx, 'NT', Y, GU, placed(ctx, w, 3), m, k, n, { accumulate: false, gatedA: true }, opts);
        const e = relError(await readF32(ctx, Y), ref);
        t.ok(e < TOL[matmulVariant], `${matmulVariant}, 2 row blocks of the grid: ${e.toExponential(2)}`);
      }
    } finally {
      limits.maxComputeWorkgroupsPerDimension = saved;
    }
  }
  {
    // gate = up = 30000 in the last element: its gated value, 9e8, is far past max|gu|. A scale
    // derived from the packed values (2^-11) would leave it at 4.4e5 after scaling, past f16's range.
    const m = 6,
      k = 33,
      n = 8;
    const gu = randomArray(rng, m * 2 * k);
    gu[(m - 1) * 2 * k + k - 1] = 30000;
    gu[m * 2 * k - 1] = 30000;
    const GU = placed(ctx, gu, 1);
    const A = allocTensor(ctx, m * k);
    swigluPackedForward(ctx, A, GU, m, k);
    const w = f16Round(randomArray(rng, n * k));
    const ref = reference('NT', await readF32(ctx, A), w, [m, k, n]);
    const Y = allocTensor(ctx, m * n);
    const opts: MatmulOptions = { matmulVariant: 'f16-emulated' };
    gemm(ctx, 'NT', Y, GU, placed(ctx, w, 2, 'f16'), m, k, n, { accumulate: false, gatedA: true }, opts);
    const got = await readF32(ctx, Y);
    t.ok(got.every(Number.isFinite), 'f16-emulated: every output finite (scale over the gated values)');
    t.ok(relError(got, ref) < TOL['f16-emulated'], `f16-emulated: ${relError(got, ref).toExponential(2)}`);
  }
});

t.test('the skinny kernel: gated x in both geometries, f32 and f16 weights, whole and split', async (t) => {
  const ctx = await testGpu();
  const rng = new Rng(34);
  for (const [m, k, n] of [
    [3, 37, 19],
    [19, 13, 33],
  ] as const) {
    const { GU, a } = await gatedInput(ctx, rng, m, k);
    const w = randomArray(rng, n * k),
      bias = randomArray(rng, n),
      c0 = randomArray(rng, m * n);
    const low = lowRankCase(ctx, rng, m, n, 2, [0, 11]);
    for (const dtype of ['f32', 'f16'] as const) {
      const ref = reference('NT', a, dtype === 'f16' ? f16Round(w) : w, [m, k, n], {
        alpha: 0.5,
        bias,
        low: low.ref,
        c0,
      });
      for (const geom of [GPU_SKINNY, CPU_SKINNY]) {
        const split = geom === CPU_SKINNY;
        const W = split ? splitMatrix(ctx, w, k, 7, dtype) : placed(ctx, w, 3, dtype);
        const Y = placed(ctx, c0, 1);
        const epi = { accumulate: true, alpha: 0.5, bias: placed(ctx, bias, 2), lowRank: low.gpu, gatedX: true };
        skinnyMatmulNT(ctx, Y, GU, W, m, k, n, epi, geom);
        const e = relError(await readF32(ctx, Y), ref);
        const what = `m ${m} k ${k} n ${n} ${dtype} ${geom.WG}×${geom.MB}×${geom.BN}${split ? ', W split' : ''}`;
        t.ok(e < 1e-5, `${what}: ${e.toExponential(2)}`);
      }
    }
  }
});

t.test('loraLinearForward with gatedX: operation interface and both decode routes', async (t) => {
  const ctx = await testGpu();
  const ops = webgpuOps(ctx);
  const rng = new Rng(35);
  const rows = 6,
    inF = 29,
    outF = 24,
    r = 3;
  const { GU, A } = await gatedInput(ctx, rng, rows, inF);
  const w = placed(ctx, randomArray(rng, outF * inF), 2, 'f16'),
    bias = placed(ctx, randomArray(rng, outF), 3);
  const [la, lb] = [placed(ctx, randomArray(rng, r * inF), 1), placed(ctx, randomArray(rng, outF * r), 2)];
  const lora = { a: la, b: lb, r, scale: 2 };
  const y0 = randomArray(rng, rows * outF);
  const shape = { rows, inF, outF, accumulate: true };
  for (const [lname, l] of [
    ['LoRA', lora],
    ['no branch', null],
  ] as const) {
    // The reference: the plain layer over the SwiGLU output.
    const yRef = placed(ctx, y0, 4),
      usRef = allocTensor(ctx, rows * r);
    ops.loraLinearForward(yRef, A, w, bias, shape, l, A, usRef);
    const want = await readF32(ctx, yRef),
      wantUs = await readF32(ctx, usRef);
    for (const [what, o] of [
      ['ops', ops],
      ['decode, skinny route (skinnyRows ∞)', decodeOps(ctx, ops, Infinity)],
      ['decode, GEMM route (skinnyRows 0)', decodeOps(ctx, ops, 0)],
    ] as const) {
      const y = placed(ctx, y0, 4),
        us = allocTensor(ctx, rows * r);
      o.loraLinearForward(y, GU, w, bias, { ...shape, gatedX: true }, l, GU, us);
      const e = relError(await readF32(ctx, y), want);
      t.ok(e < 1e-5, `${lname}, ${what}: y ${e.toExponential(2)}`);
      if (l) t.ok(relError(await readF32(ctx, us), wantUs) < 1e-5, `${lname}, ${what}: us`);
    }
  }
  // usGiven: only the base product reads the gated input.
  const ld = r + 2,
    uw = randomArray(rng, rows * ld);
  const U = placed(ctx, uw, 1);
  const usView = viewOf(U, 1, (rows - 1) * ld + r);
  const given = { ...shape, usGiven: { ld } };
  const yRef = placed(ctx, y0, 4);
  ops.loraLinearForward(yRef, A, w, bias, given, lora, A, usView);
  const want = await readF32(ctx, yRef);
  for (const [what, o] of [
    ['ops', ops],
    ['decode, skinny route', decodeOps(ctx, ops, Infinity)],
  ] as const) {
    const y = placed(ctx, y0, 4);
    o.loraLinearForward(y, GU, w, bias, { ...given, gatedX: true }, lora, GU, usView);
    t.ok(relError(await readF32(ctx, y), want) < 1e-5, `usGiven, ${what}`);
  }
});

t.test('refusals: TN, short or split a, xLora not x, backward', async (t) => {
  const ctx = await testGpu();
  const ops = webgpuOps(ctx);
  const rng = new Rng(36);
  const m = 4,
    k = 6,
    n = 5,
    r = 2;
  const GU = placed(ctx, randomArray(rng, m * 2 * k), 1),
    W = placed(ctx, randomArray(rng, n * k), 1),
    Y = allocTensor(ctx, m * n);
  const short = viewOf(GU, 0, m * 2 * k - 1);
  const epi = { accumulate: false, gatedA: true };
  t.throws(() => gemm(ctx, 'TN', Y, GU, W, m, k, n, epi), /matmulTN: gatedA needs A untransposed/);
  t.throws(
    () => gemm(ctx, 'NT', Y, short, W, m, k, n, epi),
    /matmulNT: gatedA: a has 47 elements, needs m\*2k = 4\*12 = 48/,
  );
  const split = splitMatrix(ctx, randomArray(rng, m * 2 * k), 2 * k, 2);
  t.throws(() => gemm(ctx, 'NN', Y, split, W, m, k, n, epi), /matmulNN: gatedA needs a single \(not split\) a/);
  t.throws(
    () => skinnyMatmulNT(ctx, Y, short, W, m, k, n, { accumulate: false, gatedX: true }),
    /skinnyMatmulNT: gatedX: x has 47 elements, needs m\*2k = 4\*12 = 48/,
  );
  const lora = { a: placed(ctx, randomArray(rng, r * k), 1), b: placed(ctx, randomArray(rng, n * r), 1), r, scale: 1 };
  const us = allocTensor(ctx, m * r);
  const shape = { rows: m, inF: k, outF: n, gatedX: true };
  const dropped = placed(ctx, randomArray(rng, m * 2 * k), 1);
  for (const [what, o] of [
    ['ops', ops],
    ['decode', decodeOps(ctx, ops, Infinity)],
  ] as const)
    t.throws(
      () => o.loraLinearForward(Y, GU, W, null, shape, lora, dropped, us),
      /loraLinearForward: gatedX needs xLora to be x/,
      what,
    );
  const g = { dx: null, dW: null, dBias: null, dA: allocTensor(ctx, r * k), dB: null };
  const dz = allocTensor(ctx, m * r);
  t.throws(
    () => ops.loraLinearBackward(g, Y, GU, W, shape, lora, GU, us, null, dz, dz),
    /loraLinearBackward: gatedX is forward-only/,
  );
});

t.test("the gated kernels SwiftShader cannot run pass validation on Dawn's null backend", async (t) => {
  const { device, adapter } = await nullBackendDevice();
  for (const lowRank of [false, true]) {
    const err = await compileError(device, gemmKernel('half', 'medium', lowRank, true).code);
    t.equal(err, null, `f16-arithmetic kernel, gated${lowRank ? ', low-rank epilogue' : ''}`);
  }
  // The null device's own limits (GPUSupportedLimits holds every field the context reads).
  const ctx = contextForDevice(device, {
    adapter: 'null',
    features: [...device.features].map(String),
    subgroupMinSize: adapter.info.subgroupMinSize ?? 0,
    subgroupMaxSize: adapter.info.subgroupMaxSize ?? 0,
    limits: device.limits,
  });
  for (const transB of [false, true]) {
    const spec = sgmKernel(ctx, { M: 16, N: 16, K: 16 }, { transA: false, transB, lowRank: true, gated: true });
    t.equal(await compileError(device, spec.code), null, spec.key);
  }
});
