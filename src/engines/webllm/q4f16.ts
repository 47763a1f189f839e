// MLC's q4f16_1 weight layout, CPU reference: quantize and dequantize one [rows, cols] matrix.
//
// The layout follows mlc-ai/mlc-llm, python/mlc_llm/quantization/group_quantization.py
// (`GroupQuantize._quantize` / `_dequantize`, config q4f16_1 in quantization.py: group-quant,
// group_size 32, int4 in uint32 storage, model dtype float16, linear_weight_layout "NK") and
// utils.py (`pack_weight`, `convert_uint_to_float`). Read there, re-derived here:
//   - a `Linear` weight W [out, in] becomes `<name>.q_weight` uint32 [out, 4·ceil(in/32)] and
//     `<name>.q_scale` float16 [out, ceil(in/32)];
//   - groups are 32 consecutive elements of a row (the input, last axis);
//   - scale = max|w| over the group / 7 (max_int = 2^(4−1) − 1), stored as f16;
//   - code q = clamp(round(w / scale + 7), 0, 14): symmetric, so 15 is never produced;
//   - element j of a row sits in word j >> 3 at bits 4·(j & 7) (the first element in the low nibble);
//     padding elements past `in` (when in % 32 ≠ 0) are stored as code 0 and never read;
//   - dequantized w = (q − 7) · scale.
// MLC's converter computes this in f16 arithmetic on f16-cast weights. We quantize the f32 merged
// weights with exact decisions instead, so the CPU and every GPU agree bit for bit: scale is the
// f16 nearest to max|w| / 7 (ties to even), q is the integer nearest to w / scale + 7 (ties to even),
// and both are decided by comparisons against midpoints that are exact in f32 (a midpoint has ≤ 12
// significant bits, times 7 or a half-integer ≤ 7.5 stays ≤ 16 bits). The stored format is the
// same; only values at f16 rounding ties of MLC's own conversion can differ by one code.
import { f16ToF32, f32ToF16 } from '../../util/half.js';

export const Q4_GROUP = 32;
export const Q4_MAX_INT = 7;
/** Largest finite f16: a group whose max|w| / 7 exceeds it cannot be stored. */
const F16_MAX = 65504;

export interface Q4Shape {
  rows: number;
  cols: number;
}

export function q4Groups(cols: number): number {
  return Math.ceil(cols / Q4_GROUP);
}

/** uint32 words per row of q_weight. */
export function q4WordsPerRow(cols: number): number {
  return q4Groups(cols) * (Q4_GROUP / 8);
}

/** The (q_weight, q_scale) parameter names MLC gives the quantized form of `<module>.weight`. */
export function q4ParamNames(weightName: string): { qWeight: string; qScale: string } {
  const m = /^(.*)\.weight$/.exec(weightName);
  if (!m) throw new Error(`q4f16_1: ${weightName} is not a <module>.weight parameter`);
  return { qWeight: `${m[1]}.q_weight`, qScale: `${m[1]}.q_scale` };
}

/** f16 bits of the scale for a group with this max |w|: RNE(maxAbs / 7) decided exactly. */
export function q4ScaleBits(maxAbs: number): number {
  if (!(maxAbs <= 7 * F16_MAX)) throw new Error(`q4f16_1: a group's max |w| ${maxAbs} does not fit an f16 scale`);
  let bits = f32ToF16(maxAbs / Q4_MAX_INT);
  if (bits >= 0x7c00) bits = 0x7bff;
  const c = f16ToF32(bits);
  const up = f16ToF32(bits + 1);
  const midUp = Math.fround((c + up) / 2);
  if (bits < 0x7bff && (maxAbs > 7 * midUp || (maxAbs === 7 * midUp && bits & 1))) return bits + 1;
  if (bits > 0) {
    const midDn = Math.fround((c + f16ToF32(bits - 1)) / 2);
    if (maxAbs < 7 * midDn || (maxAbs === 7 * midDn && bits & 1)) return bits - 1;
  }
  return bits;
}

/** Code of value w under scale s (> 0): the integer nearest to w / s + 7 (ties to even), in [0, 14]. */
export function q4Code(w: number, s: number): number {
  // A first guess within one of the answer (Math.floor: V8's Math.round is several times slower);
  // the exact comparisons below settle it.
  let q = Math.min(14, Math.max(0, Math.floor(w / s + (Q4_MAX_INT + 0.5))));
  const hi = (q - 6.5) * s; // upper boundary of q's interval, exact in f32
  const lo = (q - 7.5) * s;
  if (q < 14 && (w > hi || (w === hi && q & 1))) q++;
  else if (q > 0 && (w < lo || (w === lo && q & 1))) q--;
  return q;
}

export interface Q4Matrix {
  /** q_weight words [rows, q4WordsPerRow(cols)]. */
  words: Uint32Array;
  /** q_scale f16 bits [rows, q4Groups(cols)]. */
  scales: Uint16Array;
}

/** Quantize rows [rowStart, rowStart + rows) of `w` ([*, cols], f32 values) into q4f16_1. */
export function quantizeQ4(w: Float32Array, shape: Q4Shape, rowStart = 0, rows = shape.rows): Q4Matrix {
  const { cols } = shape;
  const G = q4Groups(cols);
  const W = q4WordsPerRow(cols);
  const words = new Uint32Array(rows * W);
  const scales = new Uint16Array(rows * G);
  for (let r = 0; r < rows; r++) {
    const row = (rowStart + r) * cols;
    for (let g = 0; g < G; g++) {
      const j0 = g * Q4_GROUP;
      const j1 = Math.min(cols, j0 + Q4_GROUP);
      const sBits = q4ScaleBits(groupMaxAbs(w, row, j0, j1, rowStart + r));
      scales[r * G + g] = sBits;
      packGroup(w, row, j0, j1, f16ToF32(sBits), words, r * W);
    }
  }
  return { words, scales };
}

/** max |w| over columns [j0, j1) of a row; a non-finite weight is an error naming its place. */
function groupMaxAbs(w: Float32Array, row: number, j0: number, j1: number, rowIndex: number): number {
  let maxAbs = 0;
  for (let j = j0; j < j1; j++) maxAbs = Math.max(maxAbs, Math.abs(w[row + j]!));
  // NaN and ±Infinity both carry through Math.max: one check per group, a search only on failure.
  if (!Number.isFinite(maxAbs))
    for (let j = j0; j < j1; j++)
      if (!Number.isFinite(w[row + j]!)) throw new Error(`q4f16_1: non-finite weight at row ${rowIndex}, column ${j}`);
  return maxAbs;
}

/** The codes of columns [j0, j1) under scale s, 8 to a word (the first in the low nibble), into words[base + j/8]. */
function packGroup(
  w: Float32Array,
  row: number,
  j0: number,
  j1: number,
  s: number,
  words: Uint32Array,
  base: number,
): void {
  for (let k0 = j0; k0 < j1; k0 += 8) {
    const k1 = Math.min(j1, k0 + 8);
    let word = 0;
    for (let j = k0; j < k1; j++) word |= (s > 0 ? q4Code(w[row + j]!, s) : Q4_MAX_INT) << (4 * (j - k0));
    words[base + (k0 >>> 3)] = word;
  }
}

/** (q − 7) · scale for every element of a [rows, cols] q4f16_1 matrix (exact in f32). */
export function dequantizeQ4(m: Q4Matrix, shape: Q4Shape): Float32Array {
  const { rows, cols } = shape;
  const G = q4Groups(cols);
  const W = q4WordsPerRow(cols);
  if (m.words.length < rows * W || m.scales.length < rows * G) {
    throw new Error(
      `q4f16_1: ${m.words.length} words / ${m.scales.length} scales are too few for [${rows}, ${cols}] (${rows * W} / ${rows * G})`,
    );
  }
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      const q = (m.words[r * W + (j >>> 3)]! >>> (4 * (j & 7))) & 0xf;
      out[r * cols + j] = (q - Q4_MAX_INT) * f16ToF32(m.scales[r * G + (j >>> 5)]!);
    }
  }
  return out;
}
