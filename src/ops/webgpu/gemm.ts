// The general product behind matmul.ts, lora-linear.ts and lm-head.ts:
//   C (+)= alpha · op(A) · op(B) ⊙ mul + bias     op(A) = A [M,K] or Aᵀ (A [K,M] in memory, TN)
//                                                op(B) = B [K,N] or Bᵀ (B [N,K] in memory, NT)
// A and C are f32; B is f32 or f16 (packed). Any operand may be a view at any element offset; a
// matrix split across buffers in row blocks (tensor.ts `split`) is cut into sub-products along the
// block boundaries (M, N or K), each addressing its block with offsets and leading dimensions.
//
// Variants (kernels in matmul-kernels.ts, matmul-sgmatrix.ts), chosen per call (gemm-variants.ts):
//   'tiled'            portable f32, workgroup-memory tiles + register blocks (always available)
//   'subgroup'         A shared through subgroupShuffle instead of workgroup memory (`subgroups`)
//   'f16'              f16 tiles and FMAs, f32 accumulation (`shader-f16`)
//   'f16-emulated'     the f16 kernel in f32 registers on f16-rounded operands (tests, any adapter)
//   'subgroup-matrix'  tensor cores through Dawn's chromium-experimental-subgroup-matrix
//   'direct'           portable f32 without workgroup memory or barriers (matmul-direct.ts): CPU adapters
// 'auto' (the default) uses 'tiled' for f32 weights ('direct' on a CPU adapter), and for f16
// weights the fastest variant the self-check admitted on this context (prepareMatmul in
// matmul-check.ts); without it, the f32 choice.
// Large K over few output tiles is split into K slices (split-K) summed by a second kernel.
import {
  allocTensor,
  dispatch,
  fillTensor,
  groups1d,
  releaseTensor,
  type GpuContext,
  type KernelSpec,
} from './context.js';
import { rowParts, type GpuTensor } from './tensor.js';
import {
  FLAG,
  MAXABS,
  MAX_SCALE_PARTS,
  REDUCE,
  SCALE_PARTS_SHIFT,
  TILES,
  gemmKernel,
  type GemmFamily,
  type TileName,
} from './matmul-kernels.js';
import { directKernel, directTileSize } from './matmul-direct.js';
import { isCpuAdapter } from './cpu-adapter.js';
import { sgmKernel, sgmThreads, sgmTile, subgroupMatrixConfig } from './matmul-sgmatrix.js';
import { matmulSettings, pickVariant, type MatmulOptions, type MatmulVariant } from './gemm-variants.js';

export {
  MATMUL_VARIANTS,
  configureMatmul,
  isF32Variant,
  matmulSettings,
  pickVariant,
  variantUnavailable,
  type F32Variant,
  type MatmulOptions,
  type MatmulSettings,
  type MatmulVariant,
} from './gemm-variants.js';

export type MatmulOp = 'NN' | 'NT' | 'TN';

/** Extra epilogue terms: C = alpha·(A·B) ⊙ mul + bias + u·bᵀ (+ C when accumulating). */
export interface GemmEpilogue {
  accumulate: boolean;
  alpha?: number;
  /** [N] added to every row (f32). */
  bias?: GpuTensor | null;
  /** [M, N] elementwise multiplier of the product (f32; the dropout keep mask). */
  mul?: GpuTensor | null;
  /**
   * + u[M, r]·b[N, r]ᵀ (f32, single buffers, neither in C's buffer): a LoRA branch's B product fused
   * into the base product's epilogue (one dispatch fewer per adapted layer).
   */
  lowRank?: LowRank | null;
}

export interface LowRank {
  u: GpuTensor;
  b: GpuTensor;
  r: number;
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

function check(
  op: MatmulOp,
  c: GpuTensor,
  a: GpuTensor,
  b: GpuTensor,
  m: number,
  k: number,
  n: number,
  epi: GemmEpilogue,
): void {
  const name = `matmul${op}`;
  if (!(Number.isInteger(m) && Number.isInteger(k) && Number.isInteger(n) && m >= 0 && k >= 0 && n >= 0)) {
    throw new Error(`${name}: dimensions must be non-negative integers, got m=${m} k=${k} n=${n}`);
  }
  if (a.length < m * k) throw new Error(`${name}: a has ${a.length} elements, needs m*k = ${m}*${k} = ${m * k}`);
  if (b.length < k * n) throw new Error(`${name}: b has ${b.length} elements, needs k*n = ${k}*${n} = ${k * n}`);
  if (c.length < m * n) throw new Error(`${name}: c has ${c.length} elements, needs m*n = ${m}*${n} = ${m * n}`);
  if (a.dtype !== 'f32') throw new Error(`${name}: a must be f32 (activations), got ${a.dtype}`);
  if (c.dtype !== 'f32') throw new Error(`${name}: c must be f32, got ${c.dtype}`);
  if (b.dtype !== 'f32' && b.dtype !== 'f16') throw new Error(`${name}: b must be f32 or f16, got ${b.dtype}`);
  if (epi.bias && (epi.bias.dtype !== 'f32' || epi.bias.split || epi.bias.length < n))
    throw new Error(`${name}: bias must be a single f32 tensor of at least n = ${n} elements`);
  if (epi.mul && (epi.mul.dtype !== 'f32' || epi.mul.split || epi.mul.length < m * n))
    throw new Error(`${name}: keep must be a single f32 tensor of at least m*n = ${m * n} elements`);
  const lr = epi.lowRank;
  if (lr) {
    if (!(Number.isInteger(lr.r) && lr.r > 0)) throw new Error(`${name}: lowRank r must be a positive integer`);
    for (const [t, rows, what] of [
      [lr.u, m, 'u [m, r]'],
      [lr.b, n, 'b [n, r]'],
    ] as const) {
      if (t.dtype !== 'f32' || t.split || t.length < rows * lr.r)
        throw new Error(`${name}: lowRank ${what} must be a single f32 tensor of at least ${rows * lr.r} elements`);
      if (t.buffer === c.buffer) throw new Error(`${name}: lowRank ${what} lies in c's buffer`);
    }
  }
}

/** One operand of a sub-product: its buffer, element offset and leading dimension. */
interface Operand {
  t: GpuTensor;
  off: number;
  ld: number;
}

/** A block-row range of an operand: which part holds rows [start, start+rows). */
interface Part {
  rowStart: number;
  rows: number;
  tensor: GpuTensor;
}

function partsOf(t: GpuTensor, rowWidth: number, rows: number): Part[] {
  if (!t.split) return [{ rowStart: 0, rows, tensor: t }];
  return rowParts(t, rowWidth);
}

/** Boundaries 0 = c0 < c1 < ... = total (just [0, 0] when total is 0: one empty range). */
function cuts(total: number, ...partLists: Part[][]): number[] {
  if (total === 0) return [0, 0];
  const s = new Set<number>([0, total]);
  for (const list of partLists) for (const p of list) if (p.rowStart > 0 && p.rowStart < total) s.add(p.rowStart);
  return [...s].sort((x, y) => x - y);
}

function locate(parts: Part[], row: number, what: string): Part {
  for (const p of parts) if (row >= p.rowStart && row < p.rowStart + Math.max(p.rows, 1)) return p;
  if (parts.length === 1) return parts[0]!;
  throw new Error(`matmul: row ${row} of ${what} lies in no part of its split tensor`);
}

/**
 * C (+)= alpha·op(A)·op(B) ⊙ mul + bias, cut along the row blocks of split operands. Sub-products
 * after the first along K accumulate (bias only on the first).
 */
export function gemm(
  ctx: GpuContext,
  op: MatmulOp,
  c: GpuTensor,
  a: GpuTensor,
  b: GpuTensor,
  m: number,
  k: number,
  n: number,
  epi: GemmEpilogue,
  opts: MatmulOptions = {},
): void {
  check(op, c, a, b, m, k, n, epi);
  if (m === 0 || n === 0) return;
  const transA = op === 'TN',
    transB = op === 'NT';
  const aParts = transA ? partsOf(a, m, k) : partsOf(a, k, m);
  const bParts = transB ? partsOf(b, k, n) : partsOf(b, n, k);
  const cParts = partsOf(c, n, m);
  const mCuts = cuts(m, cParts, transA ? [] : aParts);
  const nCuts = cuts(n, transB ? bParts : []);
  const kCuts = cuts(k, transA ? aParts : [], transB ? [] : bParts);
  const variant = pickVariant(ctx, b.dtype === 'f16', opts);
  for (let mi = 0; mi + 1 < mCuts.length; mi++) {
    const m0 = mCuts[mi]!,
      m1 = mCuts[mi + 1]!;
    for (let ni = 0; ni + 1 < nCuts.length; ni++) {
      const n0 = nCuts[ni]!,
        n1 = nCuts[ni + 1]!;
      for (let ki = 0; ki + 1 < kCuts.length; ki++) {
        const k0 = kCuts[ki]!,
          k1 = kCuts[ki + 1]!;
        const pa = locate(aParts, transA ? k0 : m0, 'a'),
          pb = locate(bParts, transB ? n0 : k0, 'b'),
          pc = locate(cParts, m0, 'c');
        const A: Operand = transA
          ? { t: pa.tensor, off: pa.tensor.offset + (k0 - pa.rowStart) * m + m0, ld: m }
          : { t: pa.tensor, off: pa.tensor.offset + (m0 - pa.rowStart) * k + k0, ld: k };
        const B: Operand = transB
          ? { t: pb.tensor, off: pb.tensor.offset + (n0 - pb.rowStart) * k + k0, ld: k }
          : { t: pb.tensor, off: pb.tensor.offset + (k0 - pb.rowStart) * n + n0, ld: n };
        const C: Operand = { t: pc.tensor, off: pc.tensor.offset + (m0 - pc.rowStart) * n + n0, ld: n };
        const bias = epi.bias && ki === 0 ? { t: epi.bias, off: epi.bias.offset + n0, ld: 0 } : null;
        const mul = epi.mul ? { t: epi.mul, off: epi.mul.offset + m0 * n + n0, ld: n } : null;
        const lr = epi.lowRank && ki === 0 ? epi.lowRank : null;
        const lowRank = lr
          ? {
              u: { t: lr.u, off: lr.u.offset + m0 * lr.r, ld: lr.r },
              b: { t: lr.b, off: lr.b.offset + n0 * lr.r, ld: lr.r },
            }
          : null;
        gemmBlock(ctx, variant, opts, {
          m: m1 - m0,
          n: n1 - n0,
          k: k1 - k0,
          transA,
          transB,
          A,
          B,
          C,
          alpha: epi.alpha ?? 1,
          accumulate: epi.accumulate || ki > 0,
          bias,
          mul,
          lowRank,
        });
      }
    }
  }
}

interface Block {
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
  /** u [M, R] and b [N, R] at row strides ld = R (sub-products after the first along K: null). */
  lowRank: { u: Operand; b: Operand } | null;
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

function gemmBlock(ctx: GpuContext, variant: MatmulVariant, opts: MatmulOptions, blk: Block): void {
  const lim = ctx.info.limits.maxComputeWorkgroupsPerDimension;
  const tile = tileOf(ctx, variant, blk, opts);
  // Grids beyond the per-dimension limit: cut M (and N) into dispatchable blocks.
  const mMax = lim * tile.bm,
    nMax = lim * tile.bn;
  if (blk.m > mMax || blk.n > nMax) {
    for (let m0 = 0; m0 < blk.m; m0 += mMax) {
      for (let n0 = 0; n0 < blk.n; n0 += nMax) {
        const mm = Math.min(mMax, blk.m - m0),
          nn = Math.min(nMax, blk.n - n0);
        gemmBlock(ctx, variant, opts, {
          ...blk,
          m: mm,
          n: nn,
          A: { ...blk.A, off: blk.A.off + (blk.transA ? m0 : m0 * blk.A.ld) },
          B: { ...blk.B, off: blk.B.off + (blk.transB ? n0 * blk.B.ld : n0) },
          C: { ...blk.C, off: blk.C.off + m0 * blk.C.ld + n0 },
          bias: blk.bias ? { ...blk.bias, off: blk.bias.off + n0 } : null,
          mul: blk.mul ? { ...blk.mul, off: blk.mul.off + m0 * blk.mul.ld + n0 } : null,
          lowRank: blk.lowRank
            ? {
                u: { ...blk.lowRank.u, off: blk.lowRank.u.off + m0 * blk.lowRank.u.ld },
                b: { ...blk.lowRank.b, off: blk.lowRank.b.off + n0 * blk.lowRank.b.ld },
              }
            : null,
        });
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
  const spec = kernelSpec(ctx, variant, tile.name, blk, lr !== null);
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
    lr ? lr.u.ld : 0,
    lr ? lr.u.off : 0,
    lr ? lr.b.off : 0,
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

function kernelSpec(ctx: GpuContext, variant: MatmulVariant, tile: TileName, blk: Block, lowRank: boolean): KernelSpec {
  const lr = lowRank ? ':lr' : '';
  if (variant === 'subgroup-matrix') {
    const key = { transA: blk.transA, transB: blk.transB, lowRank };
    return cachedSpec(`sgm:${blk.transA}:${blk.transB}:${sgmThreads(ctx).threads}${lr}`, () =>
      sgmKernel(ctx, subgroupMatrixConfig(ctx)!, key),
    );
  }
  if (variant === 'direct') return cachedSpec(`direct:${tile}${lr}`, () => directKernel(tile, lowRank));
  return cachedSpec(`${variant}:${tile}${lr}`, () => gemmKernel(familyOf(variant), tile, lowRank));
}

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
 * is their count): the half kernels take the largest and derive their scale from it.
 */
function aScale(ctx: GpuContext, blk: Block, scratch: GpuTensor[]): GpuTensor {
  const rows = blk.transA ? blk.k : blk.m,
    cols = blk.transA ? blk.m : blk.k;
  const total = rows * cols;
  const parts = Math.max(1, Math.min(Math.ceil(total / 1024), MAX_SCALE_PARTS));
  const t = allocTensor(ctx, parts, 'f32', false, true);
  scratch.push(t);
  if (total > 0) dispatch(ctx, MAXABS, [blk.A.t, t], [rows, cols, blk.A.off, blk.A.ld], [parts]);
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
      lr?.u.ld ?? 0,
      lr?.u.off ?? 0,
      lr?.b.off ?? 0,
    ],
    [gx, gy],
  );
}
