// Linear layer with an optional LoRA branch (PEFT semantics):
//   y = x·Wᵀ + b + scale · (drop(x)·Aᵀ)·Bᵀ      W [out,in], A [r,in], B [out,r], scale = alpha/r
// drop(x) = x ⊙ keep, keep ∈ {0, 1/(1−p)} per element (inverted dropout), applied to the LoRA
// branch only, as PEFT does. Every product goes through matmul.ts so the fast matmul speeds it up.
import { matmulNN, matmulNT, matmulTN, type FloatArray } from '../matmul.js';
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
  matmulNT(y, x, w, rows, inF, outF, shape.accumulate === true);
  if (bias) {
    for (let i = 0; i < rows; i++) {
      const o = i * outF;
      for (let j = 0; j < outF; j++) y[o + j]! += bias[j]!;
    }
  }
  if (lora && lora.scale !== 0) {
    if (shape.usGiven) {
      addStridedLowRank(y, us, shape.usGiven.ld, lora.b, rows, lora.r, outF);
      return;
    }
    const n = rows * lora.r;
    matmulNT(us, xLora, lora.a, rows, inF, lora.r, false);
    for (let i = 0; i < n; i++) us[i]! *= lora.scale;
    matmulNT(y, us, lora.b, rows, lora.r, outF, true);
  }
}

/** y[i, o] += Σ_j us[i·ld + j]·b[o·r + j]: the B product over us given as r columns of a wider matrix. */
function addStridedLowRank(
  y: FloatArray,
  us: FloatArray,
  ld: number,
  b: FloatArray,
  rows: number,
  r: number,
  outF: number,
): void {
  if (!(Number.isInteger(ld) && ld >= r))
    throw new Error(`loraLinearForward: usGiven.ld must be an integer ≥ r = ${r}`);
  for (let i = 0; i < rows; i++) {
    for (let o = 0; o < outF; o++) {
      let s = 0;
      for (let j = 0; j < r; j++) s += us[i * ld + j]! * b[o * r + j]!;
      y[i * outF + o]! += s;
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
