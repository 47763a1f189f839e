// SwiGLU gate of the Qwen2 MLP: a = silu(g) · u, elementwise.
import type { FloatArray } from '../matmul.js';

export function swigluForward(a: FloatArray, g: FloatArray, u: FloatArray, n: number): void {
  for (let i = 0; i < n; i++) {
    const gv = g[i]!;
    a[i] = (gv / (1 + Math.exp(-gv))) * u[i]!;
  }
}

/** a [rows, width] = silu(gate) · up over packed rows gu [rows, 2·width] (gate | up per row). */
export function swigluPackedForward(a: FloatArray, gu: FloatArray, rows: number, width: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * width,
      g0 = 2 * o;
    for (let j = 0; j < width; j++) {
      const gv = gu[g0 + j]!;
      a[o + j] = (gv / (1 + Math.exp(-gv))) * gu[g0 + width + j]!;
    }
  }
}

/** Overwrites dg and du from da (both are fresh per layer, so no accumulation is needed). */
export function swigluBackward(
  dg: FloatArray,
  du: FloatArray,
  da: FloatArray,
  g: FloatArray,
  u: FloatArray,
  n: number,
): void {
  for (let i = 0; i < n; i++) {
    const gv = g[i]!;
    const s = 1 / (1 + Math.exp(-gv));
    const silu = gv * s;
    const d = da[i]!;
    du[i] = d * silu;
    dg[i] = d * u[i]! * s * (1 + gv * (1 - s));
  }
}
