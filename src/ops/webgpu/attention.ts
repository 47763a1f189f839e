// Causal grouped-query attention over packed sequences on WebGPU, flash-attention style: fused and
// tiled in both directions, so no [T × T] tensor ever exists (memory O(T)). Semantics are exactly
// the cpu ops' (src/ops/cpu/tensor-ops.ts): sequence s owns rows [rowStart[s], rowStart[s+1]) of
// q, o [rows, nHeads·hd] and k, v [rows, nKvHeads·hd]; positions restart at 0 in each sequence;
// lse [rows, nHeads] is saved by the forward; the backward ACCUMULATES into dq, dk, dv.
//
// Forward: one workgroup per (query tile, q head); online softmax over the key tiles up to the
// diagonal. Backward, without float atomics (WGSL has none):
//   1. stats pre-pass: (lse, D = rowsum(dO ⊙ O)) per (row, head);
//   2. dQ pass: one workgroup per (query tile, q head), recomputing P from q, k and lse;
//   3. dK/dV pass: one workgroup per (key tile, kv head, split), looping over the query tiles of the
//      same sequence and the split's q heads of the GQA group. With splits > 1 (more parallelism
//      when there are few key tiles) each split writes a partial sum and a small kernel adds them.
// The tile schedule (which query/key tiles exist, in which sequence, how much work each has) is
// built on the host from rowStart, heaviest tiles first, and uploaded once per rowStart array.
// Kernels: attention-wgsl-forward.ts (forward, stats pre-pass), attention-wgsl-backward.ts (dQ, dK/dV,
// split reduction), on the shared generator helpers of attention-wgsl.ts.
import {
  allocTensor,
  beginScope,
  dispatch,
  endScope,
  type GpuContext,
  type KernelSpec,
  type ParamWord,
} from './context.js';
import { indexTensor } from './indices.js';
import type { GpuTensor } from './tensor.js';
import type { HeadShape } from '../types.js';
import { geometry, sharedBytes, variantKey, type AttentionTile, type AttentionVariant } from './attention-wgsl.js';
import { FORWARD_PARAMS, STATS_PARAMS, forwardKernel, statsKernel } from './attention-wgsl-forward.js';
import {
  DKV_PARAMS,
  DQ_PARAMS,
  REDUCE_PARAMS,
  dkvKernel,
  dqKernel,
  splitReduceKernel,
} from './attention-wgsl-backward.js';

export type { AttentionTile, AttentionVariant };

/** Largest head dim the kernels take (registers and staging grow with it). */
export const MAX_HEAD_DIM = 256;

/** Per-call choices; every field defaults to what suits the device (tests force each variant). */
export interface AttentionOptions {
  /** Row reductions by subgroup shuffles. Default: when the device has subgroups and tile C ≤ its smallest subgroup. */
  subgroups?: boolean;
  /** Tile geometry (fields left out take the default for the head dim). */
  tile?: Partial<AttentionTile>;
  /** dK/dV pass: split each GQA group's q heads over this many workgroups (a divisor of the group). */
  dkvSplits?: number;
  /** vec4 global loads/stores. Default (and only possible) when every view offset is a multiple of 4. */
  vec4?: boolean;
}

// --- configuration -----------------------------------------------------------------------------------

/**
 * Default tile for a head dim: 256 threads, 64 × 64 tiles (4 × 4 scores per thread); 8 threads per
 * row group for head dims below 64 so that few threads idle in the value products. The staging
 * depths BK (head-dim chunk) and BJ (value rows) are the largest that fit the device's workgroup
 * memory, fewest barriers first: each chunk costs two barriers per product.
 */
export function defaultTile(ctx: GpuContext, headDim: number): AttentionTile {
  const C = headDim >= 64 ? 16 : 8;
  const maxThreads = ctx.info.limits.maxComputeInvocationsPerWorkgroup;
  const R = Math.max(1, Math.floor(Math.min(256, maxThreads) / C));
  const TM = Math.max(1, Math.round(64 / R)),
    TN = 64 / C,
    N = C * TN;
  const limit = ctx.info.limits.maxComputeWorkgroupStorageSize;
  const fits = (BK: number, BJ: number): boolean =>
    sharedBytes(geometry({ headDim, tile: { C, R, TM, TN, BK, BJ }, subgroups: false, vec4: false })) <= limit;
  const bks = divisors(headDim / 4)
    .map((d) => 4 * d)
    .filter((b) => b <= 64);
  let best: AttentionTile | null = null,
    bestCost = Infinity;
  for (const BK of bks) {
    for (const BJ of divisors(N)) {
      const cost = headDim / BK + N / BJ;
      if (cost < bestCost && fits(BK, BJ)) {
        best = { C, R, TM, TN, BK, BJ };
        bestCost = cost;
      }
    }
  }
  if (!best)
    throw new Error(`attention: no tile for head dim ${headDim} fits the device's ${limit} bytes of workgroup memory`);
  return best;
}

function divisors(n: number): number[] {
  const out: number[] = [];
  for (let d = 1; d <= n; d++) if (n % d === 0) out.push(d);
  return out;
}

function checkTile(ctx: GpuContext, v: AttentionVariant): void {
  const t = v.tile;
  const isPow2 = (x: number): boolean => Number.isInteger(x) && x >= 1 && (x & (x - 1)) === 0;
  const bad = (msg: string): never => {
    throw new Error(`attention: tile ${JSON.stringify(t)} ${msg}`);
  };
  for (const f of ['C', 'R', 'TM', 'TN', 'BK', 'BJ'] as const)
    if (!(Number.isInteger(t[f]) && t[f] >= 1)) bad(`field ${f} must be a positive integer`);
  if (!isPow2(t.C)) bad('field C must be a power of two');
  if (t.BK % 4 !== 0) bad('field BK must be a multiple of 4');
  if ((t.C * t.TN) % t.BJ !== 0) bad('field BJ must divide C·TN');
  if (t.R * t.C > ctx.info.limits.maxComputeInvocationsPerWorkgroup)
    bad(`has ${t.R * t.C} threads, more than the device's ${ctx.info.limits.maxComputeInvocationsPerWorkgroup}`);
  const bytes = sharedBytes(geometry(v));
  if (bytes > ctx.info.limits.maxComputeWorkgroupStorageSize)
    bad(
      `needs ${bytes} bytes of workgroup memory at head dim ${v.headDim}, more than the device's ${ctx.info.limits.maxComputeWorkgroupStorageSize}`,
    );
  if (v.subgroups) {
    if (!ctx.subgroups) throw new Error('attention: subgroups asked for but the device has no subgroups feature');
    if (!(ctx.info.subgroupMinSize >= t.C))
      bad(
        `uses subgroup reductions over C = ${t.C} lanes but the device's smallest subgroup is ${ctx.info.subgroupMinSize}`,
      );
  }
}

function chooseVariant(ctx: GpuContext, headDim: number, aligned: boolean, opts: AttentionOptions): AttentionVariant {
  const tile = { ...defaultTile(ctx, headDim), ...opts.tile };
  const subgroups = opts.subgroups ?? (ctx.subgroups && ctx.info.subgroupMinSize >= tile.C);
  if (opts.vec4 && !aligned) throw new Error('attention: vec4 asked for but a view offset is not a multiple of 4');
  const v: AttentionVariant = { headDim, tile, subgroups, vec4: opts.vec4 ?? aligned };
  checkTile(ctx, v);
  return v;
}

/** The parameter block in the kernel's field order (a missing field is a bug, not a silent 0). */
function words(fields: string[], values: Record<string, ParamWord>): ParamWord[] {
  return fields.map((f) => {
    const w = values[f];
    if (w === undefined) throw new Error(`attention: parameter ${f} missing`);
    return w;
  });
}

const specCache = new Map<string, KernelSpec>();
function spec(key: string, make: () => KernelSpec): KernelSpec {
  let s = specCache.get(key);
  if (!s) specCache.set(key, (s = make()));
  return s;
}

// --- validation ----------------------------------------------------------------------------------------

interface Layout {
  rowBase: number;
  rowEnd: number;
  Q: number;
  KV: number;
  group: number;
  scale: number;
}

/** Operand widths: 'q' rows of nHeads·hd, 'kv' rows of nKvHeads·hd, 'lse' rows of nHeads. */
type Width = 'q' | 'kv' | 'lse';

function layoutOf(
  where: string,
  rowStart: Int32Array,
  shape: HeadShape,
  operands: Record<string, [GpuTensor, Width]>,
): Layout {
  const { nHeads, nKvHeads, headDim } = shape;
  const isPosInt = (x: number): boolean => Number.isInteger(x) && x >= 1;
  if (!isPosInt(nHeads) || !isPosInt(nKvHeads) || !isPosInt(headDim))
    throw new Error(`${where}: nHeads, nKvHeads and headDim must be positive integers, got ${JSON.stringify(shape)}`);
  if (nHeads % nKvHeads !== 0)
    throw new Error(`${where}: nHeads (${nHeads}) must be a multiple of nKvHeads (${nKvHeads})`);
  if (headDim % 4 !== 0 || headDim > MAX_HEAD_DIM)
    throw new Error(`${where}: headDim ${headDim} must be a multiple of 4 and at most ${MAX_HEAD_DIM}`);
  if (!(rowStart instanceof Int32Array) || rowStart.length < 1)
    throw new Error(`${where}: rowStart must be a non-empty Int32Array`);
  if (rowStart[0]! < 0) throw new Error(`${where}: rowStart[0] = ${rowStart[0]} is negative`);
  for (let s = 1; s < rowStart.length; s++) {
    if (rowStart[s]! < rowStart[s - 1]!)
      throw new Error(
        `${where}: rowStart must be non-decreasing (rowStart[${s}] = ${rowStart[s]} < rowStart[${s - 1}] = ${rowStart[s - 1]})`,
      );
  }
  const rowEnd = rowStart[rowStart.length - 1]!;
  const widths: Record<Width, number> = { q: nHeads * headDim, kv: nKvHeads * headDim, lse: nHeads };
  for (const [name, [t, w]] of Object.entries(operands)) {
    const width = widths[w];
    if (t.dtype !== 'f32') throw new Error(`${where}: ${name} must be f32, got ${t.dtype}`);
    if (t.split) throw new Error(`${where}: ${name} is split across buffers; attention takes single-buffer tensors`);
    if (t.length < rowEnd * width)
      throw new Error(
        `${where}: ${name} has ${t.length} elements, needs ${rowEnd} rows × ${width} = ${rowEnd * width}`,
      );
  }
  return {
    rowBase: rowStart[0]!,
    rowEnd,
    Q: nHeads * headDim,
    KV: nKvHeads * headDim,
    group: nHeads / nKvHeads,
    scale: 1 / Math.sqrt(headDim),
  };
}

const aligned4 = (ts: GpuTensor[]): boolean => ts.every((t) => t.offset % 4 === 0);

// --- tile schedules --------------------------------------------------------------------------------------

interface ScheduleCache {
  snapshot: Int32Array;
  lists: Map<string, Int32Array>;
}
const schedules = new WeakMap<Int32Array, ScheduleCache>();

/** Cached per rowStart array (rebuilt if its contents changed since). */
function cachedSchedule(rowStart: Int32Array, key: string, build: () => Int32Array): Int32Array {
  let c = schedules.get(rowStart);
  if (!c || c.snapshot.length !== rowStart.length || c.snapshot.some((x, i) => x !== rowStart[i])) {
    schedules.set(rowStart, (c = { snapshot: rowStart.slice(), lists: new Map() }));
  }
  let list = c.lists.get(key);
  if (!list) c.lists.set(key, (list = build()));
  return list;
}

/** 4 words per tile, sorted heaviest first (so the longest tiles start first and the tail is short). */
function packTiles(tiles: { words: [number, number, number, number]; work: number }[]): Int32Array {
  tiles.sort((a, b) => b.work - a.work);
  const out = new Int32Array(tiles.length * 4);
  tiles.forEach((t, i) => {
    out.set(t.words, i * 4);
  });
  return out;
}

/** Query tiles of M rows: [first row, valid rows, sequence first row, key tiles of N to visit]. */
export function queryTiles(rowStart: Int32Array, M: number, N: number): Int32Array {
  return cachedSchedule(rowStart, `q${M}x${N}`, () => {
    const tiles: { words: [number, number, number, number]; work: number }[] = [];
    for (let s = 0; s + 1 < rowStart.length; s++) {
      const r0 = rowStart[s]!,
        L = rowStart[s + 1]! - r0;
      for (let t0 = 0; t0 < L; t0 += M) {
        const nq = Math.min(M, L - t0),
          nkt = Math.ceil((t0 + nq) / N);
        tiles.push({ words: [r0 + t0, nq, r0, nkt], work: nkt });
      }
    }
    return packTiles(tiles);
  });
}

/** Key tiles of M rows: [first row, valid rows, sequence first row, sequence length]. */
export function keyTiles(rowStart: Int32Array, M: number, N: number): Int32Array {
  return cachedSchedule(rowStart, `k${M}x${N}`, () => {
    const tiles: { words: [number, number, number, number]; work: number }[] = [];
    for (let s = 0; s + 1 < rowStart.length; s++) {
      const r0 = rowStart[s]!,
        L = rowStart[s + 1]! - r0;
      for (let t0 = 0; t0 < L; t0 += M)
        tiles.push({ words: [r0 + t0, Math.min(M, L - t0), r0, L], work: Math.ceil(L / N) - Math.floor(t0 / N) });
    }
    return packTiles(tiles);
  });
}

/** 1-D grid of n threads in workgroups of wg, folded into y beyond the per-dimension limit. */
function grid1d(ctx: GpuContext, n: number, wg: number): { gx: number; gy: number } {
  const g = Math.ceil(n / wg),
    gx = Math.min(g, ctx.info.limits.maxComputeWorkgroupsPerDimension);
  return { gx, gy: Math.ceil(g / gx) };
}

/**
 * Grid of `heads` × `count` tiles: heads along x, tiles along y (folded into z beyond the
 * per-dimension limit). Workgroups start in x-fastest order, so every head of the heaviest tile
 * starts first (the schedule is sorted by work), and the heads sharing a K/V tile run together.
 */
function tileGrid(ctx: GpuContext, heads: number, count: number): { gy: number; groups: [number, number, number] } {
  const gy = Math.min(count, ctx.info.limits.maxComputeWorkgroupsPerDimension);
  return { gy, groups: [heads, gy, Math.ceil(count / gy)] };
}

// --- forward -------------------------------------------------------------------------------------------

export function attentionForward(
  ctx: GpuContext,
  o: GpuTensor,
  lse: GpuTensor,
  q: GpuTensor,
  k: GpuTensor,
  v: GpuTensor,
  rowStart: Int32Array,
  shape: HeadShape,
  opts: AttentionOptions = {},
): void {
  const L = layoutOf('attentionForward', rowStart, shape, {
    q: [q, 'q'],
    k: [k, 'kv'],
    v: [v, 'kv'],
    o: [o, 'q'],
    lse: [lse, 'lse'],
  });
  if (L.rowEnd === L.rowBase) return;
  const variant = chooseVariant(ctx, shape.headDim, aligned4([q, k, v, o]), opts);
  const g = geometry(variant);
  const list = queryTiles(rowStart, g.M, g.N);
  const nTiles = list.length / 4;
  const tiles = indexTensor(ctx, list);
  const { gy, groups } = tileGrid(ctx, shape.nHeads, nTiles);
  const params: Record<string, ParamWord> = {
    qOff: q.offset,
    kOff: k.offset,
    vOff: v.offset,
    oOff: o.offset,
    lseOff: lse.offset,
    nHeads: shape.nHeads,
    qs: L.Q,
    ks: L.KV,
    group: L.group,
    gy,
    nTiles,
    scale: { f32: L.scale },
  };
  dispatch(
    ctx,
    spec(`fwd-${variantKey(variant)}`, () => forwardKernel(variant)),
    [tiles, q, k, v, o, lse],
    words(FORWARD_PARAMS, params),
    groups,
  );
}

// --- backward ------------------------------------------------------------------------------------------

/** Default dK/dV splits: the fewest that give ≥ 512 workgroups (a large GPU's worth), up to the whole group. */
function defaultSplits(group: number, keyTileCount: number, nKvHeads: number): number {
  for (let s = 1; s <= group; s++) if (group % s === 0 && keyTileCount * nKvHeads * s >= 512) return s;
  return group;
}

interface BackwardCall {
  ctx: GpuContext;
  variant: AttentionVariant;
  L: Layout;
  shape: HeadShape;
  dq: GpuTensor;
  dk: GpuTensor;
  dv: GpuTensor;
  dO: GpuTensor;
  q: GpuTensor;
  k: GpuTensor;
  v: GpuTensor;
  o: GpuTensor;
  lse: GpuTensor;
}

export function attentionBackward(
  ctx: GpuContext,
  dq: GpuTensor,
  dk: GpuTensor,
  dv: GpuTensor,
  dO: GpuTensor,
  q: GpuTensor,
  k: GpuTensor,
  v: GpuTensor,
  o: GpuTensor,
  lse: GpuTensor,
  rowStart: Int32Array,
  shape: HeadShape,
  opts: AttentionOptions = {},
): void {
  const L = layoutOf('attentionBackward', rowStart, shape, {
    dq: [dq, 'q'],
    dk: [dk, 'kv'],
    dv: [dv, 'kv'],
    dO: [dO, 'q'],
    q: [q, 'q'],
    k: [k, 'kv'],
    v: [v, 'kv'],
    o: [o, 'q'],
    lse: [lse, 'lse'],
  });
  if (L.rowEnd === L.rowBase) return;
  const variant = chooseVariant(ctx, shape.headDim, aligned4([dq, dk, dv, dO, q, k, v, o]), opts);
  const g = geometry(variant);
  const qList = queryTiles(rowStart, g.M, g.N),
    kList = keyTiles(rowStart, g.M, g.N);
  const qTiles = indexTensor(ctx, qList),
    kTiles = indexTensor(ctx, kList);
  const splits = opts.dkvSplits ?? defaultSplits(L.group, kList.length / 4, shape.nKvHeads);
  if (!(Number.isInteger(splits) && splits >= 1 && L.group % splits === 0))
    throw new Error(
      `attentionBackward: dkvSplits ${splits} must divide the GQA group (${L.group} q heads per kv head)`,
    );
  const call: BackwardCall = { ctx, variant, L, shape, dq, dk, dv, dO, q, k, v, o, lse };
  beginScope(ctx); // the stats and partial sums go back to the pool once the kernels are enqueued
  try {
    const stats = backwardStats(call);
    backwardDq(call, qTiles, qList.length / 4, stats);
    backwardDkv(call, kTiles, kList.length / 4, stats, splits);
  } finally {
    endScope(ctx);
  }
}

/** stats[row, head] = (lse, D = Σ_d dO ⊙ O), one thread per pair. */
function backwardStats(b: BackwardCall): GpuTensor {
  const {
      ctx,
      L,
      variant: { headDim: hd, vec4 },
    } = b,
    nHeads = b.shape.nHeads;
  const stats = allocTensor(ctx, L.rowEnd * nHeads * 2);
  const pairs = (L.rowEnd - L.rowBase) * nHeads,
    grid = grid1d(ctx, pairs, 64);
  const p = {
    doOff: b.dO.offset,
    oOff: b.o.offset,
    lseOff: b.lse.offset,
    rowBase: L.rowBase,
    pairs,
    nHeads,
    qs: L.Q,
    gx: grid.gx,
  };
  dispatch(
    ctx,
    spec(`stats-${hd}-${vec4}`, () => statsKernel(hd, vec4)),
    [b.dO, b.o, b.lse, stats],
    words(STATS_PARAMS, p),
    [grid.gx, grid.gy],
  );
  return stats;
}

/** dq += dS·K, one workgroup per (query tile, q head). */
function backwardDq(b: BackwardCall, tiles: GpuTensor, nTiles: number, stats: GpuTensor): void {
  const { ctx, L, variant } = b,
    grid = tileGrid(ctx, b.shape.nHeads, nTiles);
  const p = {
    qOff: b.q.offset,
    kOff: b.k.offset,
    vOff: b.v.offset,
    doOff: b.dO.offset,
    dqOff: b.dq.offset,
    nHeads: b.shape.nHeads,
    qs: L.Q,
    ks: L.KV,
    group: L.group,
    gy: grid.gy,
    nTiles,
    scale: { f32: L.scale },
  };
  dispatch(
    ctx,
    spec(`dq-${variantKey(variant)}`, () => dqKernel(variant)),
    [tiles, b.q, b.k, b.v, b.dO, stats, b.dq],
    words(DQ_PARAMS, p),
    grid.groups,
  );
}

/** dk += dSᵀ·Q, dv += Pᵀ·dO, one workgroup per (key tile, kv head, split); splits > 1 go through partial sums. */
function backwardDkv(b: BackwardCall, tiles: GpuTensor, nTiles: number, stats: GpuTensor, splits: number): void {
  const { ctx, L, variant } = b,
    grid = tileGrid(ctx, b.shape.nKvHeads * splits, nTiles);
  const rowsUsed = L.rowEnd - L.rowBase,
    direct = splits === 1;
  const pk = direct ? b.dk : allocTensor(ctx, splits * rowsUsed * L.KV),
    pv = direct ? b.dv : allocTensor(ctx, splits * rowsUsed * L.KV);
  const p = {
    qOff: b.q.offset,
    kOff: b.k.offset,
    vOff: b.v.offset,
    doOff: b.dO.offset,
    dkOff: pk.offset,
    dvOff: pv.offset,
    nHeads: b.shape.nHeads,
    qs: L.Q,
    ks: L.KV,
    group: L.group,
    hpw: L.group / splits,
    splits,
    partStride: direct ? 0 : rowsUsed * L.KV,
    rowBase: direct ? 0 : L.rowBase,
    accumulate: direct ? 1 : 0,
    gy: grid.gy,
    nTiles,
    scale: { f32: L.scale },
  };
  dispatch(
    ctx,
    spec(`dkv-${variantKey(variant)}`, () => dkvKernel(variant)),
    [tiles, b.q, b.k, b.v, b.dO, stats, pk, pv],
    words(DKV_PARAMS, p),
    grid.groups,
  );
  if (direct) return;
  const n = rowsUsed * L.KV,
    rg = grid1d(ctx, n, 256);
  for (const [part, out] of [
    [pk, b.dk],
    [pv, b.dv],
  ] as const) {
    const rp = { outOff: out.offset + L.rowBase * L.KV, n, splits, stride: n, gx: rg.gx };
    dispatch(ctx, spec('reduce', splitReduceKernel), [part, out], words(REDUCE_PARAMS, rp), [rg.gx, rg.gy]);
  }
}
