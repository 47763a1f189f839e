// A decode step's RoPE and KV-cache write in one dispatch (the webgpu engine's decode; prefill keeps
// ropeApply + pagedKvWrite, since its attention reads the rotated keys from k itself). Per row of the
// step: q rotated in place; k rotated on its way into the K pool; v copied into the V pool. The
// three kernels it replaces (RoPE on q, RoPE on k, pagedKvWrite) cost two dispatches more per layer,
// and a decode step is short enough for the host's encoding to matter (docs/gpu.md).
//
// Threads: first one per (row, query head, rotation pair), rotating q in place (both halves of a pair
// in one thread, so no thread reads what another writes); then one per u32 word of a row's pooled K
// (and V): f16 pools pack two values per word, and each value is rotated on its own from k's
// read-only row (its partner is e ± headDim/2), so a word may straddle the two halves of a head.
import { dispatch, type GpuContext, type KernelSpec } from './context.js';
import type { GpuTensor } from './tensor.js';
import type { RopeTable } from '../types.js';
import type { KvDType, PagedKvCache } from './paged-kv.js';
import { indexTensor } from './indices.js';
import { checkRopeArgs, ropeTableTensor } from './rope.js';

function kernel(dtype: KvDType): KernelSpec {
  const per = dtype === 'f16' ? 2 : 1;
  const kWord = dtype === 'f16' ? 'pack2x16float(vec2<f32>(rotK(s, e), rotK(s, e + 1u)))' : 'bitcast<u32>(rotK(s, e))';
  const vWord =
    dtype === 'f16'
      ? 'pack2x16float(vec2<f32>(vs[p.vOff + s + e], vs[p.vOff + s + e + 1u]))'
      : 'bitcast<u32>(vs[p.vOff + s + e])';
  return {
    key: `ropeKvWrite:${dtype}`,
    bindings: ['write', 'write', 'write', 'read', 'read', 'read', 'read', 'read'],
    code: /* wgsl */ `
struct Params {
  rows: u32, half: u32, qHeads: u32, kvWidth: u32, headDim: u32,
  qOff: u32, kOff: u32, vOff: u32, dstOff: u32, posOff: u32, rowGroups: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> q: array<f32>;
@group(0) @binding(2) var<storage, read_write> kc: array<u32>;
@group(0) @binding(3) var<storage, read_write> vc: array<u32>;
// Eight storage bindings: the default limit per stage (maxStorageBuffersPerShaderStage).
@group(0) @binding(4) var<storage, read> ks: array<f32>;
@group(0) @binding(5) var<storage, read> vs: array<f32>;
@group(0) @binding(6) var<storage, read> dst: array<i32>;
@group(0) @binding(7) var<storage, read> pos: array<i32>;
@group(0) @binding(8) var<storage, read> tab: array<f32>;

// Element e of k row s (its first element's index), rotated at the row's cos/sin base tb.
var<private> tb: u32;
fn rotK(s: u32, e: u32) -> f32 {
  let d = e % p.headDim;
  let i = d % p.half;
  let c = tab[tb + 2u * i];
  let sn = tab[tb + 2u * i + 1u];
  let x = ks[p.kOff + s + e];
  if (d < p.half) { return x * c - ks[p.kOff + s + e + p.half] * sn; }
  return x * c + ks[p.kOff + s + e - p.half] * sn;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x + gid.y * p.rowGroups * 256u;
  let qThreads = p.rows * p.qHeads * p.half;
  if (t < qThreads) {
    let i = t % p.half;
    let rh = t / p.half;
    let row = rh / p.qHeads;
    let base = (u32(pos[p.posOff + row]) * p.half + i) * 2u;
    let c = tab[base];
    let sn = tab[base + 1u];
    let o = p.qOff + rh * 2u * p.half;
    let x1 = q[o + i];
    let x2 = q[o + p.half + i];
    q[o + i] = x1 * c - x2 * sn;
    q[o + p.half + i] = x2 * c + x1 * sn;
    return;
  }
  let wordsPerRow = p.kvWidth / ${per}u;
  let w = t - qThreads;
  let row = w / wordsPerRow;
  if (row >= p.rows) { return; }
  let word = w % wordsPerRow;
  tb = u32(pos[p.posOff + row]) * p.half * 2u;
  let s = row * p.kvWidth;
  let e = word * ${per}u;
  let d = u32(dst[p.dstOff + row]) * wordsPerRow + word;
  kc[d] = ${kWord};
  vc[d] = ${vWord};
}`,
  };
}

const specs = new Map<KvDType, KernelSpec>();

export interface RopeKvShape {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}

/**
 * For each of `rows` rows: q's row rotated in place (nHeads heads) and k's row rotated (nKvHeads
 * heads) into pool row dst[row] of the layer's K pool, v's row into the same row of the V pool.
 * q, k, v: f32 [rows, width] views; dst: i32 [rows] destination pool rows (a view of the engine's
 * write map), uploaded by the caller; positions: each row's position (host, uploaded once per array).
 */
export function ropeKvWrite(
  ctx: GpuContext,
  cache: PagedKvCache,
  layer: number,
  q: GpuTensor,
  k: GpuTensor,
  v: GpuTensor,
  dst: GpuTensor,
  positions: Int32Array,
  rows: number,
  shape: RopeKvShape,
  table: RopeTable,
): void {
  const where = 'ropeKvWrite';
  const { nHeads, nKvHeads, headDim } = shape;
  checkRopeArgs(where, positions, rows, nHeads, headDim, table);
  if (!(Number.isInteger(nKvHeads) && nKvHeads > 0))
    throw new Error(`${where}: nKvHeads must be a positive integer, got ${nKvHeads}`);
  if (rows === 0) return;
  const L = cache.layers[layer];
  if (!L) throw new Error(`${where}: layer ${layer} outside [0, ${cache.layers.length})`);
  if (cache.kvWidth !== nKvHeads * headDim)
    throw new Error(`${where}: cache rows hold ${cache.kvWidth} values, nKvHeads·headDim is ${nKvHeads * headDim}`);
  const qW = nHeads * headDim;
  for (const [t, what, n] of [
    [q, 'q', rows * qW],
    [k, 'k', rows * cache.kvWidth],
    [v, 'v', rows * cache.kvWidth],
  ] as const) {
    if (t.dtype !== 'f32' || t.split) throw new Error(`${where}: ${what} must be a single-buffer f32 tensor`);
    if (t.length < n) throw new Error(`${where}: ${what} has ${t.length} values, ${rows} rows need ${n}`);
  }
  if (q.buffer === k.buffer || q.buffer === v.buffer)
    throw new Error(`${where}: q must not share a buffer with k or v (q is written)`);
  if (dst.dtype !== 'i32' || dst.length < rows)
    throw new Error(`${where}: dst must be an i32 tensor of at least ${rows} entries`);
  for (const t of [q, k, v])
    if (t.buffer === L.k.buffer || t.buffer === L.v.buffer)
      throw new Error(`${where}: q, k or v alias the cache pools`);
  const half = headDim / 2;
  const per = cache.dtype === 'f16' ? 2 : 1;
  const threads = rows * nHeads * half + rows * (cache.kvWidth / per);
  const groups = Math.ceil(threads / 256);
  const gx = Math.min(groups, 32768),
    gy = Math.ceil(groups / gx);
  let spec = specs.get(cache.dtype);
  if (!spec) specs.set(cache.dtype, (spec = kernel(cache.dtype)));
  const pos = indexTensor(ctx, positions);
  const tab = ropeTableTensor(ctx, table);
  const params = [rows, half, nHeads, cache.kvWidth, headDim, q.offset, k.offset, v.offset, dst.offset, pos.offset, gx];
  dispatch(ctx, spec, [q, L.k, L.v, k, v, dst, pos, tab], params, [gx, gy]);
}
