// Decode attention over the paged KV cache (paged-kv.ts): one new query row per sequence attends to
// every cached key of its sequence (the new token's own key included: it is written first), GQA.
// Semantics are the cpu attention's for a query at position len−1: softmax(q·kᵀ/√hd) · v.
//
// One workgroup per (sequence, KV head, split). The GQA group's G query heads are held in workgroup
// memory, so each cached key and value is read once for all of them. Keys go in blocks of WG (one
// key per thread for the scores, page looked up per key); the online softmax keeps a running max and
// sum per head; for P·V each thread owns value dims in pairs (one u32 word of an f16 row), so the
// value loads of a block are coalesced across threads. With splits > 1 (flash-decoding: more
// workgroups when the batch is small and the context long) each split covers a range of keys and
// writes an unnormalised partial (acc, max, sum); a second kernel combines the splits.
import { allocTensor, dispatch, releaseTensor, type GpuContext, type KernelSpec } from './context.js';
import type { GpuTensor } from './tensor.js';
import type { PagedKvCache } from './paged-kv.js';

export interface DecodeAttentionShape {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /** Columns of the page table (pages a sequence may hold). */
  maxPagesPerSeq: number;
}

export interface DecodeAttentionOptions {
  /** Key-range splits per (sequence, KV head). Default: enough workgroups for a large GPU. */
  splits?: number;
  /** Longest sequence of the call (keys), to size the splits. Default: a full page-table row. */
  maxLen?: number;
  /** Row stride of q (even; default nHeads·headDim): q may be the q columns of the fused q,k,v rows. */
  ldq?: number;
}

interface Variant {
  dtype: 'f16' | 'f32';
  hd: number;
  G: number;
  WG: number;
  split: boolean;
}

/** Threads per workgroup: one per value-dim pair, at least 32 and at most 64 (also the key block). */
export function decodeThreads(headDim: number): number {
  return Math.min(64, Math.max(32, headDim / 2));
}

function kernel(v: Variant): KernelSpec {
  const { dtype, hd, G, WG } = v;
  const words = hd / 2; // value-dim pairs per head
  const WPT = Math.ceil(words / WG); // pairs per thread in P·V
  // K/V pool element e (f32) or pair of elements (f16 word) accessors.
  const kvDecl =
    dtype === 'f16'
      ? `fn pairK(e: u32) -> vec2<f32> { return unpack2x16float(kc[e >> 1u]); }
fn pairV(e: u32) -> vec2<f32> { return unpack2x16float(vc[e >> 1u]); }`
      : `fn pairK(e: u32) -> vec2<f32> { return vec2<f32>(bitcast<f32>(kc[e]), bitcast<f32>(kc[e + 1u])); }
fn pairV(e: u32) -> vec2<f32> { return vec2<f32>(bitcast<f32>(vc[e]), bitcast<f32>(vc[e + 1u])); }`;
  const accDecl = Array.from({ length: G * WPT }, (_, i) => `var acc${i} = vec2<f32>(0.0);`).join('\n  ');
  const scoreLines = Array.from({ length: G }, (_, h) => `var s${h} = 0.0;`).join(' ');
  const scoreAcc = Array.from({ length: G }, (_, h) => `s${h} += dot(qs[${h * words}u + w], kk);`).join(' ');
  const scoreStore = Array.from({ length: G }, (_, h) => `sc[${h * WG}u + lid] = select(NEG, s${h}, valid);`).join(
    '\n    ',
  );
  const pvLines: string[] = [];
  for (let j = 0; j < WPT; j++) {
    pvLines.push(`{ let w = lid + ${j * WG}u; if (w < ${words}u) { let vv = pairV(vb + 2u * w);`);
    for (let h = 0; h < G; h++) pvLines.push(`  acc${h * WPT + j} += sc[${h * WG}u + t] * vv;`);
    pvLines.push('} }');
  }
  const rescale = Array.from({ length: G }, (_, h) =>
    Array.from({ length: WPT }, (_, j) => `acc${h * WPT + j} *= corr[${h}];`).join(' '),
  ).join('\n    ');
  const outLines: string[] = [];
  for (let h = 0; h < G; h++) {
    for (let j = 0; j < WPT; j++) {
      const w = `lid + ${j * WG}u`;
      if (v.split) {
        outLines.push(
          `{ let w = ${w}; if (w < ${words}u) { let at = (pbase + ${h}u * p.splits) * ${hd}u + 2u * w; part[at] = acc${h * WPT + j}.x; part[at + 1u] = acc${h * WPT + j}.y; } }`,
        );
      } else {
        outLines.push(
          `{ let w = ${w}; if (w < ${words}u) { let at = p.oOff + obase + ${h * hd}u + 2u * w; let r = acc${h * WPT + j} / l[${h}]; o[at] = r.x; o[at + 1u] = r.y; } }`,
        );
      }
    }
  }
  const stats = v.split
    ? `if (lid < ${G}u) { let at = (pbase + lid * p.splits) * 2u; ml[at] = m[lid]; ml[at + 1u] = l[lid]; }`
    : '';
  const outBindings = v.split
    ? `@group(0) @binding(6) var<storage, read_write> part: array<f32>;
@group(0) @binding(7) var<storage, read_write> ml: array<f32>;`
    : `@group(0) @binding(6) var<storage, read_write> o: array<f32>;`;
  return {
    key: `decodeAttention:${dtype}:${hd}:${G}:${WG}:${v.split}`,
    bindings: v.split
      ? ['read', 'read', 'read', 'read', 'read', 'write', 'write']
      : ['read', 'read', 'read', 'read', 'read', 'write'],
    code: /* wgsl */ `
struct Params { qOff: u32, oOff: u32, nHeads: u32, kvWidth: u32, pageSize: u32, maxPages: u32, keysPerSplit: u32, splits: u32, scale: f32, tableOff: u32, seqOff: u32, ldq: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> kc: array<u32>;
@group(0) @binding(3) var<storage, read> vc: array<u32>;
@group(0) @binding(4) var<storage, read> table: array<i32>;
// seqs: per query row, its page-table row and its length (keys, the new one included).
@group(0) @binding(5) var<storage, read> seqs: array<i32>;
${outBindings}
const NEG = -3.0e38;
var<workgroup> qs: array<vec2<f32>, ${G * words}>;
var<workgroup> sc: array<f32, ${G * WG}>;
var<workgroup> rowOf: array<u32, ${WG}>;
${kvDecl}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x;
  let g = wid.y;
  let split = wid.z;
  let tRow = u32(seqs[p.seqOff + 2u * i]);
  let len = u32(seqs[p.seqOff + 2u * i + 1u]);
  let k0 = split * p.keysPerSplit;
  let k1 = min(len, k0 + p.keysPerSplit);
  let qbase = i * p.ldq + g * ${G * hd}u;
  let obase = i * p.nHeads * ${hd}u + g * ${G * hd}u;
  for (var e = lid; e < ${G * words}u; e += ${WG}u) {
    let at = p.qOff + qbase + 2u * e;
    qs[e] = vec2<f32>(q[at], q[at + 1u]) * p.scale;
  }
  var m: array<f32, ${G}>;
  var l: array<f32, ${G}>;
  var corr: array<f32, ${G}>;
  for (var h = 0u; h < ${G}u; h++) { m[h] = NEG; l[h] = 0.0; }
  ${accDecl}
  let headAt = g * ${hd}u;
  workgroupBarrier();
  for (var kb = k0; kb < k1; kb += ${WG}u) {
    let j = kb + lid;
    let valid = j < k1;
    var row = 0u;
    ${scoreLines}
    if (valid) {
      row = u32(table[p.tableOff + tRow * p.maxPages + j / p.pageSize]) * p.pageSize + j % p.pageSize;
      let kb0 = row * p.kvWidth + headAt;
      for (var w = 0u; w < ${words}u; w++) {
        let kk = pairK(kb0 + 2u * w);
        ${scoreAcc}
      }
    }
    rowOf[lid] = row;
    ${scoreStore}
    workgroupBarrier();
    // Block max per head (every thread scans the block: broadcast reads), then the rescaled sum.
    let nb = min(${WG}u, k1 - kb);
    for (var h = 0u; h < ${G}u; h++) {
      var bm = NEG;
      for (var t = 0u; t < nb; t++) { bm = max(bm, sc[h * ${WG}u + t]); }
      let mn = max(m[h], bm);
      corr[h] = exp(m[h] - mn);
      m[h] = mn;
    }
    workgroupBarrier();
    for (var h = 0u; h < ${G}u; h++) {
      let at = h * ${WG}u + lid;
      sc[at] = select(0.0, exp(sc[at] - m[h]), valid);
    }
    workgroupBarrier();
    for (var h = 0u; h < ${G}u; h++) {
      var bs = 0.0;
      for (var t = 0u; t < nb; t++) { bs += sc[h * ${WG}u + t]; }
      l[h] = l[h] * corr[h] + bs;
    }
    ${rescale}
    for (var t = 0u; t < nb; t++) {
      let vb = rowOf[t] * p.kvWidth + headAt;
      ${pvLines.join('\n      ')}
    }
    workgroupBarrier();
  }
  let pbase = (i * p.nHeads + g * ${G}u) * p.splits + split;
  ${outLines.join('\n  ')}
  ${stats}
}`,
  };
}

/** Combines split partials: o = Σ_s e^{m_s − M} acc_s / Σ_s e^{m_s − M} l_s per (row, head). */
function combineKernel(hd: number): KernelSpec {
  return {
    key: `decodeAttentionCombine:${hd}`,
    bindings: ['read', 'read', 'write'],
    code: /* wgsl */ `
struct Params { oOff: u32, splits: u32, count: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read> ml: array<f32>;
@group(0) @binding(3) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let rh = wid.x + wid.y * 32768u; // (row, head)
  if (rh >= p.count) { return; }
  let base = rh * p.splits;
  var mx = -3.0e38;
  for (var s = 0u; s < p.splits; s++) { mx = max(mx, ml[(base + s) * 2u]); }
  var den = 0.0;
  for (var s = 0u; s < p.splits; s++) { den += exp(ml[(base + s) * 2u] - mx) * ml[(base + s) * 2u + 1u]; }
  for (var d = lid; d < ${hd}u; d += 64u) {
    var num = 0.0;
    for (var s = 0u; s < p.splits; s++) { num += exp(ml[(base + s) * 2u] - mx) * part[(base + s) * ${hd}u + d]; }
    o[p.oOff + rh * ${hd}u + d] = num / den;
  }
}`,
  };
}

const cache = new Map<string, KernelSpec>();
function spec(key: string, make: () => KernelSpec): KernelSpec {
  let s = cache.get(key);
  if (!s) cache.set(key, (s = make()));
  return s;
}

/** Workgroups a large GPU wants in flight (two waves on ~132 SMs). */
const TARGET_GROUPS = 264;

export function defaultSplits(n: number, nKvHeads: number, maxLen: number, wg: number): number {
  const base = n * nKvHeads;
  const want = Math.ceil(TARGET_GROUPS / Math.max(1, base));
  // Each split covers at least 4 key blocks, so the partial writes stay small against the key reads.
  const most = Math.max(1, Math.floor(maxLen / (4 * wg)));
  return Math.max(1, Math.min(want, most, 64));
}

/**
 * How a decode step's keys are split over workgroups: the only part of decodeAttention's work that
 * depends on maxLen (a recorded decode step stays valid while this is unchanged).
 */
export function decodeAttentionPlan(
  n: number,
  nKvHeads: number,
  hd: number,
  maxLen: number,
  splits?: number,
): { splits: number; keysPerSplit: number } {
  const WG = decodeThreads(hd);
  const s = splits ?? defaultSplits(n, nKvHeads, maxLen, WG);
  return { splits: s, keysPerSplit: Math.ceil(Math.ceil(maxLen / s) / WG) * WG };
}

/**
 * o [n, nHeads·hd] = decode attention of q [n, nHeads·hd] (rows at stride opts.ldq; q and o views at
 * even offsets) over layer `layer` of the cache; `table` is the page table (i32 [rows,
 * maxPagesPerSeq]), `seqs` an i32 tensor [2n] of (page-table row, length) per query row. Lengths must be ≥ 1 (the new key is written first).
 */
export function decodeAttention(
  ctx: GpuContext,
  o: GpuTensor,
  q: GpuTensor,
  cacheKv: PagedKvCache,
  layer: number,
  table: GpuTensor,
  seqs: GpuTensor,
  n: number,
  shape: DecodeAttentionShape,
  opts: DecodeAttentionOptions = {},
): void {
  const where = 'decodeAttention';
  if (n === 0) return;
  const { nHeads, nKvHeads, headDim: hd } = shape;
  if (nHeads % nKvHeads) throw new Error(`${where}: ${nHeads} query heads are not a multiple of ${nKvHeads} KV heads`);
  if (hd % 2) throw new Error(`${where}: head dim must be even, got ${hd}`);
  if (cacheKv.kvWidth !== nKvHeads * hd)
    throw new Error(`${where}: cache rows hold ${cacheKv.kvWidth} values, nKvHeads·headDim is ${nKvHeads * hd}`);
  const L = cacheKv.layers[layer];
  if (!L) throw new Error(`${where}: layer ${layer} outside [0, ${cacheKv.layers.length})`);
  const ldq = opts.ldq ?? nHeads * hd;
  if (!(Number.isInteger(ldq) && ldq >= nHeads * hd && ldq % 2 === 0))
    throw new Error(`${where}: ldq must be an even integer ≥ nHeads·headDim = ${nHeads * hd}, got ${ldq}`);
  for (const [t, what, need] of [
    [q, 'q', (n - 1) * ldq + nHeads * hd],
    [o, 'o', n * nHeads * hd],
  ] as const) {
    if (t.dtype !== 'f32' || t.split) throw new Error(`${where}: ${what} must be a single-buffer f32 tensor`);
    if (t.length < need) throw new Error(`${where}: ${what} has ${t.length} elements, needs ${need}`);
  }
  if (q.offset % 2 || o.offset % 2) throw new Error(`${where}: q and o views must start on an even element`);
  if (table.dtype !== 'i32' || seqs.dtype !== 'i32' || seqs.length < 2 * n)
    throw new Error(`${where}: table and seqs must be i32 tensors (seqs of 2·n entries)`);
  const G = nHeads / nKvHeads;
  const WG = decodeThreads(hd);
  const lim = ctx.info.limits.maxComputeWorkgroupsPerDimension;
  if (n > lim) throw new Error(`${where}: ${n} rows exceed ${lim} workgroups per dimension; call in chunks`);
  const maxLen = opts.maxLen ?? shape.maxPagesPerSeq * cacheKv.pageSize;
  if (!(Number.isInteger(maxLen) && maxLen >= 1))
    throw new Error(`${where}: maxLen must be a positive integer, got ${maxLen}`);
  const { splits, keysPerSplit } = decodeAttentionPlan(n, nKvHeads, hd, maxLen, opts.splits);
  if (!(Number.isInteger(splits) && splits >= 1 && splits <= lim))
    throw new Error(`${where}: splits must be a positive integer, got ${splits}`);
  const common = [
    nHeads,
    cacheKv.kvWidth,
    cacheKv.pageSize,
    shape.maxPagesPerSeq,
    keysPerSplit,
    splits,
    { f32: 1 / Math.sqrt(hd) },
    table.offset,
    seqs.offset,
    ldq,
  ] as const;
  const v: Variant = { dtype: cacheKv.dtype, hd, G, WG, split: splits > 1 };
  const k = spec(`${v.dtype}:${hd}:${G}:${WG}:${v.split}`, () => kernel(v));
  if (splits === 1) {
    dispatch(ctx, k, [q, L.k, L.v, table, seqs, o], [q.offset, o.offset, ...common], [n, nKvHeads, 1]);
    return;
  }
  const part = allocTensor(ctx, n * nHeads * splits * hd, 'f32', false, true);
  const ml = allocTensor(ctx, n * nHeads * splits * 2, 'f32', false, true);
  dispatch(ctx, k, [q, L.k, L.v, table, seqs, part, ml], [q.offset, 0, ...common], [n, nKvHeads, splits]);
  const rh = n * nHeads,
    gx = Math.min(rh, 32768),
    gy = Math.ceil(rh / gx);
  dispatch(
    ctx,
    spec(`c:${hd}`, () => combineKernel(hd)),
    [part, ml, o],
    [o.offset, splits, rh],
    [gx, gy],
  );
  releaseTensor(ctx, part);
  releaseTensor(ctx, ml);
}
