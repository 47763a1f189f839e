// Linear layer with an optional LoRA branch (PEFT semantics):
//   y = x·Wᵀ + b + scale · (drop(x)·Aᵀ)·Bᵀ      W [out,in], A [r,in], B [out,r], scale = alpha/r
// drop(x) = x ⊙ keep, keep ∈ {0, 1/(1−p)} per element (inverted dropout), applied to the LoRA
// branch only, as PEFT does. Every product goes through matmul.ts so the fast matmul speeds it up.
import { matmulNN, matmulNT, matmulTN, type FloatArray } from '../matmul.js';
import { swigluPackedForward } from './swiglu.js';
import type { LinearGrads as Grads, LinearShape, LoraOperand as Operand } from '../types.js';

type LoraOperand = Operand<FloatArray>;
type LinearGrads = Grads<FloatArray>;
export type { LinearShape, LoraOperand, LinearGrads };

/**
 * y [rows,out] = x·Wᵀ + bias (+ LoRA). xLora is the (dropped-out) input of the LoRA branch — x
 * itself without dropout. us [rows, r] receives scale·(xLora·Aᵀ), which the backward needs.
 */
export function loraLinearForward(
  y: FloatArray,
  x: FloatArray,
  w: FloatArray,
  bias: FloatArray | null,
  shape: LinearShape,
  lora: LoraOperand | null,
  xLora: FloatArray,
  us: FloatArray,
): void {
  const { rows, inF, outF } = shape;
  if (shape.gatedX) {
    // The reference of the folded SwiGLU: formed once here (the GPU kernels form it as they load).
    if (xLora !== x) throw new Error('loraLinearForward: gatedX needs xLora to be x (no dropout in inference)');
    const a = new Float32Array(rows * inF);
    swigluPackedForward(a, x, rows, inF);
    loraLinearForward(y, a, w, bias, { ...shape, gatedX: false }, lora, a, us);
    return;
  }
  matmulNT(y, x, w, rows, inF, outF, shape.accumulate === true);
  if (bias) {
    for (let i = 0; i < rows; i++) {
      const o = i * outF;
      for (let j = 0; j < outF; j++) y[o + j]! += bias[j]!;
    }
  }
  if (lora && lora.scale !== 0) {
    if (shape.usGiven) {
      addGivenLowRank(y, us, shape.usGiven.ld, lora, rows, outF);
      return;
    }
    if (lora.segments?.length)
      throw new Error('loraLinearForward: lora.segments need shape.usGiven (the stacked A product of the segments)');
    const n = rows * lora.r;
    matmulNT(us, xLora, lora.a, rows, inF, lora.r, false);
    for (let i = 0; i < n; i++) us[i]! *= lora.scale;
    matmulNT(y, us, lora.b, rows, lora.r, outF, true);
  }
}

/**
 * y += us·Bᵀ with us given at row stride ld: one B over r columns of us, or with lora.segments each
 * segment's columns of y taking its own B and its r columns of us.
 */
function addGivenLowRank(
  y: FloatArray,
  us: FloatArray,
  ld: number,
  lora: LoraOperand,
  rows: number,
  outF: number,
): void {
  const { r } = lora,
    segments = lora.segments ?? [];
  const starts = [0, ...segments.map((s) => s.start), outF];
  checkSegments(starts, ld, r);
  [lora.b, ...segments.map((s) => s.b)].forEach((b, i) => {
    const cols = starts[i + 1]! - starts[i]!;
    addStridedLowRank(y.subarray(starts[i]!), us.subarray(i * r), ld, b.subarray(0, cols * r), rows, r, cols, outF);
  });
}

/** Segment starts 0 = s0 < s1 < … < outF (the list ends with outF); ld holds r columns per segment. */
function checkSegments(starts: number[], ld: number, r: number): void {
  const where = 'loraLinearForward';
  if (starts.length > 4) throw new Error(`${where}: at most 2 lora.segments, got ${starts.length - 2}`);
  for (let i = 1; i < starts.length - 1; i++)
    if (!(Number.isInteger(starts[i]) && starts[i]! > starts[i - 1]! && starts[i]! < starts.at(-1)!))
      throw new Error(
        `${where}: lora.segments[${i - 1}].start must be an integer in (previous start, outF), got ${starts[i]}`,
      );
  const need = (starts.length - 1) * r;
  if (!(Number.isInteger(ld) && ld >= need))
    throw new Error(`${where}: usGiven.ld must be an integer ≥ ${need}, got ${ld}`);
}

/**
 * y[i, o] += Σ_j us[i·ld + j]·b[o·r + j] over `cols` columns of y's rows of `ldy`: the B product over
 * us given as r columns of a wider matrix.
 */
function addStridedLowRank(
  y: FloatArray,
  us: FloatArray,
  ld: number,
  b: FloatArray,
  rows: number,
  r: number,
  cols: number,
  ldy: number,
): void {
  for (let i = 0; i < rows; i++) {
    for (let o = 0; o < cols; o++) {
      let s = 0;
      for (let j = 0; j < r; j++) s += us[i * ld + j]! * b[o * r + j]!;
      y[i * ldy + o]! += s;
    }
  }
}

/**
 * Accumulates the gradients of loraLinearForward. keep: the dropout multipliers (null = no
 * dropout). scratchDz [rows, r]; scratchDx [rows, in] (used only with dropout).
 */
export function loraLinearBackward(
  g: LinearGrads,
  dy: FloatArray,
  x: FloatArray,
  w: FloatArray,
  shape: LinearShape,
  lora: LoraOperand | null,
  xLora: FloatArray,
  us: FloatArray,
  keep: FloatArray | null,
  scratchDz: FloatArray,
  scratchDx: FloatArray,
): void {
  if (shape.gatedX) throw new Error('loraLinearBackward: gatedX is forward-only (inference)');
  const { rows, inF, outF } = shape;
  if (g.dx) matmulNN(g.dx, dy, w, rows, outF, inF, true);
  if (g.dW) matmulTN(g.dW, dy, x, outF, rows, inF, true);
  if (g.dBias) {
    for (let i = 0; i < rows; i++) {
      const o = i * outF;
      for (let j = 0; j < outF; j++) g.dBias[j]! += dy[o + j]!;
    }
  }
  if (!lora || lora.scale === 0) return; // the branch is off: its parameters get exactly zero gradient
  if (lora.segments?.length) throw new Error('loraLinearBackward: lora.segments are forward-only (inference)');
  const r = lora.r;
  if (g.dB) matmulTN(g.dB, dy, us, outF, rows, r, true);
  matmulNN(scratchDz, dy, lora.b, rows, outF, r, false);
  const n = rows * r;
  for (let i = 0; i < n; i++) scratchDz[i]! *= lora.scale;
  if (g.dA) matmulTN(g.dA, scratchDz, xLora, r, rows, inF, true);
  if (g.dx) {
    if (!keep) {
      matmulNN(g.dx, scratchDz, lora.a, rows, r, inF, true);
    } else {
      matmulNN(scratchDx, scratchDz, lora.a, rows, r, inF, false);
      const m = rows * inF;
      for (let i = 0; i < m; i++) g.dx[i]! += scratchDx[i]! * keep[i]!;
    }
  }
}
