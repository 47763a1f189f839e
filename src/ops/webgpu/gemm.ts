// The general product behind matmul.ts, lora-linear.ts and lm-head.ts:
//   C (+)= alpha · op(A) · op(B) ⊙ mul + bias + u·bᵀ     op(A) = A [M,K] or Aᵀ (A [K,M] in memory, TN)
//                                                      op(B) = B [K,N] or Bᵀ (B [N,K] in memory, NT)
// A and C are f32; B is f32 or f16 (packed). Any operand may be a view at any element offset; a
// matrix split across buffers in row blocks (tensor.ts `split`) is cut into sub-products along the
// block boundaries (M, N or K), each addressing its block with offsets and leading dimensions, and
// dispatched by gemm-block.ts. u·bᵀ (u [M,r], b [N,r]) is a LoRA branch's B product fused in, or
// with column segments those of up to three branches that read one input (LowRank.segments). A may be
// gated (GemmEpilogue.gatedA): silu(gate)·up formed as it is loaded, in every variant.
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
// Large K over few output tiles is split into K slices (split-K) summed by a second kernel
// (gemm-block.ts).
import type { GpuContext } from './context.js';
import { rowParts, type GpuTensor } from './tensor.js';
import { gemmBlock, operandAt, shiftSegments, type BlockSegment, type Operand } from './gemm-block.js';
import { pickVariant, type MatmulOptions } from './gemm-variants.js';

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
  /**
   * op(A) = silu(gate)·up over packed rows of a [m, 2k] (gate | up per row, row stride 2k): the SwiGLU
   * folded into the loads of the product that reads its output (down_proj, and its LoRA A product),
   * so no [m, k] activation is written. silu as the SwiGLU kernel computes it (elementwise.ts). Only
   * for 'NT' and 'NN' (A not transposed), with a single (not split) a of at least m·2k elements.
   */
  gatedA?: boolean;
}

export interface LowRank {
  u: GpuTensor;
  b: GpuTensor;
  r: number;
  /**
   * u's row stride (default: the columns it reads, r per segment): u may be columns of a wider matrix,
   * e.g. the stacked LoRA A product of the branches that read one input (layer.ts).
   */
  ldu?: number;
  /**
   * Column segments after the first (at most 2, starts strictly ascending inside (0, n)): several
   * projections that read one input run as one product (q,k,v; gate,up) without a zero-padded
   * block-diagonal B. Output column n of segment s (s = how many starts are ≤ n) takes u's columns
   * [s·r, (s+1)·r) and row n − start_s of its own B: `b` for segment 0 (then [segments[0].start, r]),
   * segments[s−1].b (in b's buffer: one binding) for the others. ldu ≥ (segments + 1)·r.
   */
  segments?: readonly LowRankSegment[];
}

/** A further column segment of a LowRank: its first output column and its B [columns, r]. */
export interface LowRankSegment {
  start: number;
  b: GpuTensor;
}

/** Columns of u a low-rank term reads per row: r per segment. */
function lowRankWidth(lr: LowRank): number {
  return ((lr.segments?.length ?? 0) + 1) * lr.r;
}

/** u's row stride. */
export function lowRankLd(lr: LowRank): number {
  return lr.ldu ?? lowRankWidth(lr);
}

/** The output columns that take lr.b: segment 0, all n without segments. */
function firstSegmentColumns(lr: LowRank, n: number): number {
  return lr.segments?.[0]?.start ?? n;
}

/** The elements a low-rank operand must hold: rows rows of r values at row stride ld. */
function lowRankSpan(rows: number, r: number, ld: number): number {
  return rows === 0 ? 0 : (rows - 1) * ld + r;
}

/**
 * The refusal of a low-rank term that does not fit an m×n product (r, ldu, segments, and u and b as
 * single f32 tensors long enough), or null: gemm's and the few-row kernel's check.
 */
export function lowRankError(lr: LowRank, m: number, n: number): string | null {
  const bad = lowRankShapeError(lr) ?? lowRankSegmentsError(lr, n);
  if (bad) return bad;
  const segs = lr.segments?.length ?? 0;
  for (const [t, rows, width, ld, what] of [
    [lr.u, m, lowRankWidth(lr), lowRankLd(lr), segs ? `u [m, ${segs + 1}·r]` : 'u [m, r]'],
    [lr.b, firstSegmentColumns(lr, n), lr.r, lr.r, segs ? 'b [segments[0].start, r]' : 'b [n, r]'],
  ] as const) {
    const span = lowRankSpan(rows, width, ld);
    if (t.dtype !== 'f32' || t.split || t.length < span)
      return `lowRank ${what} must be a single f32 tensor of at least ${span} elements`;
  }
  return null;
}

/** The refusal of a bad lowRank r, ldu or segment list (count, starts), or null. */
function lowRankShapeError(lr: LowRank): string | null {
  if (!(Number.isInteger(lr.r) && lr.r > 0)) return `lowRank r must be a positive integer, got ${lr.r}`;
  const segs = lr.segments ?? [];
  if (segs.length > 2) return `lowRank segments: at most 2, got ${segs.length}`;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!.start,
      prev = i > 0 ? segs[i - 1]!.start : 0;
    if (!(Number.isInteger(s) && s > prev))
      return `lowRank segments[${i}].start must be an integer > ${prev} (ascending), got ${s}`;
  }
  const width = lowRankWidth(lr);
  if (lr.ldu !== undefined && !(Number.isInteger(lr.ldu) && lr.ldu >= width))
    return segs.length
      ? `lowRank ldu must be an integer ≥ (segments + 1)·r = ${width}, got ${lr.ldu}`
      : `lowRank ldu must be an integer ≥ r = ${lr.r}, got ${lr.ldu}`;
  return null;
}

/**
 * The refusal of a segment list that does not fit n output columns (a start at or past n: an empty
 * segment is refused, not skipped) or whose B views are not f32 views of lr.b's buffer (one binding)
 * long enough for their columns; or null. Shape checks first: lowRankShapeError.
 */
function lowRankSegmentsError(lr: LowRank, n: number): string | null {
  const segs = lr.segments ?? [];
  for (let i = 0; i < segs.length; i++)
    if (segs[i]!.start >= n) return `lowRank segments[${i}].start = ${segs[i]!.start} must be < n = ${n}`;
  for (let i = 0; i < segs.length; i++) {
    const { start, b } = segs[i]!;
    const cols = (segs[i + 1]?.start ?? n) - start;
    if (b.dtype !== 'f32' || b.split || b.length < cols * lr.r)
      return `lowRank segments[${i}].b [${cols}, r] must be a single f32 tensor of at least ${cols * lr.r} elements`;
    if (b.buffer !== lr.b.buffer) return `lowRank segments[${i}].b must lie in lowRank b's buffer (one binding)`;
  }
  return null;
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
  if (epi.gatedA) {
    if (op === 'TN') throw new Error(`${name}: gatedA needs A untransposed (op 'NT' or 'NN'), got 'TN'`);
    if (a.split) throw new Error(`${name}: gatedA needs a single (not split) a`);
    if (a.length < 2 * m * k)
      throw new Error(`${name}: gatedA: a has ${a.length} elements, needs m*2k = ${m}*${2 * k} = ${2 * m * k}`);
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
    const bad = lowRankError(lr, m, n);
    if (bad) throw new Error(`${name}: ${bad}`);
    for (const [t, what] of [
      [lr.u, 'u'],
      [lr.b, 'b'],
    ] as const)
      if (partsOf(c, n, m).some((p) => p.tensor.buffer === t.buffer))
        throw new Error(`${name}: lowRank ${what} lies in c's buffer`);
  }
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

/** A single tensor as an operand with leading dimension ld. */
function whole(t: GpuTensor, ld: number): Operand {
  return { t, off: t.offset, ld };
}

/** Element (row, col) of a split matrix with leading dimension ld, in the part that holds that row. */
function inPart(p: Part, ld: number, row: number, col: number): Operand {
  return operandAt(whole(p.tensor, ld), row - p.rowStart, col);
}

/** The segments of a low-rank term as the kernels take them: start and B base (offset − start·r). */
export function lowRankSegments(lr: LowRank): BlockSegment[] {
  return (lr.segments ?? []).map((s) => ({ start: s.start, base: s.b.offset - s.start * lr.r }));
}

/**
 * C (+)= alpha·op(A)·op(B) ⊙ mul + bias + u·bᵀ, cut along the row blocks of split operands.
 * Sub-products after the first along K accumulate (bias and the low-rank term only on the first).
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
  // A gated: packed gate | up rows, so A's row stride is 2k and up lies k past its gate.
  const gateK = epi.gatedA ? k : 0,
    lda = epi.gatedA ? 2 * k : k;
  const aParts = transA ? partsOf(a, m, k) : partsOf(a, k, m);
  const bParts = transB ? partsOf(b, k, n) : partsOf(b, n, k);
  const cParts = partsOf(c, n, m);
  const mCuts = cuts(m, cParts, transA ? [] : aParts);
  const nCuts = cuts(n, transB ? bParts : []);
  const kCuts = cuts(k, transA ? aParts : [], transB ? [] : bParts);
  const variant = pickVariant(ctx, b.dtype === 'f16', opts);
  const segs = epi.lowRank ? lowRankSegments(epi.lowRank) : [];
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
        const A = transA ? inPart(pa, m, k0, m0) : inPart(pa, lda, m0, k0);
        const B = transB ? inPart(pb, k, n0, k0) : inPart(pb, n, k0, n0);
        const C = inPart(pc, n, m0, n0);
        // Bias and the low-rank term once, on the first sub-product along K.
        const bias = epi.bias && ki === 0 ? operandAt(whole(epi.bias, 0), 0, n0) : null;
        const mul = epi.mul ? operandAt(whole(epi.mul, n), m0, n0) : null;
        const lr = epi.lowRank && ki === 0 ? epi.lowRank : null;
        const lowRank = lr && {
          u: operandAt(whole(lr.u, lowRankLd(lr)), m0, 0),
          b: operandAt(whole(lr.b, lr.r), n0, 0),
          r: lr.r,
          segs: shiftSegments(segs, n0, lr.r),
        };
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
          gateK,
        });
      }
    }
  }
}
