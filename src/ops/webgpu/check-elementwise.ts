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

/** What every check shares: the context, the one generator all inputs draw from (in a fixed order), the rows so far. */
interface CheckState {
  ctx: GpuContext;
  rng: Rng;
  out: ElementwiseCheck[];
  dim: number;
  inter: number;
  rows: number;
}

/** Inputs drawn first and used by several checks: `x` and `y0` are rows × dim, `w` a norm weight. */
interface SharedInputs {
  x: Float32Array;
  y0: Float32Array;
  w: Float32Array;
  /** `w` rounded through f16, as the cpu sees an f16-stored weight. */
  wf16: Float32Array;
}

/** Swiglu inputs (rows × inter) reused by the rmsnorm backward (`da`) and the sum of squares (`g`). */
interface SwigluInputs {
  g: Float32Array;
  da: Float32Array;
}

function rand(s: CheckState, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (2 * s.rng.next() - 1) * scale);
}

/** At odd offset 3 of a fresh buffer, so views are checked too. */
function up(s: CheckState, a: Float32Array, dtype: 'f32' | 'f16' = 'f32'): GpuTensor {
  const all = new Float32Array(a.length + 6);
  all.set(a, 3);
  return viewOf(uploadTensor(s.ctx, all, dtype, 'check'), 3, a.length);
}

async function check(
  s: CheckState,
  op: string,
  variant: string,
  got: GpuTensor,
  want: Float32Array,
  tolerance: number,
): Promise<void> {
  const error = maxRelError(await readF32(s.ctx, got), want);
  s.out.push({ op, variant, error, tolerance, ok: error <= tolerance });
}

/** Runs every kernel on a few shapes against the cpu op (rows of `dim`, MLP width `inter`). */
export async function checkElementwise(
  ctx: GpuContext,
  dim = 1536,
  inter = 8960,
  rows = 67,
): Promise<ElementwiseCheck[]> {
  const s: CheckState = { ctx, rng: new Rng(7), out: [], dim, inter, rows };
  const n = rows * dim;
  const x = rand(s, n, 2),
    y0 = rand(s, n),
    w = rand(s, dim, 1.5),
    wf16 = unpackF16(packF16(w, 'w'), dim);
  const shared: SharedInputs = { x, y0, w, wf16 };
  await checkCopies(s, shared);
  const swiglu = await checkSwiglu(s);
  await checkDropout(s, shared);
  await checkRowGatherScatter(s, shared);
  await checkRope(s);
  await checkReductions(s, shared, swiglu);
  await checkAdamw(s);
  return s.out;
}

async function checkCopies(s: CheckState, { x, y0 }: SharedInputs): Promise<void> {
  const { ctx } = s;
  const n = s.rows * s.dim;
  const yc = y0.slice();
  cpuOps.addInPlace(yc, x, n);
  const yg = uploadTensor(ctx, y0);
  addInPlace(ctx, yg, uploadTensor(ctx, x), n);
  await check(s, 'addInPlace', 'vec4', yg, yc, 0);
  const cg = up(s, new Float32Array(n));
  copyTensor(ctx, cg, up(s, x), n);
  await check(s, 'copy', 'scalar', cg, x, 0);
}

async function checkSwiglu(s: CheckState): Promise<SwigluInputs> {
  const { ctx } = s;
  const nI = s.rows * s.inter;
  const g = rand(s, nI, 6),
    u = rand(s, nI, 2),
    da = rand(s, nI);
  const a = new Float32Array(nI);
  cpuOps.swigluForward(a, g, u, nI);
  const ag = uploadTensor(ctx, new Float32Array(nI));
  swigluForward(ctx, ag, uploadTensor(ctx, g), uploadTensor(ctx, u), nI);
  await check(s, 'swigluForward', 'vec4', ag, a, 1e-6);
  const dg = new Float32Array(nI),
    du = new Float32Array(nI);
  cpuOps.swigluBackward(dg, du, da, g, u, nI);
  const dgg = up(s, new Float32Array(nI)),
    dug = up(s, new Float32Array(nI));
  swigluBackward(ctx, dgg, dug, up(s, da), up(s, g), up(s, u), nI);
  await check(s, 'swigluBackward dg', 'scalar', dgg, dg, 1e-6);
  await check(s, 'swigluBackward du', 'scalar', dug, du, 1e-6);
  return { g, da };
}

async function checkDropout(s: CheckState, { x }: SharedInputs): Promise<void> {
  const { ctx } = s;
  const n = s.rows * s.dim;
  const src = { kind: 'counter' as const, seed: 1234567, stream: 41 };
  const xl = new Float32Array(n),
    keep = new Float32Array(n);
  cpuOps.dropout(xl, keep, x, n, 0.05, src);
  const xlg = uploadTensor(ctx, new Float32Array(n)),
    keepg = uploadTensor(ctx, new Float32Array(n));
  dropout(ctx, xlg, keepg, uploadTensor(ctx, x), n, 0.05, src);
  await check(s, 'dropout keep (bit-exact)', 'vec4', keepg, keep, 0);
  await check(s, 'dropout xl', 'vec4', xlg, xl, 2e-7);
}

async function checkRowGatherScatter(s: CheckState, { x }: SharedInputs): Promise<void> {
  const { ctx, rng, dim, rows } = s;
  const n = rows * dim;
  const vocab = 1000,
    embed = rand(s, vocab * dim),
    ids = Int32Array.from({ length: rows }, () => rng.int(vocab));
  const gathered = new Float32Array(n);
  cpuOps.gatherRows(gathered, unpackF16(packF16(embed, 'embed'), embed.length), ids, dim);
  const gg = up(s, new Float32Array(n));
  gatherRows(ctx, gg, uploadTensor(ctx, embed, 'f16', 'embed'), ids, dim);
  await check(s, 'gatherRows f16', 'scalar', gg, gathered, 0);
  const dst = rand(s, 50 * dim),
    targets = Int32Array.from({ length: rows }, () => rng.int(20));
  const scattered = dst.slice();
  cpuOps.scatterAddRows(scattered, x, targets, dim);
  const sg = up(s, dst);
  scatterAddRows(ctx, sg, up(s, x), targets, dim);
  await check(s, 'scatterAddRows (bit-exact)', 'scalar', sg, scattered, 0);
}

async function checkRope(s: CheckState): Promise<void> {
  const { rows } = s;
  const table = cpuOps.ropeTable(1e6, 128, 4096),
    positions = Int32Array.from({ length: rows }, () => s.rng.int(4096));
  const q = rand(s, rows * 12 * 128),
    qc = q.slice();
  cpuOps.ropeApply(qc, positions, rows, 12, 128, table, 1);
  const qg = up(s, q);
  ropeApply(s.ctx, qg, positions, rows, 12, 128, table, 1);
  await check(s, 'ropeApply', 'scalar', qg, qc, 1e-6);
}

/** The row reductions (rmsnorm, sum of squares) once per reduction variant the device runs. */
async function checkReductions(s: CheckState, shared: SharedInputs, swiglu: SwigluInputs): Promise<void> {
  const variants = reduction(s.ctx) === 'subgroup' ? [true, false] : [false];
  for (const sub of variants) {
    kernelVariants.subgroups = sub;
    try {
      const v = reduction(s.ctx);
      for (const [wt, wc] of [
        ['f32', shared.w],
        ['f16', shared.wf16],
      ] as const)
        await checkRmsnorm(s, v, wt, wc, shared, swiglu.da);
      await checkSumOfSquares(s, v, swiglu.g);
    } finally {
      kernelVariants.subgroups = true;
    }
  }
}

/** The rmsnorm forward and backward with the weight stored as `wt` (`wc`: what the cpu sees of it). */
async function checkRmsnorm(
  s: CheckState,
  v: string,
  wt: 'f32' | 'f16',
  wc: Float32Array,
  { x, y0, w }: SharedInputs,
  da: Float32Array,
): Promise<void> {
  const { ctx, rows, dim } = s;
  const n = rows * dim;
  const yy = new Float32Array(n),
    rstd = new Float32Array(rows);
  cpuOps.rmsnormForward(yy, rstd, x, wc, rows, dim, 1e-6);
  const ygg = up(s, new Float32Array(n)),
    rg = up(s, new Float32Array(rows)),
    wg = up(s, w, wt);
  rmsnormForward(ctx, ygg, rg, up(s, x), wg, rows, dim, 1e-6);
  await check(s, `rmsnormForward y (w ${wt})`, v, ygg, yy, 2e-6);
  const dx = y0.slice(),
    dw = rand(s, dim);
  const dwg = up(s, dw);
  cpuOps.rmsnormBackward(dx, dw, da.subarray(0, n), x, wc, rstd, rows, dim);
  const dxg = up(s, y0);
  rmsnormBackward(ctx, dxg, dwg, up(s, da.subarray(0, n)), up(s, x), wg, rg, rows, dim);
  await check(s, `rmsnormBackward dx (w ${wt})`, v, dxg, dx, 1e-5);
  await check(s, `rmsnormBackward dw (w ${wt})`, v, dwg, dw, 1e-5);
}

async function checkSumOfSquares(s: CheckState, v: string, g: Float32Array): Promise<void> {
  const got = await sumOfSquares(s.ctx, up(s, g));
  let want = 0;
  for (const e of g) want += e * e;
  const err = Math.abs(got - want) / want;
  s.out.push({ op: 'sumOfSquares', variant: v, error: err, tolerance: 1e-6, ok: err <= 1e-6 });
  const bad = g.slice();
  bad[bad.length >> 1] = NaN;
  const nan = await sumOfSquares(s.ctx, up(s, bad));
  s.out.push({
    op: 'sumOfSquares NaN check',
    variant: v,
    error: Number.isNaN(nan) ? 0 : 1,
    tolerance: 0,
    ok: Number.isNaN(nan),
  });
}

async function checkAdamw(s: CheckState): Promise<void> {
  const { ctx } = s;
  const P = 100_003,
    param = rand(s, P, 0.1),
    grad = rand(s, P, 1e-3),
    m = rand(s, P, 1e-4),
    vv = Float32Array.from(rand(s, P, 1e-7), Math.abs);
  const pg = uploadTensor(ctx, param),
    gg2 = uploadTensor(ctx, grad),
    mg = uploadTensor(ctx, m),
    vg = uploadTensor(ctx, vv);
  cpuOps.adamwStep(param, grad, m, vv, 1e-4, 0.9, 0.999, 1e-8, 0.01, 7, 0.5);
  adamwStep(ctx, pg, gg2, mg, vg, 1e-4, 0.9, 0.999, 1e-8, 0.01, 7, 0.5);
  await check(s, 'adamw param', 'vec4', pg, param, 1e-6);
  await check(s, 'adamw m', 'vec4', mg, m, 1e-5);
  await check(s, 'adamw v', 'vec4', vg, vv, 1e-5);
}

export function formatElementwiseChecks(rows: ElementwiseCheck[]): string {
  return rows.map(formatElementwiseCheck).join('\n');
}

function formatElementwiseCheck(r: ElementwiseCheck): string {
  const error = `error ${r.error.toExponential(2)} (tolerance ${r.tolerance.toExponential(0)})`;
  return `${r.ok ? 'ok  ' : 'FAIL'} ${r.op.padEnd(32)} ${r.variant.padEnd(9)} ${error}`;
}
