// One sub-product of gemm.ts over single buffers: cut to the grid's per-dimension limit, split
// along K into slices summed by a reduce when the output has few tiles, the half kernels' A scale
// (MAXABS partial maxima), and the kernel picked per variant and tile (pipelines keyed ':lr' carry
// the low-rank epilogue term, ':lrs' the direct kernel's column-segmented one; the others compile
// without it; ':g' ones load a gated A, gemm.ts gatedA).
import {
  allocTensor,
  dispatch,
  fillTensor,
  groups1d,
  releaseTensor,
  type GpuContext,
  type KernelSpec,
} from './context.js';
import type { GpuTensor } from './tensor.js';
import {
  FLAG,
  MAX_SCALE_PARTS,
  SCALE_PARTS_SHIFT,
  TILES,
  gemmKernel,
  type GemmFamily,
  type TileName,
} from './matmul-kernels.js';
import { MAXABS, MAXABS_GATED, REDUCE } from './gemm-passes.js';
import { directKernel, directTileSize } from './matmul-direct.js';
import { isCpuAdapter } from './cpu-adapter.js';
import { sgmKernel, sgmThreads, sgmTile, subgroupMatrixConfig } from './matmul-sgmatrix.js';
import { matmulSettings, type MatmulOptions, type MatmulVariant } from './gemm-variants.js';

/** One operand of a sub-product: its buffer, element offset and leading dimension. */
export interface Operand {
  t: GpuTensor;
  off: number;
  ld: number;
}

/** The operand moved to element (row, col) of the matrix it addresses. */
export function operandAt(o: Operand, row: number, col: number): Operand {
  return { ...o, off: o.off + row * o.ld + col };
}

/**
 * Register tile by shape. On a CPU adapter the tiled families take 'medium' for every shape (each
 * pipeline costs seconds of shader compilation there); 'direct' fits the LoRA rank (16) as N or M.
 */
function pickTile(ctx: GpuContext, variant: MatmulVariant, m: number, n: number): TileName {
  if (variant === 'direct') return n <= 16 && m > 16 ? 'narrow' : m <= 16 && n > 16 ? 'wide' : 'medium';
  if (isCpuAdapter(ctx)) return 'medium';
  if (n <= 32 && m > 32) return 'narrow';
  if (m <= 32 && n > 32) return 'wide';
  if (m >= 256 && n >= 256) return 'large';
  return 'medium';
}

export interface Block {
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  A: Operand;
  B: Operand;
  C: Operand;
  alpha: number;
  accumulate: boolean;
  bias: Operand | null;
  mul: Operand | null;
  /** The fused low-rank term; sub-products after the first along K: null. */
  lowRank: BlockLowRank | null;
  /**
   * 0: plain A. Otherwise A is gated (gemm.ts gatedA): op(A)[m, k] = silu(a)·(the element gateK
   * further along), gateK the whole product's K (sub-products along K keep it), A's row stride 2·gateK.
   */
  gateK: number;
}

/**
 * u [M, r·(segs + 1)] (row stride u.ld) times b [N, r] (row stride r), or with column segments:
 * columns from segs[i].start on read u's columns [(i+1)·r, (i+2)·r) and the element base + n·r of b's
 * buffer (gemm.ts LowRank.segments).
 */
export interface BlockLowRank {
  u: Operand;
  b: Operand;
  r: number;
  segs: readonly BlockSegment[];
}

/**
 * A column segment after the first, relative to its block: its first column (0 when it began
 * before the block) and the base of its B, (element offset of its row 0) − start·r, so that
 * base + n·r addresses column n's row in every block (negative bases wrap mod 2^32 in the kernels).
 */
export interface BlockSegment {
  start: number;
  base: number;
}

/** Segment absent (the kernels' comparison n ≥ start never holds). */
const NO_SEGMENT = 0xffffffff;

/** The segments of a block n0 columns further along. */
export function shiftSegments(segs: readonly BlockSegment[], n0: number, r: number): readonly BlockSegment[] {
  if (n0 === 0 || segs.length === 0) return segs;
  return segs.map((s) => ({ start: Math.max(s.start - n0, 0), base: s.base + n0 * r }));
}

/** The 4 segment words of a kernel's parameter block: seg1, seg2, offLb1, offLb2 (bases mod 2^32). */
export function segmentWords(segs: readonly BlockSegment[] | undefined): [number, number, number, number] {
  const s1 = segs?.[0],
    s2 = segs?.[1];
  return [s1 ? s1.start : NO_SEGMENT, s2 ? s2.start : NO_SEGMENT, s1 ? s1.base >>> 0 : 0, s2 ? s2.base >>> 0 : 0];
}

/** Tile of a variant: the register tile, or the subgroup-matrix kernel's fixed 64×64. */
function tileOf(
  ctx: GpuContext,
  variant: MatmulVariant,
  blk: Block,
  opts: MatmulOptions,
): { name: TileName; bm: number; bn: number; bk: number } {
  if (variant === 'subgroup-matrix') return { name: 'medium', ...sgmTile(subgroupMatrixConfig(ctx)!) };
  const name = opts.tile ?? pickTile(ctx, variant, blk.m, blk.n);
  return { name, ...(variant === 'direct' ? directTileSize(name) : TILES[name]) };
}

/** K slices: enough workgroups for a large GPU when the output has few tiles and K is long. */
function sliceCount(ctx: GpuContext, blk: Block, tiles: number, bk: number, opts: MatmulOptions): number {
  const budget = Math.min(matmulSettings(ctx).splitKBytes, ctx.maxBinding);
  let s =
    opts.splitK ?? (tiles < 128 && blk.k >= 1024 ? Math.min(Math.ceil(256 / tiles), Math.floor(blk.k / 256), 32) : 1);
  s = Math.max(1, Math.min(s, Math.ceil(blk.k / bk)));
  while (s > 1 && s * blk.m * blk.n * 4 > budget) s--;
  return s;
}

/** Rows [m0, m0+m) and columns [n0, n0+n) of a block's output, every operand moved to match. */
function subBlock(blk: Block, m0: number, n0: number, m: number, n: number): Block {
  const { A, B, lowRank: lr } = blk;
  return {
    ...blk,
    m,
    n,
    A: blk.transA ? operandAt(A, 0, m0) : operandAt(A, m0, 0),
    B: blk.transB ? operandAt(B, n0, 0) : operandAt(B, 0, n0),
    C: operandAt(blk.C, m0, n0),
    bias: blk.bias && operandAt(blk.bias, 0, n0),
    mul: blk.mul && operandAt(blk.mul, m0, n0),
    lowRank: lr && {
      u: operandAt(lr.u, m0, 0),
      b: operandAt(lr.b, n0, 0),
      r: lr.r,
      segs: shiftSegments(lr.segs, n0, lr.r),
    },
  };
}

/** Dispatches one block (the product, then the reduce when split along K). */
export function gemmBlock(ctx: GpuContext, variant: MatmulVariant, opts: MatmulOptions, blk: Block): void {
  const lim = ctx.info.limits.maxComputeWorkgroupsPerDimension;
  const tile = tileOf(ctx, variant, blk, opts);
  // Grids beyond the per-dimension limit: cut M (and N) into dispatchable blocks.
  const mMax = lim * tile.bm,
    nMax = lim * tile.bn;
  if (blk.m > mMax || blk.n > nMax) {
    for (let m0 = 0; m0 < blk.m; m0 += mMax) {
      for (let n0 = 0; n0 < blk.n; n0 += nMax) {
        gemmBlock(ctx, variant, opts, subBlock(blk, m0, n0, Math.min(mMax, blk.m - m0), Math.min(nMax, blk.n - n0)));
      }
    }
    return;
  }
  const gx = Math.ceil(blk.n / tile.bn),
    gy = Math.ceil(blk.m / tile.bm);
  const slices = sliceCount(ctx, blk, gx * gy, tile.bk, opts);
  const kChunk = slices > 1 ? Math.ceil(Math.ceil(blk.k / slices) / tile.bk) * tile.bk : Math.max(blk.k, 1);
  const z = slices > 1 ? Math.ceil(blk.k / kChunk) : 1;
  const half = variant === 'f16' || variant === 'f16-emulated' || variant === 'subgroup-matrix';
  const scratch: GpuTensor[] = [];
  const scale = half ? aScale(ctx, blk, scratch) : null;
  const scaleParts = scale ? scale.length : 0;
  const part = z > 1 ? allocTensor(ctx, z * blk.m * blk.n, 'f32', false, true) : null;
  if (part) scratch.push(part);
  const bF16 = blk.B.t.dtype === 'f16';
  const split = !!part;
  // The low-rank term is applied by the main kernel, or by the reduce after split-K slices.
  const lr = !split ? blk.lowRank : null;
  const low: LowRankKind = lr === null ? 'none' : lr.segs.length ? 'segmented' : 'plain';
  const spec = kernelSpec(ctx, variant, tile.name, blk, low);
  const dummy = dummyTensor(ctx);
  const flags =
    (blk.accumulate ? FLAG.accumulate : 0) |
    (split ? FLAG.partial : 0) |
    (bF16 ? FLAG.bF16 : 0) |
    (blk.bias && !split ? FLAG.bias : 0) |
    (blk.mul && !split ? FLAG.mul : 0) |
    (blk.lowRank && !split ? FLAG.lowRank : 0) |
    (blk.transA ? 0 : FLAG.aKContig) |
    (blk.transB ? FLAG.bKContig : 0) |
    (scaleParts << SCALE_PARTS_SHIFT);
  const tensors = [
    blk.A.t,
    blk.B.t,
    scale ?? dummy,
    (!split && blk.bias?.t) || dummy,
    (!split && blk.mul?.t) || dummy,
    part ?? blk.C.t,
    (!split && blk.lowRank?.u.t) || dummy,
    (!split && blk.lowRank?.b.t) || dummy,
  ];
  const params = [
    blk.m,
    blk.n,
    blk.k,
    kChunk,
    blk.A.off,
    blk.transA ? 1 : blk.A.ld,
    blk.transA ? blk.A.ld : 1,
    blk.B.off,
    blk.transB ? 1 : blk.B.ld,
    blk.transB ? blk.B.ld : 1,
    split ? 0 : blk.C.off,
    split ? blk.n : blk.C.ld,
    { f32: blk.alpha },
    flags,
    blk.bias && !split ? blk.bias.off : 0,
    blk.mul && !split ? blk.mul.off : 0,
    blk.mul && !split ? blk.mul.ld : 0,
    lr ? lr.r : 0,
    lr ? lr.u.off : 0,
    lr ? lr.b.off : 0,
    lr ? lr.u.ld : 0,
    ...segmentWords(lr?.segs),
    blk.gateK,
  ];
  dispatch(ctx, spec, tensors, params, [gx, gy, z]);
  if (part) reduceSlices(ctx, blk, part, z, dummy);
  for (const t of scratch) releaseTensor(ctx, t);
}

const dummies = new WeakMap<GpuContext, GpuTensor>();

/** Bound in place of absent optional operands (scale, bias, keep). */
function dummyTensor(ctx: GpuContext): GpuTensor {
  let t = dummies.get(ctx);
  if (!t) dummies.set(ctx, (t = allocTensor(ctx, 4, 'f32', true, true)));
  return t;
}

/**
 * The pipeline of a variant and tile. The low-rank term: 'none' compiles without it; the direct kernel
 * has a variant of its own for segmented terms (its per-thread u registers assume one segment), the
 * others compute the segment per output in either case.
 */
function kernelSpec(ctx: GpuContext, variant: MatmulVariant, tile: TileName, blk: Block, low: LowRankKind): KernelSpec {
  const lowRank = low !== 'none',
    gated = blk.gateK > 0;
  const lr = lowRank ? ':lr' : '',
    g = gated ? ':g' : '';
  if (variant === 'subgroup-matrix') {
    const key = { transA: blk.transA, transB: blk.transB, lowRank, gated };
    return cachedSpec(`sgm:${blk.transA}:${blk.transB}:${sgmThreads(ctx).threads}${lr}${g}`, () =>
      sgmKernel(ctx, subgroupMatrixConfig(ctx)!, key),
    );
  }
  if (variant === 'direct') {
    const seg = low === 'segmented';
    return cachedSpec(`direct:${tile}${lr}${seg ? 's' : ''}${g}`, () => directKernel(tile, lowRank, seg, gated));
  }
  return cachedSpec(`${variant}:${tile}${lr}${g}`, () => gemmKernel(familyOf(variant), tile, lowRank, gated));
}

type LowRankKind = 'none' | 'plain' | 'segmented';

// Kernel sources are generated once per key (dispatch looks pipelines up by spec.key).
const specs = new Map<string, KernelSpec>();
function cachedSpec(key: string, make: () => KernelSpec): KernelSpec {
  let s = specs.get(key);
  if (!s) specs.set(key, (s = make()));
  return s;
}

function familyOf(v: MatmulVariant): GemmFamily {
  return v === 'subgroup' ? 'subgroup' : v === 'f16' ? 'half' : v === 'f16-emulated' ? 'emulate' : 'tiled';
}

/**
 * max|A| over the block's A as partial maxima (f32 bits, one per MAXABS workgroup; the tensor's length
 * is their count): the half kernels take the largest and derive their scale from it. A gated A: the
 * max over the gated values (what the kernels scale), not over the packed gate and up.
 */
function aScale(ctx: GpuContext, blk: Block, scratch: GpuTensor[]): GpuTensor {
  const rows = blk.transA ? blk.k : blk.m,
    cols = blk.transA ? blk.m : blk.k;
  const total = rows * cols;
  const lim = ctx.info.limits.maxComputeWorkgroupsPerDimension;
  const parts = Math.max(1, Math.min(Math.ceil(total / 1024), MAX_SCALE_PARTS, lim));
  const t = allocTensor(ctx, parts, 'f32', false, true);
  scratch.push(t);
  const spec = blk.gateK > 0 ? MAXABS_GATED : MAXABS;
  if (total > 0) dispatch(ctx, spec, [blk.A.t, t], [rows, cols, blk.A.off, blk.A.ld, blk.gateK], [parts]);
  else fillTensor(ctx, t, 0);
  return t;
}

function reduceSlices(ctx: GpuContext, blk: Block, part: GpuTensor, slices: number, dummy: GpuTensor): void {
  const { gx, gy } = groups1d(blk.m * blk.n, 256);
  const lr = blk.lowRank;
  const flags =
    (blk.accumulate ? FLAG.accumulate : 0) |
    (blk.bias ? FLAG.bias : 0) |
    (blk.mul ? FLAG.mul : 0) |
    (lr ? FLAG.lowRank : 0);
  dispatch(
    ctx,
    REDUCE,
    [part, blk.bias?.t ?? dummy, blk.mul?.t ?? dummy, blk.C.t, lr?.u.t ?? dummy, lr?.b.t ?? dummy],
    [
      blk.m,
      blk.n,
      slices,
      gx,
      blk.C.off,
      blk.C.ld,
      flags,
      blk.bias?.off ?? 0,
      blk.mul?.off ?? 0,
      blk.mul?.ld ?? 0,
      lr?.r ?? 0,
      lr?.u.off ?? 0,
      lr?.b.off ?? 0,
      lr?.u.ld ?? 0,
      ...segmentWords(lr?.segs),
    ],
    [gx, gy],
  );
}
