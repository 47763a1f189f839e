// This machine's matrix-product throughput, measured through the same matmul entry point the model
// uses (WASM-SIMD kernel), for the time estimate in `loractor check`. About 0.2 s.
import { matmulNT } from '../ops/matmul.js';

/** FLOP/s of a [64 × 512] · [512 × 512]ᵀ product (a decode-sized linear layer), best of a few runs. */
export function measureFlops(budgetMs = 200): number {
  const m = 64,
    k = 512,
    n = 512;
  const a = new Float32Array(m * k).map((_, i) => ((i * 7) % 13) / 13);
  const b = new Float32Array(n * k).map((_, i) => ((i * 5) % 11) / 11);
  const c = new Float32Array(m * n);
  matmulNT(c, a, b, m, k, n); // warm-up (kernel instantiation)
  let best = Infinity;
  const t0 = performance.now();
  for (let i = 0; i < 50 && performance.now() - t0 < budgetMs; i++) {
    const s = performance.now();
    matmulNT(c, a, b, m, k, n);
    best = Math.min(best, performance.now() - s);
  }
  return (2 * m * k * n) / (Math.max(best, 1e-3) / 1000);
}
