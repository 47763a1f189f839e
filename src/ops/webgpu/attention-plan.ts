// The host side of the WebGPU attention ops (attention.ts dispatches): the tile geometry a device can
// run (defaults from its workgroup limits, checks of forced tiles), the operand checks shared by the
// forward and backward, the tile schedules built from rowStart (heaviest first, cached per array),
// the grids that cover them, and the kernel-spec cache.
import type { GpuContext, KernelSpec, ParamWord } from './context.js';
import type { GpuTensor } from './tensor.js';
import type { HeadShape } from '../types.js';
import { geometry, sharedBytes, type AttentionTile, type AttentionVariant } from './attention-wgsl.js';

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

export function checkTile(ctx: GpuContext, v: AttentionVariant): void {
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

export function chooseVariant(
  ctx: GpuContext,
  headDim: number,
  aligned: boolean,
  opts: AttentionOptions,
): AttentionVariant {
  const tile = { ...defaultTile(ctx, headDim), ...opts.tile };
  const subgroups = opts.subgroups ?? (ctx.subgroups && ctx.info.subgroupMinSize >= tile.C);
  if (opts.vec4 && !aligned) throw new Error('attention: vec4 asked for but a view offset is not a multiple of 4');
  const v: AttentionVariant = { headDim, tile, subgroups, vec4: opts.vec4 ?? aligned };
  checkTile(ctx, v);
  return v;
}

/** The parameter block in the kernel's field order (a missing field is a bug, not a silent 0). */
export function words(fields: string[], values: Record<string, ParamWord>): ParamWord[] {
  return fields.map((f) => {
    const w = values[f];
    if (w === undefined) throw new Error(`attention: parameter ${f} missing`);
    return w;
  });
}

const specCache = new Map<string, KernelSpec>();
export function spec(key: string, make: () => KernelSpec): KernelSpec {
  let s = specCache.get(key);
  if (!s) specCache.set(key, (s = make()));
  return s;
}

// --- validation ----------------------------------------------------------------------------------------

export interface Layout {
  rowBase: number;
  rowEnd: number;
  Q: number;
  KV: number;
  group: number;
  scale: number;
}

/** Operand widths: 'q' rows of nHeads·hd, 'kv' rows of nKvHeads·hd, 'lse' rows of nHeads. */
type Width = 'q' | 'kv' | 'lse';

export function layoutOf(
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

export const aligned4 = (ts: GpuTensor[]): boolean => ts.every((t) => t.offset % 4 === 0);

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
export function grid1d(ctx: GpuContext, n: number, wg: number): { gx: number; gy: number } {
  const g = Math.ceil(n / wg),
    gx = Math.min(g, ctx.info.limits.maxComputeWorkgroupsPerDimension);
  return { gx, gy: Math.ceil(g / gx) };
}

/**
 * Grid of `heads` × `count` tiles: heads along x, tiles along y (folded into z beyond the
 * per-dimension limit). Workgroups start in x-fastest order, so every head of the heaviest tile
 * starts first (the schedule is sorted by work), and the heads sharing a K/V tile run together.
 */
export function tileGrid(
  ctx: GpuContext,
  heads: number,
  count: number,
): { gy: number; groups: [number, number, number] } {
  const gy = Math.min(count, ctx.info.limits.maxComputeWorkgroupsPerDimension);
  return { gy, groups: [heads, gy, Math.ceil(count / gy)] };
}
