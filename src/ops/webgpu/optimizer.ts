// The optimizer kernels: AdamW (torch semantics, as ops/cpu/adamw.ts, all f32) and the sum of
// squares behind the global gradient norm.
//
// sumOfSquares: each workgroup reduces 2048 elements to one partial; the partials are read back
// and added on the host in float64. Two details make it safe to gate an update on:
//  - non-finite elements are counted from their bit patterns (WGSL may assume NaN and infinity
//    never occur, so float comparisons cannot be trusted to see them) and the result is NaN when
//    any element is NaN, else Infinity when any is ±Infinity, as the cpu's float64 sum would be;
//  - each workgroup scales its elements by a power of two chosen from its largest |x| before
//    squaring, so finite gradients up to f32's maximum never overflow f32 into a false Infinity.
import { allocTensor, readF32, releaseTensor, type GpuContext } from './context.js';
import type { GpuTensor } from './tensor.js';
import { elementwise, foldGroups, kernelVariants, needF32, prefix, run, WORKGROUP_INDEX, type KernelDef } from './operands.js';
import { BLOCK, reduceWgsl, useSubgroups } from './reduce-wgsl.js';

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
  const params = ['n', 'beta1:f32', 'oneMinusB1:f32', 'beta2:f32', 'oneMinusB2:f32', 'bc2Sqrt:f32', 'eps:f32', 'decay:f32', 'stepSize:f32', 'gradScale:f32'];
  const name = `adamw${scaled ? '.scaled' : ''}`;
  return [{ name, params, code }, { name: `${name}4`, params, code, vec4: true }];
}

const ADAMW = adamwPair(false);
const ADAMW_SCALED = adamwPair(true);

/**
 * One AdamW update of param with torch.optim.AdamW semantics (ops/cpu/adamw.ts). When gradScale
 * is not 1 the gradient is first multiplied by it in place, as the cpu op does.
 */
export function adamwStep(ctx: GpuContext, param: GpuTensor, grad: GpuTensor, m: GpuTensor, v: GpuTensor, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number, gradScale: number): void {
  const where = 'adamwStep';
  const n = param.length;
  if (grad.length !== n || m.length !== n || v.length !== n) {
    throw new Error(`${where}: length mismatch (param ${n}, grad ${grad.length}, m ${m.length}, v ${v.length})`);
  }
  if (!Number.isInteger(step) || step < 1) throw new Error(`${where}: step must be an integer ≥ 1, got ${step}`);
  if (!(beta1 >= 0 && beta1 < 1)) throw new Error(`${where}: beta1 must be in [0, 1), got ${beta1}`);
  if (!(beta2 >= 0 && beta2 < 1)) throw new Error(`${where}: beta2 must be in [0, 1), got ${beta2}`);
  for (const [t, what] of [[param, 'param'], [grad, 'grad'], [m, 'm'], [v, 'v']] as const) needF32(t, where, what);
  if (n === 0) return;
  const [scalar, vec4] = gradScale === 1 ? ADAMW : ADAMW_SCALED;
  elementwise(ctx, scalar, vec4, n, [
    { name: 'param', t: prefix(param, n, where, 'param'), access: 'write' },
    { name: 'grad', t: prefix(grad, n, where, 'grad'), access: gradScale === 1 ? 'read' : 'write' },
    { name: 'm', t: prefix(m, n, where, 'm'), access: 'write' },
    { name: 'v', t: prefix(v, n, where, 'v'), access: 'write' },
  ], [
    { f32: beta1 }, { f32: 1 - beta1 }, { f32: beta2 }, { f32: 1 - beta2 }, { f32: Math.sqrt(1 - Math.pow(beta2, step)) },
    { f32: eps }, { f32: 1 - lr * weightDecay }, { f32: lr / (1 - Math.pow(beta1, step)) }, { f32: gradScale },
  ]);
}

// --- sum of squares -------------------------------------------------------------------------------

const PER_THREAD = 8;
/** Elements per workgroup partial. */
export const SUMSQ_CHUNK = BLOCK * PER_THREAD;

function sumsqDef(subgroups: boolean): KernelDef {
  return {
    name: `sumsq${subgroups ? '.sg' : ''}`,
    params: ['n'],
    subgroups,
    code: `${WORKGROUP_INDEX}${reduceWgsl(subgroups)}
@compute @workgroup_size(${BLOCK})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, lane: Lane) {
  let g = workgroupIndex(wid, nwg);
  let base = g * ${SUMSQ_CHUNK}u;
  if (base >= p.n) { return; }
  var vals: array<f32, ${PER_THREAD}>;
  var mx = 0.0;
  var nan = 0u;
  var inf = 0u;
  for (var k = 0u; k < ${PER_THREAD}u; k++) {
    let i = base + k * ${BLOCK}u + lane.lid;
    var a = 0.0;
    if (i < p.n) {
      let b = bitcast<u32>(ld_x(i)) & 0x7fffffffu;
      if (b >= 0x7f800000u) {
        if (b > 0x7f800000u) { nan++; } else { inf++; }
      } else {
        a = bitcast<f32>(b);
      }
    }
    vals[k] = a;
    mx = max(mx, a);
  }
  let top = blockMax(mx, lane);
  // scale = 2^(127 − e) with e the biased exponent of the largest |x|: scaled values are < 4.
  let field = max(1u, 254u - ((bitcast<u32>(top) >> 23u) & 0xffu));
  let scale = bitcast<f32>(field << 23u);
  var s = 0.0;
  for (var k = 0u; k < ${PER_THREAD}u; k++) { let y = vals[k] * scale; s += y * y; }
  let total = blockSum(s, lane);
  let nans = blockSum(f32(nan), lane);
  let infs = blockSum(f32(inf), lane);
  if (lane.lid == 0u) {
    st_out(4u * g, total);
    st_out(4u * g + 1u, f32(field));
    st_out(4u * g + 2u, nans);
    st_out(4u * g + 3u, infs);
  }
}`,
  };
}

const sumsqDefs = new Map<boolean, KernelDef>();

export interface SumOfSquaresReport {
  /** Σx² in float64 over finite elements (NaN if any element is NaN, else Infinity if any is infinite). */
  sumSq: number;
  nanCount: number;
  infCount: number;
}

/** Σx² over one or more tensors (split tensors: every part), with the non-finite counts. One read-back. */
export async function sumOfSquaresReport(ctx: GpuContext, tensors: GpuTensor | GpuTensor[]): Promise<SumOfSquaresReport> {
  const parts = (Array.isArray(tensors) ? tensors : [tensors]).flatMap((t) => (t.split ? t.split.parts : [t])).filter((t) => t.length > 0);
  for (const t of parts) needF32(t, 'sumOfSquares', 'tensor');
  const groups = parts.map((t) => Math.ceil(t.length / SUMSQ_CHUNK));
  const total = groups.reduce((a, b) => a + b, 0);
  if (total === 0) return { sumSq: 0, nanCount: 0, infCount: 0 };
  const sg = useSubgroups(ctx, kernelVariants.subgroups);
  let def = sumsqDefs.get(sg);
  if (!def) sumsqDefs.set(sg, (def = sumsqDef(sg)));
  const out = allocTensor(ctx, 4 * total, 'f32', false, true);
  let at = 0;
  parts.forEach((t, j) => {
    run(ctx, def!, [
      { name: 'out', t: { buffer: out.buffer, offset: 4 * at, length: 4 * groups[j]!, dtype: 'f32' }, access: 'write' },
      { name: 'x', t, access: 'read' },
    ], [t.length], foldGroups(groups[j]!));
    at += groups[j]!;
  });
  const partials = await readF32(ctx, out);
  releaseTensor(ctx, out);
  let sumSq = 0, nanCount = 0, infCount = 0;
  for (let g = 0; g < total; g++) {
    const field = partials[4 * g + 1]!;
    sumSq += partials[4 * g]! * Math.pow(2, -2 * (field - 127));
    nanCount += partials[4 * g + 2]!;
    infCount += partials[4 * g + 3]!;
  }
  if (nanCount > 0) sumSq = NaN;
  else if (infCount > 0) sumSq = Infinity;
  return { sumSq, nanCount, infCount };
}

/**
 * Σx² of t (the squared global gradient norm), partial sums per workgroup added on the host in
 * float64. NaN when any element is NaN, Infinity when any is infinite (and none NaN): the learner
 * checks Number.isFinite(sqrt(result)) before updating, as it does on the cpu.
 */
export async function sumOfSquares(ctx: GpuContext, t: GpuTensor | GpuTensor[]): Promise<number> {
  return (await sumOfSquaresReport(ctx, t)).sumSq;
}
