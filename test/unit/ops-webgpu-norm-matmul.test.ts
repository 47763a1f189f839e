// The RMSNorm folded into the few-row product after it (skinny-norm-matmul.ts) against the cpu
// rmsnormForward then matmulNT: xn, rstd and the product, f32 and f16 weights and norm weights, views at
// odd offsets, row counts not multiples of the row block, columns not multiples of the column block,
// both geometries; operands it must refuse; and the decode ops' routing of ops.rmsnormMatmulNT.
import t from 'tap';
import { cpuOps } from '../../src/ops/cpu/index.js';
import { allocTensor, memoryStats, readF32 } from '../../src/ops/webgpu/context.js';
import { CPU_SKINNY, GPU_SKINNY } from '../../src/ops/webgpu/skinny-matmul.js';
import { skinnyRmsnormMatmulNT } from '../../src/ops/webgpu/skinny-norm-matmul.js';
import { webgpuOps } from '../../src/ops/webgpu/index.js';
import { decodeOps } from '../../src/engines/webgpu/decode-ops.js';
import { f16Round, placed } from '../helpers/webgpu-matmul-helpers.js';
import { randomArray, relError, Rng, testGpu } from '../helpers/gpu-helpers.js';

const EPS = 1e-6;

/** The cpu reference: xn, rstd and y = alpha·xn·Wᵀ. */
function reference(x: Float32Array, nw: Float32Array, w: Float32Array, m: number, k: number, n: number, alpha: number) {
  const xn = new Float32Array(m * k),
    rstd = new Float32Array(m),
    y = new Float32Array(m * n);
  cpuOps.rmsnormMatmulNT(xn, rstd, y, x, nw, w, m, k, n, EPS);
  for (let i = 0; i < y.length; i++) y[i] = alpha * y[i]!;
  return { xn, rstd, y };
}

t.test('skinnyRmsnormMatmulNT equals rmsnormForward then matmulNT', async (t) => {
  const ctx = await testGpu();
  const rng = new Rng(7);
  for (const [m, k, n] of [
    [1, 37, 19],
    [3, 64, 8],
    [5, 130, 33],
    [19, 200, 96],
  ] as [number, number, number][]) {
    for (const [wDtype, nwDtype] of [
      ['f32', 'f32'],
      ['f16', 'f16'],
      ['f32', 'f16'],
    ] as const) {
      for (const geom of [GPU_SKINNY, CPU_SKINNY]) {
        // Rows of different magnitudes, so a wrong row's rstd shows.
        const x = randomArray(rng, m * k).map((v, i) => v * (1 + Math.floor(i / k)));
        const nw = randomArray(rng, k).map((v) => 1 + 0.5 * v),
          w = randomArray(rng, n * k);
        const round = (a: Float32Array, d: 'f32' | 'f16'): Float32Array => (d === 'f16' ? f16Round(a) : a);
        const want = reference(x, round(nw, nwDtype), round(w, wDtype), m, k, n, 0.75);
        const xn = placed(ctx, new Float32Array(m * k), 2),
          rstd = placed(ctx, new Float32Array(m), 1),
          y = placed(ctx, new Float32Array(m * n), 5);
        const xT = placed(ctx, x, 1),
          nwT = placed(ctx, nw, 3, nwDtype),
          wT = placed(ctx, w, 3, wDtype);
        skinnyRmsnormMatmulNT(ctx, xn, rstd, y, xT, nwT, wT, m, k, n, EPS, 0.75, geom);
        const what = `m ${m} k ${k} n ${n} W ${wDtype} norm ${nwDtype} ${geom.WG}×${geom.MB}×${geom.BN}`;
        const errs = {
          y: relError(await readF32(ctx, y), want.y),
          xn: relError(await readF32(ctx, xn), want.xn),
          rstd: relError(await readF32(ctx, rstd), want.rstd),
        };
        t.ok(Math.max(errs.y, errs.xn, errs.rstd) < 1e-5, `${what}: rel errors ${JSON.stringify(errs)}`);
      }
    }
  }
});

t.test('skinnyRmsnormMatmulNT refuses operands it cannot take', async (t) => {
  const ctx = await testGpu();
  const [m, k, n] = [2, 16, 4];
  const f = (len: number): ReturnType<typeof allocTensor> => allocTensor(ctx, len, 'f32');
  const x = f(m * k),
    nw = f(k),
    w = f(n * k),
    xn = f(m * k),
    rstd = f(m),
    y = f(m * n);
  t.throws(
    () => skinnyRmsnormMatmulNT(ctx, xn, rstd, y, x, nw, f(n * k - 1), m, k, n, EPS),
    /w has 63 elements, needs 64/,
  );
  t.throws(() => skinnyRmsnormMatmulNT(ctx, xn, rstd, y, x, f(k - 1), w, m, k, n, EPS), /nw has 15 elements/);
  t.throws(() => skinnyRmsnormMatmulNT(ctx, x, rstd, y, x, nw, w, m, k, n, EPS), /buffers of their own/);
  t.throws(
    () => skinnyRmsnormMatmulNT(ctx, xn, rstd, y, x, nw, allocTensor(ctx, n * k, 'i32'), m, k, n, EPS),
    /w must be a single-buffer f32 or f16 tensor/,
  );
  t.throws(() => skinnyRmsnormMatmulNT(ctx, xn, rstd, y, x, nw, w, m, 0, n, EPS), /k must be positive/);
});

t.test(
  'the decode ops run rmsnormMatmulNT as one dispatch for few rows, as the norm then the product otherwise',
  async (t) => {
    const ctx = await testGpu();
    const ops = webgpuOps(ctx);
    const rng = new Rng(3);
    // Above 64 rows, or with the fold off, the norm then the routed product (the GEMM's may take several).
    for (const [m, fold] of [
      [4, true],
      [4, false],
      [80, true],
    ] as [number, boolean][]) {
      const [k, n] = [48, 24];
      const x = randomArray(rng, m * k),
        nw = randomArray(rng, k).map((v) => 1 + 0.5 * v),
        w = randomArray(rng, n * k);
      const ref = reference(x, nw, w, m, k, n, 1);
      const [xn, rstd, y] = [
        allocTensor(ctx, m * k, 'f32'),
        allocTensor(ctx, m, 'f32'),
        allocTensor(ctx, m * n, 'f32'),
      ];
      const [xT, nwT, wT] = [placed(ctx, x, 0), placed(ctx, nw, 0), placed(ctx, w, 0)];
      const before = memoryStats(ctx).dispatches;
      decodeOps(ctx, ops, 64, fold).rmsnormMatmulNT(xn, rstd, y, xT, nwT, wT, m, k, n, EPS);
      const dispatches = memoryStats(ctx).dispatches - before;
      const err = Math.max(relError(await readF32(ctx, y), ref.y), relError(await readF32(ctx, xn), ref.xn));
      const what = `${m} rows, foldNorm ${fold}`;
      t.ok(err < 1e-5, `${what}: rel error ${err.toExponential(2)}`);
      if (fold && m <= 64) t.equal(dispatches, 1, `${what}: one dispatch`);
      else if (m <= 64) t.equal(dispatches, 2, `${what}: the norm and the few-row product`);
      else t.ok(dispatches >= 2, `${what}: the norm and the GEMM (${dispatches} dispatches)`);
    }
  },
);
