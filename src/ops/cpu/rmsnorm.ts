// RMSNorm (Qwen2): y = x / sqrt(mean(x²) + eps) · w, row-wise over [rows, dim].
// The forward saves the per-row inverse RMS so the backward never recomputes it.
import type { FloatArray } from '../matmul.js';

export function rmsnormForward(
  y: FloatArray,
  rstd: FloatArray,
  x: FloatArray,
  w: FloatArray,
  rows: number,
  dim: number,
  eps: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let ss = 0;
    for (let i = 0; i < dim; i++) {
      const v = x[o + i]!;
      ss += v * v;
    }
    const inv = 1 / Math.sqrt(ss / dim + eps);
    rstd[r] = inv;
    for (let i = 0; i < dim; i++) y[o + i] = x[o + i]! * inv * w[i]!;
  }
}

/**
 * Accumulates dx += ∂L/∂x and (when dw is given) dw += ∂L/∂w.
 * With g = w⊙dy: dx = rstd·g − x·rstd³·(g·x)/dim.
 */
export function rmsnormBackward(
  dx: FloatArray,
  dw: FloatArray | null,
  dy: FloatArray,
  x: FloatArray,
  w: FloatArray,
  rstd: FloatArray,
  rows: number,
  dim: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    const inv = rstd[r]!;
    let dot = 0;
    for (let i = 0; i < dim; i++) dot += w[i]! * dy[o + i]! * x[o + i]!;
    const c = (dot * inv * inv * inv) / dim;
    for (let i = 0; i < dim; i++) dx[o + i]! += inv * w[i]! * dy[o + i]! - x[o + i]! * c;
    if (dw) for (let i = 0; i < dim; i++) dw[i]! += dy[o + i]! * x[o + i]! * inv;
  }
}
