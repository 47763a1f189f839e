// The optimizer kernels: AdamW (torch semantics, as ops/cpu/adamw.ts, all f32) and the sum of
// squares behind the global gradient norm.
//
// sumOfSquares: each subgroup (portably: each workgroup) reduces a chunk of elements to
// one partial; the partials are read back and added on the host in float64. Two details make it
// safe to gate an update on:
//  - non-finite elements are counted from their bit patterns (WGSL may assume NaN and infinity
//    never occur, so float comparisons cannot be trusted to see them) and the result is NaN when
//    any element is NaN, else Infinity when any is ±Infinity, as the cpu's float64 sum would be;
//  - elements are scaled by a power of two chosen from the largest |x| before squaring, so finite
//    gradients up to f32's maximum never overflow f32 into a false Infinity.
import { allocTensor, readF32, releaseTensor, type GpuContext } from './context.js';
import type { GpuTensor } from './tensor.js';
import { elementwise, foldGroups, needF32, prefix, run, WORKGROUP_INDEX, type KernelDef } from './operands.js';
import { BLOCK, reduction, reductionHeader, unitKernel, unitsPerGroup, type Reduction } from './reduce-wgsl.js';

// --- AdamW ----------------------------------------------------------------------------------------

function adamwPair(scaled: boolean): [KernelDef, KernelDef] {
  const code = `${WORKGROUP_INDEX}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = workgroupIndex(wid, nwg) * 256u + lid;
  if (i >= p.n) { return; }
  ${scaled ? 'let g = ld_grad(i) * p.gradScale;\n  st_grad(i, g);' : 'let g = ld_grad(i);'}
  let m = p.beta1 * ld_m(i) + p.oneMinusB1 * g;
  let v = p.beta2 * ld_v(i) + p.oneMinusB2 * g * g;
  st_m(i, m);
  st_v(i, v);
  let denom = sqrt(v) / p.bc2Sqrt + p.eps;
  st_param(i, ld_param(i) * p.decay - p.stepSize * (m / denom));
}`;
  const params = [
    'n',
    'beta1:f32',
    'oneMinusB1:f32',
    'beta2:f32',
    'oneMinusB2:f32',
    'bc2Sqrt:f32',
    'eps:f32',
    'decay:f32',
    'stepSize:f32',
    'gradScale:f32',
  ];
  const name = `adamw${scaled ? '.scaled' : ''}`;
  return [
    { name, params, code },
    { name: `${name}4`, params, code, vec4: true },
  ];
}

const ADAMW = adamwPair(false);
const ADAMW_SCALED = adamwPair(true);

/**
 * One AdamW update of param with torch.optim.AdamW semantics (ops/cpu/adamw.ts). When gradScale
 * is not 1 the gradient is first multiplied by it in place, as the cpu op does.
 */
export function adamwStep(
  ctx: GpuContext,
  param: GpuTensor,
  grad: GpuTensor,
  m: GpuTensor,
  v: GpuTensor,
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  weightDecay: number,
  step: number,
  gradScale: number,
): void {
  const where = 'adamwStep';
  const n = param.length;
  if (grad.length !== n || m.length !== n || v.length !== n) {
    throw new Error(`${where}: length mismatch (param ${n}, grad ${grad.length}, m ${m.length}, v ${v.length})`);
  }
  if (!Number.isInteger(step) || step < 1) throw new Error(`${where}: step must be an integer ≥ 1, got ${step}`);
  if (!(beta1 >= 0 && beta1 < 1)) throw new Error(`${where}: beta1 must be in [0, 1), got ${beta1}`);
  if (!(beta2 >= 0 && beta2 < 1)) throw new Error(`${where}: beta2 must be in [0, 1), got ${beta2}`);
  for (const [t, what] of [
    [param, 'param'],
    [grad, 'grad'],
    [m, 'm'],
    [v, 'v'],
  ] as const)
    needF32(t, where, what);
  if (n === 0) return;
  const [scalar, vec4] = gradScale === 1 ? ADAMW : ADAMW_SCALED;
  elementwise(
    ctx,
    scalar,
    vec4,
    n,
    [
      { name: 'param', t: prefix(param, n, where, 'param'), access: 'write' },
      { name: 'grad', t: prefix(grad, n, where, 'grad'), access: gradScale === 1 ? 'read' : 'write' },
      { name: 'm', t: prefix(m, n, where, 'm'), access: 'write' },
      { name: 'v', t: prefix(v, n, where, 'v'), access: 'write' },
    ],
    [
      { f32: beta1 },
      { f32: 1 - beta1 },
      { f32: beta2 },
      { f32: 1 - beta2 },
      { f32: Math.sqrt(1 - Math.pow(beta2, step)) },
      { f32: eps },
      { f32: 1 - lr * weightDecay },
      { f32: lr / (1 - Math.pow(beta1, step)) },
      { f32: gradScale },
    ],
  );
}

// --- sum of squares -------------------------------------------------------------------------------

/** Elements each lane adds up sequentially in f32 (bounds the rounding error of a partial). */
const PER_LANE = 16;
const PER_LANE_SUBGROUP = 128;

/** Elements per partial sum: one subgroup's chunk (128 per lane), or one workgroup's (16 per lane). */
export function sumOfSquaresChunk(ctx: GpuContext): number {
  const r = reduction(ctx);
  return r === 'subgroup' ? PER_LANE_SUBGROUP * ctx.info.subgroupMaxSize : PER_LANE * BLOCK;
}

// Each lane keeps Σ(|x|·2^−e)² with e the exponent of the largest |x| it has seen, rescaling its sum
// when a larger one arrives (exact power-of-two steps): one pass over memory, no overflow.
function sumsqDef(r: Reduction): KernelDef {
  return {
    name: `sumsq.${r}`,
    params: ['units', 'unitsPerGroup', 'n', 'chunk'],
    header: reductionHeader(r),
    code: unitKernel(
      r,
      `let base = u * p.chunk;
    let end = min(base + p.chunk, p.n);
    var e = -127;
    var s = 0.0;
    var nan = 0u;
    var inf = 0u;
    for (var i = base + first; i < end; i += stride) {
      let b = bitcast<u32>(ld_x(i)) & 0x7fffffffu;
      if (b >= 0x7f800000u) {
        if (b > 0x7f800000u) { nan++; } else { inf++; }
        continue;
      }
      let ex = i32(b >> 23u) - 127;
      if (ex > e) { s = ldexp(s, 2 * (e - ex)); e = ex; }
      let y = ldexp(bitcast<f32>(b), -e);
      s += y * y;
    }
    let top = i32(unitMax(f32(e)));
    let total = unitSum(ldexp(s, 2 * (e - top)));
    let nans = unitSum(f32(nan));
    let infs = unitSum(f32(inf));
    if (leader) {
      st_out(4u * u, total);
      st_out(4u * u + 1u, f32(top));
      st_out(4u * u + 2u, nans);
      st_out(4u * u + 3u, infs);
    }`,
    ),
  };
}

const sumsqDefs = new Map<Reduction, KernelDef>();

export interface SumOfSquaresReport {
  /** Σx² in float64 over finite elements (NaN if any element is NaN, else Infinity if any is infinite). */
  sumSq: number;
  nanCount: number;
  infCount: number;
}

/** Σx² over one or more tensors (split tensors: every part), with the non-finite counts. One read-back. */
export async function sumOfSquaresReport(
  ctx: GpuContext,
  tensors: GpuTensor | GpuTensor[],
): Promise<SumOfSquaresReport> {
  const parts = (Array.isArray(tensors) ? tensors : [tensors])
    .flatMap((t) => (t.split ? t.split.parts : [t]))
    .filter((t) => t.length > 0);
  for (const t of parts) needF32(t, 'sumOfSquares', 'tensor');
  const chunk = sumOfSquaresChunk(ctx);
  const chunks = parts.map((t) => Math.ceil(t.length / chunk));
  const total = chunks.reduce((a, b) => a + b, 0);
  if (total === 0) return { sumSq: 0, nanCount: 0, infCount: 0 };
  const r = reduction(ctx),
    per = unitsPerGroup(ctx, r);
  let def = sumsqDefs.get(r);
  if (!def) sumsqDefs.set(r, (def = sumsqDef(r)));
  const out = allocTensor(ctx, 4 * total, 'f32', false, true);
  let at = 0;
  parts.forEach((t, j) => {
    run(
      ctx,
      def!,
      [
        {
          name: 'out',
          t: { buffer: out.buffer, offset: 4 * at, length: 4 * chunks[j]!, dtype: 'f32' },
          access: 'write',
        },
        { name: 'x', t, access: 'read' },
      ],
      [chunks[j]!, per, t.length, chunk],
      foldGroups(Math.ceil(chunks[j]! / per)),
    );
    at += chunks[j]!;
  });
  const partials = await readF32(ctx, out);
  releaseTensor(ctx, out);
  let sumSq = 0,
    nanCount = 0,
    infCount = 0;
  for (let g = 0; g < total; g++) {
    sumSq += partials[4 * g]! * Math.pow(2, 2 * partials[4 * g + 1]!);
    nanCount += partials[4 * g + 2]!;
    infCount += partials[4 * g + 3]!;
  }
  if (nanCount > 0) sumSq = NaN;
  else if (infCount > 0) sumSq = Infinity;
  return { sumSq, nanCount, infCount };
}

/**
 * Σx² of t (the squared global gradient norm), partial sums per chunk added on the host in
 * float64. NaN when any element is NaN, Infinity when any is infinite (and none NaN): the learner
 * checks Number.isFinite(sqrt(result)) before updating, as it does on the cpu.
 */
export async function sumOfSquares(ctx: GpuContext, t: GpuTensor | GpuTensor[]): Promise<number> {
  return (await sumOfSquaresReport(ctx, t)).sumSq;
}
