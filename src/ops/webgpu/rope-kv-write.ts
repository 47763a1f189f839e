// A decode step's RoPE and KV-cache write in one dispatch (the webgpu engine's decode; prefill keeps
// ropeApply + pagedKvWrite, since its attention reads the rotated keys from k itself). Per row of the
// step: q rotated in place; k rotated on its way into the K pool; v copied into the V pool. The
// three kernels it replaces (RoPE on q, RoPE on k, pagedKvWrite) cost two dispatches more per layer,
// and a decode step is short enough for the host's encoding to matter (docs/gpu.md).
//
// The rows come as q, k, v apart, or packed as the fused q,k,v projection writes them (each row
// q | k | v, one buffer bound once for reading and writing: fused-projections.ts).
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

type Mode = 'apart' | 'packed';

function kernel(dtype: KvDType, mode: Mode): KernelSpec {
  const per = dtype === 'f16' ? 2 : 1;
  const kWord = dtype === 'f16' ? 'pack2x16float(vec2<f32>(rotK(s, e), rotK(s, e + 1u)))' : 'bitcast<u32>(rotK(s, e))';
  const vWord =
    dtype === 'f16' ? 'pack2x16float(vec2<f32>(ldV(vs0 + e), ldV(vs0 + e + 1u)))' : 'bitcast<u32>(ldV(vs0 + e))';
  const packed = mode === 'packed';
  // Packed: k and v are read from q's binding (a buffer may not be bound read-only and writable at once).
  const sources = packed
    ? `fn ldK(i: u32) -> f32 { return q[i]; }
fn ldV(i: u32) -> f32 { return q[i]; }`
    : `@group(0) @binding(7) var<storage, read> ks: array<f32>;
@group(0) @binding(8) var<storage, read> vs: array<f32>;
fn ldK(i: u32) -> f32 { return ks[i]; }
fn ldV(i: u32) -> f32 { return vs[i]; }`;
  return {
    key: `ropeKvWrite:${dtype}:${mode}`,
    bindings: ['write', 'write', 'write', 'read', 'read', 'read', ...(packed ? [] : (['read', 'read'] as const))],
    code: /* wgsl */ `
struct Params {
  rows: u32, half: u32, qHeads: u32, kvWidth: u32, headDim: u32, ldq: u32, ldkv: u32,
  qOff: u32, kOff: u32, vOff: u32, dstOff: u32, posOff: u32, rowGroups: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> q: array<f32>;
@group(0) @binding(2) var<storage, read_write> kc: array<u32>;
@group(0) @binding(3) var<storage, read_write> vc: array<u32>;
@group(0) @binding(4) var<storage, read> dst: array<i32>;
@group(0) @binding(5) var<storage, read> pos: array<i32>;
@group(0) @binding(6) var<storage, read> tab: array<f32>;
// Apart: eight storage bindings, the default limit per stage (maxStorageBuffersPerShaderStage).
${sources}

// Element e of the k row starting at s, rotated at the row's cos/sin base tb.
var<private> tb: u32;
fn rotK(s: u32, e: u32) -> f32 {
  let d = e % p.headDim;
  let i = d % p.half;
  let c = tab[tb + 2u * i];
  let sn = tab[tb + 2u * i + 1u];
  let x = ldK(s + e);
  if (d < p.half) { return x * c - ldK(s + e + p.half) * sn; }
  return x * c + ldK(s + e - p.half) * sn;
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
    let o = p.qOff + row * p.ldq + (rh % p.qHeads) * 2u * p.half;
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
  let s = p.kOff + row * p.ldkv;
  let vs0 = p.vOff + row * p.ldkv;
  let e = word * ${per}u;
  let d = u32(dst[p.dstOff + row]) * wordsPerRow + word;
  kc[d] = ${kWord};
  vc[d] = ${vWord};
}`,
  };
}

const specs = new Map<string, KernelSpec>();

export interface RopeKvShape {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}

/**
 * A step's q, k, v rows: three f32 tensors [rows, width] in distinct buffers from q's, or one packed
 * tensor [rows, Q + 2·KV] (each row q | k | v, as the fused q,k,v projection writes it).
 */
export type RopeKvSource = { q: GpuTensor; k: GpuTensor; v: GpuTensor } | { qkv: GpuTensor };

/**
 * For each of `rows` rows: its q rotated in place (nHeads heads), its k rotated (nKvHeads heads) into
 * pool row dst[row] of the layer's K pool, its v into the same row of the V pool. dst: i32 [rows]
 * destination pool rows, uploaded by the caller; positions: each row's position (host, uploaded once
 * per array).
 */
export function ropeKvWrite(
  ctx: GpuContext,
  cache: PagedKvCache,
  layer: number,
  src: RopeKvSource,
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
  const qW = nHeads * headDim,
    kvW = cache.kvWidth;
  const packed = 'qkv' in src;
  const parts: [GpuTensor, string, number][] = packed
    ? [[src.qkv, 'qkv', rows * (qW + 2 * kvW)]]
    : [
        [src.q, 'q', rows * qW],
        [src.k, 'k', rows * kvW],
        [src.v, 'v', rows * kvW],
      ];
  for (const [t, what, n] of parts) {
    if (t.dtype !== 'f32' || t.split) throw new Error(`${where}: ${what} must be a single-buffer f32 tensor`);
    if (t.length < n) throw new Error(`${where}: ${what} has ${t.length} values, ${rows} rows need ${n}`);
    if (t.buffer === L.k.buffer || t.buffer === L.v.buffer)
      throw new Error(`${where}: ${what} aliases the cache pools`);
  }
  if (!packed && (src.q.buffer === src.k.buffer || src.q.buffer === src.v.buffer))
    throw new Error(`${where}: q must not share a buffer with k or v (q is written; pass them packed as qkv)`);
  if (dst.dtype !== 'i32' || dst.length < rows)
    throw new Error(`${where}: dst must be an i32 tensor of at least ${rows} entries`);
  const half = headDim / 2;
  const per = cache.dtype === 'f16' ? 2 : 1;
  const threads = rows * nHeads * half + rows * (kvW / per);
  const groups = Math.ceil(threads / 256);
  const gx = Math.min(groups, 32768),
    gy = Math.ceil(groups / gx);
  const mode: Mode = packed ? 'packed' : 'apart';
  const key = `${cache.dtype}:${mode}`;
  let spec = specs.get(key);
  if (!spec) specs.set(key, (spec = kernel(cache.dtype, mode)));
  const pos = indexTensor(ctx, positions);
  const tab = ropeTableTensor(ctx, table);
  const q = packed ? src.qkv : src.q;
  const [ldq, ldkv] = packed ? [qW + 2 * kvW, qW + 2 * kvW] : [qW, kvW];
  const [kOff, vOff] = packed ? [q.offset + qW, q.offset + qW + kvW] : [src.k.offset, src.v.offset];
  const common = [rows, half, nHeads, kvW, headDim, ldq, ldkv, q.offset, kOff, vOff, dst.offset, pos.offset, gx];
  const bound = packed ? [q, L.k, L.v, dst, pos, tab] : [q, L.k, L.v, dst, pos, tab, src.k, src.v];
  dispatch(ctx, spec, bound, common, [gx, gy]);
}
