// The paged KV cache of the webgpu generation engine (vLLM's PagedAttention layout). Per layer, one
// K pool and one V pool of `numPages · pageSize` token rows of kvWidth = nKvHeads·headDim values, in
// f16 (packed two per u32 word, like the weights: tensor.ts) or f32. A sequence owns a list of pages
// (its row of the page table, an i32 tensor [maxSeqs, maxPagesPerSeq] that the host keeps); token
// position j of the sequence lives in row pageTable[seq, j / pageSize]·pageSize + j % pageSize.
//
// Prefill's writes go through a "slot mapping" (vLLM's name): for each of `count` writes, the source
// row of k/v (the new tokens' keys and values, after RoPE) and the destination pool row. The host
// computes both from its page tables; one source row may be written to several destinations (a prompt
// prefilled once for G sequences). A decode step writes its rows in the dispatch that rotates them
// (rope-kv-write.ts).
import { allocTensor, dispatch, releaseTensor, type GpuContext, type KernelSpec } from './context.js';
import type { GpuTensor } from './tensor.js';

export type KvDType = 'f16' | 'f32';

export interface PagedKvLayer {
  k: GpuTensor;
  v: GpuTensor;
}

export interface PagedKvCache {
  dtype: KvDType;
  pageSize: number;
  numPages: number;
  /** nKvHeads · headDim: values per token row. */
  kvWidth: number;
  layers: PagedKvLayer[];
  /** GPU bytes of all pools. */
  bytes: number;
}

export interface PagedKvOptions {
  layers: number;
  numPages: number;
  pageSize: number;
  kvWidth: number;
  dtype: KvDType;
}

/** Allocates the pools (persistent: outside every scope). Contents are undefined until written. */
export function createPagedKvCache(ctx: GpuContext, o: PagedKvOptions): PagedKvCache {
  for (const f of ['layers', 'numPages', 'pageSize', 'kvWidth'] as const) {
    if (!(Number.isInteger(o[f]) && o[f] > 0))
      throw new Error(`createPagedKvCache: ${f} must be a positive integer, got ${o[f]}`);
  }
  if (o.dtype === 'f16' && o.kvWidth % 2)
    throw new Error(
      `createPagedKvCache: an f16 cache needs an even kvWidth (whole u32 words per row), got ${o.kvWidth}`,
    );
  const n = o.numPages * o.pageSize * o.kvWidth;
  const bytesPer = o.dtype === 'f16' ? 2 : 4;
  if (n * bytesPer > ctx.maxBinding) {
    throw new Error(
      `createPagedKvCache: one layer's pool (${o.numPages} pages × ${o.pageSize} × ${o.kvWidth} ${o.dtype}) is ${n * bytesPer} bytes, over the device's storage binding limit ${ctx.maxBinding}; use fewer pages`,
    );
  }
  const layers: PagedKvLayer[] = [];
  try {
    for (let l = 0; l < o.layers; l++)
      layers.push({ k: allocTensor(ctx, n, o.dtype, false, true), v: allocTensor(ctx, n, o.dtype, false, true) });
  } catch (e) {
    for (const p of layers) {
      releaseTensor(ctx, p.k);
      releaseTensor(ctx, p.v);
    }
    throw e;
  }
  return { ...o, layers: layers.slice(0, o.layers), bytes: 2 * o.layers * n * bytesPer };
}

export function releasePagedKvCache(ctx: GpuContext, cache: PagedKvCache): void {
  for (const p of cache.layers) {
    releaseTensor(ctx, p.k);
    releaseTensor(ctx, p.v);
  }
  cache.layers = [];
}

/** Bytes one token takes in the cache (all layers, K and V). */
export function kvBytesPerToken(layers: number, kvWidth: number, dtype: KvDType): number {
  return 2 * layers * kvWidth * (dtype === 'f16' ? 2 : 4);
}

function writeKernel(dtype: KvDType): KernelSpec {
  // One thread per destination u32 word (f16: two values, packed; f32: one value).
  const per = dtype === 'f16' ? 2 : 1;
  const value =
    dtype === 'f16' ? `pack2x16float(vec2<f32>(bitcast<f32>(SRC[s]), bitcast<f32>(SRC[s + 1u])))` : `SRC[s]`;
  return {
    key: `pagedKvWrite:${dtype}`,
    bindings: ['write', 'write', 'read', 'read', 'read'],
    code: /* wgsl */ `
struct Params { count: u32, wordsPerRow: u32, width: u32, kOff: u32, vOff: u32, mapOff: u32, rowGroups: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> kc: array<u32>;
@group(0) @binding(2) var<storage, read_write> vc: array<u32>;
@group(0) @binding(3) var<storage, read> ks: array<u32>;
@group(0) @binding(4) var<storage, read> vs: array<u32>;
// map: [count] source rows, then [count] destination rows.
@group(0) @binding(5) var<storage, read> map: array<i32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x + gid.y * p.rowGroups * 256u;
  let i = t / p.wordsPerRow;
  if (i >= p.count) { return; }
  let w = t % p.wordsPerRow;
  let src = u32(map[p.mapOff + i]);
  let dst = u32(map[p.mapOff + p.count + i]);
  let e = src * p.width + w * ${per}u;
  let d = dst * p.wordsPerRow + w;
  {
    let s = p.kOff + e;
    kc[d] = ${value.replace(/SRC/g, 'ks')};
  }
  {
    let s = p.vOff + e;
    vc[d] = ${value.replace(/SRC/g, 'vs')};
  }
}`,
  };
}

const specs = new Map<KvDType, KernelSpec>();

/**
 * For i < count: pool row map[count + i] of layer.k / layer.v ← row map[i] of k / v (f32 [rows,
 * kvWidth] views at any offset). `map` is an i32 tensor [2·count] (source rows, then destination
 * rows), uploaded by the caller.
 */
export function pagedKvWrite(
  ctx: GpuContext,
  cache: PagedKvCache,
  layer: number,
  k: GpuTensor,
  v: GpuTensor,
  map: GpuTensor,
  count: number,
): void {
  if (count === 0) return;
  const where = 'pagedKvWrite';
  const L = cache.layers[layer];
  if (!L) throw new Error(`${where}: layer ${layer} outside [0, ${cache.layers.length})`);
  if (k.dtype !== 'f32' || v.dtype !== 'f32' || k.split || v.split)
    throw new Error(`${where}: k and v must be single-buffer f32 tensors`);
  if (map.dtype !== 'i32' || map.length < 2 * count)
    throw new Error(`${where}: map must be an i32 tensor of at least 2·count = ${2 * count} entries`);
  if (k.buffer === L.k.buffer || v.buffer === L.v.buffer || k.buffer === L.v.buffer || v.buffer === L.k.buffer)
    throw new Error(`${where}: sources alias the cache pools`);
  const per = cache.dtype === 'f16' ? 2 : 1;
  const wordsPerRow = cache.kvWidth / per;
  const threads = count * wordsPerRow;
  const groups = Math.ceil(threads / 256);
  const gx = Math.min(groups, 32768),
    gy = Math.ceil(groups / gx);
  let spec = specs.get(cache.dtype);
  if (!spec) specs.set(cache.dtype, (spec = writeKernel(cache.dtype)));
  // Words of the f32 sources are addressed in elements (one f32 per u32).
  dispatch(
    ctx,
    spec,
    [L.k, L.v, k, v, map],
    [count, wordsPerRow, cache.kvWidth, k.offset, v.offset, map.offset, gx],
    [gx, gy],
  );
}
