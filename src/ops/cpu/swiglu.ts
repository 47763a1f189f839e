// SwiGLU gate of the Qwen2 MLP: a = silu(g) · u, elementwise.
import type { FloatArray } from '../matmul.js';

export function swigluForward(a: FloatArray, g: FloatArray, u: FloatArray, n: number): void {
  for (let i = 0; i < n; i++) {
    const gv = g[i]!;
    a[i] = (gv / (1 + Math.exp(-gv))) * u[i]!;
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
