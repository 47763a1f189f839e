// Rotary position embedding, Qwen2/Llama "rotate-half" convention: within each head the first
// half of the dimensions pairs with the second half. For pair i at position p the angle is
// p · theta^(−2i/headDim). Tables are computed once per (theta, headDim) in float64 and grown on
// demand, so the hot loop is two multiplies and an add per element.
import type { FloatArray } from '../matmul.js';
import type { RopeTable } from '../types.js';

export type { RopeTable };

const tables = new Map<string, RopeTable>();

export function ropeTable(theta: number, headDim: number, minPositions: number): RopeTable {
  const key = theta + ':' + headDim;
  const have = tables.get(key);
  if (have && have.maxPos >= minPositions) return have;
  const maxPos = Math.max(minPositions, have ? have.maxPos * 2 : 256);
  const half = headDim / 2;
  const cos = new Float64Array(maxPos * half);
  const sin = new Float64Array(maxPos * half);
  for (let i = 0; i < half; i++) {
    const invFreq = 1 / Math.pow(theta, (2 * i) / headDim);
    for (let p = 0; p < maxPos; p++) {
      const a = p * invFreq;
      cos[p * half + i] = Math.cos(a);
      sin[p * half + i] = Math.sin(a);
    }
  }
  const t: RopeTable = { theta, headDim, maxPos, cos, sin };
  tables.set(key, t);
  return t;
}

/**
 * Rotates x [rows, nHeads·headDim] in place; row r has position positions[r].
 * direction +1 is the forward rotation, −1 its inverse (= the backward of the forward, since a
 * rotation's transpose is its inverse).
 */
export function ropeApply(
  x: FloatArray,
  positions: Int32Array,
  rows: number,
  nHeads: number,
  headDim: number,
  table: RopeTable,
  direction: 1 | -1,
): void {
  const half = headDim / 2;
  const stride = nHeads * headDim;
  for (let r = 0; r < rows; r++) {
    const p = positions[r]!;
    if (p >= table.maxPos) throw new Error(`rope: position ${p} beyond table (${table.maxPos})`);
    const tb = p * half;
    for (let h = 0; h < nHeads; h++) {
      const o = r * stride + h * headDim;
      for (let i = 0; i < half; i++) {
        const c = table.cos[tb + i]!;
        const s = direction * table.sin[tb + i]!;
        const x1 = x[o + i]!;
        const x2 = x[o + half + i]!;
        x[o + i] = x1 * c - x2 * s;
        x[o + half + i] = x2 * c + x1 * s;
      }
    }
  }
}
