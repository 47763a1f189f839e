// WGSL block reductions of a 256-invocation workgroup, used by the row kernels (RMSNorm) and the
// gradient-norm partial sums. Two variants with one interface, `blockSum(v, lane)` /
// `blockMax(v, lane)`, every invocation receiving the result:
//  - workgroup: a tree in workgroup memory (8 barriers), portable;
//  - subgroups: subgroupAdd/subgroupMax, then one partial per subgroup combined in subgroup-id order
//    (deterministic: the same input gives the same bits on every run).
// Entry points take `lane: Lane` (the builtins each variant needs) and must call the reductions
// from workgroup-uniform control flow.

export const BLOCK = 256;

/** Whether the subgroup variant runs on this context (feature present and not switched off). */
export function useSubgroups(ctx: { subgroups: boolean }, enabled: boolean): boolean {
  return ctx.subgroups && enabled;
}

export function reduceWgsl(subgroups: boolean): string {
  if (subgroups) {
    return `
struct Lane {
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_invocation_id) sgi: u32,
  @builtin(subgroup_id) sgid: u32,
  @builtin(num_subgroups) nsg: u32,
}
var<workgroup> red: array<f32, ${BLOCK}>;
fn combine(s: f32, lane: Lane, isMax: bool) -> f32 {
  if (lane.sgi == 0u) { red[lane.sgid] = s; }
  workgroupBarrier();
  var t = red[0];
  for (var k = 1u; k < lane.nsg; k++) { t = select(t + red[k], max(t, red[k]), isMax); }
  workgroupBarrier();
  return t;
}
fn blockSum(v: f32, lane: Lane) -> f32 { return combine(subgroupAdd(v), lane, false); }
fn blockMax(v: f32, lane: Lane) -> f32 { return combine(subgroupMax(v), lane, true); }`;
  }
  return `
struct Lane { @builtin(local_invocation_index) lid: u32 }
var<workgroup> red: array<f32, ${BLOCK}>;
fn tree(v: f32, lane: Lane, isMax: bool) -> f32 {
  red[lane.lid] = v;
  workgroupBarrier();
  for (var s = ${BLOCK / 2}u; s > 0u; s >>= 1u) {
    if (lane.lid < s) { let a = red[lane.lid]; let b = red[lane.lid + s]; red[lane.lid] = select(a + b, max(a, b), isMax); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
fn blockSum(v: f32, lane: Lane) -> f32 { return tree(v, lane, false); }
fn blockMax(v: f32, lane: Lane) -> f32 { return tree(v, lane, true); }`;
}
