// Correctness self-check of the elementwise, row, norm and optimizer kernels against the cpu ops,
// at 1.5B-like widths, for a device script to run on real GPUs (subgroup sizes, fast-math and
// exp/sqrt precision differ from SwiftShader, where the tap tests run). Every reduction variant the
// device runs is checked. Returns one row per check; no Node API.
import { readF32, uploadTensor, type GpuContext } from './context.js';
import { viewOf, packF16, unpackF16, type GpuTensor } from './tensor.js';
import { kernelVariants } from './operands.js';
import { reduction } from './reduce-wgsl.js';
import {
  addInPlace,
  copyTensor,
  dropout,
  gatherRows,
  rmsnormBackward,
  rmsnormForward,
  ropeApply,
  scatterAddRows,
  swigluBackward,
  swigluForward,
} from './elementwise.js';
import { adamwStep, sumOfSquares } from './optimizer.js';
import { cpuOps } from '../cpu/index.js';
import { Rng } from '../../util/rng.js';

export interface ElementwiseCheck {
  op: string;
  variant: string;
  /** max |gpu − cpu| / max |cpu| (0 for bit-exact checks that match). */
  error: number;
  tolerance: number;
  ok: boolean;
}

function maxRelError(a: Float32Array, b: Float32Array): number {
  let diff = 0,
    mag = 1e-30;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= diff)) diff = d;
    mag = Math.max(mag, Math.abs(b[i]!));
  }
  return diff / mag;
}

/** Runs every kernel on a few shapes against the cpu op (rows of `dim`, MLP width `inter`). */
export async function checkElementwise(
  ctx: GpuContext,
  dim = 1536,
  inter = 8960,
  rows = 67,
): Promise<ElementwiseCheck[]> {
  const rng = new Rng(7);
  const rand = (n: number, s = 1): Float32Array => Float32Array.from({ length: n }, () => (2 * rng.next() - 1) * s);
  /** At odd offset 3 of a fresh buffer, so views are checked too. */
  const up = (a: Float32Array, dtype: 'f32' | 'f16' = 'f32'): GpuTensor => {
    const all = new Float32Array(a.length + 6);
    all.set(a, 3);
    return viewOf(uploadTensor(ctx, all, dtype, 'check'), 3, a.length);
  };
  const out: ElementwiseCheck[] = [];
  const check = async (
    op: string,
    variant: string,
    got: GpuTensor,
    want: Float32Array,
    tolerance: number,
  ): Promise<void> => {
    const error = maxRelError(await readF32(ctx, got), want);
    out.push({ op, variant, error, tolerance, ok: error <= tolerance });
  };
  const n = rows * dim,
    nI = rows * inter;
  const x = rand(n, 2),
    y0 = rand(n),
    w = rand(dim, 1.5),
    wf16 = unpackF16(packF16(w, 'w'), dim);

  const yc = y0.slice();
  cpuOps.addInPlace(yc, x, n);
  const yg = uploadTensor(ctx, y0);
  addInPlace(ctx, yg, uploadTensor(ctx, x), n);
  await check('addInPlace', 'vec4', yg, yc, 0);
  const cg = up(new Float32Array(n));
  copyTensor(ctx, cg, up(x), n);
  await check('copy', 'scalar', cg, x, 0);

  const g = rand(nI, 6),
    u = rand(nI, 2),
    da = rand(nI);
  const a = new Float32Array(nI);
  cpuOps.swigluForward(a, g, u, nI);
  const ag = uploadTensor(ctx, new Float32Array(nI));
  swigluForward(ctx, ag, uploadTensor(ctx, g), uploadTensor(ctx, u), nI);
  await check('swigluForward', 'vec4', ag, a, 1e-6);
  const dg = new Float32Array(nI),
    du = new Float32Array(nI);
  cpuOps.swigluBackward(dg, du, da, g, u, nI);
  const dgg = up(new Float32Array(nI)),
    dug = up(new Float32Array(nI));
  swigluBackward(ctx, dgg, dug, up(da), up(g), up(u), nI);
  await check('swigluBackward dg', 'scalar', dgg, dg, 1e-6);
  await check('swigluBackward du', 'scalar', dug, du, 1e-6);

  const src = { kind: 'counter' as const, seed: 1234567, stream: 41 };
  const xl = new Float32Array(n),
    keep = new Float32Array(n);
  cpuOps.dropout(xl, keep, x, n, 0.05, src);
  const xlg = uploadTensor(ctx, new Float32Array(n)),
    keepg = uploadTensor(ctx, new Float32Array(n));
  dropout(ctx, xlg, keepg, uploadTensor(ctx, x), n, 0.05, src);
  await check('dropout keep (bit-exact)', 'vec4', keepg, keep, 0);
  await check('dropout xl', 'vec4', xlg, xl, 2e-7);

  const vocab = 1000,
    embed = rand(vocab * dim),
    ids = Int32Array.from({ length: rows }, () => rng.int(vocab));
  const gathered = new Float32Array(n);
  cpuOps.gatherRows(gathered, unpackF16(packF16(embed, 'embed'), embed.length), ids, dim);
  const gg = up(new Float32Array(n));
  gatherRows(ctx, gg, uploadTensor(ctx, embed, 'f16', 'embed'), ids, dim);
  await check('gatherRows f16', 'scalar', gg, gathered, 0);
  const dst = rand(50 * dim),
    targets = Int32Array.from({ length: rows }, () => rng.int(20));
  const scattered = dst.slice();
  cpuOps.scatterAddRows(scattered, x, targets, dim);
  const sg = up(dst);
  scatterAddRows(ctx, sg, up(x), targets, dim);
  await check('scatterAddRows (bit-exact)', 'scalar', sg, scattered, 0);

  const table = cpuOps.ropeTable(1e6, 128, 4096),
    positions = Int32Array.from({ length: rows }, () => rng.int(4096));
  const q = rand(rows * 12 * 128),
    qc = q.slice();
  cpuOps.ropeApply(qc, positions, rows, 12, 128, table, 1);
  const qg = up(q);
  ropeApply(ctx, qg, positions, rows, 12, 128, table, 1);
  await check('ropeApply', 'scalar', qg, qc, 1e-6);

  const variants = reduction(ctx) === 'subgroup' ? [true, false] : [false];
  for (const sub of variants) {
    kernelVariants.subgroups = sub;
    try {
      const v = reduction(ctx);
      for (const [wt, wc] of [
        ['f32', w],
        ['f16', wf16],
      ] as const) {
        const yy = new Float32Array(n),
          rstd = new Float32Array(rows);
        cpuOps.rmsnormForward(yy, rstd, x, wc, rows, dim, 1e-6);
        const ygg = up(new Float32Array(n)),
          rg = up(new Float32Array(rows)),
          wg = up(w, wt);
        rmsnormForward(ctx, ygg, rg, up(x), wg, rows, dim, 1e-6);
        await check(`rmsnormForward y (w ${wt})`, v, ygg, yy, 2e-6);
        const dx = y0.slice(),
          dw = rand(dim);
        const dwg = up(dw);
        cpuOps.rmsnormBackward(dx, dw, da.subarray(0, n), x, wc, rstd, rows, dim);
        const dxg = up(y0);
        rmsnormBackward(ctx, dxg, dwg, up(da.subarray(0, n)), up(x), wg, rg, rows, dim);
        await check(`rmsnormBackward dx (w ${wt})`, v, dxg, dx, 1e-5);
        await check(`rmsnormBackward dw (w ${wt})`, v, dwg, dw, 1e-5);
      }
      const got = await sumOfSquares(ctx, up(g));
      let want = 0;
      for (const e of g) want += e * e;
      const err = Math.abs(got - want) / want;
      out.push({ op: 'sumOfSquares', variant: v, error: err, tolerance: 1e-6, ok: err <= 1e-6 });
      const bad = g.slice();
      bad[bad.length >> 1] = NaN;
      const nan = await sumOfSquares(ctx, up(bad));
      out.push({
        op: 'sumOfSquares NaN check',
        variant: v,
        error: Number.isNaN(nan) ? 0 : 1,
        tolerance: 0,
        ok: Number.isNaN(nan),
      });
    } finally {
      kernelVariants.subgroups = true;
    }
  }

  const P = 100_003,
    param = rand(P, 0.1),
    grad = rand(P, 1e-3),
    m = rand(P, 1e-4),
    vv = Float32Array.from(rand(P, 1e-7), Math.abs);
  const pg = uploadTensor(ctx, param),
    gg2 = uploadTensor(ctx, grad),
    mg = uploadTensor(ctx, m),
    vg = uploadTensor(ctx, vv);
  cpuOps.adamwStep(param, grad, m, vv, 1e-4, 0.9, 0.999, 1e-8, 0.01, 7, 0.5);
  adamwStep(ctx, pg, gg2, mg, vg, 1e-4, 0.9, 0.999, 1e-8, 0.01, 7, 0.5);
  await check('adamw param', 'vec4', pg, param, 1e-6);
  await check('adamw m', 'vec4', mg, m, 1e-5);
  await check('adamw v', 'vec4', vg, vv, 1e-5);
  return out;
}

export function formatElementwiseChecks(rows: ElementwiseCheck[]): string {
  return rows
    .map(
      (r) =>
        `${r.ok ? 'ok  ' : 'FAIL'} ${r.op.padEnd(32)} ${r.variant.padEnd(9)} error ${r.error.toExponential(2)} (tolerance ${r.tolerance.toExponential(0)})`,
    )
    .join('\n');
}
