// Reductions for the row kernels (RMSNorm) and the gradient-norm partial sums, in two variants:
//  - 'subgroup': one subgroup owns a row (or a chunk) and reduces it with subgroupAdd/subgroupMax,
//    with no workgroup barrier at all. A workgroup of BLOCK invocations holds BLOCK/subgroupMaxSize
//    "units" (rows, chunks); subgroups loop over them, so any actual subgroup size is correct.
//    Subgroup ops are called in control flow that is uniform per subgroup (the unit index is)
//    though not per workgroup, hence `diagnostic(off, subgroup_uniformity)`.
//    Barrier-free also matters on SwiftShader (CI), which runs barrier kernels ~100× slower.
//  - 'workgroup': one workgroup owns a unit and reduces it with a tree in workgroup memory
//    (portable: adapters without the subgroups feature).
// Both sum in a fixed order, so a result is the same bits on every run.
import type { GpuContext } from './context.js';
import { kernelVariants } from './operands.js';

export const BLOCK = 256;

export type Reduction = 'subgroup' | 'workgroup';

/**
 * The variant the context runs: subgroup when the device has the feature, reports its subgroup
 * size range, and its WGSL has the `subgroup_id` builtin (a language feature newer than subgroups).
 */
export function reduction(ctx: GpuContext): Reduction {
  const ok =
    ctx.subgroups && ctx.info.subgroupMaxSize > 0 && (ctx.info.wgslLanguageFeatures ?? []).includes('subgroup_id');
  return ok && kernelVariants.subgroups ? 'subgroup' : 'workgroup';
}

/** Units (rows, chunks) per workgroup: one per subgroup of the largest size, or one. */
export function unitsPerGroup(ctx: GpuContext, r: Reduction): number {
  return r === 'subgroup' ? Math.max(1, Math.floor(BLOCK / ctx.info.subgroupMaxSize)) : 1;
}

/** The header directives a variant needs (go first in the module). */
export const reductionHeader = (r: Reduction): string =>
  r === 'subgroup' ? 'enable subgroups;\ndiagnostic(off, subgroup_uniformity);' : '';

/**
 * The entry point's shell: `body` runs once per unit `u` (< p.units) with `first`/`stride` the lane's
 * start and step inside the unit, `sum(v)`/`max(v)` the unit-wide reductions (every lane gets the
 * result) and `leader` true on one lane. Params must include `units` and `unitsPerGroup`.
 */
export function unitKernel(r: Reduction, body: string): string {
  if (r === 'subgroup') {
    return `
struct Lane {
  @builtin(subgroup_invocation_id) sgi: u32,
  @builtin(subgroup_size) sgs: u32,
  @builtin(subgroup_id) sgid: u32,
  @builtin(num_subgroups) nsg: u32,
}
fn unitSum(v: f32) -> f32 { return subgroupAdd(v); }
fn unitMax(v: f32) -> f32 { return subgroupMax(v); }
@compute @workgroup_size(${BLOCK})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, lane: Lane) {
  let g = wid.x + wid.y * nwg.x;
  let first = lane.sgi;
  let stride = lane.sgs;
  let leader = lane.sgi == 0u;
  for (var k = lane.sgid; k < p.unitsPerGroup; k += lane.nsg) {
    let u = g * p.unitsPerGroup + k;
    if (u >= p.units) { break; }
    ${body}
  }
}`;
  }
  return `
var<workgroup> red: array<f32, ${BLOCK}>;
var<private> lid: u32;
fn tree(v: f32, isMax: bool) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${BLOCK / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { let a = red[lid]; let b = red[lid + s]; red[lid] = select(a + b, max(a, b), isMax); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
fn unitSum(v: f32) -> f32 { return tree(v, false); }
fn unitMax(v: f32) -> f32 { return tree(v, true); }
@compute @workgroup_size(${BLOCK})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  lid = li;
  let u = wid.x + wid.y * nwg.x;
  if (u >= p.units) { return; }
  let first = li;
  let stride = ${BLOCK}u;
  let leader = li == 0u;
  ${body}
}`;
}
