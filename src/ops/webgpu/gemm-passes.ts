// The GEMM's passes around the product kernels (matmul-kernels.ts): REDUCE sums split-K slices and
// applies the epilogue the slices left out; MAXABS takes max|A| in partial maxima, from which the half
// variants derive their power-of-two A scale (over the gated values when A is gated: gemm.ts gatedA).
import type { KernelSpec } from './context.js';
import { FLAG, LOW_RANK, SILU } from './matmul-kernels.js';

/** Sums the split-K slices [S, M, N] and finishes into C (keep-multiplier, bias, low rank, accumulate). */
export const REDUCE: KernelSpec = {
  key: 'gemm-reduce',
  bindings: ['read', 'read', 'read', 'write', 'read', 'read'],
  code: /* wgsl */ `
struct Params {
  M: u32, N: u32, S: u32, gx: u32, offC: u32, ldc: u32, flags: u32, offBias: u32, offMul: u32, ldMul: u32,
  R: u32, offU: u32, offLb: u32, ldU: u32, seg1: u32, seg2: u32, offLb1: u32, offLb2: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> mulT: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<storage, read> lu: array<f32>;
@group(0) @binding(6) var<storage, read> lb: array<f32>;
${LOW_RANK}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.gx * 256u;
  if (i >= p.M * p.N) { return; }
  let m = i / p.N; let n = i % p.N;
  var v = 0.0;
  for (var z = 0u; z < p.S; z++) { v += part[z * p.M * p.N + i]; }
  if ((p.flags & ${FLAG.mul}u) != 0u) { v = v * mulT[p.offMul + m * p.ldMul + n]; }
  if ((p.flags & ${FLAG.bias}u) != 0u) { v = v + bias[p.offBias + n]; }
  if ((p.flags & ${FLAG.lowRank}u) != 0u) { v = v + lowRank(m, n); }
  let ci = p.offC + m * p.ldc + n;
  if ((p.flags & ${FLAG.accumulate}u) != 0u) { v = v + c[ci]; }
  c[ci] = v;
}`,
};

/**
 * max |x| over a rows×cols region (x[off + r·ld + c]): workgroup g writes the max of its share to
 * out[g] as f32 bits (plain stores, so nothing needs zeroing first). Feeds the half family's A scale,
 * which takes the max of the partials. `gated`: the max over silu(x[e])·x[e + gateK] (gated A), the
 * values the half kernels then scale.
 */
function maxAbsKernel(gated: boolean): KernelSpec {
  return {
    key: `gemm-maxabs${gated ? ':g' : ''}`,
    bindings: ['read', 'write'],
    code: /* wgsl */ `
struct Params { rows: u32, cols: u32, off: u32, ld: u32, gateK: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
var<workgroup> red: array<f32, 256>;
${gated ? SILU : ''}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) ng: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let total = p.rows * p.cols;
  var mx = 0.0;
  for (var i = wid.x * 256u + li; i < total; i += ng.x * 256u) {
    let e = p.off + (i / p.cols) * p.ld + i % p.cols;
    let v = abs(${gated ? 'silu(x[e]) * x[e + p.gateK]' : 'x[e]'});
    if (v > mx) { mx = v; }
  }
  red[li] = mx;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] = max(red[li], red[li + s]); }
    workgroupBarrier();
  }
  if (li == 0u) { out[wid.x] = bitcast<u32>(red[0]); }
}`,
  };
}

/** MAXABS over plain and over gated A. Params: rows, cols, off, ld, gateK (0 when plain). */
export const MAXABS = maxAbsKernel(false);
export const MAXABS_GATED = maxAbsKernel(true);
